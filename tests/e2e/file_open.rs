use crate::harness::{Tracer, child_opens, example_plugins, unique};

fn opensnoop_config(filter_comm: &str) -> String {
    format!(
        r#"
plugin_dir = "{}"
[probe."file.open"]
comm = ["{filter_comm}"]
[plugin.opensnoop]
[plugin.opensnoop.config]
count_paths = true
"#,
        example_plugins().display()
    )
}

#[test]
fn opensnoop_counts_exactly_and_reports_path_and_pid() {
    require_kernel!();
    const N: usize = 37;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(unique("target-"));
    std::fs::write(&path, b"x").unwrap();
    let comm = unique("wt-open-");

    let tracer = Tracer::start(&opensnoop_config(&comm));
    let pid = child_opens(&comm, &path, N);
    let out = tracer.stop();
    out.assert_clean_exit();

    let path_str = path.to_str().unwrap();
    let rows: Vec<_> = out.rows("opensnoop").filter(|r| r["PATH"] == path_str).collect();
    assert_eq!(rows.len(), N, "rows for {path_str}; stderr:\n{}", out.stderr);
    for row in rows {
        assert_eq!(row["PID"], pid);
        assert_eq!(row["COMM"], comm.as_str());
        assert!(row["FD"].as_i64().unwrap() >= 0, "{row}");
        assert_eq!(row["ERR"], 0);
    }
    assert_eq!(out.counter("opensnoop", "paths", &[path_str]), Some(N as u64));
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(N as u64));
    assert_eq!(out.probe("file.open"), (N as u64, 0));
}

#[test]
fn failed_opens_carry_the_errno() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let comm = unique("wt-noent-");
    let tracer = Tracer::start(&opensnoop_config(&comm));
    child_opens(&comm, &missing, 3);
    let out = tracer.stop();
    out.assert_clean_exit();
    let rows: Vec<_> = out.rows("opensnoop").collect();
    assert_eq!(rows.len(), 3, "stderr:\n{}", out.stderr);
    for row in rows {
        assert_eq!(row["ERR"], libc::ENOENT, "{row}");
        assert_eq!(row["FD"], -1);
        assert_eq!(row["PATH"], missing.to_str().unwrap());
    }
}

/// Events from other processes are dropped in the kernel: they are not even counted by the host.
#[test]
fn filtered_events_never_reach_the_host() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let wanted_path = dir.path().join("wanted");
    let other_path = dir.path().join("other");
    std::fs::write(&wanted_path, b"").unwrap();
    std::fs::write(&other_path, b"").unwrap();
    let wanted = unique("wt-want-");
    let other = unique("wt-other-");

    let tracer = Tracer::start(&opensnoop_config(&wanted));
    child_opens(&other, &other_path, 50);
    let pid = child_opens(&wanted, &wanted_path, 5);
    child_opens(&other, &other_path, 50);
    let out = tracer.stop();
    out.assert_clean_exit();

    assert_eq!(
        out.probe("file.open"),
        (5, 0),
        "only the wanted comm's opens cross into user space"
    );
    assert!(
        out.rows("opensnoop")
            .all(|r| r["PID"] == pid && r["COMM"] == wanted.as_str())
    );
    assert_eq!(out.counter("opensnoop", "opens", &[&other]), None);
}

#[test]
fn uid_filter_selects_by_user() {
    require_kernel!();
    const NOBODY: u32 = 65534;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let comm = unique("wt-uid-");
    let config = format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\ncomm = [\"{comm}\"]\nuid = [{NOBODY}]\n[plugin.opensnoop]\n",
        example_plugins().display()
    );
    let tracer = Tracer::start(&config);
    child_opens(&comm, &path, 3);
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let nobody_pid = crate::harness::fork_child(&comm, || {
        // SAFETY: raw syscalls only.
        unsafe {
            libc::setresuid(NOBODY, NOBODY, NOBODY);
            for _ in 0..4 {
                let fd = libc::open(c_path.as_ptr(), libc::O_RDONLY);
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.probe("file.open"), (4, 0), "stderr:\n{}", out.stderr);
    assert!(out.rows("opensnoop").all(|r| r["PID"] == nobody_pid));
}

#[test]
fn pid_filter_selects_one_process() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(unique("mine-"));
    std::fs::write(&path, b"").unwrap();
    let me = std::process::id();
    let config = format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\npid = [{me}]\n[plugin.opensnoop]\n",
        example_plugins().display()
    );
    let tracer = Tracer::start(&config);
    child_opens("wt-not-me", &path, 5);
    for _ in 0..7 {
        std::fs::File::open(&path).unwrap();
    }
    let out = tracer.stop();
    out.assert_clean_exit();
    let path = path.to_str().unwrap();
    // Other tests run in this process too, so count only this test's path.
    assert_eq!(
        out.rows("opensnoop").filter(|r| r["PATH"] == path).count(),
        7,
        "stderr:\n{}",
        out.stderr
    );
    assert!(out.rows("opensnoop").all(|r| r["PID"] == me));
}

/// open, openat and openat2 each report their own arguments: the probe reads
/// them from the registers saved at syscall entry, so each layout is checked.
#[test]
fn every_open_syscall_reports_its_arguments() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wt-args-");
    let config = format!(
        r#"
[probe."file.open"]
comm = ["{comm}"]
[plugin.echo]
path = "{}/echo.wasm"
probes = ["file.open"]
"#,
        crate::harness::test_plugins().display()
    );
    let tracer = Tracer::start(&config);
    let dir_c = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
    let legacy = std::ffi::CString::new(dir.path().join("legacy").as_os_str().as_encoded_bytes()).unwrap();
    let pid = crate::harness::fork_child(&comm, || {
        // SAFETY: raw syscalls with valid, NUL-terminated paths and a valid open_how.
        unsafe {
            let dfd = libc::open(dir_c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            // open(2) itself where the architecture has it; arm64 has only openat.
            #[cfg(target_arch = "x86_64")]
            libc::syscall(libc::SYS_open, legacy.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
            #[cfg(not(target_arch = "x86_64"))]
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                legacy.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY,
                0o600,
            );
            libc::syscall(
                libc::SYS_openat,
                dfd,
                c"at".as_ptr(),
                libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
                0o640,
            );
            // struct open_how: flags, mode, resolve.
            let how: [u64; 3] = [(libc::O_CREAT | libc::O_WRONLY) as u64, 0o604, 0];
            libc::syscall(libc::SYS_openat2, dfd, c"at2".as_ptr(), how.as_ptr(), size_of_val(&how));
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();

    let opens: Vec<_> = out.findings("file.open").collect();
    assert_eq!(opens.len(), 4, "stderr:\n{}", out.stderr);
    let dir_str = dir.path().to_str().unwrap();
    let dfd = opens[0]["ret"].as_i64().unwrap();
    assert!(dfd >= 0, "{}", opens[0]);
    let fields = |f: &serde_json::Value| {
        assert_eq!(f["pid"], pid);
        (
            f["path"].as_str().unwrap().to_string(),
            f["dfd"].as_i64().unwrap(),
            f["flags"].as_i64().unwrap() as i32,
            f["mode"].as_u64().unwrap(),
        )
    };
    assert_eq!(
        fields(opens[0]),
        (dir_str.to_string(), -100, libc::O_RDONLY | libc::O_DIRECTORY, 0)
    );
    assert_eq!(
        fields(opens[1]),
        (format!("{dir_str}/legacy"), -100, libc::O_CREAT | libc::O_WRONLY, 0o600)
    );
    assert_eq!(
        fields(opens[2]),
        (
            "at".to_string(),
            dfd,
            libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
            0o640
        )
    );
    assert_eq!(
        fields(opens[3]),
        ("at2".to_string(), dfd, libc::O_CREAT | libc::O_WRONLY, 0o604)
    );
    for f in &opens[1..] {
        assert!(f["ret"].as_i64().unwrap() >= 0, "{f}");
    }
}
