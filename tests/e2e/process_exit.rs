use crate::harness::{Tracer, fork_child, test_plugins, unique};

#[test]
fn exit_codes_signals_and_lifetimes() {
    require_kernel!();
    let exits = unique("wt-exit-");
    let killed = unique("wt-kill-");
    let config = format!(
        r#"
[probe."process.exit"]
comm = ["{exits}", "{killed}"]
[plugin.echo]
path = "{}/echo.wasm"
probes = ["process.exit"]
"#,
        test_plugins().display()
    );
    let tracer = Tracer::start(&config);
    // SAFETY: raw syscalls only.
    let exit_pid = fork_child(&exits, || unsafe {
        libc::usleep(20_000);
        libc::_exit(3);
    });
    // SAFETY: raw syscalls only.
    let kill_pid = fork_child(&killed, || unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    });
    let out = tracer.stop();
    out.assert_clean_exit();

    let exits: Vec<_> = out.findings("process.exit").collect();
    assert_eq!(exits.len(), 2, "stderr:\n{}", out.stderr);
    let exited = exits.iter().find(|f| f["pid"] == exit_pid).expect("the exiting child");
    assert_eq!(
        (exited["exit_code"].as_u64(), exited["signal"].as_u64()),
        (Some(3), Some(0))
    );
    assert!(exited["lifetime_ns"].as_u64().unwrap() >= 20_000_000, "{exited}");
    assert_eq!(exited["ppid"], std::process::id());
    let killed = exits.iter().find(|f| f["pid"] == kill_pid).expect("the killed child");
    assert_eq!(
        (killed["exit_code"].as_u64(), killed["signal"].as_u64()),
        (Some(0), Some(9))
    );
    assert_eq!(killed["core_dumped"], false);
}
