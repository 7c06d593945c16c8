//! Compiling and starting a plugin off the event loop, at start-up and on
//! reload alike. Instantiating and `init` run the plugin's code, each
//! stopped at the wall-clock limit inside wasmtime; a host call that blocks
//! past it (a read of a FIFO nobody writes) cannot be stopped, so the load
//! is given up on after twice that, and its thread is left behind. Such
//! threads are counted: past a few, no more loads start, so that a plugin
//! reloaded again and again cannot use up the blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use super::worker::STUCK_GRACE;
use crate::config::{PluginLimits, PluginSpec};
use crate::maps::SharedPluginMaps;
use crate::runtime::{PluginError, PluginInstance, Runtime};

/// Loads left behind in a host call before no more are started.
pub(super) const MAX_STUCK_LOADS: usize = 4;

/// Where one load's thread stands, between it and the wait for it.
const RUNNING: u8 = 0;
const RETURNED: u8 = 1;
const ABANDONED: u8 = 2;

/// Loads plugins for one session.
#[derive(Clone)]
pub(super) struct Loader {
    runtime: Arc<Runtime>,
    limits: PluginLimits,
    /// Loads given up on whose threads have not returned.
    stuck: Arc<AtomicUsize>,
}

impl Loader {
    pub(super) fn new(runtime: Arc<Runtime>, limits: PluginLimits) -> Loader {
        Loader {
            runtime,
            limits,
            stuck: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Compiles (or takes from the cache), instantiates and initialises a
    /// plugin, within the bound above.
    pub(super) async fn load(&self, spec: &PluginSpec, maps: SharedPluginMaps) -> Result<PluginInstance, PluginError> {
        let stuck = self.stuck.load(Ordering::Relaxed);
        if stuck >= MAX_STUCK_LOADS {
            return Err(PluginError::TooManyStuck {
                plugin: spec.name.clone(),
                stuck,
            });
        }
        // Compiling is wasmtime's work, bounded by the file's size, and may take seconds.
        let component = {
            let (runtime, name, path) = (self.runtime.clone(), spec.name.clone(), spec.path.clone());
            join(tokio::task::spawn_blocking(move || runtime.compile(&name, &path)).await)?
        };
        let state = Arc::new(AtomicU8::new(RUNNING));
        let started = {
            let (runtime, spec, limits) = (self.runtime.clone(), spec.clone(), self.limits);
            let (state, stuck) = (state.clone(), self.stuck.clone());
            tokio::task::spawn_blocking(move || {
                let plugin = runtime.instantiate(&spec, &component, maps, &limits);
                if state.swap(RETURNED, Ordering::AcqRel) == ABANDONED {
                    stuck.fetch_sub(1, Ordering::Relaxed);
                }
                plugin
            })
        };
        let bound = 2 * self.limits.wall_per_call + STUCK_GRACE;
        tokio::pin!(started);
        match tokio::time::timeout(bound, &mut started).await {
            Ok(plugin) => join(plugin),
            Err(_) => {
                if state
                    .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // It returned just now.
                    return join(started.await);
                }
                self.stuck.fetch_add(1, Ordering::Relaxed);
                Err(PluginError::StuckInInit {
                    plugin: spec.name.clone(),
                    within: bound,
                })
            }
        }
    }
}

/// A load's result; a panic in the host's own code goes on up.
fn join<T>(joined: Result<T, tokio::task::JoinError>) -> T {
    joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
