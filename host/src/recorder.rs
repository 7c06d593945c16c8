//! `wasmtrace record`: attaches probes and writes their raw records to a
//! recording file, for `wasmtrace replay` to deliver to plugins later.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::catalog;
use crate::config::{Config, ProbeFilter};
use crate::pipeline::{BATCH, IDLE_POLL};
use crate::probes::Probes;
use crate::recording::{Header, Summary, Writer};

/// The probes to record: those named on the command line, the config's
/// `[probe]` tables (with their filters), and those its plugins list in `probes`.
pub fn wanted(config: &Config, named: &[ProbeId]) -> BTreeMap<ProbeId, ProbeFilter> {
    let mut wanted = config.probes.clone();
    let listed = config.plugins.iter().flat_map(|p| p.probes.iter().flatten());
    for &id in named.iter().chain(listed) {
        wanted.entry(id).or_default();
    }
    wanted
}

/// Records until `stop` is set or `duration` has passed; returns the summary
/// it wrote. Kernel counts are recorded every `interval`.
pub fn record(
    wanted: &BTreeMap<ProbeId, ProbeFilter>,
    ring_buffer_bytes: u32,
    interval: Duration,
    path: &Path,
    stop: &AtomicBool,
    duration: Option<Duration>,
) -> anyhow::Result<Summary> {
    if wanted.is_empty() {
        bail!(
            "nothing to record: name probes with --probe NAME, or in the config as [probe.\"NAME\"] tables or a plugin's `probes`"
        );
    }
    let mut probes = Probes::attach(wanted, ring_buffer_bytes)?;
    let mut writer = Writer::create(path, &Header::new(probes.probes()))?;
    let names: Vec<&str> = probes.probes().map(|id| catalog::by_id(id).name).collect();
    eprintln!(
        "wasmtrace: recording {} probe(s) ({}) into {}; Ctrl-C to stop",
        names.len(),
        names.join(", "),
        path.display()
    );
    let started = Instant::now();
    let mut events: BTreeMap<ProbeId, u64> = BTreeMap::new();
    let mut failure = None;
    let mut drain = |probes: &mut Probes| {
        probes.drain(BATCH, |record| {
            if failure.is_some() {
                return;
            }
            if let Some(id) = abi::read::<abi::EventHeader>(record).and_then(|h| ProbeId::from_raw(h.probe)) {
                *events.entry(id).or_default() += 1;
            }
            if let Err(e) = writer.event(record) {
                failure = Some(e);
            }
        })
    };
    let mut next_retire = started + interval;
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| started.elapsed() < d) {
        if Instant::now() >= next_retire {
            probes.retire_counts()?;
            next_retire += interval;
        }
        if drain(&mut probes) == 0 {
            std::thread::sleep(IDLE_POLL);
        }
    }
    // What is still in the ring buffers, or counted in the kernel, is recorded too.
    if let Some(readable) = probes.retire_counts()? {
        std::thread::sleep(readable.saturating_duration_since(Instant::now()));
    }
    while drain(&mut probes) > 0 {}
    if let Some(e) = failure {
        return Err(e.into());
    }
    let summary = Summary {
        events: probes
            .probes()
            .map(|id| {
                (
                    catalog::by_id(id).name.to_string(),
                    events.get(&id).copied().unwrap_or(0),
                )
            })
            .collect(),
        // The format has one loss figure: ring buffer drops, and skipped
        // program calls (an upper bound), together.
        lost: {
            let skipped = probes.skipped();
            probes
                .lost()
                .into_iter()
                .map(|(id, lost)| {
                    let skipped = skipped.iter().find(|(s, _)| *s == id).map_or(0, |(_, n)| *n);
                    (catalog::by_id(id).name.to_string(), lost + skipped)
                })
                .collect()
        },
    };
    writer.finish(&summary)?;
    Ok(summary)
}
