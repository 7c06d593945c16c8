//! Finding the file a uprobe attaches to. A uprobe fires for the processes
//! that run that very file (its inode), so the file must be the host's: in
//! a container run as the DaemonSet runs it (the host's pid namespace, its
//! own mount namespace), `/bin/bash` is the image's bash, which no process
//! of the host runs. There the target is looked up below the host's root
//! (`WASMTRACE_HOST_ROOT`, as Falco's `HOST_ROOT`, or else pid 1's), with
//! its links resolved inside that root, not in wasmtrace's own.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Folders the dynamic linker searches after those of /etc/ld.so.conf (its
/// trusted folders, with Debian's and Ubuntu's multiarch ones, for systems
/// whose ld.so.conf does not name them).
const DEFAULT_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// Bounds on what a container's files may make wasmtrace read, per lookup:
/// the bytes of each ld.so.conf file, the files (includes fan out), the
/// folders they name, the names listed for includes' patterns; and the size
/// of a library whose symbols are read.
const MAX_CONF_BYTES: u64 = 64 << 10;
const MAX_CONF_FILES: usize = 32;
const MAX_CONF_DIRS: usize = 64;
const MAX_LISTED: usize = 256;
const MAX_COPY_BYTES: u64 = 64 << 20;

/// ELF's machine number of the host, which a library must have to be the
/// one its programs load (ld.so.conf may also list 32-bit folders).
#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62;
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = 183;

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

    /// The file's identity: a uprobe is set on the file, so two paths to
    /// one file are one attachment. Not (device, inode): through an overlay
    /// (a container's root) a file shows the overlay's device, while the
    /// kernel sets the uprobe on the file below; its inode number, size and
    /// modification time pass through.
    pub fn id(&self) -> Option<FileId> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec()))
    }

    /// The file's bytes, when it is a regular file of a library's size.
    pub fn read_bounded(&self) -> Result<Vec<u8>, String> {
        read_small(&self.path, MAX_COPY_BYTES)
    }
}

/// Inode number, size, modification time (seconds, nanoseconds).
pub type FileId = (u64, u64, i64, i64);

/// What one lookup may still read of a root's ld.so.conf files.
struct ConfWalk {
    dirs: Vec<PathBuf>,
    files_left: usize,
    names_left: usize,
}

/// A file system root that targets are looked up in.
enum Root<'a> {
    /// wasmtrace's own `/`.
    Ours,
    /// Another root, open: links resolve inside it.
    At(&'a OwnedFd),
}

impl Root<'_> {
    fn open(&self, path: &Path) -> Option<Target> {
        match self {
            Root::Ours => path.exists().then(|| Target {
                path: path.to_path_buf(),
                _file: None,
            }),
            Root::At(root) => open_in(root, path),
        }
    }

    /// A small regular file's text (a container's ld.so.conf is anyone's).
    fn read(&self, path: &Path, walk: &mut ConfWalk) -> Option<String> {
        walk.files_left = walk.files_left.checked_sub(1)?;
        let bytes = read_small(self.open(path)?.path(), MAX_CONF_BYTES).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// The names in a folder, sorted; as many as the walk may still list.
    /// Opening the folder costs one name, so empty folders cost too.
    fn list(&self, dir: &Path, walk: &mut ConfWalk) -> Vec<String> {
        let Some(left) = walk.names_left.checked_sub(1) else {
            return Vec::new();
        };
        walk.names_left = left;
        let Some(dir) = self.open(dir) else {
            return Vec::new();
        };
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .take(walk.names_left)
            .collect();
        walk.names_left -= entries.len();
        let mut names: Vec<String> = entries
            .into_iter()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// A target: a path, or a library by file name, looked up as the dynamic
    /// linker looks (the folders of /etc/ld.so.conf, then its defaults) and
    /// of the host's machine.
    fn find(&self, target: &str) -> Result<Target, String> {
        if target.starts_with('/') {
            return self
                .open(Path::new(target))
                .ok_or_else(|| format!("{target} not found"));
        }
        let dirs = self.library_dirs();
        dirs.iter()
            .filter_map(|dir| self.open(&dir.join(target)))
            .find(|t| native_elf(t.path()))
            .ok_or_else(|| {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                format!(
                    "{target} is in none of the folders the dynamic linker searches ({})",
                    dirs.join(", ")
                )
            })
    }

    /// /etc/ld.so.conf's folders, in its order, then the defaults.
    fn library_dirs(&self) -> Vec<PathBuf> {
        let mut walk = ConfWalk {
            dirs: Vec::new(),
            files_left: MAX_CONF_FILES,
            names_left: MAX_LISTED,
        };
        self.conf_dirs(Path::new("/etc/ld.so.conf"), 0, &mut walk);
        let mut dirs = walk.dirs;
        dirs.extend(DEFAULT_DIRS.iter().map(PathBuf::from));
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        dirs
    }

    /// The folders a ld.so.conf file names, with those of the files it
    /// includes (`include /etc/ld.so.conf.d/*.conf`).
    fn conf_dirs(&self, file: &Path, depth: u8, walk: &mut ConfWalk) {
        // Includes that include each other end here.
        if depth > 4 {
            return;
        }
        let Some(text) = self.read(file, walk) else {
            return;
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("include") => {
                    for pattern in words {
                        let pattern = file.parent().unwrap_or(Path::new("/")).join(pattern);
                        for included in self.glob(&pattern, walk) {
                            self.conf_dirs(&included, depth + 1, walk);
                        }
                    }
                }
                Some("hwcap") | None => {}
                Some(_) => {
                    let room = MAX_CONF_DIRS.saturating_sub(walk.dirs.len());
                    walk.dirs.extend(
                        line.split(|c: char| c == ':' || c == ',' || c.is_whitespace())
                            .filter(|d| d.starts_with('/'))
                            .take(room)
                            .map(PathBuf::from),
                    );
                }
            }
        }
    }

    /// The files a pattern with `*` in its last part names, sorted as glob
    /// sorts them.
    fn glob(&self, pattern: &Path, walk: &mut ConfWalk) -> Vec<PathBuf> {
        let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name().and_then(|n| n.to_str())) else {
            return Vec::new();
        };
        let Some((prefix, suffix)) = name.split_once('*') else {
            return vec![pattern.to_path_buf()];
        };
        self.list(dir, walk)
            .into_iter()
            .filter(|n| n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix))
            .map(|n| dir.join(n))
            .collect()
    }
}

/// True for an ELF file of the host's class and machine.
fn native_elf(path: &Path) -> bool {
    let mut head = [0u8; 20];
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && open_nonblocking(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
        && head[..4] == *b"\x7fELF"
        && head[4] == 2
        && u16::from_le_bytes([head[18], head[19]]) == MACHINE
}

/// The file, unless it is on a kernel file system (procfs, sysfs, ...) or
/// FUSE: a container's ld.so.conf could name /proc/kmsg, whose reads take
/// messages from whoever else reads them, or files of wasmtrace's own; a
/// FUSE file's reads block for as long as its daemon pleases.
fn ordinary(file: std::fs::File) -> Result<std::fs::File, String> {
    const KERNEL_FILE_SYSTEMS: [i64; 8] = [
        0x9fa0,     // proc
        0x62656572, // sysfs
        0x64626720, // debugfs
        0x74726163, // tracefs
        0x73636673, // securityfs
        0x63677270, // cgroup2
        0xcafe4a11, // bpf
        0x65735546, // fuse: its daemon, anyone's in a user namespace, may never answer a read
    ];
    let kind = rustix::fs::fstatfs(&file).map_err(|e| e.to_string())?.f_type as i64;
    match KERNEL_FILE_SYSTEMS.contains(&kind) {
        true => Err("on a kernel file system".into()),
        false => Ok(file),
    }
}

/// A regular file's bytes, at most `limit` of them (else an error), read
/// once from one open descriptor: a container's files are anyone's, and a
/// FIFO would block the reader, a huge file hold it, a mapped one truncated
/// under it fault it.
pub(crate) fn read_small(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    read_all(open_regular(path)?, limit)
}

/// A regular file of an ordinary file system, open for reading.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    let file = ordinary(open_nonblocking(path).map_err(|e| e.to_string())?)?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err("not a regular file".into());
    }
    Ok(file)
}

/// All of an open file's bytes, at most `limit` of them (else an error).
pub(crate) fn read_all(file: std::fs::File, limit: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("more than {limit} bytes, more than such a file holds"));
    }
    Ok(bytes)
}

/// Opened for reading without blocking on a FIFO swapped in since it was checked.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// The file a target names (a path, or a library found by file name) in
/// the host's filesystem.
pub fn find(target: &str) -> Result<Target, String> {
    match host_root() {
        HostRoot::Ours => Root::Ours.find(target).and_then(|t| regular(t, target)),
        HostRoot::At(root, name) => Root::At(root)
            .find(target)
            .map_err(|e| format!("{e}, in the host's filesystem (below {name})"))
            .and_then(|t| regular(t, target)),
        HostRoot::Hidden(why) => Err(format!(
            "{target}: wasmtrace runs in a mount namespace of its own and cannot see the host's \
             files ({why}), where the processes it would trace run {target}; run it in the host's \
             pid namespace (Kubernetes: hostPID: true) with CAP_SYS_PTRACE, or mount the host's `/` \
             into its container and name it in WASMTRACE_HOST_ROOT"
        )),
    }
}

/// The file a target names as the process `pid` sees its files: in a
/// container, the container's own copy (`/proc/PID/root`).
pub fn find_for_process(pid: u32, target: &str) -> Result<Target, String> {
    let root = rustix::fs::open(
        format!("/proc/{pid}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("/proc/{pid}/root: {e}"))?;
    Root::At(&root).find(target).and_then(|t| regular(t, target))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF header of this class and machine, as far as the check reads.
    fn elf(class: u8, machine: u16) -> Vec<u8> {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = class;
        head[18..20].copy_from_slice(&machine.to_le_bytes());
        head
    }

    #[test]
    fn libraries_are_found_in_ld_so_confs_folders_in_order_and_of_the_hosts_machine() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, bytes: &[u8]| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        write(
            "etc/ld.so.conf",
            b"# the first include, then a folder\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last\n",
        );
        // Included in name order: the 32-bit folder comes first, and its library is skipped.
        write("etc/ld.so.conf.d/a-i386.conf", b"/opt/lib32\n");
        write("etc/ld.so.conf.d/b-native.conf", b"/opt/native:/opt/also\n");
        write("etc/ld.so.conf.d/ignored.txt", b"/opt/never\n");
        write("opt/lib32/libwt.so.1", &elf(1, 3));
        write("opt/native/libwt.so.1", &elf(2, MACHINE));
        write("opt/last/libwt.so.1", &elf(2, MACHINE));
        write("opt/never/libnever.so.1", &elf(2, MACHINE));
        let fd = rustix::fs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let root_fd = Root::At(&fd);
        let dirs = root_fd.library_dirs();
        let named: Vec<&str> = dirs.iter().take(4).map(|d| d.to_str().unwrap()).collect();
        assert_eq!(named, ["/opt/lib32", "/opt/native", "/opt/also", "/opt/last"]);
        let found = root_fd.find("libwt.so.1").unwrap();
        let link = std::fs::read_link(found.path()).unwrap();
        assert_eq!(link, root.path().join("opt/native/libwt.so.1"));
        let missing = root_fd.find("libnever.so.1").err().unwrap();
        assert!(missing.contains("/opt/native, /opt/also, /opt/last"), "{missing}");
    }

    /// A tenant's ld.so.conf written to make the walk endless: every file
    /// includes every file of a folder of 40, and names 1,000 folders; 500
    /// patterns point at an empty folder. The walk reads MAX_CONF_FILES
    /// files, lists MAX_LISTED names, keeps MAX_CONF_DIRS folders, and ends.
    #[test]
    fn a_hostile_ld_so_conf_is_walked_within_its_bounds() {
        let root = tempfile::tempdir().unwrap();
        let folders: String = (0..1000).map(|i| format!("/f{i}:")).collect();
        let empties: String = (0..500).map(|i| format!(" /empty/x{i}*")).collect();
        let conf = format!("include /d/*\ninclude{empties}\n{folders}\n");
        std::fs::create_dir_all(root.path().join("d")).unwrap();
        std::fs::create_dir_all(root.path().join("empty")).unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/ld.so.conf"), &conf).unwrap();
        for i in 0..40 {
            std::fs::write(root.path().join(format!("d/{i:02}")), &conf).unwrap();
        }
        let fd = rustix::fs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut walk = ConfWalk {
            dirs: Vec::new(),
            files_left: MAX_CONF_FILES,
            names_left: MAX_LISTED,
        };
        Root::At(&fd).conf_dirs(Path::new("/etc/ld.so.conf"), 0, &mut walk);
        assert_eq!((walk.files_left, walk.names_left), (0, 0));
        assert_eq!(walk.dirs.len(), MAX_CONF_DIRS);
        let dirs = Root::At(&fd).library_dirs();
        assert_eq!(dirs.len(), MAX_CONF_DIRS + DEFAULT_DIRS.len());
    }

    #[test]
    fn files_too_large_or_on_kernel_file_systems_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("libbig.so");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_COPY_BYTES + 1)
            .unwrap();
        assert!(read_small(&big, MAX_COPY_BYTES).unwrap_err().contains("more than"));
        std::fs::File::create(&big).unwrap().set_len(MAX_COPY_BYTES).unwrap();
        assert_eq!(read_small(&big, MAX_COPY_BYTES).unwrap().len() as u64, MAX_COPY_BYTES);
        // /proc/kmsg would take messages from other readers; any procfs or sysfs file is refused.
        for kernel in ["/proc/self/status", "/sys/kernel/mm/transparent_hugepage/enabled"] {
            if Path::new(kernel).exists() {
                assert_eq!(
                    read_small(Path::new(kernel), 1 << 20),
                    Err("on a kernel file system".into())
                );
            }
        }
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        assert_eq!(read_small(&fifo, 1 << 20), Err("not a regular file".into()));
    }
}
