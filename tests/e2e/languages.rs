//! The example plugins in Python, JavaScript, C and Go, built from source by
//! their real toolchains, on real probes.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{Tracer, child_opens, example_plugins, fork_child, unique};

#[test]
fn python_shellspawn_flags_a_shell_started_by_a_service() {
    require_kernel!();
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
    require_kernel!();
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

/// lifetime's histogram holds exactly the lifetimes the kernel reported (the
/// echo plugin beside it shows each exit's `lifetime-ns`).
#[test]
fn c_lifetime_histograms_lifetimes_and_counts_exits() {
    require_kernel!();
    let comm = unique("wt-life-");
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[probe.\"process.exit\"]\ncomm = [\"{comm}\"]\n[plugin.lifetime]\n\
         [plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"process.exit\"]\n",
        example_plugins().display(),
        crate::harness::test_plugins().display()
    ));
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

    // Microseconds, and each one's power-of-two bucket by its lower bound.
    let lifetimes: Vec<u64> = out
        .findings("process.exit")
        .map(|f| f["lifetime_ns"].as_u64().unwrap() / 1000)
        .collect();
    assert_eq!(lifetimes.len(), 3, "stderr:\n{}", out.stderr);
    assert!(lifetimes[0] >= 30_000, "the sleeper lived {} µs", lifetimes[0]);
    let mut expected = std::collections::BTreeMap::new();
    for &us in &lifetimes {
        let min = if us == 0 { 0 } else { 1u64 << (63 - us.leading_zeros()) };
        *expected.entry(min).or_insert(0u64) += 1;
    }
    let hist = out.entries("lifetime", "lifetime_us");
    let entry = &hist[0];
    let buckets: std::collections::BTreeMap<u64, u64> = entry["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["min"].as_u64().unwrap(), b["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(buckets, expected, "{entry}");
    assert_eq!(entry["count"], 3);
    assert_eq!(entry["sum"].as_u64(), Some(lifetimes.iter().sum::<u64>()), "{entry}");
}

#[test]
fn go_secretwatch_flags_credential_reads_with_their_parent_chain() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let key = dir.path().join("keys/id_ed25519");
    std::fs::write(&key, b"secret").unwrap();
    let (launcher, allowed) = (unique("wt-sw-"), unique("wt-ok-"));
    let script = dir.path().join(&launcher);
    std::fs::copy("/bin/bash", &script).unwrap();
    let config = format!(
        r#"
plugin_dir = "{}"
[probe."process.exec"]
comm = ["{launcher}", "cat"]
[probe."file.open"]
comm = ["cat", "{allowed}"]
[plugin.secretwatch]
[plugin.secretwatch.config]
paths = ["/etc/shadow", "{}/"]
allow = ["{allowed}"]
"#,
        example_plugins().display(),
        dir.path().join("keys").display()
    );
    let tracer = Tracer::start(&config);
    // A program runs a shell command that reads two secrets (the `exit`
    // keeps bash from running the last command in its own process)...
    let read = Command::new(&script)
        .arg("-c")
        .arg(format!(
            "cat /etc/shadow >/dev/null; cat {} >/dev/null; exit 0",
            key.display()
        ))
        .status()
        .unwrap();
    assert!(read.success());
    // ...while a program allowed to read them is no finding.
    child_opens(&allowed, &key, 2);
    let out = tracer.stop();
    out.assert_clean_exit();

    let found: Vec<_> = out
        .findings("read-sensitive-file")
        .filter(|f| f["chain"].as_str().unwrap().contains(&launcher))
        .collect();
    assert_eq!(found.len(), 2, "stderr:\n{}", out.stderr);
    let key = key.to_str().unwrap();
    for (finding, path) in found.iter().zip(["/etc/shadow", key]) {
        assert_eq!(
            (finding["path"].as_str(), finding["comm"].as_str()),
            (Some(path), Some("cat"))
        );
        assert_eq!(
            (finding["uid"].as_u64(), finding["user"].as_str()),
            (Some(0), Some("root"))
        );
        // cat(PID) < LAUNCHER(PID) < (the test's pid: it started before wasmtrace).
        let chain = finding["chain"].as_str().unwrap();
        let links: Vec<&str> = chain.split(" < ").collect();
        assert_eq!(links.len(), 3, "{chain}");
        assert!(
            links[0].starts_with("cat(") && links[1].starts_with(&format!("{launcher}(")),
            "{chain}"
        );
        assert_eq!(links[2], format!("({})", std::process::id()));
    }
    assert!(
        out.findings("read-sensitive-file")
            .all(|f| f["comm"] != allowed.as_str())
    );
    assert_eq!(out.counter("secretwatch", "secret_opens", &["cat", key]), Some(1));
    let finding = out.of_type("finding").find(|f| f["plugin"] == "secretwatch").unwrap();
    assert_eq!(finding["severity"], "high");
}
