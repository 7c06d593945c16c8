//! file.unlink: every way to remove a file or a folder, with its arguments.

use std::ffi::CString;

use crate::harness::{Tracer, fork_child, test_plugins, unique};

#[test]
fn file_unlink_reports_each_removal_with_its_arguments() {
    require_kernel!();
    let comm = unique("wt-rm-");
    let dir = tempfile::tempdir().unwrap();
    for name in ["plain", "at"] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    for name in ["folder", "folder-at"] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
    }
    let c = |name: &str| CString::new(dir.path().join(name).into_os_string().into_encoded_bytes()).unwrap();
    let (plain, folder, missing, dir_c) = (c("plain"), c("folder"), c("missing"), c(""));
    let tracer = Tracer::start(&format!(
        "[probe.\"file.unlink\"]\ncomm = [\"{comm}\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"file.unlink\"]\n",
        test_plugins().display()
    ));
    // SAFETY: raw syscalls with valid, NUL-terminated paths.
    fork_child(&comm, || unsafe {
        let dfd = libc::open(dir_c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        // unlink(2) and rmdir(2) themselves where the architecture has them; arm64 has only unlinkat.
        #[cfg(target_arch = "x86_64")]
        {
            libc::syscall(libc::SYS_unlink, plain.as_ptr());
            libc::syscall(libc::SYS_rmdir, folder.as_ptr());
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, plain.as_ptr(), 0);
            libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, folder.as_ptr(), libc::AT_REMOVEDIR);
        }
        libc::syscall(libc::SYS_unlinkat, dfd, c"at".as_ptr(), 0);
        libc::syscall(libc::SYS_unlinkat, dfd, c"folder-at".as_ptr(), libc::AT_REMOVEDIR);
        libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, missing.as_ptr(), 0);
    });
    let out = tracer.stop();
    out.assert_clean_exit();

    let removals: Vec<(String, i64, u64, i64)> = out
        .findings("file.unlink")
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["dfd"].as_i64().unwrap(),
                f["flags"].as_u64().unwrap(),
                f["ret"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(removals.len(), 5, "stderr:\n{}", out.stderr);
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let dfd = removals[2].1;
    assert!(dfd >= 3, "{removals:?}");
    let (cwd, removedir) = (libc::AT_FDCWD as i64, libc::AT_REMOVEDIR as u64);
    assert_eq!(
        removals,
        [
            (path("plain"), cwd, 0, 0),
            (path("folder"), cwd, removedir, 0),
            ("at".to_string(), dfd, 0, 0),
            ("folder-at".to_string(), dfd, removedir, 0),
            (path("missing"), cwd, 0, -libc::ENOENT as i64),
        ]
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "all removed");
}
