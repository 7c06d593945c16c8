//! The example plugins in Python, JavaScript and C, built from source by
//! their real toolchains, on real probes.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{Tracer, child_opens, example_plugins, fork_child, kernel_available, unique};

#[test]
fn python_shellspawn_flags_a_shell_started_by_a_service() {
    if !kernel_available("python_shellspawn_flags_a_shell_started_by_a_service") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let service = unique("wt-svc-");
    let daemon = dir.path().join(&service);
    std::fs::copy("/bin/bash", &daemon).unwrap();
    std::fs::set_permissions(&daemon, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        r#"
plugin_dir = "{}"
[probe."process.exec"]
comm = ["sh"]
[plugin.shellspawn]
[plugin.shellspawn.config]
services = ["{service}"]
"#,
        example_plugins().display()
    );
    let tracer = Tracer::start(&config);
    // The "service" runs a shell (bash -c execs its one command in place)...
    let spawned = Command::new(&daemon)
        .args(["-c", "/bin/sh -c 'exit 0'"])
        .status()
        .unwrap();
    assert!(spawned.success());
    // ...while a shell started by an ordinary bash is no finding.
    assert!(
        Command::new("/bin/bash")
            .args(["-c", "/bin/sh -c 'exit 0'"])
            .status()
            .unwrap()
            .success()
    );
    let out = tracer.stop();
    out.assert_clean_exit();

    let found: Vec<_> = out.findings("shell-from-network-service").collect();
    assert_eq!(found.len(), 1, "stderr:\n{}", out.stderr);
    assert_eq!(found[0]["service"], service.as_str());
    assert_eq!(found[0]["shell"], "sh");
    let finding = out.of_type("finding").next().unwrap();
    assert_eq!(finding["severity"], "high");
    assert_eq!(
        finding["message"],
        format!("{service} started a shell: /bin/sh -c exit 0")
    );
    assert_eq!(out.counter("shellspawn", "shells_spawned", &[&service, "sh"]), Some(1));
}

#[test]
fn javascript_opentop_aggregates_by_folder_and_errno() {
    if !kernel_available("javascript_opentop_aggregates_by_folder_and_errno") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present");
    std::fs::write(&present, b"").unwrap();
    let comm = unique("wt-top-");
    let tracer = Tracer::tool("opentop", "file.open", &comm);
    child_opens(&comm, &present, 7);
    child_opens(&comm, &dir.path().join("absent"), 4);
    let out = tracer.stop();
    out.assert_clean_exit();
    // Depth 2: /tmp/.tmpXXXX/present counts under /tmp/.tmpXXXX.
    let folder = dir.path().to_str().unwrap();
    assert_eq!(
        out.counter("opentop", "dirs", &[&comm, folder]),
        Some(11),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.counter("opentop", "errors", &["ENOENT"]), Some(4));
}

#[test]
fn c_lifetime_histograms_lifetimes_and_counts_exits() {
    if !kernel_available("c_lifetime_histograms_lifetimes_and_counts_exits") {
        return;
    }
    let comm = unique("wt-life-");
    let tracer = Tracer::tool("lifetime", "process.exit", &comm);
    // SAFETY (all three): raw syscalls only.
    fork_child(&comm, || unsafe {
        libc::usleep(30_000);
    });
    fork_child(&comm, || unsafe { libc::_exit(3) });
    fork_child(&comm, || unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("lifetime", "exits", &["exit 0"]),
        Some(1),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.counter("lifetime", "exits", &["exit 3"]), Some(1));
    assert_eq!(out.counter("lifetime", "exits", &["signal 9"]), Some(1));
    let hist = out
        .of_type("map")
        .find(|m| m["plugin"] == "lifetime" && m["name"] == "lifetime_us")
        .unwrap();
    let entry = &hist["entries"][0];
    assert_eq!(entry["count"], 3);
    // The sleeper lived at least 30 ms: some bucket starts at 16384 µs or more.
    let buckets = entry["buckets"].as_array().unwrap();
    assert!(buckets.iter().any(|b| b["min"].as_u64().unwrap() >= 16_384), "{hist}");
}
