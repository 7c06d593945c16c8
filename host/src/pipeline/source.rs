//! Where a session's events come from: the kernel's ring buffers, or a
//! recording replayed deterministically (ticks follow the recorded time).

use std::path::Path;
use std::time::Duration;

use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::catalog;
use crate::config::ProbeFilter;
use crate::probes::{ProbeError, Probes};
use crate::recording::{Frame, Reader, RecordingError, Summary};

pub enum Source {
    Kernel(Box<Probes>),
    Recording(Box<Replay>),
}

impl Source {
    /// Passes up to `max` records to `f`; returns how many.
    pub fn drain(&mut self, max: usize, f: impl FnMut(&[u8])) -> Result<usize, RecordingError> {
        match self {
            Source::Kernel(probes) => Ok(probes.drain(max, f)),
            Source::Recording(replay) => replay.drain(max, f),
        }
    }

    /// Retires what probes counted in the kernel so far; returns when
    /// `drain` passes it on (`None`: nothing counts in the kernel). A replay
    /// has the counts as records.
    pub fn retire_counts(&mut self) -> Result<Option<std::time::Instant>, ProbeError> {
        match self {
            Source::Kernel(probes) => probes.retire_counts(),
            Source::Recording(_) => Ok(None),
        }
    }

    /// Whether a replay has reached its next tick (every interval of
    /// recorded time); live ticks follow the wall clock instead.
    pub fn tick_due(&mut self) -> bool {
        match self {
            Source::Kernel(_) => false,
            Source::Recording(replay) => std::mem::take(&mut replay.tick_due),
        }
    }

    /// A replay ends with its file; the kernel never does.
    pub fn finished(&self) -> bool {
        match self {
            Source::Kernel(_) => false,
            Source::Recording(replay) => replay.exhausted && replay.held.is_none(),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Source::Kernel(_))
    }

    pub fn lost(&self) -> Vec<(ProbeId, u64)> {
        match self {
            Source::Kernel(probes) => probes.lost(),
            Source::Recording(replay) => replay.lost(),
        }
    }

    /// Calls of probes' programs the kernel skipped; a recording counts
    /// them among its losses.
    pub fn skipped(&self) -> Vec<(ProbeId, u64)> {
        match self {
            Source::Kernel(probes) => probes.skipped(),
            Source::Recording(_) => Vec::new(),
        }
    }

    pub fn probes(&self) -> Vec<ProbeId> {
        match self {
            Source::Kernel(probes) => probes.probes().collect(),
            Source::Recording(replay) => replay.probes.clone(),
        }
    }

    /// Attaches a probe a new plugin wants; a replay has what it recorded.
    pub fn ensure(&mut self, id: ProbeId, filter: &ProbeFilter) -> Result<(), ProbeError> {
        match self {
            Source::Kernel(probes) => probes.ensure(id, filter),
            Source::Recording(_) => Ok(()),
        }
    }

    /// Attaches uprobes to the copies of their files new containers see; a
    /// replay has no probes.
    pub fn follow_library_copies(&mut self) {
        if let Source::Kernel(probes) = self {
            probes.follow_library_copies();
        }
    }

    /// Points a probe's container filter at these cgroups; a replay's
    /// filters were applied when it was recorded.
    pub fn set_cgroups(&mut self, id: ProbeId, cgroups: &[(u64, u32)]) -> Result<(), ProbeError> {
        match self {
            Source::Kernel(probes) => probes.set_cgroups(id, cgroups),
            Source::Recording(_) => Ok(()),
        }
    }

    /// Switches a probe on or off in the kernel; a replay's filters were
    /// applied when it was recorded.
    pub fn set_enabled(&mut self, id: ProbeId, filter: &ProbeFilter, enabled: bool) -> Result<(), ProbeError> {
        match self {
            Source::Kernel(probes) => probes.set_enabled(id, filter, enabled),
            Source::Recording(_) => Ok(()),
        }
    }
}

pub struct Replay {
    reader: Reader,
    interval_ns: u64,
    next_tick_ns: Option<u64>,
    tick_due: bool,
    /// A record past the next tick, held back until the tick has run.
    held: Option<Vec<u8>>,
    summary: Option<Summary>,
    exhausted: bool,
    probes: Vec<ProbeId>,
}

impl Replay {
    pub fn open(path: &Path, interval: Duration) -> Result<Replay, RecordingError> {
        let reader = Reader::open(path)?;
        let probes = reader
            .header
            .records
            .keys()
            .filter_map(|name| catalog::find(name).map(|p| p.id))
            .collect();
        Ok(Replay {
            reader,
            interval_ns: interval.as_nanos() as u64,
            next_tick_ns: None,
            tick_due: false,
            held: None,
            summary: None,
            exhausted: false,
            probes,
        })
    }

    fn drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize, RecordingError> {
        let mut n = 0;
        if let Some(record) = self.held.take() {
            f(&record);
            n += 1;
        }
        while n < max && !self.exhausted && !self.tick_due {
            let frame = match self.reader.next_frame() {
                Ok(frame) => frame,
                Err(e) => {
                    self.exhausted = true;
                    return Err(e);
                }
            };
            match frame {
                Some(Frame::Event(record)) => {
                    let ts = abi::read::<abi::EventHeader>(record).map(|h| h.ts_boot_ns);
                    let first = || ts.unwrap_or(0).checked_add(self.interval_ns);
                    let Some(next) = self.next_tick_ns.or_else(first) else {
                        return Err(self.bad_time(ts.unwrap_or(0)));
                    };
                    self.next_tick_ns = Some(next);
                    if let Some(ts) = ts.filter(|&ts| ts >= next) {
                        let Some(tick) = tick_after(next, ts, self.interval_ns) else {
                            return Err(self.bad_time(ts));
                        };
                        self.next_tick_ns = Some(tick);
                        self.tick_due = true;
                        self.held = Some(record.to_vec());
                        break;
                    }
                    f(record);
                    n += 1;
                }
                Some(Frame::End(summary)) => {
                    self.summary = Some(summary);
                    self.exhausted = true;
                }
                None => {
                    tracing::warn!(
                        "the recording has no end summary: it was cut short (its losses are unknown); replayed what it holds"
                    );
                    self.exhausted = true;
                }
            }
        }
        Ok(n)
    }

    /// A recorded time so large that the next tick would overflow: the file
    /// is corrupt; replaying stops there rather than wrapping.
    fn bad_time(&mut self, ts: u64) -> RecordingError {
        self.exhausted = true;
        self.reader.corrupt(format!(
            "an event's timestamp ({ts} ns after boot) is too large to replay: the next tick would overflow"
        ))
    }

    fn lost(&self) -> Vec<(ProbeId, u64)> {
        self.probes
            .iter()
            .map(|&id| {
                let name = catalog::by_id(id).name;
                let lost = self.summary.as_ref().and_then(|s| s.lost.get(name)).copied();
                (id, lost.unwrap_or(0))
            })
            .collect()
    }
}

/// The first tick after `ts` (at or past `next`); ticks that fell in a quiet
/// stretch collapse into one. `None` on overflow.
fn tick_after(next: u64, ts: u64, interval_ns: u64) -> Option<u64> {
    let behind = (ts - next) / interval_ns.max(1);
    next.checked_add(behind.checked_add(1)?.checked_mul(interval_ns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Header, Summary, Writer};

    #[test]
    fn ticks_collapse_over_quiet_stretches_and_overflow_is_none() {
        assert_eq!(tick_after(10, 10, 5), Some(15));
        assert_eq!(tick_after(10, 37, 5), Some(40));
        assert_eq!(tick_after(10, u64::MAX, 5), None);
        assert_eq!(tick_after(u64::MAX - 1, u64::MAX, 5), None);
    }

    /// A recorded timestamp at the end of time is a corrupt file, said so,
    /// after the events before it were replayed.
    #[test]
    fn a_timestamp_that_would_overflow_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.wtr");
        let mut writer = Writer::create(&path, &Header::new([ProbeId::FileOpen])).unwrap();
        for ts in [1_000, u64::MAX - 10] {
            let mut record = vec![0u8; abi::record_size(ProbeId::FileOpen)];
            record[..8].copy_from_slice(&ts.to_le_bytes());
            record[16..20].copy_from_slice(&(ProbeId::FileOpen as u32).to_le_bytes());
            writer.event(&record).unwrap();
        }
        writer.finish(&Summary::default()).unwrap();
        let mut replay = Replay::open(&path, Duration::from_secs(1)).unwrap();
        let mut seen = 0;
        let e = replay.drain(100, |_| seen += 1).unwrap_err();
        assert_eq!(seen, 1);
        assert!(
            e.to_string()
                .contains("an event's timestamp (18446744073709551605 ns after boot) is too large to replay"),
            "{e}"
        );
        assert!(replay.exhausted);
    }
}
