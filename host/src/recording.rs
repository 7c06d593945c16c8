//! The recording file format (`wasmtrace record` / `replay`): the kernel's
//! raw records, as they came out of the ring buffers, so that a replay
//! decodes and delivers them exactly as a live run does.
//!
//! Layout, little-endian:
//! - `MAGIC`, then the format version (u32), then a JSON header's length
//!   (u32) and the header: the layout of each probe's record, the kernel,
//!   and when it was recorded;
//! - frames: a kind byte, a length (u32), and that many bytes. `EVENT`
//!   frames hold one record; the last frame, `END`, holds a JSON summary
//!   (events and losses per probe). A file without it was cut short.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::catalog;
use crate::safe_file::{self, Access, OpenError};

const MAGIC: &[u8; 8] = b"wtrec\0\r\n";
pub const VERSION: u32 = 1;
const EVENT: u8 = 1;
const END: u8 = 2;
/// No record is near this; a larger length means the file is corrupt.
const MAX_FRAME: u32 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: io::Error },
    /// What was at the path is not a file to write over (a link, someone else's).
    #[error(transparent)]
    Refused(OpenError),
    #[error("{path} is not a wasmtrace recording (it does not start with the recording signature)")]
    NotARecording { path: PathBuf },
    #[error(
        "{path} is a recording of format version {found}; this wasmtrace reads version {VERSION}. Replay it with the wasmtrace that recorded it"
    )]
    Version { path: PathBuf, found: u32 },
    #[error(
        "{path} holds {probe} records of {found} bytes, but this wasmtrace's are {expected}: it was recorded by another version. Replay it with the wasmtrace that recorded it"
    )]
    Layout {
        path: PathBuf,
        probe: String,
        found: usize,
        expected: usize,
    },
    #[error("{path} is corrupt at byte {offset}: {what}")]
    Corrupt { path: PathBuf, offset: u64, what: String },
    #[error(
        "{path} is truncated at byte {offset}, inside a frame (the recording was cut short): the {events} events before it were replayed"
    )]
    Truncated { path: PathBuf, offset: u64, events: u64 },
}

/// What a recording's header says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// Record size per probe name: the layout the records follow.
    pub records: BTreeMap<String, usize>,
    /// `uname -r` of the machine it was recorded on.
    pub kernel: String,
    /// Seconds since the Unix epoch when it started.
    pub started_unix: u64,
}

impl Header {
    pub fn new(probes: impl IntoIterator<Item = ProbeId>) -> Header {
        Header {
            records: probes
                .into_iter()
                .map(|id| (catalog::by_id(id).name.to_string(), abi::record_size(id)))
                .collect(),
            kernel: kernel_release(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// What the `END` frame says: per probe name, events recorded and lost in the kernel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub events: BTreeMap<String, u64>,
    pub lost: BTreeMap<String, u64>,
}

pub struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Writer {
    pub fn create(path: &Path, header: &Header) -> Result<Writer, RecordingError> {
        let io_err = |cause| RecordingError::Io {
            path: path.to_path_buf(),
            cause,
        };
        // Recordings hold every command line: not for every user to read, and
        // never written through a link planted where the file is to go.
        let file = safe_file::open(path, Access::Replace, 0o640).map_err(|e| match e {
            OpenError::Io(cause) => io_err(cause),
            refused => RecordingError::Refused(refused),
        })?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let header = serde_json::to_vec(header).expect("a header serializes");
        out.write_all(MAGIC).map_err(io_err)?;
        out.write_all(&VERSION.to_le_bytes()).map_err(io_err)?;
        out.write_all(&(header.len() as u32).to_le_bytes()).map_err(io_err)?;
        out.write_all(&header).map_err(io_err)?;
        Ok(Writer {
            path: path.to_path_buf(),
            out,
        })
    }

    pub fn event(&mut self, record: &[u8]) -> Result<(), RecordingError> {
        self.frame(EVENT, record)
    }

    /// Writes the summary that marks the recording complete.
    pub fn finish(mut self, summary: &Summary) -> Result<(), RecordingError> {
        self.frame(END, &serde_json::to_vec(summary).expect("a summary serializes"))?;
        self.out.flush().map_err(|cause| RecordingError::Io {
            path: self.path.clone(),
            cause,
        })
    }

    fn frame(&mut self, kind: u8, bytes: &[u8]) -> Result<(), RecordingError> {
        let write = |out: &mut BufWriter<File>| -> io::Result<()> {
            out.write_all(&[kind])?;
            out.write_all(&(bytes.len() as u32).to_le_bytes())?;
            out.write_all(bytes)
        };
        write(&mut self.out).map_err(|cause| RecordingError::Io {
            path: self.path.clone(),
            cause,
        })
    }
}

/// One frame read back.
pub enum Frame<'a> {
    Event(&'a [u8]),
    End(Summary),
}

pub struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    pub header: Header,
    offset: u64,
    events: u64,
    buf: Vec<u8>,
    ended: bool,
}

impl Reader {
    /// Opens a recording and checks that its records are laid out as this wasmtrace's.
    pub fn open(path: &Path) -> Result<Reader, RecordingError> {
        let file = File::open(path).map_err(|cause| RecordingError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let mut reader = Reader {
            path: path.to_path_buf(),
            input: BufReader::with_capacity(1 << 20, file),
            header: Header::new([]),
            offset: 0,
            events: 0,
            buf: Vec::new(),
            ended: false,
        };
        let mut magic = [0; 8];
        if !reader.read_exact(&mut magic)? || &magic != MAGIC {
            return Err(RecordingError::NotARecording {
                path: path.to_path_buf(),
            });
        }
        let version = reader.read_u32()?;
        if version != VERSION {
            return Err(RecordingError::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let len = reader.read_u32()?;
        let header = reader.read_vec(len)?;
        reader.header = serde_json::from_slice(&header).map_err(|e| reader.corrupt(format!("its header: {e}")))?;
        for (probe, &found) in &reader.header.records {
            let expected = catalog::find(probe)
                .map(|p| abi::record_size(p.id))
                .ok_or_else(|| reader.corrupt(format!("it records an unknown probe `{probe}`")))?;
            if found != expected {
                return Err(RecordingError::Layout {
                    path: path.to_path_buf(),
                    probe: probe.clone(),
                    found,
                    expected,
                });
            }
        }
        Ok(reader)
    }

    /// The next frame, or `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, RecordingError> {
        if self.ended {
            return Ok(None);
        }
        let mut kind = [0u8];
        if !self.read_exact(&mut kind)? {
            return Ok(None);
        }
        let len = self.read_u32()?;
        if len > MAX_FRAME {
            return Err(self.corrupt(format!("a frame claims {len} bytes")));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(len as usize, 0);
        let complete = self.read_exact(&mut buf)?;
        self.buf = buf;
        if !complete {
            return Err(self.truncated());
        }
        match kind[0] {
            EVENT => {
                self.events += 1;
                Ok(Some(Frame::Event(&self.buf)))
            }
            END => {
                self.ended = true;
                let summary =
                    serde_json::from_slice(&self.buf).map_err(|e| self.corrupt(format!("its summary: {e}")))?;
                Ok(Some(Frame::End(summary)))
            }
            other => Err(self.corrupt(format!("unknown frame kind {other}"))),
        }
    }

    fn read_u32(&mut self) -> Result<u32, RecordingError> {
        let mut bytes = [0; 4];
        if !self.read_exact(&mut bytes)? {
            return Err(self.truncated());
        }
        Ok(u32::from_le_bytes(bytes))
    }

    fn read_vec(&mut self, len: u32) -> Result<Vec<u8>, RecordingError> {
        if len > MAX_FRAME {
            return Err(self.corrupt(format!("a header claims {len} bytes")));
        }
        let mut bytes = vec![0; len as usize];
        if !self.read_exact(&mut bytes)? {
            return Err(self.truncated());
        }
        Ok(bytes)
    }

    /// Fills `buf`; false when the file ends before (or, with nothing read, at) its end.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<bool, RecordingError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => return Ok(false),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(cause) => {
                    return Err(RecordingError::Io {
                        path: self.path.clone(),
                        cause,
                    });
                }
            }
        }
        self.offset += filled as u64;
        Ok(true)
    }

    /// An error for the frame just read, which is corrupt because of `what`.
    pub fn corrupt(&self, what: String) -> RecordingError {
        RecordingError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            what,
        }
    }

    fn truncated(&self) -> RecordingError {
        RecordingError::Truncated {
            path: self.path.clone(),
            offset: self.offset,
            events: self.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_file::test_support::{Victim, assert_link_refused};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn record(id: ProbeId, fill: u8) -> Vec<u8> {
        let mut bytes = vec![fill; abi::record_size(id)];
        bytes[16..20].copy_from_slice(&(id as u32).to_le_bytes());
        bytes
    }

    fn write(dir: &Path, records: &[Vec<u8>]) -> PathBuf {
        let path = dir.join("rec.wtr");
        let mut writer = Writer::create(&path, &Header::new([ProbeId::FileOpen, ProbeId::SyscallEnter])).unwrap();
        for r in records {
            writer.event(r).unwrap();
        }
        let mut summary = Summary::default();
        summary.lost.insert("file.open".into(), 7);
        writer.finish(&summary).unwrap();
        path
    }

    /// Reads every frame; the records, and the summary if the file has one.
    fn read_all(path: &Path) -> Result<(Vec<Vec<u8>>, Option<Summary>), RecordingError> {
        let mut reader = Reader::open(path)?;
        let mut records = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            match frame {
                Frame::Event(r) => records.push(r.to_vec()),
                Frame::End(s) => return Ok((records, Some(s))),
            }
        }
        Ok((records, None))
    }

    #[test]
    fn records_come_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![record(ProbeId::FileOpen, 1), record(ProbeId::SyscallEnter, 2)];
        let path = write(dir.path(), &records);
        let (read, summary) = read_all(&path).unwrap();
        assert_eq!(read, records);
        assert_eq!(summary.unwrap().lost["file.open"], 7);
        assert_eq!(
            Reader::open(&path).unwrap().header.records["file.open"],
            abi::record_size(ProbeId::FileOpen)
        );
    }

    #[test]
    fn a_file_cut_anywhere_gives_an_error_or_fewer_records_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![record(ProbeId::FileOpen, 1), record(ProbeId::SyscallEnter, 2)];
        let whole = std::fs::read(write(dir.path(), &records)).unwrap();
        let cut = dir.path().join("cut.wtr");
        for len in 0..whole.len() {
            std::fs::write(&cut, &whole[..len]).unwrap();
            match read_all(&cut) {
                // Cut between two frames: what is there is whole, and the summary is missing.
                Ok((read, summary)) => {
                    assert!(summary.is_none(), "cut at {len}");
                    assert_eq!(read[..], records[..read.len()], "cut at {len}");
                }
                Err(RecordingError::Truncated { offset, .. }) => assert!(offset <= len as u64),
                Err(RecordingError::NotARecording { .. }) => assert!(len < MAGIC.len()),
                Err(e) => panic!("cut at {len}: unexpected {e}"),
            }
        }
    }

    #[test]
    fn other_files_and_versions_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &[record(ProbeId::FileOpen, 1)]);
        let whole = std::fs::read(&path).unwrap();

        std::fs::write(&path, b"PK\x03\x04 not a recording").unwrap();
        assert!(matches!(read_all(&path), Err(RecordingError::NotARecording { .. })));

        let mut v2 = whole.clone();
        v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(&path, &v2).unwrap();
        let err = read_all(&path).unwrap_err();
        assert!(matches!(err, RecordingError::Version { found: 2, .. }), "{err}");
        assert!(err.to_string().contains("this wasmtrace reads version 1"), "{err}");

        // A header that says file.open records are larger than this build's
        // (by 100 bytes, so the header keeps its length).
        let size = format!("\"file.open\":{}", abi::record_size(ProbeId::FileOpen));
        let bigger = format!("\"file.open\":{}", abi::record_size(ProbeId::FileOpen) + 100);
        let at = whole.windows(size.len()).position(|w| w == size.as_bytes()).unwrap();
        let mut other_layout = whole.clone();
        other_layout[at..at + size.len()].copy_from_slice(bigger.as_bytes());
        std::fs::write(&path, &other_layout).unwrap();
        let err = read_all(&path).unwrap_err();
        assert!(matches!(err, RecordingError::Layout { .. }), "{err}");

        // A frame length no record comes near.
        let mut huge = whole.clone();
        let first_frame = 16 + u32::from_le_bytes(whole[12..16].try_into().unwrap()) as usize;
        huge[first_frame + 1..first_frame + 5].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        let err = read_all(&path).unwrap_err();
        assert!(matches!(err, RecordingError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("claims"), "{err}");

        let mut kind = whole;
        kind[first_frame] = 9;
        std::fs::write(&path, &kind).unwrap();
        assert!(matches!(read_all(&path), Err(RecordingError::Corrupt { .. })));
    }

    #[test]
    fn a_recording_goes_only_to_a_file_of_its_own_that_others_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let path = dir.path().join("rec.wtr");
        let header = Header::new([ProbeId::FileOpen]);

        std::os::unix::fs::symlink(&victim.path, &path).unwrap();
        let err = assert_link_refused(&path, Writer::create(&path, &header));
        assert!(matches!(err, RecordingError::Refused(OpenError::Link { .. })), "{err}");
        victim.assert_untouched();

        // A hard link would be emptied along with the file: refused first.
        std::fs::remove_file(&path).unwrap();
        std::fs::hard_link(&victim.path, &path).unwrap();
        let Err(err) = Writer::create(&path, &header) else {
            panic!("recorded into a hard link at {}", path.display());
        };
        assert!(
            matches!(err, RecordingError::Refused(OpenError::HardLinks { .. })),
            "{err}"
        );
        victim.assert_untouched();

        // An older recording, readable by all: replaced, and no longer readable by others.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"an older recording").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Writer::create(&path, &header)
            .unwrap()
            .finish(&Summary::default())
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        assert!(Reader::open(&path).is_ok(), "a recording again");
    }

    proptest::proptest! {
        /// Any bytes changed, then cut anywhere: records, or an error, never a
        /// panic; and a record that comes back has its frame's length.
        #[test]
        fn fuzz_recording_any_damage_any_cut_reads_or_errs(
            flips in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..6),
            cut in proptest::num::usize::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let records = vec![record(ProbeId::FileOpen, 1), record(ProbeId::SyscallEnter, 2), record(ProbeId::FileOpen, 3)];
            let mut bytes = std::fs::read(write(dir.path(), &records)).unwrap();
            for (at, byte) in flips {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            let path = dir.path().join("damaged.wtr");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok((read, _)) = read_all(&path) {
                proptest::prop_assert!(read.len() <= records.len() + 1);
                proptest::prop_assert!(read.iter().all(|r| r.len() <= bytes.len()));
            }
        }
    }
}
