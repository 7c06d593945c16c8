//! Hot loading: components that appear, change or vanish in the plugins
//! folder, or that a registry's tag moves to (pipeline/images.rs), are
//! compiled and initialised off the event path, then handed to the plugin's
//! worker through its queue, so every batch goes whole to either the old or
//! the new version, and none twice.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::Session;
use super::worker::WorkerHandle;
use crate::config::PluginSpec;
use crate::runtime::{PluginError, PluginInstance};
use crate::watch::PluginWatcher;

pub(super) type Loaded = (PluginSpec, Result<PluginInstance, PluginError>);

/// Something that happened in the plugins folder.
pub(super) enum Change {
    /// These files changed and have settled.
    Settled(Vec<PathBuf>),
    /// A changed file was compiled and initialised (or failed to be).
    Loaded(Box<Loaded>),
}

pub(super) struct Reloads {
    /// The plugins folder, when the config says `watch = true`.
    watcher: Option<PluginWatcher>,
    loaded: UnboundedReceiver<Loaded>,
}

impl Reloads {
    /// Watches `dir` if given; loaded versions come back through the returned sender's channel.
    pub(super) fn new(dir: Option<&Path>) -> anyhow::Result<(Reloads, UnboundedSender<Loaded>)> {
        let watcher = match dir {
            Some(dir) => Some(
                PluginWatcher::new(dir).with_context(|| format!("watching the plugins folder {}", dir.display()))?,
            ),
            None => None,
        };
        let (tx, loaded) = unbounded_channel();
        Ok((Reloads { watcher, loaded }, tx))
    }

    /// The next change. Cancel-safe.
    pub(super) async fn next(&mut self) -> Change {
        let settled = async {
            match &mut self.watcher {
                Some(watcher) => watcher.settled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            paths = settled => Change::Settled(paths),
            Some(loaded) = self.loaded.recv() => Change::Loaded(Box::new(loaded)),
        }
    }
}

impl Session {
    pub(super) fn apply_change(&mut self, change: Change) -> anyhow::Result<()> {
        match change {
            Change::Settled(paths) => {
                for path in paths {
                    self.file_changed(&path)?;
                }
                Ok(())
            }
            Change::Loaded(loaded) => {
                let (spec, result) = *loaded;
                self.swap_in(spec, result)
            }
        }
    }

    fn worker_named(&self, name: &str) -> Option<usize> {
        self.workers.iter().position(|w| w.name == name)
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
            if let Some(i) = self.worker_named(&spec.name) {
                self.workers[i].unload();
                self.resubscribe()?;
                tracing::info!(
                    "plugin `{}` unloaded: {} was removed; its maps are kept",
                    spec.name,
                    path.display()
                );
            }
            return Ok(());
        }
        // Compiling takes seconds for large components, and `init` is the
        // plugin's own code: neither runs on the event path.
        let (loader, tx) = (self.loader.clone(), self.loaded_tx.clone());
        let maps = self.maps.for_plugin(&spec.name, self.config.limits.plugin.map_quota());
        tokio::spawn(async move {
            let result = loader.load(&spec, maps).await;
            if let Some(tx) = tx {
                let _ = tx.send((spec, result));
            }
        });
        Ok(())
    }

    /// Hands a freshly loaded version to its worker (or starts one); on any
    /// failure the running version (if any) stays and the reason is shown.
    fn swap_in(&mut self, spec: PluginSpec, loaded: Result<PluginInstance, PluginError>) -> anyhow::Result<()> {
        let existing = self.worker_named(&spec.name);
        let keeps = if existing.is_some() {
            "; the running version stays"
        } else {
            ""
        };
        let plugin = match loaded {
            Ok(plugin) => plugin,
            Err(e) => {
                tracing::error!("new version not loaded: {e}{keeps}");
                self.output().plugin_failed(&spec.name, &e.to_string());
                return Ok(());
            }
        };
        for &id in &plugin.probes {
            let filter = self.config.probes.get(&id).cloned().unwrap_or_default();
            if let Err(e) = self.source.ensure(id, &filter) {
                tracing::error!("plugin `{}` not loaded: {e}{keeps}", spec.name);
                self.output().plugin_failed(&spec.name, &e.to_string());
                return Ok(());
            }
        }
        let name = spec.name.clone();
        // A worker stuck in a call would never take the new version.
        let stuck = existing.and_then(|i| {
            let worker = &self.workers[i];
            worker.counters.in_call_longer(worker.stuck_after)
        });
        match (existing, stuck) {
            (Some(i), Some((call, took))) => {
                let maps = self.maps.for_plugin(&name, self.config.limits.plugin.map_quota());
                let env = self.worker_env();
                self.workers[i].replace_stuck(spec, plugin, maps, &env)?;
                tracing::warn!(
                    "plugin `{name}`: the running version has been in {call} for {took:.1?} (blocked in a host call?); \
                     it is left behind, and the new version runs on a thread of its own"
                );
            }
            (Some(i), None) => {
                self.workers[i].swap(spec, plugin);
                tracing::info!("plugin `{name}`: new version swapped in");
            }
            (None, _) => {
                let maps = self.maps.for_plugin(&name, self.config.limits.plugin.map_quota());
                let worker = WorkerHandle::spawn(spec, plugin, maps, &self.worker_env())?;
                self.workers.push(worker);
                tracing::info!("plugin `{name}`: loaded");
            }
        }
        self.resubscribe()?;
        self.watch_rings()
    }
}
