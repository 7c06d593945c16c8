//! Private copies of the binaries stacks run in, which the symbolizer maps.
//! A traced process's files are its owner's: mapped in place, a binary
//! truncated under the symbolizer would fault wasmtrace (SIGBUS), and its
//! debug links name files that wasmtrace, as root, would open (a FIFO
//! blocks the opener). So each binary is read once, bounded, into a sealed
//! memfd, with its debug links renamed away: symbols come from the binary
//! itself (its ELF symbols and the DWARF it carries), never from a file it
//! names.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use rustix::fs::{MemfdFlags, SealFlags};

use crate::uprobe_target;

/// Bytes of one binary copied: larger ones are named by module and offset.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// Bytes of all copies held; past it, the cache starts again.
pub const MAX_HELD_BYTES: u64 = 1 << 30;

/// Sections that name other files to read debug information from.
const LINK_SECTIONS: [&[u8]; 3] = [b".gnu_debuglink\0", b".gnu_debugaltlink\0", b".debug_sup\0"];

/// A binary's identity as opened: device, inode, size and modification time.
type FileKey = (u64, u64, u64, i64, i64);

pub struct Copy {
    file: OwnedFd,
    /// The ELF build id, hex.
    pub build_id: String,
}

impl Copy {
    /// A path the symbolizer opens the copy by.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

#[derive(Default)]
pub struct Copies {
    copies: HashMap<FileKey, Option<std::rc::Rc<Copy>>>,
    held: u64,
}

impl Copies {
    /// The copy of the file `pid` maps at `start..end` from `path`; `None`
    /// when it cannot be read or is too large (the frame keeps its module
    /// and offset).
    pub fn get(&mut self, pid: u32, start: u64, end: u64, path: &str) -> Option<std::rc::Rc<Copy>> {
        let file = open(pid, start, end, path)?;
        let meta = file.metadata().ok()?;
        let key = (meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
        if let Some(known) = self.copies.get(&key) {
            return known.clone();
        }
        if self.held + meta.size() > MAX_HELD_BYTES {
            // Named stacks stay named; later ones start the cache again.
            self.copies.clear();
            self.held = 0;
        }
        let copy = uprobe_target::read_all(file, MAX_FILE_BYTES)
            .ok()
            .and_then(|bytes| sealed(bytes).ok())
            .map(std::rc::Rc::new);
        self.held += copy.as_ref().map_or(0, |_| meta.size());
        self.copies.insert(key, copy.clone());
        copy
    }

    /// Binaries seen, and the bytes of their copies.
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    pub fn held_bytes(&self) -> u64 {
        self.held
    }
}

/// The mapped file itself, through map_files (which needs CAP_SYS_ADMIN),
/// or else its path resolved inside the process's root.
fn open(pid: u32, start: u64, end: u64, path: &str) -> Option<std::fs::File> {
    let exact = PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"));
    uprobe_target::open_regular(&exact).ok().or_else(|| {
        let found = uprobe_target::find_for_process(pid, path).ok()?;
        uprobe_target::open_regular(found.path()).ok()
    })
}

/// The bytes in a sealed memfd, their debug links renamed away.
fn sealed(mut bytes: Vec<u8>) -> std::io::Result<Copy> {
    let build_id = object::read::File::parse(&*bytes)
        .ok()
        .and_then(|elf| object::Object::build_id(&elf).ok().flatten().map(hex))
        .unwrap_or_default();
    unlink_debug_files(&mut bytes);
    let fd = rustix::fs::memfd_create("wasmtrace-symbols", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(&bytes)?;
    rustix::fs::fcntl_add_seals(
        &file,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    Ok(Copy {
        file: file.into(),
        build_id,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renames every section name that points at another file: wherever the
/// name's bytes are (a section's name is looked up by them), its dot
/// becomes `X`. Only the copy changes; a string in code or data that
/// happens to read the same is never symbolized.
fn unlink_debug_files(bytes: &mut [u8]) {
    for name in LINK_SECTIONS {
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(name.len()).position(|w| w == name) {
            bytes[at + i] = b'X';
            at += i + name.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_links_are_renamed_wherever_their_names_are() {
        let mut bytes = b"\0.text\0.gnu_debuglink\0x.gnu_debugaltlink\0.debug_sup\0.debug_info\0".to_vec();
        unlink_debug_files(&mut bytes);
        assert_eq!(
            bytes,
            b"\0.text\0Xgnu_debuglink\0xXgnu_debugaltlink\0Xdebug_sup\0.debug_info\0".to_vec()
        );
    }

    #[test]
    fn a_copy_is_sealed_against_truncation() {
        let copy = sealed(b"not an elf file".to_vec()).unwrap();
        assert_eq!(std::fs::read(copy.path()).unwrap(), b"not an elf file");
        let file = std::fs::OpenOptions::new().write(true).open(copy.path()).unwrap();
        assert!(file.set_len(0).is_err(), "a sealed copy cannot shrink");
        assert!(copy.build_id.is_empty());
    }
}
