//! A plugin that loops, exhausts memory, crashes or floods is contained:
//! stopped, reported, restarted with back-off, while the host and the other
//! plugins keep their events and maps.

use std::time::Duration;

use crate::harness::{Finished, Tracer, child_opens, example_plugins, test_plugins, unique};

/// Runs opensnoop beside a misbehaving plugin while a child opens a file
/// `bursts.len()` times in bursts, `pause` apart.
fn beside_opensnoop(misbehave_config: &str, limits: &str, bursts: &[usize], pause: Duration) -> (Finished, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"").unwrap();
    let comm = unique("wt-box-");
    let config = format!(
        r#"
plugin_dir = "{examples}"
{limits}
[probe."file.open"]
comm = ["{comm}"]
[plugin.opensnoop]
[plugin.misbehave]
path = "{tests}/misbehave.wasm"
[plugin.misbehave.config]
{misbehave_config}
"#,
        examples = example_plugins().display(),
        tests = test_plugins().display(),
    );
    let tracer = Tracer::start(&config);
    for (i, &n) in bursts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        child_opens(&comm, &path, n);
    }
    std::thread::sleep(Duration::from_millis(100));
    (tracer.stop(), comm)
}

fn failures(out: &Finished) -> Vec<String> {
    out.of_type("plugin-failed")
        .map(|f| f["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_endless_loop_is_interrupted() {
    require_kernel!();
    let (out, comm) = beside_opensnoop(
        "fail_in = \"events\"\nhow = \"loop\"",
        "",
        &[3, 4],
        Duration::from_millis(200),
    );
    out.assert_clean_exit();
    let failed = failures(&out);
    assert_eq!(failed.len(), 1, "stderr:\n{}", out.stderr);
    assert!(
        failed[0].contains("failed in on-events: used more than its 2s of CPU time in one call"),
        "{failed:?}"
    );
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(7),
        "the other plugin got every event"
    );
}

#[test]
fn exhausting_memory_is_stopped() {
    require_kernel!();
    let (out, comm) = beside_opensnoop("fail_in = \"events\"\nhow = \"oom\"", "", &[2], Duration::ZERO);
    out.assert_clean_exit();
    let failed = failures(&out);
    assert_eq!(failed.len(), 1, "stderr:\n{}", out.stderr);
    assert!(
        failed[0].ends_with(
            "failed in on-events: exceeded its memory limit of 256 MiB (all its memories and tables together)"
        ),
        "{failed:?}"
    );
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(2));
}

#[test]
fn a_crashed_plugin_restarts_with_its_maps() {
    require_kernel!();
    // Counts 2, then 1 more and fails on the 4th event; the failed batch's
    // updates are discarded (a batch is all or nothing). Restarted after 1 s,
    // the new instance counts on in the same map. Whether the 3rd event
    // shares the failing batch depends on when the reader drains, so the
    // exact figures follow from the plugin's own: @seen holds exactly the
    // events of its completed calls, and the failed batch is `missed`.
    let (out, comm) = beside_opensnoop(
        "fail_in = \"events\"\nafter = 3",
        "",
        &[2, 2, 2],
        Duration::from_millis(1600),
    );
    out.assert_clean_exit();
    assert_eq!(failures(&out).len(), 1, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("restarting it in 1s"), "{}", out.stderr);
    assert!(
        out.stderr.contains("plugin `misbehave` restarted after failure 1"),
        "{}",
        out.stderr
    );
    let stats = out.plugin("misbehave");
    let (events, missed) = (stats["events"].as_u64().unwrap(), stats["missed"].as_u64().unwrap());
    assert_eq!(out.counter("misbehave", "seen", &[]), Some(events), "{stats}");
    assert_eq!(events + missed, 6, "{stats}");
    assert!((1..=2).contains(&missed), "only the failed batch is missed: {stats}");
    assert_eq!(stats["failures"].as_u64(), Some(1));
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(6));
}

#[test]
fn output_beyond_the_per_interval_bound_is_dropped_and_reported() {
    require_kernel!();
    let (out, comm) = beside_opensnoop(
        "fail_in = \"never\"",
        "[output]\ninterval = \"1h\"\n[limits]\nplugin_emits_per_interval = 10",
        &[50],
        Duration::ZERO,
    );
    out.assert_clean_exit();
    // The column header counts against the bound too.
    assert_eq!(out.rows("opensnoop").count(), 9);
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(50),
        "maps are not bounded"
    );
    assert!(
        out.stderr.contains(
            "plugin `opensnoop` emitted 41 rows/findings/logs over its limit of 10 (or 4096 KiB) per interval"
        ),
        "{}",
        out.stderr
    );
}

/// What the `escape` plugin managed to do at start, by rule: (ok, detail).
fn escape_attempts(
    grant: &str,
    file: &std::path::Path,
    addr: &str,
) -> std::collections::HashMap<String, (bool, String)> {
    let config = format!(
        r#"
[probe."file.open"]
comm = ["{comm}"]
[plugin.escape]
path = "{tests}/escape.wasm"
[plugin.escape.config]
file = "{file}"
env = "PATH"
connect = "{addr}"
{grant}
"#,
        comm = unique("wt-esc-"),
        tests = test_plugins().display(),
        file = file.display(),
    );
    let out = Tracer::start(&config).stop();
    out.assert_clean_exit();
    out.of_type("finding")
        .map(|f| {
            let fields = &f["fields"];
            (
                f["rule"].as_str().unwrap().to_string(),
                (
                    fields["ok"].as_bool().unwrap(),
                    fields["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn the_sandbox_holds_no_files_env_clock_or_network_unless_granted() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    let denied = escape_attempts("", &secret, &addr);
    assert!(!denied["file"].0, "{denied:?}");
    assert!(!denied["env"].0, "{denied:?}");
    // Frozen one second after the epoch (not at zero: Go aborts on that).
    assert_eq!(denied["clock"], (true, "1".to_string()), "clocks are frozen");
    assert!(!denied["connect"].0, "{denied:?}");

    let grant = format!(
        "[plugin.escape.grant]\nclocks = true\nenv = [\"PATH\"]\nread_dirs = [\"{}\"]",
        dir.path().display()
    );
    let granted = escape_attempts(&grant, &secret, &addr);
    assert_eq!(granted["file"], (true, "s3cret".to_string()));
    assert_eq!(granted["env"], (true, std::env::var("PATH").unwrap()));
    assert!(
        granted["clock"].1.parse::<u64>().unwrap() > 1_700_000_000,
        "{granted:?}"
    );
    assert!(!granted["connect"].0, "the network is never granted: {granted:?}");
}

/// Frozen clocks (the default) never advance, so a WASI sleep on them ends
/// at once: a plugin that sleeps for years holds up nothing.
#[test]
fn a_sleep_on_frozen_clocks_ends_at_once() {
    require_kernel!();
    let (out, comm) = beside_opensnoop("fail_in = \"events\"\nhow = \"sleep\"", "", &[3], Duration::ZERO);
    out.assert_clean_exit();
    assert_eq!(failures(&out), Vec::<String>::new());
    assert_eq!(out.counter("misbehave", "seen", &[]), Some(3));
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(3));
}

/// Granted real clocks, a sleep ends at the call's wall-clock deadline,
/// where the call is stopped (the CPU limit does not see time in a sleep).
#[test]
fn a_sleep_on_granted_clocks_is_stopped_at_the_wall_clock_limit() {
    require_kernel!();
    let (out, comm) = beside_opensnoop(
        "fail_in = \"events\"\nhow = \"sleep\"\n[plugin.misbehave.grant]\nclocks = true",
        "[limits]\nplugin_cpu_per_call = \"1s\"\nplugin_wall_per_call = \"1s\"",
        &[2],
        Duration::ZERO,
    );
    out.assert_clean_exit();
    let failed = failures(&out);
    assert!(!failed.is_empty(), "stderr:\n{}", out.stderr);
    for failure in &failed {
        assert!(
            failure.ends_with("failed in on-events: did not return within its 1s of wall-clock time for one call"),
            "{failed:?}"
        );
    }
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(2));
}

/// A host call that no limit inside wasmtime can interrupt (reading a FIFO
/// nobody writes to, in a folder granted to the plugin) holds up neither
/// the other plugins nor the end of the run: the plugin is named and left
/// behind, and every map is printed.
#[test]
fn a_plugin_stuck_in_a_host_call_is_left_behind_at_exit() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let fifo = crate::harness::mkfifo(dir.path(), "fifo");
    let (out, comm) = beside_opensnoop(
        &format!(
            "fail_in = \"events\"\nhow = \"fifo\"\npath = \"{}\"\n[plugin.misbehave.grant]\nread_dirs = [\"{}\"]",
            fifo.display(),
            dir.path().display()
        ),
        "",
        &[3],
        Duration::from_millis(500),
    );
    out.assert_clean_exit();
    assert_eq!(failures(&out).len(), 1, "stderr:\n{}", out.stderr);
    assert!(
        failures(&out)[0].starts_with("plugin `misbehave` did not return from on-events ("),
        "{:?}",
        failures(&out)
    );
    assert!(
        out.stderr.contains("left behind; its maps are printed as they stand"),
        "{}",
        out.stderr
    );
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(3));
    // Its map is printed as it stood: the call that never returned had not counted.
    assert_eq!(out.counter("misbehave", "seen", &[]), None);
}
