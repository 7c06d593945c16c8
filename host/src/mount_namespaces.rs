//! The mount namespaces processes run in, as they appear. Each is a view of
//! the files: there, the library a uprobe targets may be another file (a
//! container's own libc), which the host's copy's uprobe does not reach.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;

/// New namespaces returned per call at most.
const MAX_NEW: usize = 32;

/// The processes and mount namespaces seen so far.
#[derive(Default)]
pub struct MountNamespaces {
    pids: HashSet<u32>,
    /// Each namespace seen, by inode, with the process it was seen through.
    /// It is forgotten when that process is gone: the kernel reuses a
    /// namespace's inode number, and a new namespace under an old number
    /// must be looked into (a namespace still there is found again, through
    /// another of its processes, at the cost of one more lookup).
    namespaces: HashMap<u64, u32>,
    /// Whether namespaces are named by the kernel's ids (never reused).
    unique_ids: bool,
}

/// Namespaces remembered at most, beyond those of running processes.
const MAX_REMEMBERED: usize = 65_536;

/// NS_GET_MNTNS_ID (linux/nsfs.h: _IOR(0xb7, 5, __u64)), since Linux 6.8.
const NS_GET_MNTNS_ID: libc::c_ulong = 0x8008_b705;

/// The process's mount namespace: its kernel id where the kernel has them
/// (with the top bit set, apart from inode numbers), else the inode number.
fn namespace_of(pid: u32) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok()?;
    let mut id: u64 = 0;
    // SAFETY: the ioctl writes one u64 into `id`.
    if unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_MNTNS_ID, &mut id) } == 0 {
        return Some(id | 1 << 63);
    }
    file.metadata().ok().map(|m| m.ino())
}

impl MountNamespaces {
    /// A process in each mount namespace not seen before, looked for among
    /// the processes that started since the last call. One stat per new
    /// process: a busy host costs a listing of /proc and little more. (A
    /// namespace whose first process reuses a pid seen before is missed
    /// until another of its processes starts.)
    pub fn new_ones(&mut self) -> Vec<u32> {
        self.unique_ids = namespace_of(std::process::id()).is_some_and(|id| id >> 63 == 1);
        let Ok(proc) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let listed: HashSet<u32> = proc
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        let mut found = Vec::new();
        let mut deferred = HashSet::new();
        for &pid in listed.difference(&self.pids) {
            // Anyone can make mount namespaces (`unshare -rm`): a flood of
            // them is looked into a few at a time, the rest on later calls.
            if found.len() == MAX_NEW {
                deferred.insert(pid);
                continue;
            }
            if let Some(ns) = namespace_of(pid)
                && !self.namespaces.contains_key(&ns)
            {
                self.namespaces.insert(ns, pid);
                found.push(pid);
            }
        }
        // Kernels before the namespace ids reuse inode numbers: forget a
        // namespace when its process is gone. Ids are never reused, but a
        // flood of namespaces is forgotten the same way past a bound.
        if !self.unique_ids || self.namespaces.len() > MAX_REMEMBERED {
            self.namespaces.retain(|_, pid| listed.contains(pid));
        }
        self.pids = listed.difference(&deferred).copied().collect();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::MountNamespaces;

    #[test]
    fn each_namespace_is_new_once() {
        let mut namespaces = MountNamespaces::default();
        let first = namespaces.new_ones();
        // This process's own namespace is among those first seen.
        assert!(!first.is_empty());
        assert!(namespaces.new_ones().is_empty());
    }
}
