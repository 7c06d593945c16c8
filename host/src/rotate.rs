//! An output file rotated by size, like logrotate's `size` + `rotate N`:
//! FILE grows to a limit, then becomes FILE.1 (FILE.1 becomes FILE.2, …,
//! the oldest beyond `keep` is removed). Lines are never split across files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct RotatingFile {
    path: PathBuf,
    rotate_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
    /// The end of the last write, up to where a line ends.
    partial: Vec<u8>,
}

impl RotatingFile {
    pub fn open(path: &Path, rotate_bytes: u64, keep: u32) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            rotate_bytes,
            keep,
            file,
            size,
            partial: Vec::new(),
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                match std::fs::rename(self.numbered(n), self.numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }

    /// Writes whole lines, rotating first when they would not fit.
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size.saturating_add(lines.len() as u64) > self.rotate_bytes {
            self.rotate()?;
        }
        self.file.write_all(lines)?;
        self.size = self.size.saturating_add(lines.len() as u64);
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    // Events name files and commands: not for every user to read.
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
            let rest = self.partial.split_off(end + 1);
            let lines = std::mem::replace(&mut self.partial, rest);
            self.write_lines(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            let _ = self.write_lines(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_keeps_n_and_never_splits_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut f = RotatingFile::open(&path, 25, 2).unwrap();
        for i in 0..10 {
            // Written in pieces, as serde_json writes a line.
            write!(f, "{{\"line\":").unwrap();
            writeln!(f, "{i}}}").unwrap();
        }
        drop(f);
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        // 10-11 bytes per line, 25 bytes per file: two lines each.
        assert_eq!(read(&path), "{\"line\":8}\n{\"line\":9}\n");
        assert_eq!(read(&dir.path().join("out.jsonl.1")), "{\"line\":6}\n{\"line\":7}\n");
        assert_eq!(read(&dir.path().join("out.jsonl.2")), "{\"line\":4}\n{\"line\":5}\n");
        assert!(!dir.path().join("out.jsonl.3").exists());
    }
}
