//! The `output`, `log` and `names` interfaces.

use super::emitted::Emitted;
use super::state::PluginState;
use crate::wit::wasmtrace::plugin::{events, log, names, output, stacks, types};
use crate::wit::{Finding, Level, Value};

impl output::Host for PluginState {
    fn emit_finding(&mut self, finding: Finding) -> wasmtime::Result<()> {
        let container = self.container_of(finding.event);
        self.emit(Emitted::Finding(self.strings.cut_finding(finding), container));
        Ok(())
    }

    fn set_columns(&mut self, names: Vec<String>) -> wasmtime::Result<()> {
        self.emit(Emitted::Columns(self.strings.cut_all(names)));
        Ok(())
    }

    fn emit_row(&mut self, values: Vec<Value>, event: Option<u32>) -> wasmtime::Result<()> {
        let values = values.into_iter().map(|v| self.strings.cut_value(v)).collect();
        let container = self.container_of(event);
        self.emit(Emitted::Row(values, container));
        Ok(())
    }
}

impl log::Host for PluginState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.emit(Emitted::Log(level, self.strings.cut(message)));
        Ok(())
    }
}

impl names::Host for PluginState {
    fn syscall(&mut self, id: u32) -> wasmtime::Result<Option<String>> {
        Ok(crate::names::syscall(id))
    }

    fn errno(&mut self, code: u32) -> wasmtime::Result<Option<String>> {
        Ok(crate::names::errno(code))
    }

    fn user(&mut self, uid: u32) -> wasmtime::Result<Option<String>> {
        Ok(crate::names::user(uid))
    }

    fn drop_reason(&mut self, reason: u32) -> wasmtime::Result<Option<String>> {
        Ok(crate::names::drop_reason(reason))
    }
}

impl stacks::Host for PluginState {
    /// Only stacks the plugin's events carried; names cut to the string
    /// limit (a binary's symbols are its author's).
    fn frames(&mut self, id: u32) -> wasmtime::Result<Vec<stacks::Frame>> {
        let id = self.seen_stack(id);
        let cut = |s: &String| self.strings.cut(s.clone());
        Ok(crate::stacks::table()
            .frames(id)
            .iter()
            .map(|f| stacks::Frame {
                function: cut(&f.function),
                module: cut(&f.module),
                build_id: cut(&f.build_id),
                file: cut(&f.file),
                ..f.clone()
            })
            .collect())
    }
}

impl types::Host for PluginState {}

impl events::Host for PluginState {}
