//! Cgroups by id: the kernel records a task's cgroup v2 id with each event;
//! this finds that cgroup's path, which container runtimes name after the
//! container (`libpod-<id>`, `docker-<id>.scope`, `cri-containerd-<id>.scope`,
//! `crio-<id>.scope`, or a bare id under `/docker` or `/kubepods`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::wit::Runtime;

/// Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on unified
/// hosts, /sys/fs/cgroup/unified on hybrid ones (v1 controllers beside an
/// empty v2 tree), from /proc/self/mountinfo.
pub fn v2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER"
        let (before, after) = line.split_once(" - ")?;
        let mountpoint = before.split(' ').nth(4)?;
        (after.split(' ').next()? == "cgroup2").then(|| PathBuf::from(mountpoint))
    })
}

/// Opens cgroups by id: the id is the cgroup directory's kernfs handle, so
/// one `open_by_handle_at` (CAP_DAC_READ_SEARCH) finds it, however large the tree.
pub struct CgroupFs {
    mount: PathBuf,
    mount_fd: OwnedFd,
}

/// `struct file_handle` holding a kernfs node id.
#[repr(C)]
struct KernfsHandle {
    handle_bytes: u32,
    handle_type: i32,
    id: u64,
}

/// The kernel's FILEID_KERNFS handle type.
const FILEID_KERNFS: i32 = 0xfe;

impl CgroupFs {
    pub fn open(mount: &Path) -> std::io::Result<CgroupFs> {
        let c = CString::new(mount.as_os_str().as_encoded_bytes())?;
        // SAFETY: a valid C string; the fd is checked before it is owned.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(CgroupFs {
            mount: mount.to_path_buf(),
            // SAFETY: a file descriptor we just opened and own.
            mount_fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The path of cgroup `id` below the mount ("/libpod_parent/libpod-…"),
    /// or an error: it is gone, or the handle lookup is not permitted.
    pub fn path(&self, id: u64) -> std::io::Result<String> {
        let mut handle = KernfsHandle {
            handle_bytes: 8,
            handle_type: FILEID_KERNFS,
            id,
        };
        // SAFETY: the handle is a valid `struct file_handle` with 8 bytes of f_handle.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                self.mount_fd.as_raw_fd(),
                &mut handle as *mut KernfsHandle,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a file descriptor the kernel just gave us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let full = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        Ok(match full.strip_prefix(&self.mount) {
            Ok(below) => format!("/{}", below.display()),
            Err(_) => full.display().to_string(),
        })
    }

    /// Every cgroup directory below the mount whose name is a container's:
    /// the cgroup's id (the directory's inode number), its depth below the
    /// root, and the container's id. Anyone who can make a cgroup can give
    /// it such a name: the runtime's record says which is the container's.
    pub fn containers(&self) -> Vec<NamedCgroup> {
        let mut found = Vec::new();
        let mut stack = vec![self.mount.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let path = entry.path();
                let below = format!("/{}", path.strip_prefix(&self.mount).unwrap_or(&path).display());
                match named_container(&below) {
                    Some((runtime, id)) => {
                        use std::os::unix::fs::MetadataExt;
                        if let Ok(meta) = entry.metadata() {
                            found.push(NamedCgroup {
                                cgroup: meta.ino(),
                                level: below.matches('/').count() as u32,
                                runtime,
                                id: id.to_string(),
                                path: below.clone(),
                            });
                        }
                    }
                    None => stack.push(path),
                }
            }
        }
        found
    }
}

/// A cgroup named like a container's; see [`CgroupFs::containers`].
pub struct NamedCgroup {
    pub cgroup: u64,
    pub level: u32,
    pub runtime: Runtime,
    pub id: String,
    /// Its path below the mount.
    pub path: String,
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The containers a cgroup path may belong to, by the runtimes' naming:
/// each component that names one, nearest (from the leaf up) first, since
/// a container may make cgroups of its own below its cgroup; and the path
/// of that component.
pub fn containers_named(path: &str) -> Vec<(Runtime, &str, String)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    (0..parts.len())
        .rev()
        .filter_map(|i| {
            let (runtime, id) = named(parts[i], &parts[..i])?;
            Some((runtime, id, format!("/{}", parts[..=i].join("/"))))
        })
        .collect()
}

/// Like [`container_of`], for the leaf only: the container's own cgroup.
fn named_container(path: &str) -> Option<(Runtime, &str)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (leaf, parents) = parts.split_last()?;
    named(leaf, parents)
}

fn named<'a>(part: &'a str, parents: &[&str]) -> Option<(Runtime, &'a str)> {
    let bare = part.strip_suffix(".scope").unwrap_or(part);
    let prefixed = [
        ("libpod-", Runtime::Podman),
        ("docker-", Runtime::Docker),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
    ]
    .into_iter()
    .find_map(|(prefix, runtime)| Some((runtime, bare.strip_prefix(prefix)?)));
    match prefixed {
        Some((runtime, id)) => is_container_id(id).then_some((runtime, id)),
        // The cgroupfs drivers: /docker/<id>, /kubepods/.../<id> (containerd
        // or CRI-O: the records tell which), /libpod_parent/libpod-<id> above.
        None if is_container_id(bare) => match parents.first() {
            Some(&"docker") => Some((Runtime::Docker, bare)),
            Some(p) if p.starts_with("kubepods") => Some((Runtime::Containerd, bare)),
            _ => None,
        },
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b9f5098fe19bd39a029dfee53d9e617522459f1748fad3d4fc019c7b78e87d87";

    #[test]
    fn runtimes_name_their_cgroups() {
        let cases = [
            (format!("/libpod_parent/libpod-{ID}"), Some(Runtime::Podman)),
            (format!("/machine.slice/libpod-{ID}.scope"), Some(Runtime::Podman)),
            (
                format!("/machine.slice/libpod-{ID}.scope/container/init.scope"),
                Some(Runtime::Podman),
            ),
            (format!("/system.slice/docker-{ID}.scope"), Some(Runtime::Docker)),
            (format!("/docker/{ID}"), Some(Runtime::Docker)),
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID}.scope"
                ),
                Some(Runtime::Containerd),
            ),
            (format!("/kubepods/besteffort/pod5d2c/{ID}"), Some(Runtime::Containerd)),
            (format!("/kubepods.slice/crio-{ID}.scope"), Some(Runtime::CriO)),
            // conmon, the monitor beside a container, is not the container.
            (format!("/libpod_parent/libpod-conmon-{ID}"), None),
            (format!("/machine.slice/crio-conmon-{ID}.scope"), None),
            ("/".to_string(), None),
            ("/user.slice/user-0.slice/session-4.scope".to_string(), None),
            (format!("/somewhere/{ID}"), None),
            (format!("/libpod_parent/libpod-{}", &ID[1..]), None),
        ];
        for (path, runtime) in cases {
            let found = containers_named(&path);
            assert_eq!(found.first().map(|(r, _, _)| *r), runtime, "{path}");
            if let Some((_, id, at)) = found.first() {
                assert_eq!(*id, ID);
                assert!(path.starts_with(at.as_str()), "{path}: {at}");
            }
        }
    }
}
