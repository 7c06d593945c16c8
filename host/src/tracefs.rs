//! Finds tracefs (where tracepoints are listed), mounting it when it is not
//! mounted and we may: some kernels boot without it.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use crate::caps::{self, Cap};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error(
        "tracefs is not mounted, and mounting it needs CAP_SYS_ADMIN: run wasmtrace as root, or \
         mount it with `sudo mount -t tracefs tracefs {TRACEFS}`"
    )]
    NotMounted,
    #[error(
        "tracefs at {TRACEFS} can only be read by root (mode 0700), and wasmtrace lacks \
         CAP_DAC_READ_SEARCH: grant it that capability, or run wasmtrace as root"
    )]
    Unreadable,
    #[error(
        "tracefs is not mounted and mounting it at {TRACEFS} failed ({cause}); mount it with \
         `mount -t tracefs tracefs {TRACEFS}`, or check that the kernel has CONFIG_TRACING"
    )]
    MountFailed { cause: std::io::Error },
}

/// The directory of tracepoint definitions, e.g. `/sys/kernel/tracing/events`.
pub fn events_dir() -> Result<PathBuf, TracefsError> {
    if let Some(dir) = mounted_events_dir() {
        return Ok(dir);
    }
    let unreadable = std::fs::read_dir(TRACEFS).is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied);
    if unreadable {
        return Err(TracefsError::Unreadable);
    }
    if !caps::has(Cap::SysAdmin) {
        return Err(TracefsError::NotMounted);
    }
    mount_tracefs().map_err(|cause| TracefsError::MountFailed { cause })?;
    mounted_events_dir().ok_or(TracefsError::MountFailed {
        cause: std::io::Error::other("mounted, but it has no events directory"),
    })
}

fn mounted_events_dir() -> Option<PathBuf> {
    [TRACEFS, DEBUGFS_TRACING]
        .iter()
        .map(|root| Path::new(root).join("events"))
        .find(|events| events.is_dir())
}

fn mount_tracefs() -> std::io::Result<()> {
    const SOURCE: &CStr = c"tracefs";
    const TARGET: &CStr = c"/sys/kernel/tracing";
    // SAFETY: all pointers are valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(SOURCE.as_ptr(), TARGET.as_ptr(), SOURCE.as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the tracepoint `category/name` exists on this kernel.
pub fn has_tracepoint(events_dir: &Path, category: &str, name: &str) -> bool {
    events_dir.join(category).join(name).join("id").exists()
}
