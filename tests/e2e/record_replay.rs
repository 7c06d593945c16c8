use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{
    Finished, Tracer, child_opens, example_plugins, fork_child, getppid_calls, nanosleep_ms, unique, wasmtrace,
};

/// Replays `file` into opensnoop as the unprivileged user `nobody`.
fn replay_as_nobody(file: &Path, dir: &Path) -> Finished {
    let config = dir.join("replay.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = \"{}\"\ncache_dir = \"{}\"\n[plugin.opensnoop]\n[plugin.opensnoop.config]\ncount_paths = true\n",
            example_plugins().display(),
            dir.join("cache").display()
        ),
    )
    .unwrap();
    let wasmtrace = wasmtrace();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(wasmtrace.get_program())
        .args(["replay", "--output", "json", "--config"])
        .arg(&config)
        .arg(file)
        .output()
        .expect("running setpriv");
    Finished::of(out)
}

/// Everything but the plugins' timing, which no two runs share.
fn results(out: &Finished) -> Vec<&serde_json::Value> {
    out.lines.iter().filter(|l| l["type"] != "plugin").collect()
}

/// A recording of `n` opens of a file by a child named after `prefix`, in a
/// folder that `nobody` can read (with a compile cache it can write).
struct Recorded {
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
    target: String,
    comm: String,
    pid: u32,
    stderr: String,
}

fn record_opens(prefix: &str, n: usize) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("cache")).unwrap();
    let nobody = uzers::get_user_by_name("nobody").expect("a user `nobody`").uid();
    std::os::unix::fs::chown(dir.path().join("cache"), Some(nobody), None).unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, b"x").unwrap();
    let comm = unique(prefix);
    let file = dir.path().join("opens.wtr");
    let recorder = Tracer::with(&format!("[probe.\"file.open\"]\ncomm = [\"{comm}\"]\n"))
        .record(&file)
        .start();
    let pid = child_opens(&comm, &target, n);
    let recorded = recorder.stop();
    assert!(recorded.status.success(), "record failed:\n{}", recorded.stderr);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    Recorded {
        target: target.to_str().unwrap().to_string(),
        dir,
        file,
        comm,
        pid,
        stderr: recorded.stderr,
    }
}

#[test]
fn a_recording_replays_exactly_without_root_and_the_same_each_time() {
    require_kernel!();
    const N: usize = 41;
    let rec = record_opens("wt-rec-", N);
    assert!(
        rec.stderr.contains(&format!("probe file.open: {N} events, 0 lost")),
        "{}",
        rec.stderr
    );

    let first = replay_as_nobody(&rec.file, rec.dir.path());
    assert!(first.status.success(), "replay failed:\n{}", first.stderr);
    assert_eq!(first.counter("opensnoop", "paths", &[&rec.target]), Some(N as u64));
    assert_eq!(first.counter("opensnoop", "opens", &[&rec.comm]), Some(N as u64));
    assert!(first.rows("opensnoop").all(|r| r["PID"] == rec.pid));
    assert_eq!(first.probe("file.open"), (N as u64, 0));
    // Recorded timestamps say nothing about delivery now: no latency.
    let opensnoop = first.plugin("opensnoop");
    assert_eq!(
        (opensnoop["events"].as_u64(), opensnoop["dropped"].as_u64()),
        (Some(N as u64), Some(0))
    );
    assert!(opensnoop["latency_p99_ns"].is_null(), "{opensnoop}");

    let second = replay_as_nobody(&rec.file, rec.dir.path());
    assert_eq!(results(&first), results(&second));
}

#[test]
fn a_cut_recording_is_replayed_up_to_the_cut_and_then_refused_clearly() {
    require_kernel!();
    let rec = record_opens("wt-cut-", 10);
    // Cut in the middle of the 8th record.
    let whole = std::fs::read(&rec.file).unwrap();
    let header = 16 + u32::from_le_bytes(whole[12..16].try_into().unwrap()) as usize;
    // A frame: kind (1 byte), length (4), one record.
    let frame = 5 + wasmtrace_ebpf::abi::record_size(wasmtrace_ebpf::abi::ProbeId::FileOpen);
    std::fs::write(&rec.file, &whole[..header + 7 * frame + frame / 2]).unwrap();

    let out = replay_as_nobody(&rec.file, rec.dir.path());
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("is truncated at byte") && out.stderr.contains("the 7 events before it were replayed"),
        "{}",
        out.stderr
    );
    // What was replayed before the cut is kept and printed.
    assert_eq!(out.counter("opensnoop", "opens", &[&rec.comm]), Some(7));
}

/// What a probe counts in the kernel is recorded as the records it becomes,
/// each interval and at the end, and replays to the same totals.
#[test]
fn kernel_counts_are_recorded_each_interval_and_replay_to_the_same_totals() {
    require_kernel!();
    const ROUNDS: u64 = 3;
    const PER_ROUND: u64 = 500;
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wt-rsc-");
    let file = dir.path().join("counts.wtr");
    let recorder = Tracer::with(&format!(
        "[output]\ninterval = \"100ms\"\n[probe.\"syscall.count\"]\ncomm = [\"{comm}\"]\n"
    ))
    .record(&file)
    .start();
    fork_child(&comm, || {
        for _ in 0..ROUNDS {
            getppid_calls(PER_ROUND);
            nanosleep_ms(150);
        }
    });
    let recorded = recorder.stop();
    assert!(recorded.status.success(), "record failed:\n{}", recorded.stderr);
    // Rounds 150 ms apart, counts read every 100 ms: an event per round at least.
    let events: u64 = recorded
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("probe syscall.count: ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary for syscall.count:\n{}", recorded.stderr));
    assert!(events > ROUNDS, "{events} events:\n{}", recorded.stderr);

    let config = dir.path().join("replay.toml");
    let plugins = example_plugins().display();
    std::fs::write(&config, format!("plugin_dir = \"{plugins}\"\n[plugin.syscount]\n")).unwrap();
    let out = Finished::of(
        wasmtrace()
            .args(["replay", "--output", "json", "--config"])
            .arg(&config)
            .arg(&file)
            .output()
            .unwrap(),
    );
    out.assert_clean_exit();
    assert_eq!(out.probe("syscall.count"), (events, 0));
    assert_eq!(
        out.counter("syscount", "syscalls", &["getppid"]),
        Some(ROUNDS * PER_ROUND)
    );
    assert_eq!(out.counter("syscount", "syscalls", &["nanosleep"]), Some(ROUNDS));
    assert_eq!(
        out.counter("syscount", "processes", &[&comm]),
        Some(ROUNDS * (PER_ROUND + 1) + 1)
    );
}
