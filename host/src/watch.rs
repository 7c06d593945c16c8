//! Watches the plugins folder and reports `.wasm` files that changed once
//! they have been quiet for a moment (a copy arrives in several writes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Instant;

/// How long a file must go unchanged before it is (re)loaded.
const QUIET: Duration = Duration::from_millis(300);

pub struct PluginWatcher {
    _watcher: RecommendedWatcher,
    events: UnboundedReceiver<notify::Result<notify::Event>>,
    /// Changed files and when they last changed.
    pending: HashMap<PathBuf, Instant>,
}

impl PluginWatcher {
    pub fn new(dir: &Path) -> notify::Result<PluginWatcher> {
        let (tx, events) = unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(PluginWatcher {
            _watcher: watcher,
            events,
            pending: HashMap::new(),
        })
    }

    /// Waits for `.wasm` files created, changed or removed that have since
    /// been quiet. Cancel-safe: what it heard stays pending.
    pub async fn settled(&mut self) -> Vec<PathBuf> {
        loop {
            let now = Instant::now();
            let ready: Vec<PathBuf> = self
                .pending
                .iter()
                .filter(|(_, at)| now.duration_since(**at) >= QUIET)
                .map(|(p, _)| p.clone())
                .collect();
            if !ready.is_empty() {
                for path in &ready {
                    self.pending.remove(path);
                }
                return ready;
            }
            let next = self.pending.values().min().map(|at| *at + QUIET);
            tokio::select! {
                event = self.events.recv() => match event {
                    // Reading a file is no change: loading a plugin reads
                    // its file, and must not set off another load.
                    Some(Ok(event)) if matches!(event.kind, EventKind::Access(_)) => {}
                    Some(Ok(event)) => {
                        for path in event.paths.into_iter().filter(|p| is_plugin_file(p)) {
                            self.pending.insert(path, Instant::now());
                        }
                    }
                    Some(Err(e)) => tracing::warn!("watching the plugins folder: {e}"),
                    None => std::future::pending().await,
                },
                _ = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
            }
        }
    }
}

pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}

/// The `.wasm` files in `dir`, sorted.
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_plugin_file(p))
        .collect();
    files.sort();
    Ok(files)
}
