//! The run loop: ring buffers → decoded batches → subscribed plugins →
//! output; ticks, loss reports, and the final maps at exit.

mod reload;
mod source;

pub use source::Replay;
use source::Source;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wasmtime::component::Component;
use wasmtrace_ebpf::abi::ProbeId;

use crate::catalog;
use crate::config::{Config, PluginSpec, PrintMaps};
use crate::decode::decode;
use crate::maps::{MapStore, SharedMaps};
use crate::output::{Output, PluginStats, ProbeStats};
use crate::probes::Probes;
use crate::prometheus::SharedStats;
use crate::runtime::bindings::Event;
use crate::runtime::{PluginInstance, Runtime};

/// Most events handed to a plugin in one call.
pub(crate) const BATCH: usize = 1024;
/// How long the loop sleeps when the ring buffers are empty. The kernel side
/// skips wake-ups, so this bounds the delay from event to plugin.
pub(crate) const IDLE_POLL: Duration = Duration::from_millis(5);

/// First wait before restarting a failed plugin; it doubles with each failure.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(60);

enum SlotState {
    Running(PluginInstance),
    /// Its file was removed: it gets no events, its maps stay.
    Unloaded,
    /// Failed; restarted from its compiled component at `retry_at`.
    Down {
        component: Component,
        probes: Vec<ProbeId>,
        retry_at: Instant,
        missed: u64,
    },
}

struct Slot {
    spec: PluginSpec,
    /// Failures so far; the back-off before each restart doubles with them.
    failures: u32,
    state: SlotState,
}

impl Slot {
    fn name(&self) -> &str {
        &self.spec.name
    }
}

fn backoff(failures: u32) -> Duration {
    RESTART_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(MAX_RESTART_BACKOFF)
}

pub struct Session {
    config: Config,
    runtime: Arc<Runtime>,
    reloads: Option<reload::Reloads>,
    source: Source,
    slots: Vec<Slot>,
    maps: SharedMaps,
    output: Output,
    /// Per probe (by id): the pending batch and who receives it.
    batches: Vec<Vec<Event>>,
    subscribers: Vec<Vec<usize>>,
    events: Vec<u64>,
    lost_reported: BTreeMap<&'static str, u64>,
    decode_errors: u64,
    /// Probe counts as the Prometheus endpoint last saw them.
    published: SharedStats,
}

impl Session {
    /// Loads the plugins, works out the probes they need, and attaches them;
    /// or, given a recording, replays it to them instead.
    pub fn start(config: Config, output: Output, replay: Option<Replay>) -> anyhow::Result<Session> {
        let maps: SharedMaps = Arc::new(Mutex::new(MapStore::default()));
        let runtime =
            Runtime::new(&config.cache_dir).map_err(|e| anyhow::anyhow!("starting the WebAssembly runtime: {e:#}"))?;
        // Watch before listing the folder, so that no change falls between the two.
        let reloads = if config.watch {
            Some(reload::Reloads::watch(&config.plugin_dir)?)
        } else {
            None
        };
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
        let mut slots = Vec::new();
        let mut wanted = config.probes.clone();
        for spec in specs {
            let plugin = runtime.load(&spec, maps.clone(), config.plugin_emits_per_interval)?;
            if plugin.probes.is_empty() {
                tracing::warn!(
                    "plugin `{}` receives no probe: set `probes` in [plugin.{}]",
                    spec.name,
                    spec.name
                );
            }
            for &id in &plugin.probes {
                wanted.entry(id).or_default();
            }
            slots.push(Slot {
                spec,
                failures: 0,
                state: SlotState::Running(plugin),
            });
        }
        let source = match replay {
            Some(replay) => Source::Recording(Box::new(replay)),
            None => {
                if wanted.is_empty() && !config.watch {
                    bail!(
                        "nothing to trace: no plugin asks for a probe and the config enables none (add a [plugin.NAME] or a [probe.\"NAME\"] table)"
                    );
                }
                Source::Kernel {
                    probes: Probes::attach(&wanted, config.ring_buffer_bytes, std::process::id())?,
                    next_tick: Instant::now() + config.output.interval,
                }
            }
        };

        let published = SharedStats::default();
        if let Some(addr) = config.output.prometheus {
            crate::prometheus::serve(addr, maps.clone(), published.clone())?;
            eprintln!("wasmtrace: Prometheus metrics at http://{addr}/metrics");
        }

        let names: Vec<&str> = source.probes().into_iter().map(|id| catalog::by_id(id).name).collect();
        let plugins: Vec<&str> = slots.iter().map(Slot::name).collect();
        eprintln!(
            "wasmtrace: {} {} probe(s) ({}) into {} plugin(s) ({}){}",
            if source.is_live() { "tracing" } else { "replaying" },
            names.len(),
            names.join(", "),
            plugins.len(),
            plugins.join(", "),
            if source.is_live() { "; Ctrl-C to stop" } else { "" }
        );

        let mut session = Session {
            config,
            runtime: Arc::new(runtime),
            reloads,
            source,
            slots,
            maps,
            output,
            batches: vec![Vec::with_capacity(BATCH); ProbeId::ALL.len()],
            subscribers: Vec::new(),
            events: vec![0; ProbeId::ALL.len()],
            lost_reported: BTreeMap::new(),
            decode_errors: 0,
            published,
        };
        session.resubscribe()?;
        for i in 0..session.slots.len() {
            session.forward_output(i)?;
        }
        Ok(session)
    }

    /// Runs until `stop` is set, `duration` has passed or the replay has
    /// ended, then prints the final maps (also when the replay failed).
    pub fn run(mut self, stop: &AtomicBool, duration: Option<Duration>) -> anyhow::Result<()> {
        let result = self.run_until(stop, duration);
        // What is already in the ring buffers still counts.
        while self.pump().unwrap_or(0) > 0 {}
        self.tick()?;
        self.print_maps()?;
        let stats = self.stats();
        self.output.probe_stats(&stats)?;
        let plugin_stats: Vec<PluginStats> = self
            .slots
            .iter()
            .filter_map(|slot| match &slot.state {
                SlotState::Running(p) => Some(PluginStats {
                    plugin: slot.spec.name.clone(),
                    events: p.events,
                    busy: p.busy,
                }),
                _ => None,
            })
            .collect();
        self.output.plugin_stats(&plugin_stats)?;
        if self.decode_errors > 0 {
            tracing::warn!(
                "{} records could not be decoded (a kernel/host version mismatch?)",
                self.decode_errors
            );
        }
        result
    }

    fn run_until(&mut self, stop: &AtomicBool, duration: Option<Duration>) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let done = stop.load(Ordering::Relaxed)
                || (self.source.is_live() && duration.is_some_and(|d| started.elapsed() >= d))
                || self.source.finished();
            if done {
                return Ok(());
            }
            let n = self.pump()?;
            self.apply_plugin_changes()?;
            if self.source.tick_due(self.config.output.interval) {
                self.tick()?;
                if self.config.output.print_maps == PrintMaps::Interval {
                    self.print_maps()?;
                }
            }
            if n == 0 && self.source.is_live() {
                std::thread::sleep(IDLE_POLL);
            }
        }
    }

    /// Reads what the ring buffers hold and delivers it; returns the number of records.
    fn pump(&mut self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let (batches, events, errors) = (&mut self.batches, &mut self.events, &mut self.decode_errors);
            let n = self.source.drain(BATCH, |bytes| match decode(bytes) {
                Ok((probe, event)) => {
                    events[probe as usize] += 1;
                    batches[probe as usize].push(event);
                }
                Err(e) => {
                    *errors += 1;
                    tracing::debug!("dropping a record: {e}");
                }
            })?;
            self.dispatch()?;
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    fn dispatch(&mut self) -> anyhow::Result<()> {
        for probe in 0..self.batches.len() {
            if self.batches[probe].is_empty() {
                continue;
            }
            for k in 0..self.subscribers[probe].len() {
                let i = self.subscribers[probe][k];
                let result = match &mut self.slots[i].state {
                    SlotState::Running(plugin) => plugin.on_events(&self.batches[probe]),
                    SlotState::Down { missed, .. } => {
                        *missed += self.batches[probe].len() as u64;
                        continue;
                    }
                    SlotState::Unloaded => continue,
                };
                self.after_call(i, result)?;
            }
            self.batches[probe].clear();
        }
        Ok(())
    }

    fn tick(&mut self) -> anyhow::Result<()> {
        for i in 0..self.slots.len() {
            self.restart_if_due(i)?;
            if let SlotState::Running(plugin) = &mut self.slots[i].state {
                let result = plugin.on_tick();
                let dropped = plugin.refill_emit_budget(self.config.plugin_emits_per_interval);
                if dropped > 0 {
                    tracing::warn!(
                        "plugin `{}` emitted {dropped} rows/findings/logs over its limit of {} per interval; they were dropped. \
                         Raise [limits] plugin_emits_per_interval if that is expected",
                        self.slots[i].name(),
                        self.config.plugin_emits_per_interval
                    );
                }
                self.after_call(i, result)?;
            }
        }
        // Read the kernel's drop counters once: for the warning and for Prometheus.
        let stats = self.stats();
        self.report_new_losses(&stats);
        *self.published.lock().expect("stats lock") = stats;
        Ok(())
    }

    /// Brings a failed plugin back from its compiled component once its back-off has passed.
    fn restart_if_due(&mut self, i: usize) -> anyhow::Result<()> {
        let slot = &mut self.slots[i];
        let failures = &mut slot.failures;
        let SlotState::Down {
            component,
            retry_at,
            missed,
            ..
        } = &mut slot.state
        else {
            return Ok(());
        };
        if Instant::now() < *retry_at {
            return Ok(());
        }
        match self.runtime.instantiate(
            &slot.spec,
            component,
            self.maps.clone(),
            self.config.plugin_emits_per_interval,
        ) {
            Ok(plugin) => {
                tracing::info!(
                    "plugin `{}` restarted after failure {failures}; it missed {missed} events while down",
                    slot.spec.name
                );
                slot.state = SlotState::Running(plugin);
                self.forward_output(i)
            }
            Err(e) => {
                *failures += 1;
                *retry_at = Instant::now() + backoff(*failures);
                tracing::error!("{e}; next restart in {:?}", backoff(*failures));
                self.output.plugin_failed(&slot.spec.name, &e.to_string())?;
                Ok(())
            }
        }
    }

    /// Forwards what the plugin emitted. A plugin that failed is stopped,
    /// reported and scheduled for restart; its maps stay, and everything else goes on.
    fn after_call(&mut self, i: usize, result: Result<(), crate::runtime::PluginError>) -> anyhow::Result<()> {
        self.forward_output(i)?;
        let Err(e) = result else { return Ok(()) };
        let slot = &mut self.slots[i];
        let SlotState::Running(plugin) = &slot.state else {
            return Ok(());
        };
        let (component, probes) = (plugin.component.clone(), plugin.probes.clone());
        slot.failures += 1;
        let wait = backoff(slot.failures);
        slot.state = SlotState::Down {
            component,
            probes,
            retry_at: Instant::now() + wait,
            missed: 0,
        };
        tracing::error!("{e}; its maps are kept, other plugins go on; restarting it in {wait:?}");
        self.output.plugin_failed(&slot.spec.name, &e.to_string())?;
        Ok(())
    }

    fn forward_output(&mut self, i: usize) -> anyhow::Result<()> {
        let slot = &mut self.slots[i];
        let SlotState::Running(plugin) = &mut slot.state else {
            return Ok(());
        };
        let emitted = plugin.take_emitted();
        if !emitted.is_empty() {
            self.output
                .emitted(&slot.spec.name, emitted)
                .context("writing output")?;
        }
        Ok(())
    }

    /// Who receives each probe's batches, from the slots' current plugins;
    /// probes nobody receives (and the config does not name) are switched off
    /// in the kernel, and back on when a plugin wants them again.
    fn resubscribe(&mut self) -> anyhow::Result<()> {
        self.subscribers = vec![Vec::new(); ProbeId::ALL.len()];
        for (i, slot) in self.slots.iter().enumerate() {
            let probes = match &slot.state {
                SlotState::Running(plugin) => plugin.probes.as_slice(),
                SlotState::Down { probes, .. } => probes.as_slice(),
                SlotState::Unloaded => &[],
            };
            for &id in probes {
                self.subscribers[id as usize].push(i);
            }
        }
        let attached = self.source.probes();
        for id in attached {
            let filter = self.config.probes.get(&id);
            let wanted = filter.is_some() || !self.subscribers[id as usize].is_empty();
            self.source
                .set_enabled(id, &filter.cloned().unwrap_or_default(), wanted)?;
        }
        Ok(())
    }

    fn print_maps(&mut self) -> anyhow::Result<()> {
        let maps = self.maps.lock().expect("map store lock");
        self.output.maps(&maps).context("writing maps")
    }

    fn stats(&self) -> Vec<ProbeStats> {
        self.source
            .lost()
            .into_iter()
            .map(|(id, lost)| ProbeStats {
                probe: catalog::by_id(id).name,
                events: self.events[id as usize],
                lost,
            })
            .collect()
    }

    fn report_new_losses(&mut self, stats: &[ProbeStats]) {
        for s in stats {
            let before = self.lost_reported.insert(s.probe, s.lost).unwrap_or(0);
            if s.lost > before {
                tracing::warn!(
                    "probe {} lost {} events: its ring buffer was full. Raise [limits] ring_buffer_mib (now {}) \
                     or narrow the probe with filters in [probe.\"{}\"]",
                    s.probe,
                    s.lost - before,
                    self.config.ring_buffer_bytes >> 20,
                    s.probe
                );
            }
        }
    }
}
