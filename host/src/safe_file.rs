//! Opening the files wasmtrace writes (output, spool, recordings, the
//! compile cache), often as root and in folders that others may write to:
//! an `[output] file` in /var/log, which is root:syslog 0775. A symbolic
//! link, a hard link or a FIFO planted at the path must not turn root's
//! writes onto another file, nor block them. So the last component is
//! opened without following a link and without waiting on a FIFO, and the
//! file is kept only if the open descriptor is a regular file of ours, with
//! no other name, that no one else can change.
//!
//! The folders on the way are walked one by one from `/`: in a folder
//! that others may write to (like /var/log), a link is refused there too,
//! since /var/log/wasmtrace may be another user's link to /etc. Links in
//! folders only root or wasmtrace's user can change (/var/run to /run) are
//! followed. The file's folder is kept open, so that rotation renames and
//! reopens in that folder, whatever its path then leads to.

use std::ffi::{OsStr, OsString};
use std::fs::{File, FileType, Metadata, Permissions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Appended to; created when missing.
    Append,
    /// Read, and appended to; created when missing.
    ReadAppend,
    /// Emptied once checked, and left no more open than a new file; created when missing.
    Replace,
    /// Created; anything already at the path is an error.
    CreateNew,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// What the system said (a missing folder, no permission); the caller names the file.
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(
        "{} is a symbolic link: wasmtrace writes its files only through a real path (someone may \
         have planted it); remove it or choose another path", path.display()
    )]
    Link { path: PathBuf },
    #[error(
        "{} is a symbolic link in {}, a folder others can write to (someone may have planted it): \
         wasmtrace follows links only where only root or its own user can make them; give the \
         real path", link.display(), folder.display()
    )]
    LinkedFolder { link: PathBuf, folder: PathBuf },
    #[error(
        "{} is {what}, not a regular file: wasmtrace writes only regular files; remove it or choose \
         another path", path.display()
    )]
    NotRegular { path: PathBuf, what: &'static str },
    #[error(
        "{} is owned by uid {owner}, not by the user wasmtrace runs as (uid {me}): its owner could read \
         or change what wasmtrace writes; remove it (wasmtrace creates it anew) or choose another path",
        path.display()
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "{} has {links} names (hard links): writing it would change the file under its other names \
         too (someone may have linked a file there); remove it or choose another path", path.display()
    )]
    HardLinks { path: PathBuf, links: u64 },
    #[error(
        "{} is writable by group or others (mode {mode:04o}): others could change what wasmtrace \
         writes; fix it with `chmod go-w {}`", path.display(), path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
}

/// For callers that speak `io::Result`: a refusal becomes an error of kind
/// `Other` whose message is the refusal's.
impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> io::Error {
        match e {
            OpenError::Io(e) => e,
            refused => io::Error::other(refused),
        }
    }
}

/// Opens `path` as `access` says, creating it with `mode` (less the umask)
/// when missing; refuses a link, anything but a regular file, and a file
/// that is not ours alone (another owner, another name, group or others
/// may write it).
pub fn open(path: &Path, access: Access, mode: u32) -> Result<File, OpenError> {
    let (folder, name) = Folder::of(path)?;
    folder.open(&name, access, mode)
}

/// A folder opened with no link followed that someone else could have planted.
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

impl Folder {
    /// The folder of the file `path` names, and the file's name in it.
    pub fn of(path: &Path) -> Result<(Folder, OsString), OpenError> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", path.display())))?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Ok((Folder::open_walking(folder)?, name.to_os_string()))
    }

    /// Walks to `path` one folder at a time, following a link only where
    /// the folder that holds it is one that only root or we can change.
    fn open_walking(path: &Path) -> Result<Folder, OpenError> {
        let start = if path.is_absolute() { "/" } else { "." };
        let mut fd = rustix::fs::open(start, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(io::Error::from)?;
        let mut walked = PathBuf::from(start);
        for component in path.components() {
            let name = match component {
                Component::Normal(name) => name,
                Component::ParentDir => OsStr::new(".."),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            };
            let mut flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            if !only_trusted_can_change(&fd)? {
                flags |= OFlags::NOFOLLOW;
            }
            let next = rustix::fs::openat(&fd, name, flags, Mode::empty());
            let link = walked.join(name);
            fd = match next {
                Ok(next) => next,
                // With O_NOFOLLOW, a link where a folder is wanted is "not a folder".
                Err(rustix::io::Errno::NOTDIR) if is_link(&fd, name) => {
                    return Err(OpenError::LinkedFolder { link, folder: walked });
                }
                Err(e) => {
                    let kind = io::Error::from(e).kind();
                    return Err(io::Error::new(kind, format!("{}: {e}", link.display())).into());
                }
            };
            walked = link;
        }
        Ok(Folder {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the file `name` in this folder, as [`open`] says.
    pub fn open(&self, name: &OsStr, access: Access, mode: u32) -> Result<File, OpenError> {
        let path = self.path.join(name);
        let flags = match access {
            Access::Append => OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE,
            Access::ReadAppend => OFlags::RDWR | OFlags::APPEND | OFlags::CREATE,
            Access::Replace => OFlags::WRONLY | OFlags::CREATE,
            Access::CreateNew => OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
        };
        // O_NOFOLLOW: a link at the path fails the open instead of being
        // followed. O_NONBLOCK: a FIFO there does not block it (it is
        // refused below).
        let file: File = rustix::fs::openat(
            &self.fd,
            name,
            flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| open_error(&path, io::Error::from(e)))?
        .into();
        let meta = check(&path, &file)?;
        set_blocking(&file)?;
        if access == Access::Replace {
            // Only now: emptied in the open, a hard-linked file would have been lost before the check.
            file.set_len(0)?;
            // No more than a new file's mode, though an older one was readable by more.
            file.set_permissions(Permissions::from_mode(meta.mode() & mode & 0o7777))?;
        }
        Ok(file)
    }

    /// Renames `from` to `to` within this folder (a link is moved, never followed).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Removes the file `name` from this folder.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }
}

/// Whether only root or wasmtrace's user can add or replace names in the
/// folder: then a link in it was put there by one of them.
fn only_trusted_can_change(folder: &OwnedFd) -> io::Result<bool> {
    let stat = rustix::fs::fstat(folder)?;
    Ok(trusted_owner(stat.st_uid) && !others_may_write(stat.st_mode))
}

/// Whether `uid` is root or the user wasmtrace runs as: the owners trusted
/// with a file or folder wasmtrace reads, runs or writes into.
pub fn trusted_owner(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions.
    uid == 0 || uid == unsafe { libc::geteuid() }
}

/// Whether a file or folder of this mode can be written by group or others.
pub fn others_may_write(mode: u32) -> bool {
    mode & 0o022 != 0
}

fn is_link(folder: &OwnedFd, name: &OsStr) -> bool {
    rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|s| rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::Symlink)
}

/// The refusal behind a failed open: O_NOFOLLOW fails with ELOOP on a link
/// (O_EXCL with EEXIST), O_NONBLOCK with ENXIO on a FIFO that no one reads,
/// or on a socket.
fn open_error(path: &Path, e: io::Error) -> OpenError {
    let Ok(meta) = path.symlink_metadata() else {
        return OpenError::Io(e);
    };
    match e.raw_os_error() {
        Some(libc::ELOOP | libc::EEXIST) if meta.file_type().is_symlink() => OpenError::Link {
            path: path.to_path_buf(),
        },
        Some(libc::ENXIO) if !meta.is_file() => OpenError::NotRegular {
            path: path.to_path_buf(),
            what: kind(meta.file_type()),
        },
        _ => OpenError::Io(e),
    }
}

/// What the open descriptor must be: a regular file, ours, with one name,
/// that group and others cannot write. Its metadata, when it is.
fn check(path: &Path, file: &File) -> Result<Metadata, OpenError> {
    let meta = file.metadata()?;
    let path = path.to_path_buf();
    if !meta.is_file() {
        let what = kind(meta.file_type());
        return Err(OpenError::NotRegular { path, what });
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        let owner = meta.uid();
        return Err(OpenError::Owner { path, owner, me });
    }
    if meta.nlink() > 1 {
        let links = meta.nlink();
        return Err(OpenError::HardLinks { path, links });
    }
    let mode = meta.mode() & 0o7777;
    if others_may_write(mode) {
        return Err(OpenError::Writable { path, mode });
    }
    Ok(meta)
}

/// What a file that is not a regular file is, for messages.
pub fn kind(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

/// Clears O_NONBLOCK, which was there for the open only: what reads and
/// writes the file expects them to wait.
pub fn set_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL on a descriptor that `file` keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_SETFL with an int argument, on the same descriptor.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A file for hostile tests to aim links at.
#[cfg(test)]
pub mod test_support {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    const CONTENT: &[u8] = b"root's own file\n";
    const MODE: u32 = 0o600;

    /// A file of ours that a planted link or hard link points at: its
    /// content and mode must be the same after the attempt.
    pub struct Victim {
        pub path: PathBuf,
    }

    impl Victim {
        pub fn new(dir: &Path) -> Victim {
            let path = dir.join("victim");
            std::fs::write(&path, CONTENT).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(MODE)).unwrap();
            Victim { path }
        }

        pub fn assert_untouched(&self) {
            assert_eq!(
                std::fs::read(&self.path).unwrap(),
                CONTENT,
                "the victim's content changed"
            );
            let mode = std::fs::metadata(&self.path).unwrap().mode() & 0o7777;
            assert_eq!(mode, MODE, "the victim's mode changed");
        }
    }

    /// That opening `path`, where a link was planted, was refused as a link.
    pub fn assert_link_refused<T, E: std::fmt::Display>(path: &Path, opened: Result<T, E>) -> E {
        let Err(err) = opened else {
            panic!("opened {} through a link", path.display());
        };
        assert!(
            err.to_string()
                .starts_with(&format!("{} is a symbolic link: ", path.display())),
            "{err}"
        );
        err
    }

    /// Whether the tests run as root; says so when they do not.
    pub fn root(test: &str) -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            eprintln!("{test}: skipped, it needs root (to give a file to another uid)");
        }
        root
    }

    /// Makes a FIFO at `path`.
    pub fn mkfifo(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that lives for the call.
        assert_eq!(
            unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) },
            0,
            "mkfifo {}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{Victim, mkfifo, root};
    use super::*;
    use std::io::{Read, Write};

    const ALL: [Access; 4] = [Access::Append, Access::ReadAppend, Access::Replace, Access::CreateNew];

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_link_at_the_path_is_refused_and_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let path = dir.path().join("out.log");
        std::os::unix::fs::symlink(&victim.path, &path).unwrap();
        for access in ALL {
            let err = open(&path, access, 0o640).unwrap_err();
            assert!(matches!(err, OpenError::Link { .. }), "{access:?}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("{} is a symbolic link: ", path.display())),
                "{err}"
            );
            victim.assert_untouched();
        }

        // A dangling link: following it would create the file it names.
        let target = dir.path().join("created-through-the-link");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        for access in ALL {
            assert!(
                matches!(open(&path, access, 0o640), Err(OpenError::Link { .. })),
                "{access:?}"
            );
        }
        assert!(target.symlink_metadata().is_err(), "nothing created through the link");
    }

    #[test]
    fn a_hard_link_is_refused_before_anything_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let path = dir.path().join("rec.wtr");
        std::fs::hard_link(&victim.path, &path).unwrap();
        for access in [Access::Append, Access::ReadAppend, Access::Replace] {
            let err = open(&path, access, 0o640).unwrap_err();
            assert!(
                matches!(err, OpenError::HardLinks { links: 2, .. }),
                "{access:?}: {err}"
            );
            assert!(err.to_string().contains(&path.display().to_string()), "{err}");
            victim.assert_untouched();
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        mkfifo(&path);
        // Opened for writing, a FIFO without a reader would wait for one.
        for access in [Access::Append, Access::ReadAppend, Access::Replace] {
            let err = open(&path, access, 0o640).unwrap_err();
            assert!(
                matches!(
                    err,
                    OpenError::NotRegular {
                        what: "a FIFO (named pipe)",
                        ..
                    }
                ),
                "{access:?}: {err}"
            );
        }
    }

    #[test]
    fn a_file_of_another_uid_is_refused() {
        if !root("a_file_of_another_uid_is_refused") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(&path, b"theirs\n").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let err = open(&path, Access::Append, 0o640).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::Owner {
                    owner: 65534,
                    me: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs\n");
    }

    #[test]
    fn a_file_others_may_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o664)).unwrap();
        let err = open(&path, Access::Append, 0o640).unwrap_err();
        assert!(matches!(err, OpenError::Writable { mode: 0o664, .. }), "{err}");
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        assert_eq!(mode(&path), 0o664, "left as it was");
    }

    #[test]
    fn files_are_created_with_their_mode_and_replaced_only_once_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.jsonl");
        let mut file = open(&path, Access::ReadAppend, 0o600).unwrap();
        assert_eq!(mode(&path), 0o600);
        file.write_all(b"one\n").unwrap();
        drop(file);
        let mut text = String::new();
        open(&path, Access::ReadAppend, 0o600)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\n");

        // An older file, readable by all: emptied, and given the new mode.
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        open(&path, Access::Replace, 0o640).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        assert_eq!(mode(&path), 0o640);

        let err = open(&path, Access::CreateNew, 0o600).unwrap_err();
        assert!(
            matches!(&err, OpenError::Io(e) if e.kind() == io::ErrorKind::AlreadyExists),
            "{err}"
        );
    }

    #[test]
    fn a_refusal_keeps_its_message_as_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::os::unix::fs::symlink("/nonexistent", &path).unwrap();
        let err: io::Error = open(&path, Access::Append, 0o640).unwrap_err().into();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        let missing: io::Error = open(&dir.path().join("no/such/folder"), Access::Append, 0o640)
            .unwrap_err()
            .into();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    /// /var/log is root:syslog 0775: a member of syslog may put a link
    /// /var/log/wasmtrace -> /etc there before wasmtrace writes
    /// /var/log/wasmtrace/out.jsonl.
    #[test]
    fn a_link_on_the_way_in_a_folder_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("log");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, Permissions::from_mode(0o775)).unwrap();
        let elsewhere = dir.path().join("etc");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, shared.join("wasmtrace")).unwrap();
        let path = shared.join("wasmtrace/out.jsonl");
        for access in ALL {
            let err = open(&path, access, 0o640).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "{} is a symbolic link in {}, a folder others can write to",
                    shared.join("wasmtrace").display(),
                    shared.display()
                )),
                "{access:?}: {err}"
            );
        }
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "nothing written through the link"
        );

        // In a folder only we can change, a link is ours, and followed.
        std::fs::set_permissions(&shared, Permissions::from_mode(0o755)).unwrap();
        open(&path, Access::Append, 0o640).unwrap();
        assert!(elsewhere.join("out.jsonl").is_file());
    }

    /// The folder stays the one opened: moved away and replaced by a link
    /// after the open, renames and reopens still happen in it.
    #[test]
    fn a_folder_swapped_for_a_link_after_the_open_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let (folder, name) = Folder::of(&logs.join("out.jsonl")).unwrap();
        folder.open(&name, Access::Append, 0o640).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::rename(&logs, dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &logs).unwrap();
        folder.rename(&name, OsStr::new("out.jsonl.1")).unwrap();
        folder.open(&name, Access::Append, 0o640).unwrap();
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        let moved = dir.path().join("moved");
        assert!(moved.join("out.jsonl").is_file() && moved.join("out.jsonl.1").is_file());
    }
}
