//! The run loop, on tokio. The ring buffers' readiness (epoll) wakes the
//! reader, which drains them at full speed, decodes the records into
//! per-probe batches and queues each batch for every plugin that receives
//! it; each plugin runs on a worker thread of its own ([`worker`]). Ticks,
//! plugin-folder changes, signals and the Prometheus endpoint share the
//! loop; nothing on it waits for a plugin, a compile or a scrape.

mod images;
mod load;
mod reload;
mod source;
mod stop;
mod worker;

use load::Loader;
pub use source::Replay;
use source::Source;
pub use stop::Stop;
pub use worker::SharedOutput;
use worker::{Batch, STUCK_GRACE, WhenFull, WorkerEnv, WorkerHandle, unless_stuck};

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::catalog::{self, Delivery};
use crate::config::{Config, PrintMaps, ProbeFilter, Profiles, Scope};
use crate::containers::Containers;
use crate::decode::Decoder;
use crate::deliver::DeliveryStats;
use crate::maps::MapRegistry;
use crate::output::{Output, PluginStats, ProbeStats};
use crate::probes::Probes;
use crate::prometheus::{Published, SharedStats};
use crate::recorder::Recorder;
use crate::runtime::Runtime;
use crate::safe_file::{self, Access};
use crate::stacks::profile;

/// Most events handed to a plugin in one call.
pub(crate) const BATCH: usize = 1024;
/// The reader drains at most once per this long: woken sooner after a drain,
/// it waits out the rest, so that a storm costs one wake-up per this many
/// milliseconds of events, not one per event (the kernel only wakes a reader
/// that has caught up), while a sparse event is drained at once.
const WAKE_BATCH: Duration = Duration::from_millis(2);
/// Records drained in one go before the loop looks at its other work.
const DRAIN_SLICE: usize = 64 * BATCH;
/// How long plugins get at exit to finish what is queued for them; a slow
/// one's remaining batches are then counted as dropped, so that Ctrl-C is quick.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// What a session reads, and what becomes of it.
pub enum Mode {
    /// The kernel's records, delivered to the plugins.
    Run,
    /// A recording's records, delivered to the plugins.
    Replay(Box<Replay>),
    /// The kernel's records, written to a recording at this path as they are
    /// read: no plugin runs (`wasmtrace record`).
    Record(PathBuf),
}

pub struct Session {
    config: Config,
    runtime: Arc<Runtime>,
    loader: Loader,
    reloads: Option<reload::Reloads>,
    /// Where loaded versions of changed plugins are sent (with `watch`).
    loaded_tx: Option<UnboundedSender<reload::Loaded>>,
    source: Source,
    /// Where `record` writes what `source` reads, instead of decoding it.
    recorder: Option<Recorder>,
    workers: Vec<WorkerHandle>,
    maps: MapRegistry,
    output: SharedOutput,
    /// Records into per-probe batches, with their containers.
    decoder: Decoder,
    /// The cgroups each probe's `container` filter follows now.
    followed: BTreeMap<ProbeId, Vec<(u64, u32)>>,
    /// Per probe (by id): which workers receive its batches.
    subscribers: Vec<Vec<usize>>,
    events: Vec<u64>,
    decode_errors: u64,
    /// Losses already reported, so that each warning says what is new.
    reported: BTreeMap<String, u64>,
    /// What the Prometheus endpoint serves, refreshed every tick.
    published: SharedStats,
    /// Signalled when a ring buffer becomes readable.
    readable: Arc<Notify>,
    /// Families whose ring buffer is watched.
    watched: BTreeSet<Object>,
    when_full: WhenFull,
}

impl Session {
    /// Loads the plugins (each onto a worker of its own), works out the
    /// probes they need, and attaches them; or, given a recording, replays
    /// it to them instead; or records. Runs inside the tokio runtime.
    pub async fn start(config: Config, output: Output, mode: Mode) -> anyhow::Result<Session> {
        let maps = MapRegistry::default();
        let output = Arc::new(Mutex::new(output));
        let runtime = Arc::new(
            Runtime::new(&config.cache_dir).map_err(|e| anyhow::anyhow!("starting the WebAssembly runtime: {e:#}"))?,
        );
        // Watch before listing the folder, so that no change falls between the two.
        // Plugins from registries: pulled (or taken from the cache) before anything loads.
        let mut config = config;
        let followed_images = images::resolve(&mut config).await?;
        let (reloads, loaded_tx) = if config.watch || !followed_images.is_empty() {
            let watched = config.watch.then_some(config.plugin_dir.as_path());
            let (reloads, tx) = reload::Reloads::new(watched)?;
            (Some(reloads), Some(tx))
        } else {
            (None, None)
        };
        let (replay, record) = match mode {
            Mode::Run => (None, None),
            Mode::Replay(replay) => (Some(replay), None),
            Mode::Record(path) => (None, Some(path)),
        };
        let live = replay.is_none();
        // A recording's pids were other processes', its kernel another boot's: its stacks keep their addresses.
        crate::stacks::name_live_stacks(live);
        let loader = Loader::new(runtime.clone(), config.limits.plugin);
        let (workers, wanted) = load_plugins(&config, &loader, &runtime, &maps, &output, live).await?;
        // A recording's cgroup ids were this host's then (or another's): not resolved now.
        let decoder = match live {
            true => Decoder::new(Containers::of_this_host()),
            false => Decoder::default(),
        };
        let (source, when_full) = match replay {
            Some(replay) => (Source::Recording(replay), WhenFull::Wait),
            None => {
                // Plugins that receive no probe still run on ticks (loads).
                if wanted.is_empty() && workers.is_empty() && !config.watch {
                    bail!("nothing to trace: no plugin and no probe (add a [plugin.NAME] or a [probe.\"NAME\"] table)");
                }
                let probes = Probes::attach(&wanted, config.limits.ring_buffer_bytes)?;
                (Source::Kernel(Box::new(probes)), WhenFull::Drop)
            }
        };
        let recorder = match &record {
            Some(path) => Some(Recorder::create(path, source.probes())?),
            None => None,
        };
        let published = SharedStats::default();
        if let Some(metrics) = &config.output.prometheus {
            serve_metrics(metrics, &maps, &published)?;
        }
        announce(&source, &workers, record.as_deref());

        let mut session = Session {
            config,
            runtime,
            loader,
            reloads,
            loaded_tx,
            source,
            recorder,
            workers,
            maps,
            output,
            decoder,
            followed: BTreeMap::new(),
            subscribers: Vec::new(),
            events: vec![0; ProbeId::ALL.len()],
            decode_errors: 0,
            reported: BTreeMap::new(),
            published,
            readable: Arc::new(Notify::new()),
            watched: BTreeSet::new(),
            when_full,
        };
        session.resubscribe()?;
        session.watch_rings()?;
        if let Some(tx) = &session.loaded_tx {
            let quota = session.config.limits.plugin.map_quota();
            images::follow(followed_images, &session.loader, &session.maps, quota, tx);
        }
        Ok(session)
    }

    /// What the session's workers share.
    fn worker_env(&self) -> WorkerEnv {
        WorkerEnv {
            runtime: self.runtime.clone(),
            limits: self.config.limits.plugin,
            output: self.output.clone(),
            live: self.source.is_live(),
        }
    }

    /// What a live view reads: the maps, and the figures of the last tick.
    pub fn figures(&self) -> (MapRegistry, SharedStats) {
        (self.maps.clone(), self.published.clone())
    }

    /// Runs until `stop` fires, `duration` has passed or the replay has
    /// ended; then lets every plugin finish what is queued for it, and prints
    /// the final maps and figures (also when the run failed).
    pub async fn run(mut self, stop: &mut Stop, duration: Option<Duration>) -> anyhow::Result<()> {
        let result = if self.source.is_live() {
            let result = self.run_live(stop, duration).await;
            // What is already in the ring buffers, or counted in the kernel, still counts.
            result.and(self.drain_all().await)
        } else {
            self.run_replay(stop).await
        };
        let finished = self.finish().await;
        result.and(finished)
    }

    async fn run_live(&mut self, stop: &mut Stop, duration: Option<Duration>) -> anyhow::Result<()> {
        let deadline = duration.map(|d| Instant::now() + d);
        let interval = self.config.output.interval;
        let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let readable = self.readable.clone();
        // Anything that arrived before the ring buffers were watched.
        readable.notify_one();
        let mut reloads = self.reloads.take();
        let mut behind = false;
        let mut last_drain = Instant::now();
        // A tick waits for the interval's kernel counts to be readable, so
        // that plugins have them before their `on-tick`.
        let mut tick_at = None;
        let result = loop {
            tokio::select! {
                _ = stop.wait() => break Ok(()),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break Ok(()),
                _ = readable.notified() => {
                    if !behind {
                        tokio::time::sleep_until(last_drain + WAKE_BATCH).await;
                    }
                    last_drain = Instant::now();
                    match self.pump(DRAIN_SLICE).await {
                        Ok(n) => {
                            // Cut short: more is waiting; come back after a look at the rest.
                            behind = n >= DRAIN_SLICE;
                            if behind {
                                readable.notify_one();
                            }
                        }
                        Err(e) => break Err(e),
                    }
                }
                _ = ticks.tick() => match self.source.retire_counts() {
                    // An interval shorter than the wait joins the tick already waiting.
                    Ok(Some(readable)) => _ = tick_at.get_or_insert(Instant::from_std(readable)),
                    Ok(None) => if let Err(e) = self.tick() { break Err(e) },
                    Err(e) => break Err(e.into()),
                },
                _ = tokio::time::sleep_until(tick_at.unwrap_or_else(Instant::now)), if tick_at.is_some() => {
                    tick_at = None;
                    if let Err(e) = self.pump(DRAIN_SLICE).await.and_then(|_| self.tick()) { break Err(e) }
                }
                change = next_change(&mut reloads) => if let Err(e) = self.apply_change(change) { break Err(e) },
            }
        };
        self.reloads = reloads;
        result
    }

    async fn run_replay(&mut self, stop: &mut Stop) -> anyhow::Result<()> {
        while !self.source.finished() {
            tokio::select! {
                biased;
                _ = stop.wait() => return Ok(()),
                _ = std::future::ready(()) => {}
            }
            self.pump(BATCH).await?;
            if self.source.tick_due() {
                self.ticks_handled().await;
                self.publish();
                if self.config.output.print_maps == PrintMaps::Interval {
                    self.print_maps()?;
                }
            }
        }
        Ok(())
    }

    /// Drains the ring buffers until they are empty, and the kernel's counts.
    async fn drain_all(&mut self) -> anyhow::Result<()> {
        if let Some(readable) = self.source.retire_counts()? {
            tokio::time::sleep_until(Instant::from_std(readable)).await;
        }
        while self.pump(DRAIN_SLICE).await? > 0 {}
        Ok(())
    }

    /// Reads up to about `max` records and queues them for the plugins;
    /// returns the number of records.
    async fn pump(&mut self, max: usize) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let (decoder, events, errors) = (&mut self.decoder, &mut self.events, &mut self.decode_errors);
            let n = match &mut self.recorder {
                Some(recorder) => {
                    let n = self.source.drain(BATCH, |bytes| {
                        if let Some(probe) = recorder.write(bytes) {
                            events[probe as usize] += 1;
                        }
                    });
                    if let Some(e) = recorder.take_failure() {
                        return Err(e).context("writing the recording");
                    }
                    n
                }
                None => self.source.drain(BATCH, |bytes| match decoder.push(bytes) {
                    Ok(probe) => events[probe as usize] += 1,
                    Err(e) => {
                        *errors += 1;
                        tracing::debug!("dropping a record: {e}");
                    }
                }),
            };
            // What was read before a cut in a recording still counts.
            self.dispatch().await;
            let n = n?;
            total += n;
            if n < BATCH || total >= max {
                return Ok(total);
            }
        }
    }

    /// Queues every filled batch for its probe's plugins.
    async fn dispatch(&mut self) {
        for probe in ProbeId::ALL {
            let Some(batch) = self.decoder.take(probe) else {
                continue;
            };
            let batch: Batch = Arc::new(batch);
            for &w in &self.subscribers[probe as usize] {
                self.workers[w].offer(probe, &batch, self.when_full).await;
            }
        }
    }

    /// Every interval, live: plugins' `on-tick`, figures published and new
    /// losses reported, maps printed if asked.
    fn tick(&mut self) -> anyhow::Result<()> {
        for worker in &self.workers {
            worker.tick();
        }
        self.decoder.sweep();
        self.follow_containers()?;
        self.source.follow_library_copies();
        self.publish();
        if let Some(e) = self.output().take_error() {
            return Err(e).context("writing output");
        }
        if self.config.output.print_maps == PrintMaps::Interval {
            // Off the loop: a slow terminal must not hold up the ring buffers.
            let (maps, output) = (self.maps.clone(), self.output.clone());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = write_maps(&maps, &output) {
                    tracing::error!("{e:#}");
                }
            });
        }
        Ok(())
    }

    /// Queues a tick for every plugin; what it returns resolves once each
    /// has handled it and everything queued before it.
    /// A plugin stuck in a call is not waited for.
    fn ticks_handled(&self) -> impl std::future::Future<Output = ()> + 'static {
        let waits: Vec<_> = self
            .workers
            .iter()
            .map(|w| (w.tick_and_wait(), w.counters.clone(), w.stuck_after))
            .collect();
        async move {
            for (wait, counters, stuck_after) in waits {
                let _ = unless_stuck(&counters, stuck_after, wait).await;
            }
        }
    }

    /// The last tick, the workers stopped, the final maps and figures. A
    /// plugin still behind after `EXIT_GRACE` loses what is queued for it; one
    /// that has not returned from its call `STUCK_GRACE` later is named and
    /// left behind, so that no plugin can hold up the end of a run.
    async fn finish(mut self) -> anyhow::Result<()> {
        let mut waits: Vec<_> = self.workers.iter().map(WorkerHandle::tick_and_wait).collect();
        let mut pending = not_done_by(&mut waits, 0..self.workers.len(), Instant::now() + EXIT_GRACE).await;
        if !pending.is_empty() {
            for &i in &pending {
                self.workers[i].abandon();
            }
            tracing::warn!(
                "plugins still behind {EXIT_GRACE:?} after stopping: what was still queued for them is counted as dropped"
            );
            pending = not_done_by(&mut waits, pending, Instant::now() + STUCK_GRACE).await;
        }
        for &i in &pending {
            let worker = &self.workers[i];
            let (call, took) = worker
                .counters
                .in_call_longer(Duration::ZERO)
                .unwrap_or(("a call", Duration::ZERO));
            let message = format!(
                "plugin `{}` did not return from {call} ({took:.1?} so far; blocked in a host call?): left behind; \
                 its maps are printed as they stand",
                worker.name
            );
            tracing::error!("{message}");
            self.output().plugin_failed(&worker.name, &message);
        }
        let (probes, plugins) = self.publish();
        // Summed up even when the run failed: what was recorded is replayable.
        let recorded = match self.recorder.take() {
            Some(recorder) => recorder.finish(&probes).context("ending the recording"),
            None => Ok(()),
        };
        for (i, worker) in std::mem::take(&mut self.workers).into_iter().enumerate() {
            if pending.contains(&i) {
                worker.leave();
            } else {
                worker.finish();
            }
        }
        // Names first, so that rendering under the output lock waits for none.
        crate::stacks::table().settle(STACKS_SETTLE);
        self.print_maps()?;
        write_profiles(&self.config.output.profiles, &self.maps);
        if let Some(summary) = crate::stacks::table().summary() {
            tracing::info!("stacks: {summary}");
        }
        let mut output = self.output();
        output.probe_stats(&probes)?;
        output.plugin_stats(&plugins)?;
        output.finish_deliveries()?;
        if let Some(e) = output.take_error() {
            return Err(e).context("writing output");
        }
        drop(output);
        if self.decode_errors > 0 {
            tracing::warn!(
                "{} records could not be decoded (a kernel/host version mismatch?)",
                self.decode_errors
            );
        }
        recorded
    }

    /// Which workers receive each probe's batches; probes nobody receives
    /// (and the config does not name) are switched off in the kernel, and
    /// back on when a plugin wants them again.
    fn resubscribe(&mut self) -> anyhow::Result<()> {
        self.subscribers = vec![Vec::new(); ProbeId::ALL.len()];
        for (i, worker) in self.workers.iter().enumerate() {
            for &id in &worker.probes {
                self.subscribers[id as usize].push(i);
            }
        }
        for id in self.source.probes() {
            let filter = self.config.probes.get(&id);
            let wanted = filter.is_some() || !self.subscribers[id as usize].is_empty();
            self.source
                .set_enabled(id, &filter.cloned().unwrap_or_default(), wanted)?;
        }
        // Setting a filter anew cleared the cgroups it followed.
        self.followed.clear();
        self.follow_containers()
    }

    /// Keeps the kernel filters that name containers pointed at those
    /// containers' cgroups, as they start and stop.
    fn follow_containers(&mut self) -> anyhow::Result<()> {
        let named: Vec<(ProbeId, &[String])> = self
            .config
            .probes
            .iter()
            .filter_map(|(&id, filter)| match &filter.scope {
                Scope::Named(names) => Some((id, names.as_slice())),
                _ => None,
            })
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        // One walk of the cgroup tree for every probe that names containers.
        let running = self.decoder.containers_mut().running();
        for (id, names) in named {
            let mut cgroups: Vec<(u64, u32)> = running
                .iter()
                .filter(|r| r.named_by(names))
                .map(|r| (r.cgroup, r.level))
                .collect();
            cgroups.sort_unstable();
            if self.followed.get(&id) != Some(&cgroups) {
                tracing::debug!("probe {}: following the cgroups {cgroups:?}", catalog::by_id(id).name);
                self.source.set_cgroups(id, &cgroups)?;
                self.followed.insert(id, cgroups);
            }
        }
        Ok(())
    }

    /// Wakes the reader when a ring buffer it does not watch yet becomes readable.
    fn watch_rings(&mut self) -> anyhow::Result<()> {
        let Source::Kernel(probes) = &self.source else {
            return Ok(());
        };
        for (object, ring) in probes.rings() {
            if !self.watched.insert(object) {
                continue;
            }
            let owned = ring.as_fd().try_clone_to_owned()?;
            // SAFETY: `owned` is an open descriptor the AsyncFd owns and never replaces.
            let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
                .context("watching a ring buffer")?;
            let readable = self.readable.clone();
            tokio::spawn(async move {
                loop {
                    match fd.readable().await {
                        Ok(mut ready) => {
                            ready.clear_ready();
                            readable.notify_one();
                        }
                        Err(e) => {
                            tracing::error!("waiting on a ring buffer: {e}");
                            return;
                        }
                    }
                }
            });
        }
        Ok(())
    }

    fn print_maps(&mut self) -> anyhow::Result<()> {
        write_maps(&self.maps, &self.output)
    }

    fn output(&self) -> std::sync::MutexGuard<'_, Output> {
        self.output.lock().expect("output lock")
    }

    /// Reads the figures once, for the Prometheus endpoint and for the warnings.
    fn publish(&mut self) -> (Vec<ProbeStats>, Vec<PluginStats>) {
        let skipped = self.source.skipped();
        let probes: Vec<ProbeStats> = self
            .source
            .lost()
            .into_iter()
            .map(|(id, lost)| ProbeStats {
                probe: catalog::by_id(id).name,
                events: self.events[id as usize],
                lost,
                skipped: skipped.iter().find(|(m, _)| *m == id).map_or(0, |(_, n)| *n),
            })
            .collect();
        let plugins = self.plugin_stats();
        let deliveries = self.output().delivery_stats();
        self.report_new_losses(&probes, &plugins, &deliveries);
        *self.published.lock().expect("stats lock") = Published {
            probes: probes.clone(),
            plugins: plugins.clone(),
            deliveries,
        };
        (probes, plugins)
    }

    fn plugin_stats(&self) -> Vec<PluginStats> {
        let refused = self.maps.refused();

        self.workers
            .iter()
            .map(|w| {
                let c = &w.counters;
                let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
                PluginStats {
                    plugin: w.name.clone(),
                    state: match c.in_call_longer(w.stuck_after) {
                        Some(_) => "stuck",
                        None => c.state().as_str(),
                    },
                    restart_in: c.restart_in(),
                    reloads: load(&c.reloads),
                    events: load(&c.events),
                    busy: Duration::from_nanos(load(&c.busy_ns)),
                    dropped: ProbeId::ALL
                        .iter()
                        .map(|&id| (catalog::by_id(id).name, load(&c.dropped[id as usize])))
                        .filter(|&(_, n)| n > 0)
                        .collect(),
                    missed: load(&c.missed),
                    failures: load(&c.failures),
                    refused: refused.get(&w.name).copied().unwrap_or_default(),
                    emits_refused: load(&c.emits_refused),
                    memory_bytes: load(&c.memory_bytes),
                    latency: c.latency.lock().expect("latency lock").clone(),
                }
            })
            .collect()
    }

    /// Warns about losses since the last report: kernel ring buffers that
    /// were full, plugins that fell behind, map updates refused by quotas.
    fn report_new_losses(&mut self, probes: &[ProbeStats], plugins: &[PluginStats], deliveries: &[DeliveryStats]) {
        let mut new = |what: String, now: u64| now.saturating_sub(self.reported.insert(what, now).unwrap_or(0));
        for s in deliveries {
            // Findings the receiver refused are said where they are refused.
            let dropped = new(
                format!("findings dropped {}", s.output),
                s.dropped.saturating_sub(s.refused),
            );
            if dropped > 0 {
                tracing::warn!(
                    "findings to {0}: {dropped} dropped, its queue was full while the receiver was down or slow. \
                     Raise queue.findings (or queue.memory_mib, for large findings) in [output.{0}], or set queue.spool_file to keep them on disk",
                    s.output
                );
            }
        }
        for s in probes {
            let skipped = new(format!("skipped {}", s.probe), s.skipped);
            if skipped > 0 {
                tracing::warn!(
                    "probe {}: the kernel skipped {skipped} calls of its programs, so up to as many events were \
                     missed: the hook fired while another eBPF program was running on that CPU (an interrupt in \
                     the middle of it), and the kernel does not nest tracepoint programs",
                    s.probe
                );
            }
            let lost = new(format!("lost {}", s.probe), s.lost);
            let counted = catalog::find(s.probe).is_some_and(|p| p.delivery == Delivery::KernelCounts);
            if lost > 0 && counted {
                tracing::warn!(
                    "probe {} lost {lost} calls: its kernel map was full ({} process, syscall and command entries \
                     per interval). Shorten [output] interval (now {:?}) or narrow the probe with filters in \
                     [probe.\"{}\"]",
                    s.probe,
                    abi::SYSCALL_COUNT_KEYS,
                    self.config.output.interval,
                    s.probe
                );
            } else if lost > 0 {
                tracing::warn!(
                    "probe {} lost {lost} events: its ring buffer was full. Raise [limits] ring_buffer_mib (now {}) \
                     or narrow the probe with filters in [probe.\"{}\"]",
                    s.probe,
                    self.config.limits.ring_buffer_bytes >> 20,
                    s.probe
                );
            }
        }
        let limits = self.config.limits.plugin;
        for s in plugins {
            let dropped = new(format!("dropped {}", s.plugin), s.dropped_total());
            if dropped > 0 {
                tracing::warn!(
                    "plugin `{}` fell behind: {dropped} events dropped from its queue (it alone misses them). \
                     Raise [limits] plugin_queue_events (now {}), narrow its probes with [probe] filters, or make it faster",
                    s.plugin,
                    limits.queue_events
                );
            }
            let refused = s.refused;
            for (what, n, limit) in [
                ("maps", refused.maps, format!("plugin_maps = {}", limits.maps)),
                (
                    "keys",
                    refused.keys,
                    format!("plugin_keys_per_map = {}", limits.keys_per_map),
                ),
                (
                    "memory",
                    refused.bytes,
                    format!("plugin_map_memory_mib = {}", limits.map_memory_bytes >> 20),
                ),
            ] {
                let n = new(format!("refused {what} {}", s.plugin), n);
                if n > 0 {
                    tracing::warn!(
                        "plugin `{}`: {n} map updates refused by [limits] {limit}; the maps keep what they hold",
                        s.plugin
                    );
                }
            }
        }
    }
}

/// Every plugin's maps, from a snapshot taken before the output is locked.
fn write_maps(maps: &MapRegistry, output: &SharedOutput) -> anyhow::Result<()> {
    let snapshot = maps.snapshot();
    output
        .lock()
        .expect("output lock")
        .maps(&snapshot)
        .context("writing maps")
}

/// How long exit waits for the stacks still being named.
const STACKS_SETTLE: Duration = Duration::from_secs(30);

/// The stack counters as the `[output]` profiles name them: folded stacks,
/// a flame graph, a pprof profile. Written only by us, through no link;
/// each on its own, a failure said and the others still written (the exit's
/// statistics and deliveries come after). None when no stack was counted.
fn write_profiles(profiles: &Profiles, maps: &MapRegistry) {
    if *profiles == Profiles::default() {
        return;
    }
    let samples = profile::samples(&maps.snapshot());
    if samples.is_empty() {
        tracing::warn!("no stacks were counted: the profiles in [output] are not written");
        return;
    }
    let folded = profile::folded(&samples);
    type Render<'a> = &'a dyn Fn() -> Result<Vec<u8>, String>;
    let files: [(&Option<PathBuf>, Render); 3] = [
        (&profiles.folded, &|| Ok(folded.clone().into_bytes())),
        (&profiles.flamegraph, &|| profile::flame_graph(&folded, "wasmtrace")),
        (&profiles.pprof, &|| Ok(profile::pprof(&samples))),
    ];
    for (path, bytes) in files {
        let Some(path) = path else { continue };
        let written = bytes().and_then(|bytes| {
            let mut file = safe_file::open(path, Access::Replace, 0o640).map_err(|e| e.to_string())?;
            file.set_len(0).map_err(|e| e.to_string())?;
            std::io::Write::write_all(&mut file, &bytes).map_err(|e| e.to_string())
        });
        if let Err(e) = written {
            tracing::error!("writing the profile {}: {e}", path.display());
        }
    }
}

/// The next change in the plugins folder; never, without `watch`.
/// Waits until `deadline` for those of `waits` that `which` names; the
/// ones not done by then.
async fn not_done_by(
    waits: &mut [tokio::sync::oneshot::Receiver<()>],
    which: impl IntoIterator<Item = usize>,
    deadline: Instant,
) -> Vec<usize> {
    let mut pending = Vec::new();
    for i in which {
        if tokio::time::timeout_at(deadline, &mut waits[i]).await.is_err() {
            pending.push(i);
        }
    }
    pending
}

async fn next_change(reloads: &mut Option<reload::Reloads>) -> reload::Change {
    match reloads {
        Some(reloads) => reloads.next().await,
        None => std::future::pending().await,
    }
}

/// The plugins of the config (and, when watching, every component in the
/// plugin folder), each loaded onto a worker of its own; and the probes
/// they and the config want.
async fn load_plugins(
    config: &Config,
    loader: &Loader,
    runtime: &Arc<Runtime>,
    maps: &MapRegistry,
    output: &Arc<Mutex<Output>>,
    live: bool,
) -> anyhow::Result<(Vec<WorkerHandle>, BTreeMap<ProbeId, ProbeFilter>)> {
    let mut specs = config.plugins.clone();
    if config.watch {
        for path in crate::watch::plugin_files(&config.plugin_dir)
            .with_context(|| format!("reading the plugins folder {}", config.plugin_dir.display()))?
        {
            if !specs.iter().any(|s| s.path == path) {
                specs.extend(config.plugin_for_file(&path));
            }
        }
    }
    let limits = config.limits.plugin;
    let env = WorkerEnv {
        runtime: runtime.clone(),
        limits,
        output: output.clone(),
        live,
    };
    let mut workers = Vec::new();
    let mut wanted = config.probes.clone();
    for spec in specs {
        let plugin_maps = maps.for_plugin(&spec.name, limits.map_quota());
        let plugin = loader.load(&spec, plugin_maps.clone()).await?;
        if plugin.probes.is_empty() {
            tracing::warn!(
                "plugin `{}` receives no probe: it runs on ticks only (set `probes` in [plugin.{}] for events)",
                spec.name,
                spec.name
            );
        }
        for &id in &plugin.probes {
            wanted.entry(id).or_default();
        }
        workers.push(WorkerHandle::spawn(spec, plugin, plugin_maps, &env)?);
    }
    Ok((workers, wanted))
}

/// Starts the Prometheus endpoint and says where it is.
fn serve_metrics(metrics: &crate::config::Metrics, maps: &MapRegistry, published: &SharedStats) -> anyhow::Result<()> {
    crate::prometheus::serve(metrics, maps.clone(), published.clone())?;
    let scheme = if metrics.tls.is_some() { "https" } else { "http" };
    let auth = match metrics.auth {
        None => "",
        Some(crate::config::Auth::Basic { .. }) => " (basic auth)",
        Some(crate::config::Auth::Bearer { .. }) => " (bearer token)",
    };
    eprintln!(
        "wasmtrace: Prometheus metrics at {scheme}://{}/metrics{auth}",
        metrics.listen
    );
    Ok(())
}

/// The start-up line: which probes go into which plugins.
fn announce(source: &Source, workers: &[WorkerHandle], recording: Option<&std::path::Path>) {
    let names: Vec<&str> = source.probes().into_iter().map(|id| catalog::by_id(id).name).collect();
    if let Some(path) = recording {
        eprintln!(
            "wasmtrace: recording {} probe(s) ({}) into {}; Ctrl-C to stop",
            names.len(),
            names.join(", "),
            path.display()
        );
        return;
    }
    let plugins: Vec<&str> = workers.iter().map(|w| w.name.as_str()).collect();
    eprintln!(
        "wasmtrace: {} {} probe(s) ({}) into {} plugin(s) ({}){}",
        if source.is_live() { "tracing" } else { "replaying" },
        names.len(),
        names.join(", "),
        plugins.len(),
        plugins.join(", "),
        if source.is_live() { "; Ctrl-C to stop" } else { "" }
    );
}
