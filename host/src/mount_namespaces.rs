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
}

impl MountNamespaces {
    /// A process in each mount namespace not seen before, looked for among
    /// the processes that started since the last call. One stat per new
    /// process: a busy host costs a listing of /proc and little more. (A
    /// namespace whose first process reuses a pid seen before is missed
    /// until another of its processes starts.)
    pub fn new_ones(&mut self) -> Vec<u32> {
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
            // The link's target is the namespace; its inode names it.
            if let Ok(ns) = std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
                && !self.namespaces.contains_key(&ns.ino())
            {
                self.namespaces.insert(ns.ino(), pid);
                found.push(pid);
            }
        }
        self.namespaces.retain(|_, pid| listed.contains(pid));
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
