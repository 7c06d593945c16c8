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
use std::rc::Rc;

use rustix::fs::{MemfdFlags, SealFlags};

use crate::uprobe_target;

/// Bytes of one binary copied: larger ones are named by module and offset.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// Bytes of all copies held, and how many: past either, the cache starts
/// again (the symbolizer's with it, which holds a descriptor and a mapping
/// of each).
const MAX_HELD_BYTES: u64 = 1 << 30;
const MAX_COPIES: usize = 128;
/// GNU build ids are 20 bytes; a longer note is kept as none.
const MAX_BUILD_ID: usize = 64;
/// The deepest nesting of DWARF entries whose inlined functions are read:
/// the symbolizer reads them recursively, and a binary can nest without end.
const MAX_DWARF_DEPTH: usize = 64;

/// Sections that name other files to read debug information from.
const LINK_SECTIONS: [&[u8]; 3] = [b".gnu_debuglink\0", b".gnu_debugaltlink\0", b".debug_sup\0"];

/// A binary's identity as opened: device, inode, size and modification time.
type FileKey = (u64, u64, u64, i64, i64);

pub struct Copy {
    file: OwnedFd,
    /// The ELF build id, hex.
    pub build_id: String,
    /// Its DWARF nests shallowly enough for its inlined functions to be read.
    pub inlines: bool,
}

impl Copy {
    /// A path the symbolizer opens the copy by.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

#[derive(Default)]
pub struct Copies {
    copies: HashMap<FileKey, Option<Rc<Copy>>>,
    held: u64,
    /// Times the cache started again: the symbolizer's must then too.
    pub generation: u64,
}

impl Copies {
    /// The copy of the file `pid` maps at `start..end`; `None` when it
    /// cannot be read or is too large (the frame keeps its module and
    /// offset).
    pub fn get(&mut self, pid: u32, start: u64, end: u64) -> Option<Rc<Copy>> {
        let file = open(pid, start, end)?;
        let meta = file.metadata().ok()?;
        let key = (meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
        if let Some(known) = self.copies.get(&key) {
            return known.clone();
        }
        // What was read counts, not what the file said it held when asked:
        // its owner may have grown it since.
        let bytes = uprobe_target::read_all(file, MAX_FILE_BYTES).ok();
        let size = bytes.as_ref().map_or(0, |b| b.len() as u64);
        if self.held + size > MAX_HELD_BYTES || self.copies.len() >= MAX_COPIES {
            // Named stacks stay named; later ones start the cache again.
            self.copies.clear();
            self.held = 0;
            self.generation += 1;
        }
        let copy = bytes.and_then(|bytes| sealed(bytes).ok()).map(Rc::new);
        self.held += copy.as_ref().map_or(0, |_| size);
        self.copies.insert(key, copy.clone());
        copy
    }

    /// Binaries seen since the cache last started, and the bytes of their copies.
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    pub fn held_bytes(&self) -> u64 {
        self.held
    }
}

/// The mapped file itself, through map_files (which needs CAP_SYS_ADMIN):
/// never by its path, which names what the process's mount namespace holds
/// there now, a link its owner may have swapped in.
fn open(pid: u32, start: u64, end: u64) -> Option<std::fs::File> {
    let exact = PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"));
    // A mapped device is not opened: its driver's open would run, as root.
    if !std::fs::metadata(&exact).is_ok_and(|m| m.is_file()) {
        return None;
    }
    uprobe_target::open_regular(&exact).ok()
}

/// The bytes in a sealed memfd, their debug links renamed away.
fn sealed(mut bytes: Vec<u8>) -> std::io::Result<Copy> {
    // Measured on the bytes the symbolizer will read.
    unlink_debug_files(&mut bytes);
    let (build_id, inlines) = match object::read::File::parse(&*bytes) {
        Ok(elf) => (build_id(&elf), dwarf_depth(&elf).is_some_and(|d| d <= MAX_DWARF_DEPTH)),
        Err(_) => (String::new(), false),
    };
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
        inlines,
    })
}

fn build_id(elf: &object::read::File) -> String {
    match object::Object::build_id(elf) {
        Ok(Some(id)) if id.len() <= MAX_BUILD_ID => id.iter().map(|b| format!("{b:02x}")).collect(),
        _ => String::new(),
    }
}

/// How deep the binary's DWARF entries nest (0 without DWARF), read
/// without recursion and stopping past `MAX_DWARF_DEPTH`; `None` when it
/// does not parse, or climbs above its unit (null entries past the root
/// would let a function's own nesting start from below zero).
fn dwarf_depth(elf: &object::read::File) -> Option<usize> {
    use object::{Object, ObjectSection};
    let endian = match elf.is_little_endian() {
        true => gimli::RunTimeEndian::Little,
        false => gimli::RunTimeEndian::Big,
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
        let data = elf.section_by_name(id.name()).and_then(|s| s.data().ok());
        Ok(gimli::EndianSlice::new(data.unwrap_or(&[]), endian))
    })
    .ok()?;
    let mut units = dwarf.units();
    let mut deepest = 0;
    while let Some(header) = units.next().ok()? {
        let unit = dwarf.unit(header).ok()?;
        let mut entries = unit.entries_raw(None).ok()?;
        while !entries.is_empty() {
            let depth = usize::try_from(entries.next_depth()).ok()?;
            deepest = deepest.max(depth);
            if deepest > MAX_DWARF_DEPTH {
                return Some(deepest);
            }
            if let Some(abbrev) = entries.read_abbreviation().ok()? {
                entries.skip_attributes(abbrev.attributes()).ok()?;
            }
        }
    }
    Some(deepest)
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
        assert!(copy.build_id.is_empty() && !copy.inlines);
    }

    #[test]
    fn this_test_binarys_dwarf_is_measured() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let elf = object::read::File::parse(&*bytes).unwrap();
        assert!(dwarf_depth(&elf).is_some());
        assert!(build_id(&elf).len() <= 2 * MAX_BUILD_ID);
    }
}
