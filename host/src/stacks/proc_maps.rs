//! A process's file mappings, from /proc/PID/maps: which file, at which
//! offset, an address of its stack falls in.

use std::io::Read;

/// Bytes of a maps file read: ~65k mappings, far past what programs map
/// (the kernel's default vm.max_map_count is 65530).
const MAX_BYTES: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// The file offset mapped at `start`.
    pub offset: u64,
    /// The file's path as the process sees it (`[vdso]` and the like for
    /// the kernel's; mappings of no file are left out).
    pub path: String,
}

impl Mapping {
    /// The file offset an address of the mapping comes from.
    pub fn file_offset(&self, addr: u64) -> u64 {
        addr - self.start + self.offset
    }
}

/// The process's file mappings by address; empty once it has exited.
pub fn read(pid: u32) -> Vec<Mapping> {
    let mut text = String::new();
    let read =
        std::fs::File::open(format!("/proc/{pid}/maps")).and_then(|f| f.take(MAX_BYTES).read_to_string(&mut text));
    match read {
        Ok(_) => parse(&text),
        Err(_) => Vec::new(),
    }
}

/// `start-end perms offset dev inode path`: the path may hold spaces, and
/// ends in ` (deleted)` for a file removed since.
fn parse(text: &str) -> Vec<Mapping> {
    let mut maps: Vec<Mapping> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(6, ' ');
            let (range, _perms, offset, _dev, _inode) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let path = fields.next()?.trim_start();
            if path.is_empty() {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path: path.strip_suffix(" (deleted)").unwrap_or(path).to_string(),
            })
        })
        .collect();
    maps.sort_by_key(|m| m.start);
    maps
}

/// The mapping an address falls in.
pub fn find(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.start <= addr).checked_sub(1)?;
    Some(&maps[i]).filter(|m| addr < m.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse_with_spaces_deleted_files_and_anonymous_memory_left_out() {
        let maps = parse(
            "55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234 /usr/bin/my app\n\
             55d0c0a01000-55d0c0a02000 r-xp 00001000 fd:01 1234 /usr/bin/my app\n\
             7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n\
             7f1000000000-7f1000028000 r-xp 00028000 fd:01 99   /tmp/gone (deleted)\n\
             garbage line\n",
        );
        assert_eq!(maps.len(), 3);
        let hit = find(&maps, 0x55d0c0a01010).unwrap();
        assert_eq!(hit.path, "/usr/bin/my app");
        assert_eq!(hit.file_offset(0x55d0c0a01010), 0x1010);
        assert_eq!(find(&maps, 0x7f1000000004).unwrap().path, "/tmp/gone");
        assert!(find(&maps, 0x7f0000000010).is_none());
        assert!(find(&maps, 1).is_none());
        assert!(read(u32::MAX).is_empty());
    }
}
