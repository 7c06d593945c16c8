//! The plugin runtime: compiles components, sandboxes them (one `Store` each,
//! WASI with nothing granted, a memory limit, a CPU-time limit per call,
//! bounds on what the plugin hands the host) and calls their exports.

mod cache;
mod emitted;
mod host_maps;
mod host_output;
mod instance_size;
mod limits;
mod quota;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::I32Exit;
use wasmtrace_ebpf::abi::ProbeId;

use self::cache::{Cache, Source};
pub use self::emitted::Emitted;
use self::limits::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES, MemoryLimit, MemoryLimitExceeded};
use self::quota::{EmitBudget, StringBound};
use self::state::PluginState;
use crate::catalog;
use crate::config::{PluginLimits, PluginSpec, PluginValue};
use crate::maps::SharedPluginMaps;
use crate::trust::{self, TrustError};
use crate::wit::{Batch, ConfigValue};

/// How often the epoch advances: how often a running call's CPU time is
/// checked against its limit.
const EPOCH_TICK: Duration = Duration::from_millis(50);
/// Resource handles (maps, WASI streams) a plugin may hold at once.
const MAX_HANDLES: usize = 4096;
/// Bytes a plugin may hand the host in one host call (a batch of map updates).
const HOSTCALL_BYTES: usize = 16 << 20;
/// Bytes a plugin's component file may hold (Python and JavaScript ones are tens of MB).
const MAX_PLUGIN_BYTES: u64 = 256 << 20;

/// A call used more CPU time than the limit allows.
#[derive(Debug, thiserror::Error)]
#[error("used more than its {limit:?} of CPU time in one call")]
struct CpuLimitExceeded {
    limit: Duration,
}

/// A call took longer than its wall-clock limit (in a sleep, a blocking
/// host call, or waiting for a CPU).
#[derive(Debug, thiserror::Error)]
#[error("did not return within its {limit:?} of wall-clock time for one call")]
struct WallLimitExceeded {
    limit: Duration,
}

/// CPU time the calling thread has used.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Starts counting a call's CPU and wall-clock time against its limits,
/// from now (checked at the next epoch tick and every one after).
fn start_call_limits(store: &mut Store<PluginState>) {
    let state = store.data_mut();
    state.call_started_cpu = thread_cpu_time();
    state.call_deadline = Instant::now() + state.wall_per_call;
    store.set_epoch_deadline(1);
}

/// A memory, CPU-time, wall-clock or count limit the guest ran into, said as such.
fn limit_exceeded(e: &wasmtime::Error) -> Option<String> {
    if let Some(limit) = e.downcast_ref::<MemoryLimitExceeded>() {
        return Some(limit.to_string());
    }
    if let Some(limit) = e.downcast_ref::<CpuLimitExceeded>() {
        return Some(limit.to_string());
    }
    if let Some(limit) = e.downcast_ref::<WallLimitExceeded>() {
        return Some(limit.to_string());
    }
    // wasmtime says this (untyped) when a `ResourceLimiter` count is reached.
    let root = e.root_cause().to_string();
    root.starts_with("resource limit exceeded").then(|| {
        format!(
            "exceeded a limit of its sandbox ({root}): at most {MAX_INSTANCES} core instances, \
             {MAX_MEMORIES} memories and {MAX_TABLES} tables"
        )
    })
}

/// The WIT package this host implements, for messages.
pub const WIT_PACKAGE: &str = "wasmtrace:plugin@0.2.0";

/// The version of wasmtrace's WIT package a component imports, when it is
/// not this host's: a plugin built for another wasmtrace.
fn other_wit_version(component: &Component, engine: &Engine) -> Option<String> {
    let ours = WIT_PACKAGE.split_once('@').map(|(_, v)| v)?;
    component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| name.strip_prefix("wasmtrace:plugin/")?.split_once('@'))
        .map(|(_, version)| version)
        .find(|&version| version != ours)
        .map(str::to_string)
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(
        "plugin `{plugin}` did not return from init within {within:?} (blocked in a host call?): fix it, \
         or remove it from the config"
    )]
    StuckInInit {
        plugin: String,
        within: std::time::Duration,
    },
    #[error(
        "plugin `{plugin}` not loaded: {stuck} earlier loads are still blocked in a host call, each \
         holding a thread; restart wasmtrace to let them go"
    )]
    TooManyStuck { plugin: String, stuck: usize },
    #[error("plugin `{plugin}`: {} does not exist; build the plugins (see the README) or set `path` in [plugin.{plugin}]", path.display())]
    Missing { plugin: String, path: PathBuf },
    #[error("refusing plugin `{plugin}`: {cause}")]
    Untrusted { plugin: String, cause: TrustError },
    #[error("plugin `{plugin}`: {} is not a WebAssembly file", path.display())]
    NotWasm { plugin: String, path: PathBuf },
    #[error(
        "plugin `{plugin}`: {} is a core WebAssembly module, not a component: build it for \
         wasm32-wasip2, or wrap it with `wasm-tools component new`", path.display()
    )]
    CoreModule { plugin: String, path: PathBuf },
    #[error(
        "plugin `{plugin}`: {} would make the host hold {} MiB for its instances' contexts (a slot \
         per function, global, table, memory and segment, and passive element segments' copies, \
         times the times each module is instantiated), beyond the {} MiB a plugin may: it is not \
         a plugin as toolchains make them",
        path.display(), bytes >> 20, instance_size::MAX_BYTES >> 20
    )]
    InstancesTooLarge { plugin: String, path: PathBuf, bytes: u64 },
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
    #[error(
        "plugin `{plugin}`: {} was built for wasmtrace:plugin@{found}, and this wasmtrace implements \
         {WIT_PACKAGE}: rebuild it with this wasmtrace's SDK (docs/plugins-*.md, 'Upgrading from 0.1')",
        path.display()
    )]
    WitVersion {
        plugin: String,
        path: PathBuf,
        found: String,
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
        // wasmtime compiles on rayon's global pool. Named here, its threads do
        // not take the name of the thread that first compiles (a blocking-pool
        // one), so that a count of the pool's threads means what it says. Once
        // per process: a second runtime finds the pool built.
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("wasm-compile-{i}"))
            .build_global();
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        crate::wit::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Our monotonic clock in place of WASI's: its sleeps end by the call's deadline.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::clocks::monotonic_clock::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        linker.allow_shadowing(false);
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

    /// Instantiates and initialises a compiled plugin: how a failed plugin
    /// is restarted without compiling it again.
    pub fn instantiate(
        &self,
        spec: &PluginSpec,
        component: &Component,
        maps: SharedPluginMaps,
        limits: &PluginLimits,
    ) -> Result<PluginInstance, PluginError> {
        let mut store = self.store(spec, maps, limits)?;
        // Instantiating runs guest code (start functions) under the same
        // limit, counted from now: a restart runs on the plugin's own thread,
        // whose CPU time so far belongs to earlier instances.
        start_call_limits(&mut store);
        let instance = match crate::wit::Plugin::instantiate(&mut store, component, &self.linker) {
            Ok(instance) => instance,
            // Guest code failed (a start function, a runtime's initialisation).
            Err(e) if guest_failed(&e) => {
                return Err(PluginError::Trap {
                    plugin: spec.name.clone(),
                    call: "instantiate",
                    reason: explain(store.data(), &e),
                });
            }
            Err(e) => return Err(self.link_error(spec, component, &e)),
        };
        let mut plugin = PluginInstance {
            name: spec.name.clone(),
            component: component.clone(),
            store,
            instance,
            probes: Vec::new(),
        };
        plugin.probes = plugin.init(spec)?;
        Ok(plugin)
    }

    /// A plugin's store: its state, grants and limits, and the check of
    /// its CPU and wall-clock time at every epoch tick inside a call.
    fn store(
        &self,
        spec: &PluginSpec,
        maps: SharedPluginMaps,
        limits: &PluginLimits,
    ) -> Result<Store<PluginState>, PluginError> {
        let state = PluginState::new(
            &spec.name,
            &spec.grants,
            maps,
            MemoryLimit::new(limits.memory_bytes),
            limits.wall_per_call,
            EmitBudget::new(limits.emits_per_interval, limits.emit_bytes_per_interval),
            StringBound {
                limit: limits.string_bytes as usize,
            },
        )
        .map_err(|e| PluginError::Grant {
            plugin: spec.name.clone(),
            reason: e.to_string(),
        })?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_max_component_handles(MAX_HANDLES);
        store.set_hostcall_fuel(HOSTCALL_BYTES);
        let (cpu_limit, wall_limit) = (limits.cpu_per_call, limits.wall_per_call);
        store.epoch_deadline_callback(move |store| {
            let state = store.data();
            if thread_cpu_time().saturating_sub(state.call_started_cpu) > cpu_limit {
                return Err(CpuLimitExceeded { limit: cpu_limit }.into());
            }
            if Instant::now() > state.call_deadline {
                return Err(WallLimitExceeded { limit: wall_limit }.into());
            }
            Ok(UpdateDeadline::Continue(1))
        });
        Ok(store)
    }

    /// Why a component would not link: made for another version of the
    /// WIT, or missing what the host provides.
    fn link_error(&self, spec: &PluginSpec, component: &Component, e: &wasmtime::Error) -> PluginError {
        match other_wit_version(component, &self.engine) {
            Some(found) => PluginError::WitVersion {
                plugin: spec.name.clone(),
                path: spec.path.clone(),
                found,
            },
            None => PluginError::Link {
                plugin: spec.name.clone(),
                path: spec.path.clone(),
                reason: first_line(e),
            },
        }
    }

    /// Reads, checks and compiles a plugin's component (or takes it from the cache).
    pub fn compile(&self, plugin: &str, path: &Path) -> Result<Component, PluginError> {
        // Checked on the descriptor it is read from: nothing can be swapped in between.
        let bytes = trust::read_trusted(path, MAX_PLUGIN_BYTES).map_err(|cause| match cause {
            TrustError::Missing { .. } => PluginError::Missing {
                plugin: plugin.into(),
                path: path.into(),
            },
            cause => PluginError::Untrusted {
                plugin: plugin.into(),
                cause,
            },
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
        let compile_error = |reason: String| PluginError::Compile {
            plugin: plugin.into(),
            path: path.into(),
            reason,
        };
        let contexts = instance_size::reckon(&bytes).map_err(|e| compile_error(e.to_string()))?;
        if contexts > instance_size::MAX_BYTES {
            return Err(PluginError::InstancesTooLarge {
                plugin: plugin.into(),
                path: path.into(),
                bytes: contexts,
            });
        }
        tracing::debug!("plugin `{plugin}`: its instances' contexts take {contexts} bytes");
        let started = Instant::now();
        let (component, source) =
            Cache::component(self.cache.as_ref(), &self.engine, &bytes).map_err(|e| compile_error(first_line(&e)))?;
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
    store: Store<PluginState>,
    instance: crate::wit::Plugin,
}

impl PluginInstance {
    /// Runs `init` with the plugin's config; the probes it receives: the
    /// config's `probes`, else those it asks for.
    fn init(&mut self, spec: &PluginSpec) -> Result<Vec<ProbeId>, PluginError> {
        let config: Vec<(String, ConfigValue)> =
            spec.config.iter().map(|(k, v)| (k.clone(), config_value(v))).collect();
        let wanted = self.call("init", |p| p.instance.call_init(&mut p.store, &config))?;
        let wanted = wanted.map_err(|reason| PluginError::Rejected {
            plugin: spec.name.clone(),
            reason: crate::escape::terminal_owned(reason),
        })?;
        match &spec.probes {
            Some(probes) => Ok(probes.clone()),
            None => wanted
                .iter()
                .map(|name| {
                    catalog::find(name)
                        .map(|p| p.id)
                        .ok_or_else(|| PluginError::UnknownProbe {
                            plugin: spec.name.clone(),
                            probe: crate::escape::terminal_owned(name.clone()),
                        })
                })
                .collect(),
        }
    }

    pub fn on_events(&mut self, batch: &Arc<Batch>) -> Result<(), PluginError> {
        let state = self.store.data_mut();
        let ids = batch.headers.kernel_stack.iter().chain(&batch.headers.user_stack);
        state.stacks_seen.extend(ids.filter(|&&id| id != 0));
        state.batch = Some(batch.clone());
        let result = self.call("on-events", |p| p.instance.call_on_events(&mut p.store, batch));
        self.store.data_mut().batch = None;
        result
    }

    pub fn on_tick(&mut self) -> Result<(), PluginError> {
        self.call("on-tick", |p| p.instance.call_on_tick(&mut p.store))
    }

    /// Starts a new interval's emit budget; returns what was refused in the last one.
    pub fn refill_emit_budget(&mut self) -> u64 {
        self.store.data_mut().emit_budget.refill()
    }

    /// Bytes of all its linear memories and tables.
    pub fn memory_bytes(&self) -> usize {
        self.store.data().limits.used()
    }

    /// Rows, findings and logs produced since the last call.
    pub fn take_emitted(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.store.data_mut().emitted)
    }

    /// Calls into the guest with its CPU time counted from now, and explains a trap.
    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Self) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        start_call_limits(&mut self.store);
        let result = f(self).and_then(|r| {
            // Returned, but late (e.g. from a sleep cut at the deadline): the
            // epoch check, every 50 ms, may not have seen it.
            let state = self.store.data();
            match Instant::now() >= state.call_deadline {
                true => Err(WallLimitExceeded {
                    limit: state.wall_per_call,
                }
                .into()),
                false => Ok(r),
            }
        });
        result.map_err(|e| PluginError::Trap {
            plugin: self.name.clone(),
            call,
            reason: explain(self.store.data(), &e),
        })
    }
}

/// Whether guest code failed (trapped, exited, or hit a limit), rather than
/// the component not fitting the host.
fn guest_failed(e: &wasmtime::Error) -> bool {
    limit_exceeded(e).is_some() || e.downcast_ref::<Trap>().is_some() || e.downcast_ref::<I32Exit>().is_some()
}

/// Why a call into the guest failed: the limit it hit, or its trap or exit
/// (with the guest's last words on stderr: a Rust or Go panic's message).
fn explain(state: &PluginState, e: &wasmtime::Error) -> String {
    if let Some(limit) = limit_exceeded(e) {
        return limit;
    }
    let failure = match (e.downcast_ref::<Trap>(), e.downcast_ref::<I32Exit>()) {
        (Some(Trap::UnreachableCodeReached), _) => "trapped".to_string(),
        (Some(trap), _) => format!("trapped: {trap}"),
        // Go's runtime exits with status 2 after printing a panic.
        (None, Some(I32Exit(status))) => format!("exited with status {status}"),
        // A host limit (handles, bytes per host call): the cause, not the wasm backtrace.
        (None, None) => return e.root_cause().to_string(),
    };
    match state.last_words() {
        Some(line) => format!("{failure}: {}", crate::escape::terminal(&line)),
        None if failure == "trapped" => "trapped: unreachable code reached".to_string(),
        None => failure,
    }
}
