//! Hot loading: components that appear, change or vanish in the plugins
//! folder are compiled off the event path and swapped in between batches,
//! so every batch goes whole to either the old or the new version.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::Context;
use wasmtime::component::Component;

use super::{Session, Slot, SlotState};
use crate::config::PluginSpec;
use crate::runtime::PluginError;
use crate::watch::PluginWatcher;

type Compiled = (PluginSpec, Result<Component, PluginError>);

pub(super) struct Reloads {
    watcher: PluginWatcher,
    compiled_tx: Sender<Compiled>,
    compiled_rx: Receiver<Compiled>,
}

impl Reloads {
    pub(super) fn watch(dir: &Path) -> anyhow::Result<Reloads> {
        let watcher =
            PluginWatcher::new(dir).with_context(|| format!("watching the plugins folder {}", dir.display()))?;
        let (compiled_tx, compiled_rx) = channel();
        Ok(Reloads {
            watcher,
            compiled_tx,
            compiled_rx,
        })
    }
}

impl Session {
    /// Starts compiling changed files, and swaps in what finished compiling.
    pub(super) fn apply_plugin_changes(&mut self) -> anyhow::Result<()> {
        let Some(reloads) = &mut self.reloads else {
            return Ok(());
        };
        let settled: Vec<PathBuf> = reloads.watcher.settled();
        let compiled: Vec<Compiled> = reloads.compiled_rx.try_iter().collect();
        for path in settled {
            self.file_changed(&path)?;
        }
        for (spec, result) in compiled {
            self.swap_in(spec, result)?;
        }
        Ok(())
    }

    fn slot_named(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.name == name)
    }

    fn file_changed(&mut self, path: &Path) -> anyhow::Result<()> {
        let Some(spec) = self.config.plugin_for_file(path) else {
            tracing::warn!(
                "ignoring {}: a plugin's file name may only hold letters, digits, `_` and `-`",
                path.display()
            );
            return Ok(());
        };
        if !path.exists() {
            if let Some(i) = self.slot_named(&spec.name) {
                self.slots[i].state = SlotState::Unloaded;
                self.resubscribe()?;
                tracing::info!(
                    "plugin `{}` unloaded: {} was removed; its maps are kept",
                    spec.name,
                    path.display()
                );
            }
            return Ok(());
        }
        // Compiling takes seconds for large components: not on the event path.
        let (runtime, tx) = (
            self.runtime.clone(),
            self.reloads.as_ref().expect("watching").compiled_tx.clone(),
        );
        std::thread::Builder::new()
            .name(format!("compile-{}", spec.name))
            .spawn(move || {
                let result = runtime.compile(&spec.name, &spec.path);
                let _ = tx.send((spec, result));
            })?;
        Ok(())
    }

    /// Instantiates a freshly compiled version and puts it in its slot; on
    /// any failure the running version (if any) stays and the reason is shown.
    fn swap_in(&mut self, spec: PluginSpec, compiled: Result<Component, PluginError>) -> anyhow::Result<()> {
        let existing = self.slot_named(&spec.name);
        let keeps = if existing.is_some() {
            "; the running version stays"
        } else {
            ""
        };
        let plugin = compiled.and_then(|component| {
            self.runtime.instantiate(
                &spec,
                &component,
                self.maps.clone(),
                self.config.plugin_emits_per_interval,
            )
        });
        let plugin = match plugin {
            Ok(plugin) => plugin,
            Err(e) => {
                tracing::error!("new version not loaded: {e}{keeps}");
                return self
                    .output
                    .plugin_failed(&spec.name, &e.to_string())
                    .context("writing output");
            }
        };
        for &id in &plugin.probes {
            let filter = self.config.probes.get(&id).cloned().unwrap_or_default();
            if let Err(e) = self.source.ensure(id, &filter) {
                tracing::error!("plugin `{}` not loaded: {e}{keeps}", spec.name);
                return self
                    .output
                    .plugin_failed(&spec.name, &e.to_string())
                    .context("writing output");
            }
        }
        let name = spec.name.clone();
        let slot = Slot {
            spec,
            failures: 0,
            state: SlotState::Running(plugin),
        };
        let i = match existing {
            Some(i) => {
                self.slots[i] = slot;
                tracing::info!("plugin `{name}`: new version swapped in");
                i
            }
            None => {
                self.slots.push(slot);
                tracing::info!("plugin `{name}`: loaded");
                self.slots.len() - 1
            }
        };
        self.resubscribe()?;
        self.forward_output(i)
    }
}
