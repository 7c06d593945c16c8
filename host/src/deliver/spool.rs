//! A receiver's overflow on disk: findings as JSON lines, appended when the
//! in-memory queue is full and read back in order once it has drained. What
//! a run leaves in it is delivered by the next run (a crash between a
//! delivery and the next clean stop can deliver some twice).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::Alert;
use crate::safe_file::{self, Access};

pub struct SpoolFile {
    path: PathBuf,
    file: File,
    max_bytes: u64,
    /// Bytes in the file, and where the findings not yet taken start.
    end: u64,
    read_at: u64,
    /// Findings not yet taken.
    pending: u64,
}

impl SpoolFile {
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<SpoolFile> {
        // Never through a link: the folder may be one that others write to.
        let file = safe_file::open(path, Access::ReadAppend, 0o600)?;
        let pending = BufReader::new(&file).lines().count() as u64;
        let end = file.metadata()?.len();
        if pending > 0 {
            tracing::info!(
                "{} findings left in the spool file {} by an earlier run will be delivered",
                pending,
                path.display()
            );
        }
        Ok(SpoolFile {
            path: path.to_path_buf(),
            file,
            max_bytes,
            end,
            read_at: 0,
            pending,
        })
    }

    pub fn len(&self) -> u64 {
        self.pending
    }

    /// Appends a finding; false when the file is full (or cannot be written).
    pub fn push(&mut self, alert: &Alert) -> bool {
        let Ok(mut line) = serde_json::to_vec(alert) else {
            return false;
        };
        line.push(b'\n');
        if self.end - self.read_at + line.len() as u64 > self.max_bytes {
            return false;
        }
        if let Err(e) = self.file.write_all(&line) {
            tracing::warn!("writing the spool file {}: {e}", self.path.display());
            return false;
        }
        self.end += line.len() as u64;
        self.pending += 1;
        true
    }

    /// Up to `n` findings, oldest first; the file is emptied once all are taken.
    pub fn take(&mut self, n: usize) -> Vec<Alert> {
        let mut taken = Vec::new();
        if self.pending == 0 {
            return taken;
        }
        let mut reader = BufReader::new(&self.file);
        if reader.seek(SeekFrom::Start(self.read_at)).is_err() {
            return taken;
        }
        let mut line = String::new();
        while taken.len() < n {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    self.read_at += read as u64;
                    self.pending = self.pending.saturating_sub(1);
                    match serde_json::from_str(&line) {
                        Ok(alert) => taken.push(alert),
                        Err(e) => {
                            tracing::warn!("skipping a damaged line of the spool file {}: {e}", self.path.display())
                        }
                    }
                }
            }
        }
        if self.read_at >= self.end && self.file.set_len(0).is_ok() {
            (self.read_at, self.end, self.pending) = (0, 0, 0);
        }
        taken
    }
}

/// On a clean stop, what was taken leaves the file, so the next run does
/// not deliver it again.
impl Drop for SpoolFile {
    fn drop(&mut self) {
        if self.read_at == 0 {
            return;
        }
        let mut rest = Vec::new();
        let mut reader = BufReader::new(&self.file);
        let kept = reader.seek(SeekFrom::Start(self.read_at)).is_ok()
            && std::io::Read::read_to_end(&mut reader, &mut rest).is_ok()
            && self.file.set_len(0).is_ok()
            && (&self.file).write_all(&rest).is_ok();
        if !kept {
            tracing::warn!(
                "compacting the spool file {}: findings may be delivered twice",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_file::test_support::{Victim, assert_link_refused};
    use std::os::unix::fs::MetadataExt;

    fn alert(n: u64) -> Alert {
        Alert {
            plugin: "p".into(),
            severity: "high".into(),
            rule: "r".into(),
            message: format!("m{n}"),
            fields: vec![("n".into(), n.into())],
            at_ms: n,
        }
    }

    #[test]
    fn keeps_order_bounds_bytes_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.jsonl");
        let line = serde_json::to_vec(&alert(1)).unwrap().len() as u64 + 1;
        let mut spool = SpoolFile::open(&path, 3 * line).unwrap();
        assert!(spool.push(&alert(1)) && spool.push(&alert(2)) && spool.push(&alert(3)));
        assert!(!spool.push(&alert(4)), "full");
        assert_eq!(spool.take(2), vec![alert(1), alert(2)]);
        assert!(spool.push(&alert(5)), "room again once taken");
        drop(spool);
        let mut again = SpoolFile::open(&path, 3 * line).unwrap();
        assert_eq!(again.len(), 2, "what the first run delivered is gone");
        assert_eq!(again.take(10), vec![alert(3), alert(5)]);
        assert_eq!(again.len(), 0);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "emptied once all were taken"
        );
    }

    #[test]
    fn a_link_planted_at_the_spool_file_is_refused_and_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let path = dir.path().join("spool.jsonl");
        std::os::unix::fs::symlink(&victim.path, &path).unwrap();
        assert_link_refused(&path, SpoolFile::open(&path, 1 << 20));
        victim.assert_untouched();

        std::fs::remove_file(&path).unwrap();
        let mut spool = SpoolFile::open(&path, 1 << 20).unwrap();
        assert!(spool.push(&alert(1)));
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o7777,
            0o600,
            "findings are ours alone"
        );
    }
}
