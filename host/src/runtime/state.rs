//! What each plugin's `Store` holds.

use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use std::sync::Arc;

use super::bindings::{Batch, Container, Finding, Level, Value};
use super::limits::MemoryLimit;
use super::quota::{EmitBudget, StringBound};
use crate::config::Grants;
use crate::maps::SharedPluginMaps;

/// What a plugin produced during one call, for the output to render after
/// it. Rows and findings about an event carry its container.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Columns(Vec<String>),
    Row(Vec<Value>, Option<Container>),
    Finding(Finding, Option<Container>),
    Log(Level, String),
}

pub struct PluginState {
    pub(crate) plugin: String,
    pub(crate) maps: SharedPluginMaps,
    pub(crate) emitted: Vec<Emitted>,
    pub(crate) emit_budget: EmitBudget,
    pub(crate) strings: StringBound,
    pub(crate) limits: MemoryLimit,
    /// CPU time of the calling thread when the current call began.
    pub(crate) call_started_cpu: std::time::Duration,
    /// The guest's stderr, where a Rust panic message lands: shown when it traps.
    pub(crate) stderr: MemoryOutputPipe,
    /// The batch being handled, whose events rows and findings may be about.
    pub(crate) batch: Option<Arc<Batch>>,
    wasi: WasiCtx,
    table: ResourceTable,
}

/// Bytes of guest stderr kept for trap messages.
const STDERR_CAPACITY: usize = 64 * 1024;
/// WASI resources (streams, pollables…) a plugin may hold at once.
const WASI_RESOURCES: usize = 1024;

impl PluginState {
    pub fn new(
        plugin: &str,
        grants: &Grants,
        maps: SharedPluginMaps,
        limits: MemoryLimit,
        emit_budget: EmitBudget,
        strings: StringBound,
    ) -> std::io::Result<PluginState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // WASI grants nothing by default: no files, network, environment or args.
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone());
        if !grants.clocks {
            wasi.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        }
        for name in &grants.env {
            if let Ok(value) = std::env::var(name) {
                wasi.env(name, value);
            }
        }
        for dir in &grants.read_dirs {
            wasi.preopened_dir(dir, dir.to_string_lossy(), FsPerms::ReadOnly)
                .map_err(|e| std::io::Error::other(format!("granting {}: {e}", dir.display())))?;
        }
        let wasi = wasi.build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(WASI_RESOURCES);
        Ok(PluginState {
            plugin: plugin.to_string(),
            maps,
            emitted: Vec::new(),
            emit_budget,
            strings,
            limits,
            call_started_cpu: std::time::Duration::ZERO,
            stderr,
            batch: None,
            wasi,
            table,
        })
    }

    /// The container of event `event` of the batch being handled, if it ran in one.
    pub fn container_of(&self, event: Option<u32>) -> Option<Container> {
        let batch = self.batch.as_ref()?;
        let n = *batch.headers.container.get(event? as usize)?;
        batch.containers.get(n.checked_sub(1)? as usize).cloned()
    }

    /// Queues a row, finding, header or log, unless the plugin has spent its budget.
    pub fn emit(&mut self, item: Emitted) {
        if self.emit_budget.take(&item) {
            self.emitted.push(item);
        }
    }

    /// What the guest last said on stderr before failing: a Rust panic's
    /// "panicked at FILE:LINE: message", a Go panic's "panic: message", or
    /// else its last line.
    pub fn last_words(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        tracing::debug!(plugin = self.plugin, "guest stderr:\n{text}");
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: "))
            .collect();
        // Go prints its panic first, then every goroutine's stack.
        if let Some(go) = lines
            .iter()
            .find(|l| l.starts_with("panic: ") || l.starts_with("fatal error: "))
        {
            return Some(go.to_string());
        }
        let panic = lines.iter().rposition(|l| l.contains("panicked at "));
        match panic {
            Some(i) => {
                let at = &lines[i][lines[i].find("panicked at ").unwrap_or(0)..];
                let panic = std::iter::once(at)
                    .chain(lines[i + 1..].iter().copied())
                    .collect::<Vec<_>>()
                    .join(" ");
                // A language runtime's panic follows the guest's own error
                // (e.g. a Python exception): that line says more.
                Some(match lines[..i].last() {
                    Some(cause) => format!("{cause} ({panic})"),
                    None => panic,
                })
            }
            None => lines.last().map(|l| l.to_string()),
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Clocks that stand still: time is what the events say, unless granted.
struct FrozenClock;

/// Where the frozen clocks stand: not at zero, which Go's runtime takes for a
/// broken clock and aborts on.
const FROZEN_AT_NS: u64 = 1_000_000_000;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(FROZEN_AT_NS)
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        FROZEN_AT_NS
    }
}
