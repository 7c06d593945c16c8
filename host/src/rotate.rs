//! An output file rotated by size, like logrotate's `size` + `rotate N`:
//! FILE grows to a limit, then becomes FILE.1 (FILE.1 becomes FILE.2, …,
//! the oldest beyond `keep` is removed). Lines are never split across files.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::safe_file::{Access, Folder};

pub struct RotatingFile {
    /// FILE's folder, opened once: rotation renames and reopens there.
    folder: Folder,
    name: OsString,
    rotate_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
    /// The end of the last write, up to where a line ends.
    partial: Vec<u8>,
}

impl RotatingFile {
    pub fn open(path: &Path, rotate_bytes: u64, keep: u32) -> io::Result<RotatingFile> {
        let (folder, name) = Folder::of(path)?;
        let file = open_append(&folder, &name)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            folder,
            name,
            rotate_bytes,
            keep,
            file,
            size,
            partial: Vec::new(),
        })
    }

    fn numbered(&self, n: u32) -> OsString {
        let mut name = self.name.clone();
        name.push(format!(".{n}"));
        name
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            self.folder.remove(&self.name)?;
        } else {
            for n in (1..self.keep).rev() {
                match self.folder.rename(&self.numbered(n), &self.numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            self.folder.rename(&self.name, &self.numbered(1))?;
        }
        self.file = open_append(&self.folder, &self.name)?;
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

/// Opens FILE, at the start and after each rotation, never through a link:
/// its folder may be one that others write to, such as /var/log.
fn open_append(folder: &Folder, name: &std::ffi::OsStr) -> io::Result<File> {
    // Events name files and commands: not for every user to read.
    Ok(folder.open(name, Access::Append, 0o640)?)
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
    use crate::safe_file::test_support::{Victim, assert_link_refused};

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

    #[test]
    fn a_link_planted_at_the_path_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let path = dir.path().join("out.jsonl");
        std::os::unix::fs::symlink(&victim.path, &path).unwrap();
        assert_link_refused(&path, RotatingFile::open(&path, 25, 2));
        victim.assert_untouched();

        // Planted between two writes, in place of the file: the rotation
        // moves the link aside (rename does not follow it) and reopens FILE
        // as a new file of its own.
        std::fs::remove_file(&path).unwrap();
        let mut f = RotatingFile::open(&path, 25, 2).unwrap();
        writeln!(f, "{{\"line\":1}}").unwrap();
        std::fs::rename(&path, dir.path().join("moved-away")).unwrap();
        std::os::unix::fs::symlink(&victim.path, &path).unwrap();
        writeln!(f, "{{\"line\":2}}").unwrap();
        // 11 bytes per line: the third does not fit in 25, and rotates.
        writeln!(f, "{{\"line\":3}}").unwrap();
        drop(f);
        victim.assert_untouched();
        assert!(path.symlink_metadata().unwrap().is_file(), "FILE is a file again");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"line\":3}\n");
        let moved = dir.path().join("out.jsonl.1").symlink_metadata().unwrap();
        assert!(moved.file_type().is_symlink(), "the link was moved, not followed");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("moved-away")).unwrap(),
            "{\"line\":1}\n{\"line\":2}\n",
            "the lines before the rotation went to the file that was open"
        );
    }
}
