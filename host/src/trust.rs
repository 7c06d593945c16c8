//! A root process must run only code that root controls: like sshd's
//! StrictModes, refuse plugin files and folders that someone else could
//! have changed. What is read is checked on the descriptors it is read
//! through, so that nothing can be swapped in between the check and the read.

use std::ffi::CString;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::safe_file;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    #[error(
        "{} is writable by group or others (mode {mode:04o}): wasmtrace runs only code that its \
         owner alone can change; fix it with `chmod go-w {}`", path.display(), path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error(
        "{} is owned by uid {owner}, neither root nor the user running wasmtrace: fix it with \
         `chown root {}`", path.display(), path.display()
    )]
    Owner { path: PathBuf, owner: u32 },
    #[error("cannot check {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error(
        "{} is a symbolic link: wasmtrace reads code only through a real path, since a link can be \
         pointed elsewhere once checked; give the path it points to (`realpath {}`), or put the file \
         itself there", path.display(), path.display()
    )]
    Link { path: PathBuf },
    #[error(
        "{} is {what}, not a regular file: wasmtrace reads code only from regular files; give the \
         path of the file itself", path.display()
    )]
    NotRegular { path: PathBuf, what: &'static str },
    #[error(
        "{} is {size} bytes, more than the {max} bytes wasmtrace reads from such a file: check that \
         it is the file you meant", path.display()
    )]
    TooLarge { path: PathBuf, size: u64, max: u64 },
}

/// Checks one file or folder: owned by root or by us, and not writable by group or others.
pub fn check(path: &Path) -> Result<(), TrustError> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, &e))?;
    check_metadata(path, &meta)
}

fn check_metadata(path: &Path, meta: &Metadata) -> Result<(), TrustError> {
    if !safe_file::trusted_owner(meta.uid()) {
        return Err(TrustError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if safe_file::others_may_write(mode) {
        return Err(TrustError::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Opens `path` to read it once its folder and the file itself pass
/// [`check`] on their open descriptors, and the file is a regular file (not
/// a link, a FIFO or a device) of at most `max_bytes`.
pub fn open_trusted(path: &Path, max_bytes: u64) -> Result<File, TrustError> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(TrustError::Unreadable {
            path: path.to_path_buf(),
            reason: "it does not name a file".into(),
        });
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    // O_PATH: searching the folder is enough, as it is to read the file by its path.
    let folder = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_PATH)
        .open(dir)
        .map_err(|e| open_failed(dir, &e))?;
    check_metadata(dir, &folder.metadata().map_err(|e| unreadable(dir, &e))?)?;

    let name = CString::new(name.as_bytes()).map_err(|_| TrustError::Unreadable {
        path: path.to_path_buf(),
        reason: "its name holds a NUL byte".into(),
    })?;
    // In the folder just checked. O_NOFOLLOW: a link is refused (ELOOP),
    // never followed. O_NONBLOCK: a FIFO does not wait for a writer (it is
    // refused below).
    // SAFETY: `folder` is an open folder and `name` a NUL-terminated string, both alive for the call.
    let fd = unsafe {
        libc::openat(
            folder.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // `name` is one component: ELOOP says that it is a link.
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP) => TrustError::Link {
                path: path.to_path_buf(),
            },
            _ => open_failed(path, &e),
        });
    }
    // SAFETY: `fd` was just opened, and nothing else owns it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let meta = file.metadata().map_err(|e| unreadable(path, &e))?;
    if !meta.is_file() {
        return Err(TrustError::NotRegular {
            path: path.to_path_buf(),
            what: safe_file::kind(meta.file_type()),
        });
    }
    check_metadata(path, &meta)?;
    if meta.len() > max_bytes {
        return Err(TrustError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            max: max_bytes,
        });
    }
    safe_file::set_blocking(&file).map_err(|e| unreadable(path, &e))?;
    Ok(file)
}

/// The bytes of `path`, read from the descriptor that [`open_trusted`] checked.
pub fn read_trusted(path: &Path, max_bytes: u64) -> Result<Vec<u8>, TrustError> {
    let file = open_trusted(path, max_bytes)?;
    let mut bytes = Vec::new();
    // Bounded here too: the file may have grown since it was checked.
    (&file)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(path, &e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(TrustError::TooLarge {
            path: path.to_path_buf(),
            size: file.metadata().map_or(bytes.len() as u64, |m| m.len()),
            max: max_bytes,
        });
    }
    Ok(bytes)
}

fn open_failed(path: &Path, e: &io::Error) -> TrustError {
    match e.kind() {
        io::ErrorKind::NotFound => TrustError::Missing {
            path: path.to_path_buf(),
        },
        _ => unreadable(path, e),
    }
}

fn unreadable(path: &Path, e: &io::Error) -> TrustError {
    TrustError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_file::test_support::{Victim, mkfifo, root};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn refuses_group_or_world_writable_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.wasm");
        std::fs::write(&file, b"code").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_trusted(&file, 16), Ok(b"code".to_vec()));

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(
            read_trusted(&file, 16),
            Err(TrustError::Writable {
                path: file.clone(),
                mode: 0o664
            })
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = read_trusted(&file, 16).unwrap_err();
        assert_eq!(
            err,
            TrustError::Writable {
                path: dir.path().to_path_buf(),
                mode: 0o777
            }
        );
        assert!(err.to_string().contains("fix it with `chmod go-w"), "{err}");
    }

    #[test]
    fn refuses_a_link_a_fifo_and_a_file_over_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new(dir.path());
        let link = dir.path().join("link.wasm");
        std::os::unix::fs::symlink(&victim.path, &link).unwrap();
        let err = read_trusted(&link, 1 << 20).unwrap_err();
        assert_eq!(err, TrustError::Link { path: link.clone() });
        assert!(err.to_string().contains("realpath"), "{err}");

        // Opened for reading, a FIFO would wait for a writer: refused at once.
        let fifo = dir.path().join("fifo.wasm");
        mkfifo(&fifo);
        assert_eq!(
            read_trusted(&fifo, 1 << 20),
            Err(TrustError::NotRegular {
                path: fifo,
                what: "a FIFO (named pipe)"
            })
        );

        let folder = dir.path().join("folder.wasm");
        std::fs::create_dir(&folder).unwrap();
        assert!(matches!(
            read_trusted(&folder, 1 << 20),
            Err(TrustError::NotRegular { what: "a folder", .. })
        ));

        let big = dir.path().join("big.wasm");
        std::fs::write(&big, [0u8; 100]).unwrap();
        let err = read_trusted(&big, 99).unwrap_err();
        assert_eq!(
            err,
            TrustError::TooLarge {
                path: big.clone(),
                size: 100,
                max: 99
            }
        );
        assert_eq!(read_trusted(&big, 100).map(|b| b.len()), Ok(100));

        let missing = dir.path().join("missing.wasm");
        assert_eq!(read_trusted(&missing, 1), Err(TrustError::Missing { path: missing }));
    }

    #[test]
    fn refuses_a_file_of_another_uid() {
        if !root("refuses_a_file_of_another_uid") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.wasm");
        std::fs::write(&file, b"code").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let err = read_trusted(&file, 16).unwrap_err();
        assert_eq!(
            err,
            TrustError::Owner {
                path: file.clone(),
                owner: 65534
            }
        );
        assert!(err.to_string().contains("chown root"), "{err}");
    }
}
