//! One plugin's worker: a thread that owns the plugin's instance and feeds it
//! the batches queued for it, in order. The queue is bounded in events: when
//! a slow plugin lets it fill, its next batches are dropped for it alone and
//! counted; the reader and the other plugins never wait for it. Failures are
//! contained here too: the instance is dropped and restarted with back-off.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};
use wasmtime::component::Component;
use wasmtrace_ebpf::abi::ProbeId;

use crate::boot_clock;
use crate::config::{PluginLimits, PluginSpec};
use crate::maps::{Log2Hist, SharedPluginMaps};
use crate::output::Output;
use crate::runtime::{PluginError, PluginInstance, Runtime, thread_cpu_time};
use crate::wit;

/// Events of one probe, shared by every plugin that receives them. Sized to
/// its events, so the queue's bound in events also bounds its memory,
/// however small the batches.
pub type Batch = Arc<wit::Batch>;

pub type SharedOutput = Arc<Mutex<Output>>;

/// First wait before restarting a failed plugin; it doubles with each failure.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(60);

/// How long a plugin may stay in a call past its wall-clock limit before it
/// counts as stuck there (in a host call nothing can interrupt).
pub(super) const STUCK_GRACE: Duration = Duration::from_secs(1);
/// How often a wait on a worker looks whether it is stuck.
const STUCK_CHECK: Duration = Duration::from_millis(500);

/// Waits for `f`, unless the worker whose `counters` these are is (or gets)
/// stuck in a call meanwhile: then `None`.
pub(super) async fn unless_stuck<F: std::future::Future>(
    counters: &Counters,
    stuck_after: Duration,
    f: F,
) -> Option<F::Output> {
    tokio::pin!(f);
    loop {
        match tokio::time::timeout(STUCK_CHECK, &mut f).await {
            Ok(out) => return Some(out),
            Err(_) if counters.in_call_longer(stuck_after).is_some() => return None,
            Err(_) => {}
        }
    }
}

fn backoff(failures: u32) -> Duration {
    RESTART_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(MAX_RESTART_BACKOFF)
}

pub enum Message {
    Batch(ProbeId, Batch),
    /// Run `on-tick`; the sender, if any, hears when everything queued before it is done.
    Tick(Option<oneshot::Sender<()>>),
    /// A new version, compiled and initialised off the event path.
    Swap(Box<PluginSpec>, Box<PluginInstance>),
    /// Its file was removed: no more events; its maps stay.
    Unload,
}

/// Where a plugin stands, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RunState {
    Running = 0,
    /// Failed; waiting for its restart.
    Down = 1,
    Unloaded = 2,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Down => "down",
            RunState::Unloaded => "unloaded",
        }
    }
}

/// A plugin's figures, cumulative across restarts and reloads; written by
/// its worker (and by the reader, for drops), read for reports.
#[derive(Debug)]
pub struct Counters {
    /// Events its calls completed.
    pub events: AtomicU64,
    /// CPU time its calls took.
    pub busy_ns: AtomicU64,
    /// Per probe: events dropped because its queue was full.
    pub dropped: Vec<AtomicU64>,
    /// Events it did not see because it was down, or failed on them.
    pub missed: AtomicU64,
    pub failures: AtomicU64,
    /// Rows, findings, headers and logs refused by the emit budget.
    pub emits_refused: AtomicU64,
    /// Linear memory of its current instance, as of its last call.
    pub memory_bytes: AtomicU64,
    /// Live runs: nanoseconds from each event (its kernel timestamp) to the
    /// start of the call that hands it to the plugin.
    pub latency: Mutex<Log2Hist>,
    state: AtomicU8,
    /// While down: when its next restart is due (CLOCK_BOOTTIME ns).
    restart_at_ns: AtomicU64,
    /// New versions swapped in.
    pub reloads: AtomicU64,
    /// Set when wasmtrace stops and the plugin is still behind after the
    /// grace period: what is left in its queue is counted as dropped.
    abandoned: AtomicBool,
    /// The call running now, and since when: how a plugin stuck in a host
    /// call (which no limit inside wasmtime can interrupt) is told.
    in_call: Mutex<Option<(&'static str, Instant)>>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            events: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            dropped: ProbeId::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            missed: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            emits_refused: AtomicU64::new(0),
            memory_bytes: AtomicU64::new(0),
            latency: Mutex::new(Log2Hist::default()),
            state: AtomicU8::new(RunState::Running as u8),
            restart_at_ns: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
            in_call: Mutex::new(None),
        }
    }
}

impl Counters {
    pub fn state(&self) -> RunState {
        match self.state.load(Ordering::Relaxed) {
            0 => RunState::Running,
            1 => RunState::Down,
            _ => RunState::Unloaded,
        }
    }

    fn set_state(&self, state: RunState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// While down, how long until its next restart.
    pub fn restart_in(&self) -> Option<Duration> {
        let at = self.restart_at_ns.load(Ordering::Relaxed);
        (self.state() == RunState::Down).then(|| Duration::from_nanos(at.saturating_sub(boot_clock::now_ns())))
    }

    fn set_restart_at(&self, at: Instant) {
        let wait = at.saturating_duration_since(Instant::now()).as_nanos() as u64;
        self.restart_at_ns.store(boot_clock::now_ns() + wait, Ordering::Relaxed);
    }

    /// Notes a call into the plugin until the guard is dropped.
    fn calling(&self, call: &'static str) -> InCall<'_> {
        let since = Instant::now();
        *self.in_call.lock().expect("in_call lock") = Some((call, since));
        InCall { counters: self, since }
    }

    /// The call the plugin is in, and for how long, if it has been in it
    /// longer than `than`.
    pub fn in_call_longer(&self, than: Duration) -> Option<(&'static str, Duration)> {
        let (call, since) = (*self.in_call.lock().expect("in_call lock"))?;
        Some((call, since.elapsed())).filter(|(_, took)| *took > than)
    }
}

/// A call in progress; see [`Counters::calling`].
struct InCall<'a> {
    counters: &'a Counters,
    since: Instant,
}

impl Drop for InCall<'_> {
    fn drop(&mut self) {
        // Only its own: a worker left behind that returns at last must not
        // clear the mark of the one that replaced it.
        let mut in_call = self.counters.in_call.lock().expect("in_call lock");
        if in_call.is_some_and(|(_, since)| since == self.since) {
            *in_call = None;
        }
    }
}

/// How the reader hands a batch to a worker whose queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Live: drop it for this plugin and count it (the kernel waits for nobody).
    Drop,
    /// Replay: wait for room, so that a replay is complete and deterministic.
    Wait,
}

/// The session's side of a worker.
pub struct WorkerHandle {
    pub name: String,
    /// The probes it receives.
    pub probes: Vec<ProbeId>,
    pub counters: Arc<Counters>,
    tx: Sender<Message>,
    /// Room in its queue, in events.
    room: Arc<Semaphore>,
    tick_queued: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// How long a call may run before the plugin counts as stuck in it.
    pub stuck_after: Duration,
    /// Set when it is left behind: should its call ever return, it handles nothing more.
    left: Arc<AtomicBool>,
}

/// What every worker of a session shares.
#[derive(Clone)]
pub struct WorkerEnv {
    pub runtime: Arc<Runtime>,
    pub limits: PluginLimits,
    pub output: SharedOutput,
    /// Events come from the kernel now (so their delivery latency means something).
    pub live: bool,
}

impl WorkerHandle {
    /// Starts a worker for a plugin that the runtime has just loaded.
    pub fn spawn(
        spec: PluginSpec,
        plugin: PluginInstance,
        maps: SharedPluginMaps,
        env: &WorkerEnv,
    ) -> std::io::Result<WorkerHandle> {
        Self::start(spec, plugin, maps, env, Arc::default())
    }

    fn start(
        spec: PluginSpec,
        plugin: PluginInstance,
        maps: SharedPluginMaps,
        env: &WorkerEnv,
        counters: Arc<Counters>,
    ) -> std::io::Result<WorkerHandle> {
        let WorkerEnv {
            runtime,
            limits,
            output,
            live,
        } = env.clone();
        counters.set_state(RunState::Running);
        let (tx, rx) = channel();
        let room = Arc::new(Semaphore::new(limits.queue_events as usize));
        let tick_queued = Arc::new(AtomicBool::new(false));
        let left = Arc::new(AtomicBool::new(false));
        let name = spec.name.clone();
        let probes = plugin.probes.clone();
        let worker = Worker {
            spec,
            runtime,
            maps,
            limits,
            output,
            counters: counters.clone(),
            room: room.clone(),
            tick_queued: tick_queued.clone(),
            state: State::Running(Box::new(plugin)),
            failures: 0,
            live,
            left: left.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("plugin-{name}"))
            .spawn(move || worker.run(rx))?;
        Ok(WorkerHandle {
            name,
            probes,
            counters,
            tx,
            room,
            tick_queued,
            thread,
            stuck_after: limits.wall_per_call + STUCK_GRACE,
            left,
        })
    }

    /// Queues a batch, or drops it for this plugin when its queue is full
    /// and `when_full` says so.
    pub async fn offer(&self, probe: ProbeId, batch: &Batch, when_full: WhenFull) {
        let n = batch.len() as u32;
        let permit = match when_full {
            WhenFull::Drop => self.room.try_acquire_many(n).ok(),
            // A stuck plugin would never make room.
            WhenFull::Wait => unless_stuck(&self.counters, self.stuck_after, self.room.acquire_many(n))
                .await
                .and_then(Result::ok),
        };
        match permit {
            Some(permit) => {
                // The worker gives the room back once it has handled the batch.
                permit.forget();
                self.send(Message::Batch(probe, batch.clone()));
            }
            None => {
                self.counters.dropped[probe as usize].fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
    }

    /// Queues an `on-tick`, unless one is still waiting (a plugin that is
    /// behind needs one tick, not a pile of them).
    pub fn tick(&self) {
        if !self.tick_queued.swap(true, Ordering::Relaxed) {
            self.send(Message::Tick(None));
        }
    }

    /// Queues an `on-tick` and returns what resolves once the worker has
    /// handled everything queued so far, this tick included.
    pub fn tick_and_wait(&self) -> oneshot::Receiver<()> {
        let (done, wait) = oneshot::channel();
        self.send(Message::Tick(Some(done)));
        wait
    }

    pub fn swap(&mut self, spec: PluginSpec, plugin: PluginInstance) {
        self.probes = plugin.probes.clone();
        self.send(Message::Swap(Box::new(spec), Box::new(plugin)));
    }

    pub fn unload(&mut self) {
        self.probes.clear();
        self.send(Message::Unload);
    }

    fn send(&self, message: Message) {
        // The worker outlives the handle's sender; it only stops when this is dropped.
        let _ = self.tx.send(message);
    }

    /// Stops delivering what is still queued (it is counted as dropped).
    pub fn abandon(&self) {
        self.counters.abandoned.store(true, Ordering::Relaxed);
    }

    /// Lets the worker finish its queue, and waits for it.
    pub fn finish(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("plugin `{}`: its worker thread panicked", self.name);
        }
    }

    /// Leaves a worker stuck in a call behind, without waiting: its thread
    /// cannot be stopped, but it holds nothing the host needs (its maps are
    /// the host's), and it ends with the process.
    pub fn leave(self) {
        self.left.store(true, Ordering::Relaxed);
    }

    /// Puts a new version on a thread of its own in place of a worker stuck
    /// in a call, which is left behind; the plugin's figures carry on.
    pub fn replace_stuck(
        &mut self,
        spec: PluginSpec,
        plugin: PluginInstance,
        maps: SharedPluginMaps,
        env: &WorkerEnv,
    ) -> std::io::Result<()> {
        let fresh = WorkerHandle::start(spec, plugin, maps, env, self.counters.clone())?;
        std::mem::replace(self, fresh).leave();
        Ok(())
    }
}

enum State {
    Running(Box<PluginInstance>),
    Down { component: Component, retry_at: Instant },
    Unloaded,
}

struct Worker {
    spec: PluginSpec,
    runtime: Arc<Runtime>,
    maps: SharedPluginMaps,
    limits: PluginLimits,
    output: SharedOutput,
    counters: Arc<Counters>,
    room: Arc<Semaphore>,
    tick_queued: Arc<AtomicBool>,
    state: State,
    /// Failures since it last started cleanly; the back-off doubles with them.
    failures: u32,
    live: bool,
    /// See [`WorkerHandle::leave`].
    left: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Message>) {
        // Output `init` produced (e.g. column headers).
        self.forward_output();
        for message in rx {
            if self.left.load(Ordering::Relaxed) {
                return;
            }
            match message {
                Message::Batch(probe, batch) => {
                    if self.counters.abandoned.load(Ordering::Relaxed) {
                        self.counters.dropped[probe as usize].fetch_add(batch.len() as u64, Ordering::Relaxed);
                    } else {
                        self.deliver(&batch);
                    }
                    self.room.add_permits(batch.len());
                }
                Message::Tick(done) => {
                    self.tick_queued.store(false, Ordering::Relaxed);
                    self.tick();
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Message::Swap(spec, plugin) => {
                    self.counters.reloads.fetch_add(1, Ordering::Relaxed);
                    self.spec = *spec;
                    self.failures = 0;
                    self.enter(State::Running(plugin));
                    self.forward_output();
                }
                Message::Unload => {
                    self.enter(State::Unloaded);
                }
            }
        }
    }

    fn deliver(&mut self, batch: &Batch) {
        self.restart_if_due();
        let n = batch.len() as u64;
        let State::Running(plugin) = &mut self.state else {
            self.counters.missed.fetch_add(n, Ordering::Relaxed);
            return;
        };
        if self.live {
            let now = boot_clock::now_ns();
            let mut latency = self.counters.latency.lock().expect("latency lock");
            for &timestamp in &batch.headers.timestamp_ns {
                latency.record(now.saturating_sub(timestamp));
            }
        }
        // CPU time, not wall time: what the plugin costs, without the time
        // its thread waited for a CPU on a busy machine.
        let started = thread_cpu_time();
        let call = self.counters.calling("on-events");
        let result = plugin.on_events(batch);
        drop(call);
        self.counters.busy_ns.fetch_add(
            thread_cpu_time().saturating_sub(started).as_nanos() as u64,
            Ordering::Relaxed,
        );
        match result {
            Ok(()) => self.counters.events.fetch_add(n, Ordering::Relaxed),
            // A failed batch's updates are discarded with the instance.
            Err(_) => self.counters.missed.fetch_add(n, Ordering::Relaxed),
        };
        self.after_call(result);
    }

    fn tick(&mut self) {
        self.restart_if_due();
        let State::Running(plugin) = &mut self.state else {
            return;
        };
        let call = self.counters.calling("on-tick");
        let result = plugin.on_tick();
        drop(call);
        let refused = plugin.refill_emit_budget();
        if refused > 0 {
            self.counters.emits_refused.fetch_add(refused, Ordering::Relaxed);
            tracing::warn!(
                "plugin `{}` emitted {refused} rows/findings/logs over its limit of {} (or {} KiB) per interval; \
                 they were dropped. Raise [limits] plugin_emits_per_interval or plugin_emit_kib_per_interval if that is expected",
                self.spec.name,
                self.limits.emits_per_interval,
                self.limits.emit_bytes_per_interval >> 10,
            );
        }
        self.after_call(result);
    }

    /// Brings a failed plugin back from its compiled component once its back-off has passed.
    fn restart_if_due(&mut self) {
        let State::Down { component, retry_at } = &mut self.state else {
            return;
        };
        if Instant::now() < *retry_at {
            return;
        }
        let call = self.counters.calling("init");
        let restarted = self
            .runtime
            .instantiate(&self.spec, component, self.maps.clone(), &self.limits);
        drop(call);
        match restarted {
            Ok(plugin) => {
                tracing::info!(
                    "plugin `{}` restarted after failure {}; it missed {} events while down so far",
                    self.spec.name,
                    self.failures,
                    self.counters.missed.load(Ordering::Relaxed)
                );
                self.enter(State::Running(Box::new(plugin)));
                self.forward_output();
            }
            Err(e) => {
                self.failures += 1;
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                *retry_at = Instant::now() + backoff(self.failures);
                self.counters.set_restart_at(*retry_at);
                tracing::error!("{e}; next restart in {:?}", backoff(self.failures));
                self.output().plugin_failed(&self.spec.name, &e.to_string());
            }
        }
    }

    /// Forwards what the plugin emitted and notes its memory. A plugin that
    /// failed is dropped, reported and scheduled for restart; its maps stay.
    fn after_call(&mut self, result: Result<(), PluginError>) {
        self.forward_output();
        if let State::Running(plugin) = &self.state {
            self.counters
                .memory_bytes
                .store(plugin.memory_bytes() as u64, Ordering::Relaxed);
        }
        let Err(e) = result else { return };
        let State::Running(plugin) = &self.state else {
            return;
        };
        let component = plugin.component.clone();
        self.failures += 1;
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        let wait = backoff(self.failures);
        self.enter(State::Down {
            component,
            retry_at: Instant::now() + wait,
        });
        tracing::error!("{e}; its maps are kept, other plugins go on; restarting it in {wait:?}");
        self.output().plugin_failed(&self.spec.name, &e.to_string());
    }

    /// Moves to `state`, and shows it in the counters that reports read.
    fn enter(&mut self, state: State) {
        if let State::Down { retry_at, .. } = &state {
            self.counters.set_restart_at(*retry_at);
        }
        self.counters.set_state(match state {
            State::Running(_) => RunState::Running,
            State::Down { .. } => RunState::Down,
            State::Unloaded => RunState::Unloaded,
        });
        self.state = state;
    }

    fn forward_output(&mut self) {
        let State::Running(plugin) = &mut self.state else {
            return;
        };
        let emitted = plugin.take_emitted();
        if !emitted.is_empty() {
            self.output().emitted(&self.spec.name, emitted);
        }
    }

    fn output(&self) -> std::sync::MutexGuard<'_, Output> {
        self.output.lock().expect("output lock")
    }
}
