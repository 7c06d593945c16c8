//! wasmtrace in namespaces of its own, as in a container: it leaves out its
//! own work by the pid its probes see (not the one of its pid namespace),
//! and it attaches uprobes to the host's files (not its own mount's).

use std::path::PathBuf;

use crate::harness::{Tracer, child_opens, example_plugins, python, unique};

/// The pid, in the test's (the initial) pid namespace, of the one child of `pid`.
fn only_child(pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let children: Vec<u32> = children.split_whitespace().map(|c| c.parse().unwrap()).collect();
    assert_eq!(children.len(), 1, "{pid} has children {children:?}");
    children[0]
}

#[test]
fn leaves_out_its_own_work_in_a_pid_namespace_of_its_own() {
    require_kernel!();
    // Attaching file.open's later hooks opens their tracefs files: work of
    // its own that the probe, already attached, sees unless left out. A
    // second wasmtrace, on the host, shows that work is there to see.
    let config = format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\ncomm = [\"wasmtrace\"]\n[plugin.opensnoop]\n",
        example_plugins().display()
    );
    let witness = Tracer::start(&config);
    let unshare = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        env!("CARGO_BIN_EXE_wasmtrace"),
    ];
    let tracer = Tracer::with(&config).wrapped(&unshare).start();
    let wasmtrace = only_child(tracer.pid());
    // Another process named as it is, opening a file: seen.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(unique("wt-self-"));
    std::fs::write(&path, "").unwrap();
    let other = child_opens("wasmtrace", &path, 2);
    // `unshare --fork` ignores SIGINT: it waits for wasmtrace, stopped as Ctrl-C would.
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(wasmtrace as i32, libc::SIGINT) };
    let out = tracer.stop();
    out.assert_clean_exit();
    let witnessed = witness.stop();
    let pid_of = |r: &&serde_json::Value| r["PID"].as_u64().unwrap() as u32;
    let seen = witnessed.rows("opensnoop").filter(|r| pid_of(r) == wasmtrace).count();
    assert!(seen > 0, "wasmtrace (pid {wasmtrace}) opened no file the witness saw");
    let rows: Vec<_> = out.rows("opensnoop").collect();
    let own: Vec<_> = rows.iter().filter(|r| pid_of(r) == wasmtrace).collect();
    assert!(
        own.is_empty(),
        "wasmtrace (pid {wasmtrace}) traced its own opens: {own:#?}"
    );
    let others = rows
        .iter()
        .filter(|r| pid_of(r) == other && r["PATH"] == path.to_str().unwrap());
    assert_eq!(others.count(), 2, "stderr:\n{}", out.stderr);
}

/// The test's libc, as its own process maps it.
fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libc.so.6"))
        .map(PathBuf::from)
        .expect("the test process maps libc.so.6")
}

#[test]
fn attaches_uprobes_to_the_hosts_files_from_a_mount_namespace_of_its_own() {
    require_kernel!();
    // wasmtrace's own libc.so.6 is a copy (as an image's is): a uprobe on it
    // would fire for no process of the host. The host's `/` is named as a
    // DaemonSet that mounts it would name it.
    let libc = libc_path();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libc.so.6");
    std::fs::copy(&libc, &copy).unwrap();
    let host_root = format!("WASMTRACE_HOST_ROOT=/proc/{}/root", std::process::id());
    let mount = format!(
        "mount --bind '{}' '{}' && exec \"$0\" \"$@\"",
        copy.display(),
        libc.display()
    );
    let comm = unique("wt-hthr-");
    let config = format!(
        "plugin_dir = \"{}\"\n[probe.\"process.thread\"]\ncomm = [\"{comm}\"]\n[plugin.threadsnoop]\n",
        example_plugins().display()
    );
    let unshare = [
        "env",
        &host_root,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &mount,
        env!("CARGO_BIN_EXE_wasmtrace"),
    ];
    let tracer = Tracer::with(&config).wrapped(&unshare).start();
    python(
        &comm,
        "for _ in range(3):\n    t = threading.Thread(target=lambda: None)\n    t.start()\n    t.join()",
    );
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.rows("threadsnoop").count(), 3, "stderr:\n{}", out.stderr);
}
