//! Opening the files wasmtrace writes (output, spool, recordings, the
//! compile cache), often as root and in folders that others may write to:
//! an `[output] file` in /var/log, which is root:syslog 0775. A symbolic
//! link, a hard link or a FIFO planted at the path must not turn root's
//! writes onto another file, nor block them. So the last component is
//! opened without following a link and without waiting on a FIFO, and the
//! file is kept only if the open descriptor is a regular file of ours, with
//! no other name, that no one else can change.
//!
//! Renames within the folder (rotation) are safe as they are: `rename`
//! moves a link itself, never what it points to.

use std::fs::{File, FileType, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

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
    let mut options = OpenOptions::new();
    match access {
        Access::Append => options.append(true).create(true),
        Access::ReadAppend => options.read(true).append(true).create(true),
        Access::Replace => options.write(true).create(true),
        Access::CreateNew => options.write(true).create_new(true),
    };
    // O_NOFOLLOW: a link at the path fails the open instead of being
    // followed. O_NONBLOCK: a FIFO there does not block it (it is refused
    // below). std adds O_CLOEXEC.
    let file = options
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    let meta = check(path, &file)?;
    set_blocking(&file)?;
    if access == Access::Replace {
        // Only now: emptied in the open, a hard-linked file would have been lost before the check.
        file.set_len(0)?;
        // No more than a new file's mode, though an older one was readable by more.
        file.set_permissions(Permissions::from_mode(meta.mode() & mode & 0o7777))?;
    }
    Ok(file)
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
    if mode & 0o022 != 0 {
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
}
