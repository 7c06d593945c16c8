//! Finding the file a uprobe attaches to. A uprobe fires for the processes
//! that run that very file (its inode), so the file must be the host's: in
//! a container run as the DaemonSet runs it (the host's pid namespace, its
//! own mount namespace), `/bin/bash` is the image's bash, which no process
//! of the host runs. There the target is looked up below the host's root
//! (`WASMTRACE_HOST_ROOT`, as Falco's `HOST_ROOT`, or else pid 1's), with
//! its links resolved inside that root, not in wasmtrace's own.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Folders where shared libraries live, for targets given by file name.
const LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// A found target, open, to attach to by [`Target::path`].
pub struct Target {
    path: PathBuf,
    /// What `path` names through /proc/self/fd when the file is the host's.
    _file: Option<OwnedFd>,
}

impl Target {
    /// A path to the file valid in wasmtrace's own mount namespace.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The file a target names (a path, or a library found by file name) in
/// the host's filesystem.
pub fn find(target: &str) -> Result<Target, String> {
    let candidates: Vec<PathBuf> = if target.starts_with('/') {
        vec![PathBuf::from(target)]
    } else {
        LIBRARY_DIRS.iter().map(|dir| Path::new(dir).join(target)).collect()
    };
    match host_root() {
        HostRoot::Ours => candidates
            .into_iter()
            .find(|p| p.exists())
            .map(|path| Target { path, _file: None })
            .ok_or_else(|| format!("{target} not found"))
            .and_then(|t| regular(t, target)),
        HostRoot::At(root, name) => candidates
            .iter()
            .find_map(|p| open_in(root, p))
            .ok_or_else(|| format!("{target} not found in the host's filesystem (below {name})"))
            .and_then(|t| regular(t, target)),
        HostRoot::Hidden(why) => Err(format!(
            "{target}: wasmtrace runs in a mount namespace of its own and cannot see the host's \
             files ({why}), where the processes it would trace run {target}; run it in the host's \
             pid namespace (Kubernetes: hostPID: true) with CAP_SYS_PTRACE, or mount the host's `/` \
             into its container and name it in WASMTRACE_HOST_ROOT"
        )),
    }
}

/// Only a regular file is read (for its symbols) and attached to: a FIFO
/// or a device at the target's path would block or act when opened.
fn regular(found: Target, target: &str) -> Result<Target, String> {
    match std::fs::metadata(&found.path) {
        Ok(meta) if meta.is_file() => Ok(found),
        Ok(meta) => Err(format!(
            "{target} is {}, not a regular file",
            crate::safe_file::kind(meta.file_type())
        )),
        Err(e) => Err(format!("{target}: {e}")),
    }
}

/// Where the host's root is, as told or found.
const HOST_ROOT_VAR: &str = "WASMTRACE_HOST_ROOT";

enum HostRoot {
    /// wasmtrace's `/` is the host's.
    Ours,
    /// The host's root, open, and its name for messages.
    At(OwnedFd, String),
    /// A root of its own, and the host's out of reach, for this reason.
    Hidden(String),
}

/// Found once: the warning below is said once, and the root stays open.
fn host_root() -> &'static HostRoot {
    static ROOT: std::sync::OnceLock<HostRoot> = std::sync::OnceLock::new();
    ROOT.get_or_init(find_host_root)
}

fn find_host_root() -> HostRoot {
    if let Some(root) = std::env::var_os(HOST_ROOT_VAR) {
        return open_root(Path::new(&root), &format!("{HOST_ROOT_VAR}={}", root.to_string_lossy()));
    }
    // Pid 1 is the host's init only in the initial pid namespace: in
    // another, it is a container's, whose files are not the host's.
    if !crate::whoami::in_initial_pid_namespace() {
        return HostRoot::Ours;
    }
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt"));
    match (ns("self"), ns("1")) {
        (Ok(ours), Ok(init)) if ours != init => open_root(Path::new("/proc/1/root"), "/proc/1/root"),
        (Ok(_), Ok(_)) => HostRoot::Ours,
        // A container given the host's pids without CAP_SYS_PTRACE looks
        // the same as a host run with capabilities only: say what is done.
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(
                "cannot tell whether wasmtrace sees the host's files (reading mount namespaces: \
                 {e}): uprobe targets are looked up in wasmtrace's own; in a container, grant \
                 CAP_SYS_PTRACE or set {HOST_ROOT_VAR}"
            );
            HostRoot::Ours
        }
    }
}

fn open_root(root: &Path, name: &str) -> HostRoot {
    match rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => HostRoot::At(fd, name.to_string()),
        Err(e) => HostRoot::Hidden(format!("{name}: {e}")),
    }
}

/// The file at `path` below `root`, links resolved as if `root` were `/`,
/// named through /proc/self/fd (which the kernel and aya both follow).
fn open_in(root: &OwnedFd, path: &Path) -> Option<Target> {
    let file = rustix::fs::openat2(
        root,
        path.strip_prefix("/").unwrap_or(path),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .ok()?;
    Some(Target {
        path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
        _file: Some(file),
    })
}
