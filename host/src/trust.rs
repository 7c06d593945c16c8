//! A root process must run only code that root controls: like sshd's
//! StrictModes, refuse plugin files and folders that someone else could
//! have changed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
}

/// Checks `path` and the folder it is in.
pub fn check_file(path: &Path) -> Result<(), TrustError> {
    check(path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => check(dir),
        _ => check(Path::new(".")),
    }
}

/// Checks one file or folder: owned by root or by us, and not writable by group or others.
pub fn check(path: &Path) -> Result<(), TrustError> {
    let meta = std::fs::metadata(path).map_err(|e| TrustError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != me {
        return Err(TrustError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(TrustError::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn refuses_group_or_world_writable_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.wasm");
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(check_file(&file), Ok(()));

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(
            check_file(&file),
            Err(TrustError::Writable {
                path: file.clone(),
                mode: 0o664
            })
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_file(&file).unwrap_err();
        assert_eq!(
            err,
            TrustError::Writable {
                path: dir.path().to_path_buf(),
                mode: 0o777
            }
        );
        assert!(err.to_string().contains("fix it with `chmod go-w"), "{err}");
    }
}
