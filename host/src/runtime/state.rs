//! What each plugin's `Store` holds.

use std::time::{Duration, Instant};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use std::sync::Arc;

use super::emitted::Emitted;
use super::limits::MemoryLimit;
use super::quota::{EmitBudget, StringBound};
use crate::config::Grants;
use crate::maps::SharedPluginMaps;
use crate::wit::{Batch, Container};

pub struct PluginState {
    pub(crate) plugin: String,
    pub(crate) maps: SharedPluginMaps,
    pub(crate) emitted: Vec<Emitted>,
    pub(crate) emit_budget: EmitBudget,
    pub(crate) strings: StringBound,
    pub(crate) limits: MemoryLimit,
    /// CPU time of the calling thread when the current call began.
    pub(crate) call_started_cpu: Duration,
    /// Wall-clock time a call may take, and when the current one must have returned.
    pub(crate) wall_per_call: Duration,
    pub(crate) call_deadline: Instant,
    /// What the plugin's monotonic clock reads.
    monotonic: Monotonic,
    /// The guest's stderr, where a Rust panic message lands: shown when it traps.
    pub(crate) stderr: MemoryOutputPipe,
    /// The batch being handled, whose events rows and findings may be about.
    pub(crate) batch: Option<Arc<Batch>>,
    /// The stacks this plugin's events carried: the only ones it may name
    /// or count by (ids are the session's, every process's and probe's).
    pub(crate) stacks_seen: std::collections::HashSet<u32>,
    wasi: WasiCtx,
    table: ResourceTable,
}

/// Bytes of guest stderr kept for trap messages.
const STDERR_CAPACITY: usize = 64 * 1024;
/// Random bytes one WASI call may ask for (wasmtime's default is 64 MiB,
/// held by the host outside the plugin's memory limit).
const RANDOM_BYTES: u64 = 1 << 20;
/// WASI resources (streams, pollables…) a plugin may hold at once.
const WASI_RESOURCES: usize = 1024;

impl PluginState {
    pub fn new(
        plugin: &str,
        grants: &Grants,
        maps: SharedPluginMaps,
        limits: MemoryLimit,
        wall_per_call: Duration,
        emit_budget: EmitBudget,
        strings: StringBound,
    ) -> std::io::Result<PluginState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // WASI grants nothing by default: no files, network, environment or args.
        let mut wasi = WasiCtx::builder();
        // Random bytes are made on the host before they reach the guest.
        wasi.stderr(stderr.clone()).max_random_size(RANDOM_BYTES);
        // The monotonic clock is this state's own (see the impl below); the
        // context's is set too, for anything in WASI that reads it.
        let monotonic = if grants.clocks {
            Monotonic::Real(Instant::now())
        } else {
            wasi.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
            Monotonic::Frozen
        };
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
            call_started_cpu: Duration::ZERO,
            wall_per_call,
            call_deadline: Instant::now(),
            monotonic,
            stderr,
            batch: None,
            stacks_seen: std::collections::HashSet::new(),
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

/// The plugin's monotonic clock: frozen, or real from when it started.
#[derive(Debug, Clone, Copy)]
enum Monotonic {
    Frozen,
    Real(Instant),
}

impl Monotonic {
    fn now(self) -> u64 {
        match self {
            Monotonic::Frozen => HostMonotonicClock::now(&FrozenClock),
            Monotonic::Real(origin) => origin.elapsed().as_nanos() as u64,
        }
    }
}

/// `wasi:clocks/monotonic-clock`, in place of WASI's own, so that no sleep
/// outlasts the call it is made in (the CPU limit does not see time spent
/// in host calls). Frozen clocks never advance, so a sleep on them ends at
/// once; a real one ends when asked or at the call's wall-clock deadline,
/// whichever comes first, and the deadline's check then stops the call.
impl monotonic_clock::Host for PluginState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.monotonic.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        let wait = Duration::from_nanos(when.saturating_sub(self.monotonic.now()));
        self.sleep(wait)
    }

    fn subscribe_duration(&mut self, wait: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        self.sleep(Duration::from_nanos(wait))
    }
}

impl PluginState {
    fn sleep(&mut self, wait: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let now = Instant::now();
        let until = match self.monotonic {
            Monotonic::Frozen => now,
            Monotonic::Real(_) => now
                .checked_add(wait)
                .map_or(self.call_deadline, |at| at.min(self.call_deadline)),
        };
        let wakeup = self.table.push(Wakeup(tokio::time::Instant::from_std(until)))?;
        subscribe(&mut self.table, wakeup)
    }
}

/// A sleep's end.
struct Wakeup(tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl Pollable for Wakeup {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
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

impl PluginState {
    /// `id` if this plugin's events carried it, else 0 (none).
    pub(crate) fn seen_stack(&self, id: u32) -> u32 {
        if self.stacks_seen.contains(&id) { id } else { 0 }
    }
}
