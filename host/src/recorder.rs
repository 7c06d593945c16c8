//! `wasmtrace record`: a session that writes the kernel's raw records to a
//! recording as it reads them, for `wasmtrace replay` to deliver to plugins
//! later. The session's loop, stop path and figures are `run`'s; only what
//! becomes of a record differs.

use std::collections::BTreeMap;
use std::path::Path;

use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::config::{Config, ProbeFilter};
use crate::output::ProbeStats;
use crate::recording::{Header, RecordingError, Summary, Writer};

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

/// Writes the records a session reads, as they come.
pub struct Recorder {
    writer: Writer,
    /// The first failure to write, for the session to stop on.
    failure: Option<RecordingError>,
}

impl Recorder {
    pub fn create(path: &Path, probes: impl IntoIterator<Item = ProbeId>) -> Result<Recorder, RecordingError> {
        Ok(Recorder {
            writer: Writer::create(path, &Header::new(probes))?,
            failure: None,
        })
    }

    /// Writes a record; returns its probe, for the session's count.
    pub fn write(&mut self, record: &[u8]) -> Option<ProbeId> {
        if self.failure.is_some() {
            return None;
        }
        if let Err(e) = self.writer.event(record) {
            self.failure = Some(e);
            return None;
        }
        abi::read::<abi::EventHeader>(record).and_then(|h| ProbeId::from_raw(h.probe))
    }

    /// Why writing stopped, once.
    pub fn take_failure(&mut self) -> Option<RecordingError> {
        self.failure.take()
    }

    /// Ends the recording with the session's figures. The format has one
    /// loss figure per probe: ring buffer drops and skipped program calls
    /// (an upper bound), together.
    pub fn finish(self, probes: &[ProbeStats]) -> Result<(), RecordingError> {
        let summary = Summary {
            events: probes.iter().map(|p| (p.probe.to_string(), p.events)).collect(),
            lost: probes
                .iter()
                .map(|p| (p.probe.to_string(), p.lost + p.skipped))
                .collect(),
        };
        self.writer.finish(&summary)
    }
}
