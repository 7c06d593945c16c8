//! The plugin runtime: compiles components, sandboxes them (one `Store` each,
//! WASI with nothing granted, a memory limit, a CPU deadline per call) and
//! calls their exports.

pub mod bindings;
mod cache;
mod host_maps;
mod host_output;
mod limits;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtrace_ebpf::abi::ProbeId;

use self::bindings::{ConfigValue, Event};
use self::cache::{Cache, Source};
use self::limits::{MemoryLimit, MemoryLimitExceeded};
pub use self::state::Emitted;
use self::state::PluginState;
use crate::catalog;
use crate::config::{PluginSpec, PluginValue};
use crate::maps::SharedMaps;
use crate::trust::{self, TrustError};

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// CPU time one call into a plugin may take before it is interrupted.
pub const CALL_DEADLINE: Duration = Duration::from_secs(2);
/// Linear memory one plugin may use.
pub const MEMORY_LIMIT: usize = 256 << 20;

/// The WIT package this host implements, for messages.
pub const WIT_PACKAGE: &str = "wasmtrace:plugin@0.1.0";

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin `{plugin}`: {} does not exist; build the plugins (see the README) or set `path` in [plugin.{plugin}]", path.display())]
    Missing { plugin: String, path: PathBuf },
    #[error("refusing plugin `{plugin}`: {source}")]
    Untrusted { plugin: String, source: TrustError },
    #[error("plugin `{plugin}`: cannot read {}: {source}", path.display())]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{plugin}`: {} is not a WebAssembly file", path.display())]
    NotWasm { plugin: String, path: PathBuf },
    #[error(
        "plugin `{plugin}`: {} is a core WebAssembly module, not a component: build it for \
         wasm32-wasip2, or wrap it with `wasm-tools component new`", path.display()
    )]
    CoreModule { plugin: String, path: PathBuf },
    #[error("plugin `{plugin}`: {} does not compile: {reason}", path.display())]
    Compile {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "plugin `{plugin}`: {} does not fit wasmtrace's plugin interface ({WIT_PACKAGE}): {reason}; \
         rebuild it against this wasmtrace's wit/", path.display()
    )]
    Link {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error("plugin `{plugin}` failed in {call}: {reason}")]
    Trap {
        plugin: String,
        call: &'static str,
        reason: String,
    },
    #[error("plugin `{plugin}`: cannot set up its sandbox: {reason}; fix [plugin.{plugin}.grant]")]
    Grant { plugin: String, reason: String },
    #[error("plugin `{plugin}` refused to start: {reason}")]
    Rejected { plugin: String, reason: String },
    #[error(
        "plugin `{plugin}` asks for unknown probe `{probe}`; set `probes` in [plugin.{plugin}] or update the plugin"
    )]
    UnknownProbe { plugin: String, probe: String },
}

/// Compiles and instantiates plugins. One per process.
pub struct Runtime {
    engine: Engine,
    cache: Option<Cache>,
    linker: Linker<PluginState>,
    ticking: Arc<AtomicBool>,
}

impl Runtime {
    /// A runtime that caches compiled plugins in `cache_dir`.
    pub fn new(cache_dir: &Path) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (ticker_engine, still_ticking) = (engine.clone(), ticking.clone());
        std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
            while still_ticking.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                ticker_engine.increment_epoch();
            }
        })?;
        let cache = Cache::open(cache_dir, &engine);
        Ok(Runtime {
            engine,
            cache,
            linker,
            ticking,
        })
    }

    /// Compiles, instantiates and initialises a plugin.
    pub fn load(&self, spec: &PluginSpec, maps: SharedMaps, emit_budget: u32) -> Result<PluginInstance, PluginError> {
        let component = self.compile(&spec.name, &spec.path)?;
        self.instantiate(spec, &component, maps, emit_budget)
    }

    /// Instantiates and initialises a compiled plugin: how a failed plugin
    /// is restarted without compiling it again.
    pub fn instantiate(
        &self,
        spec: &PluginSpec,
        component: &Component,
        maps: SharedMaps,
        emit_budget: u32,
    ) -> Result<PluginInstance, PluginError> {
        let limits = MemoryLimit { bytes: MEMORY_LIMIT };
        let state =
            PluginState::new(&spec.name, &spec.grants, maps, limits, emit_budget).map_err(|e| PluginError::Grant {
                plugin: spec.name.clone(),
                reason: e.to_string(),
            })?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(deadline_ticks());
        let instance =
            bindings::Plugin::instantiate(&mut store, component, &self.linker).map_err(|e| PluginError::Link {
                plugin: spec.name.clone(),
                path: spec.path.clone(),
                reason: first_line(&e),
            })?;
        let mut plugin = PluginInstance {
            name: spec.name.clone(),
            component: component.clone(),
            events: 0,
            busy: Duration::ZERO,
            store,
            instance,
            probes: Vec::new(),
        };
        let config: Vec<(String, ConfigValue)> =
            spec.config.iter().map(|(k, v)| (k.clone(), config_value(v))).collect();
        let wanted = plugin.call("init", |p| p.instance.call_init(&mut p.store, &config))?;
        let wanted = wanted.map_err(|reason| PluginError::Rejected {
            plugin: spec.name.clone(),
            reason,
        })?;
        plugin.probes = match &spec.probes {
            Some(probes) => probes.clone(),
            None => wanted
                .iter()
                .map(|name| {
                    catalog::find(name)
                        .map(|p| p.id)
                        .ok_or_else(|| PluginError::UnknownProbe {
                            plugin: spec.name.clone(),
                            probe: name.clone(),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(plugin)
    }

    /// Reads, checks and compiles a plugin's component (or takes it from the cache).
    pub fn compile(&self, plugin: &str, path: &Path) -> Result<Component, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => PluginError::Missing {
                plugin: plugin.into(),
                path: path.into(),
            },
            _ => PluginError::Read {
                plugin: plugin.into(),
                path: path.into(),
                source,
            },
        })?;
        trust::check_file(path).map_err(|source| PluginError::Untrusted {
            plugin: plugin.into(),
            source,
        })?;
        match bytes.get(..8) {
            // The binary format's preamble: magic, then the layer/version word.
            Some([0, b'a', b's', b'm', 0x0d, 0, 0x01, 0]) => {}
            Some([0, b'a', b's', b'm', 0x01, 0, 0, 0]) => {
                return Err(PluginError::CoreModule {
                    plugin: plugin.into(),
                    path: path.into(),
                });
            }
            _ => {
                return Err(PluginError::NotWasm {
                    plugin: plugin.into(),
                    path: path.into(),
                });
            }
        }
        let started = Instant::now();
        let (component, source) =
            Cache::component(self.cache.as_ref(), &self.engine, &bytes).map_err(|e| PluginError::Compile {
                plugin: plugin.into(),
                path: path.into(),
                reason: first_line(&e),
            })?;
        let how = match source {
            Source::Compiled => "compiled",
            Source::Cached => "loaded from the compile cache",
        };
        tracing::info!(
            "plugin `{plugin}`: {how} in {:.0?} ({} KiB)",
            started.elapsed(),
            bytes.len() / 1024
        );
        Ok(component)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

fn deadline_ticks() -> u64 {
    (CALL_DEADLINE.as_millis() / EPOCH_TICK.as_millis()) as u64
}

fn first_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}

fn config_value(v: &PluginValue) -> ConfigValue {
    match v {
        PluginValue::Boolean(b) => ConfigValue::Boolean(*b),
        PluginValue::Integer(n) => ConfigValue::Integer(*n),
        PluginValue::Float(f) => ConfigValue::Float(*f),
        PluginValue::Text(s) => ConfigValue::Text(s.clone()),
        PluginValue::Texts(l) => ConfigValue::Texts(l.clone()),
    }
}

/// A running plugin.
pub struct PluginInstance {
    pub name: String,
    /// The probes it receives.
    pub probes: Vec<ProbeId>,
    /// The compiled code, to restart from.
    pub component: Component,
    /// Events delivered, and the time spent in `on-events` calls.
    pub events: u64,
    pub busy: Duration,
    store: Store<PluginState>,
    instance: bindings::Plugin,
}

impl PluginInstance {
    pub fn on_events(&mut self, batch: &[Event]) -> Result<(), PluginError> {
        let started = Instant::now();
        let result = self.call("on-events", |p| p.instance.call_on_events(&mut p.store, batch));
        self.busy += started.elapsed();
        self.events += batch.len() as u64;
        result
    }

    pub fn on_tick(&mut self) -> Result<(), PluginError> {
        self.call("on-tick", |p| p.instance.call_on_tick(&mut p.store))
    }

    /// Starts a new interval's emit budget; returns what was dropped over the last one.
    pub fn refill_emit_budget(&mut self, budget: u32) -> u64 {
        let state = self.store.data_mut();
        state.emit_budget = budget;
        std::mem::take(&mut state.emits_dropped)
    }

    /// Rows, findings and logs produced since the last call.
    pub fn take_emitted(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.store.data_mut().emitted)
    }

    /// Calls into the guest under a fresh deadline and explains a trap.
    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Self) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.store.set_epoch_deadline(deadline_ticks());
        f(self).map_err(|e| PluginError::Trap {
            plugin: self.name.clone(),
            call,
            reason: self.explain(&e),
        })
    }

    fn explain(&self, e: &wasmtime::Error) -> String {
        if let Some(limit) = e.downcast_ref::<MemoryLimitExceeded>() {
            return limit.to_string();
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => format!("ran longer than its {CALL_DEADLINE:?} CPU limit per call"),
            Some(Trap::UnreachableCodeReached) => match self.store.data().last_words() {
                Some(line) => format!("trapped: {line}"),
                None => "trapped: unreachable code reached".to_string(),
            },
            Some(trap) => format!("trapped: {trap}"),
            None => first_line(e),
        }
    }
}
