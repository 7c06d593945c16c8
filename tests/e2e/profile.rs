//! Stacks and profiles with known answers: a C program whose hot functions
//! take CPU in a 3:1 ratio (tests/data/wthot.c) profiled by the profile
//! plugin, beside bpftrace's own profile; its pprof file read by `go tool
//! pprof`, its flame graph drawn by a headless browser; an open() storm's
//! kernel stacks; stacks on a probe that is not sampled.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Original, Tracer, example_plugins, run_ok, unique};

/// tests/data/wthot.c built as `name` in `dir`: unoptimised, with frame
/// pointers, so that every function (leaves too: gcc 12 drops their frame
/// at -O1 whatever it is told) is on the stack.
pub fn build_wthot(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O0", "-g", "-fno-omit-frame-pointer"])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(crate::harness::repo().join("tests/data/wthot.c"))
        .status()
        .expect("cc (scripts/install-deps installs gcc)");
    assert!(status.success(), "building wthot.c failed");
    out
}

/// Folded lines: the frames from the root, and the count.
pub fn folded(path: &Path) -> Vec<(Vec<String>, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| {
            let (stack, n) = line.rsplit_once(' ').unwrap();
            (stack.split(';').map(str::to_string).collect(), n.parse().unwrap())
        })
        .collect()
}

/// Samples whose innermost frame is `leaf`, and the folded stacks they had.
pub fn samples_in<'a>(lines: &'a [(Vec<String>, u64)], leaf: &str) -> (u64, Vec<&'a [String]>) {
    let hits: Vec<_> = lines
        .iter()
        .filter(|(s, _)| s.last().is_some_and(|f| f == leaf))
        .collect();
    (
        hits.iter().map(|(_, n)| n).sum(),
        hits.iter().map(|(s, _)| &s[..]).collect(),
    )
}

/// A profile session's config: the profile plugin on `probes`, the three
/// profile files in `dir`, and `tables` for the probes.
fn profile_config(dir: &Path, probes: &str, tables: &str) -> String {
    format!(
        "plugin_dir = \"{}\"\n[plugin.profile]\nprobes = [{probes}]\n{tables}\n\
         [output]\nfolded = \"{d}/out.folded\"\nflamegraph = \"{d}/out.svg\"\npprof = \"{d}/out.pb\"\n",
        example_plugins().display(),
        d = dir.display()
    )
}

/// bpftrace's output of `@[ustack] = count()`: each entry's frames (their
/// function names) and count.
fn bpftrace_stacks(lines: &[Vec<String>]) -> Vec<(Vec<String>, u64)> {
    let mut entries = Vec::new();
    let mut frames: Option<Vec<String>> = None;
    for words in lines {
        match words.first().map(String::as_str) {
            Some("@[") => frames = Some(Vec::new()),
            Some("]:") => {
                if let (Some(f), Some(n)) = (frames.take(), words.get(1).and_then(|n| n.parse().ok())) {
                    entries.push((f, n));
                }
            }
            Some(frame) => {
                if let Some(f) = &mut frames {
                    f.push(frame.split('+').next().unwrap().to_string());
                }
            }
            None => {}
        }
    }
    entries
}

#[test]
fn profile_finds_the_hot_functions_in_their_share_with_their_callers_as_bpftrace_does() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wthot-");
    let program = build_wthot(dir.path(), &comm, &[]);
    let config = profile_config(
        dir.path(),
        "\"cpu.sample\"",
        &format!("[probe.\"cpu.sample\"]\ncomm = [\"{comm}\"]\nfrequency = 999"),
    );
    let tracer = Tracer::with(&config).text().start();
    let script = dir.path().join("profile.bt");
    std::fs::write(
        &script,
        format!("profile:hz:999 /comm == \"{comm}\"/ {{ @[ustack] = count(); }}"),
    )
    .unwrap();
    let bpftrace = Original::bpftrace(script.to_str().unwrap());
    // It spins 3 s, then sleeps while both tracers stop: bpftrace names a
    // stack when it prints, and only a running process's can be named.
    let mut spinning = Command::new(&program).args(["spin", "3", "30"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let (status, stdout, stderr) = tracer.stop_raw();
    assert!(status.success(), "{stderr}");
    let theirs = bpftrace_stacks(&bpftrace.stop());
    spinning.kill().unwrap();
    spinning.wait().unwrap();

    // The shares: 3:1 by the program's loop counts, ±25 %.
    let lines = folded(&dir.path().join("out.folded"));
    let (a, a_stacks) = samples_in(&lines, "hot_a");
    let (b, b_stacks) = samples_in(&lines, "hot_b");
    let all: u64 = lines.iter().map(|(_, n)| n).sum();
    assert!(all >= 1500, "3 s at 999 Hz, only {all} samples:\n{lines:?}");
    assert!(a + b >= all * 9 / 10, "hot_a {a} + hot_b {b} of {all}:\n{lines:?}");
    let ratio = a as f64 / b as f64;
    assert!(
        (2.25..=3.75).contains(&ratio),
        "hot_a:hot_b = {a}:{b} = {ratio:.2}, not 3"
    );
    // The callers: main → caller_a → hot_a, main → caller_b → hot_b, below
    // the command. (A sample on a function's first instruction, before it
    // has pushed its frame, misses its caller: 1 in 100 are let be.)
    for (leaf, stacks, path) in [
        (a, &a_stacks, ["main", "caller_a", "hot_a"]),
        (b, &b_stacks, ["main", "caller_b", "hot_b"]),
    ] {
        let path = path.map(String::from);
        let right: u64 = lines
            .iter()
            .filter(|(s, _)| stacks.contains(&&s[..]) && s[0] == comm && s.ends_with(&path))
            .map(|(_, n)| n)
            .sum();
        assert!(
            right * 100 >= leaf * 99,
            "{right} of {leaf} samples end in {path:?}:\n{stacks:?}"
        );
    }

    // The map, printed as bpftrace prints @[kstack, ustack, comm].
    assert!(stdout.contains("@samples[\n"), "{stdout}");
    assert!(
        stdout.contains("\n        hot_a+") && stdout.contains("\n        caller_a+"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!(", {comm}]: ")), "{stdout}");

    // bpftrace's profile of the same run: the same two hot functions on top, in the same order.
    let top = |entries: &[(Vec<String>, u64)], leaf: &str| -> u64 {
        entries
            .iter()
            .filter(|(f, _)| f.first().is_some_and(|f| f == leaf))
            .map(|(_, n)| n)
            .sum()
    };
    let (their_a, their_b) = (top(&theirs, "hot_a"), top(&theirs, "hot_b"));
    assert!(
        their_a > their_b && their_b > 0,
        "bpftrace: hot_a {their_a}, hot_b {their_b}: {theirs:?}"
    );
    let their_ratio = their_a as f64 / their_b as f64;
    assert!(
        (2.25..=3.75).contains(&their_ratio),
        "bpftrace's ratio is {their_ratio:.2}"
    );

    // pprof's reader lists the same functions, hot_a first.
    let go = Command::new("go")
        .args(["tool", "pprof", "-top"])
        .arg(dir.path().join("out.pb"))
        .output()
        .expect("go (scripts/install-deps installs it)");
    let top = String::from_utf8_lossy(&go.stdout);
    assert!(
        go.status.success(),
        "go tool pprof: {}",
        String::from_utf8_lossy(&go.stderr)
    );
    let at = |f: &str| top.lines().position(|l| l.split_whitespace().last() == Some(f));
    assert!(
        matches!((at("hot_a"), at("hot_b")), (Some(x), Some(y)) if x < y),
        "go tool pprof -top:\n{top}"
    );

    // The flame graph, opened in a headless browser: its script labels the
    // frames wide enough to read, and hot_a is one.
    let svg = dir.path().join("out.svg");
    let dom = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("chromium (scripts/install-deps installs it)");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let drawn: Vec<&str> = dom
        .split("<text ")
        .skip(1)
        .filter_map(|t| {
            t.split_once('>')
                .map(|(_, rest)| rest.split('<').next().unwrap_or("").trim())
        })
        .collect();
    assert!(drawn.contains(&"hot_a"), "labels the browser drew: {drawn:?}");
}

#[test]
fn an_open_storms_kernel_stacks_name_the_openat_path() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wtopen-");
    let program = build_wthot(dir.path(), &comm, &[]);
    let config = profile_config(
        dir.path(),
        "\"cpu.sample\"",
        &format!("[probe.\"cpu.sample\"]\ncomm = [\"{comm}\"]\nfrequency = 999\nstacks = \"kernel\""),
    );
    let tracer = Tracer::start(&config);
    run_ok(program.to_str().unwrap(), &["open", "1000000"]);
    tracer.stop().assert_clean_exit();
    let lines = folded(&dir.path().join("out.folded"));
    let all: u64 = lines.iter().map(|(_, n)| n).sum();
    // Kernel frames only (`stacks = "kernel"`): each marked `_[k]`.
    assert!(
        lines.iter().all(|(s, _)| s[1..].iter().all(|f| f.ends_with("_[k]"))),
        "{lines:?}"
    );
    // Opening is most of what the storm does in the kernel; its samples go
    // through the openat system call into do_sys_openat2, root first.
    let opening: u64 = lines
        .iter()
        .filter(|(s, _)| {
            let sys = s.iter().position(|f| f.contains("sys_openat"));
            let open = s.iter().position(|f| f == "do_sys_openat2_[k]");
            matches!((sys, open), (Some(x), Some(y)) if x < y)
        })
        .map(|(_, n)| n)
        .sum();
    assert!(
        all >= 100 && opening * 3 >= all,
        "{opening} of {all} samples open:\n{lines:?}"
    );
}

#[test]
fn a_probe_carries_the_stacks_its_table_asks_for_on_every_event() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wtstk-");
    let program = build_wthot(dir.path(), &comm, &[]);
    const OPENS: u64 = 500;
    let config = profile_config(
        dir.path(),
        "\"file.open\"",
        &format!("[probe.\"file.open\"]\ncomm = [\"{comm}\"]\nstacks = \"both\""),
    );
    let tracer = Tracer::start(&config);
    run_ok(program.to_str().unwrap(), &["open", &OPENS.to_string()]);
    tracer.stop().assert_clean_exit();
    let lines = folded(&dir.path().join("out.folded"));
    // The loader's opens are the program's too: the storm's are those in
    // libc's open64. (Debian's libc keeps no frame pointer, so the walk
    // beyond it is not to be trusted: its innermost frame, the instruction
    // itself, is.)
    let innermost_user = |s: &[String]| {
        let kernel = s.iter().position(|f| f.ends_with("_[k]")).unwrap_or(s.len());
        s[1..kernel].last().cloned().unwrap_or_default()
    };
    let storm: Vec<_> = lines
        .iter()
        .filter(|(s, _)| innermost_user(s).contains("open64"))
        .collect();
    assert_eq!(storm.iter().map(|(_, n)| n).sum::<u64>(), OPENS, "{lines:?}");
    // Each of them with its kernel stack too: made at the system call's exit.
    for (s, _) in storm {
        assert!(
            s.last().unwrap().ends_with("_[k]") && s.iter().any(|f| f == "do_syscall_64_[k]"),
            "{s:?}"
        );
    }
}

/// Stack ids are the session's, every process's: a plugin names and counts
/// only those its own events carried. stackpeek (tests/plugins) asks for
/// ids 1 to 4096 while the profile plugin's samples fill the table.
#[test]
fn a_plugin_cannot_name_or_count_stacks_its_events_did_not_carry() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wtpeek-");
    let program = build_wthot(dir.path(), &comm, &[]);
    let config = format!(
        "{}[plugin.stackpeek]\npath = \"{}/stackpeek.wasm\"\n",
        profile_config(
            dir.path(),
            "\"cpu.sample\"",
            &format!("[probe.\"cpu.sample\"]\ncomm = [\"{comm}\"]\nfrequency = 999"),
        )
        .replace("[output]\n", "[output]\ninterval = \"200ms\"\n"),
        crate::harness::test_plugins().display()
    );
    let tracer = Tracer::start(&config);
    run_ok(program.to_str().unwrap(), &["spin", "2", "1"]);
    let out = tracer.stop();
    out.assert_clean_exit();
    let lines = folded(&dir.path().join("out.folded"));
    assert!(
        samples_in(
            &lines.iter().map(|(s, n)| (s[1..].to_vec(), *n)).collect::<Vec<_>>(),
            "hot_a"
        )
        .0 > 0,
        "{lines:?}"
    );
    assert_eq!(
        out.counter("stackpeek", "named", &[]),
        None,
        "stackpeek named others' stacks"
    );
    let forged = out.entries("stackpeek", "forged");
    assert!(!forged.is_empty(), "stackpeek ran its ticks");
    for entry in &forged {
        assert_eq!(
            (
                entry["kernel_stack"].as_array().map(Vec::len),
                entry["user_stack"].as_array().map(Vec::len)
            ),
            (Some(0), Some(0)),
            "{entry}"
        );
    }
    // Its forged counts are no stacks, so the profile holds the samples' only.
    assert!(lines.iter().all(|(s, _)| s[0] == "samples"), "{lines:?}");
}

/// Naming parses binaries anyone may write, in a child process with a
/// memory limit: when it dies (here: killed, as a crafted binary's stack
/// overflow or allocation would kill it), the session goes on, and the
/// next stacks are named by a new one.
#[test]
fn the_namer_runs_apart_with_a_memory_limit_and_a_dead_one_is_replaced() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let comm = unique("wtnam-");
    let program = build_wthot(dir.path(), &comm, &[]);
    let config = profile_config(
        dir.path(),
        "\"cpu.sample\"",
        &format!("[probe.\"cpu.sample\"]\ncomm = [\"{comm}\"]\nfrequency = 999"),
    );
    let tracer = Tracer::start(&config);
    // Its children, whichever of its threads started them.
    let namer = || -> Option<u32> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", tracer.pid())).ok()?;
        let children: Vec<u32> = tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<_>>())
            .collect();
        children
            .into_iter()
            .find(|p| std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.ends_with(b"stack-namer\0")))
    };
    run_ok(program.to_str().unwrap(), &["spin", "1", "1"]);
    let first = namer().expect("a stack-namer child once stacks came");
    let limits = std::fs::read_to_string(format!("/proc/{first}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max address space") && l.contains("4294967296")),
        "{limits}"
    );
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    run_ok(program.to_str().unwrap(), &["spin", "2", "1"]);
    let second = namer().expect("a new stack-namer after the first died");
    assert_ne!(first, second);
    let out = tracer.stop();
    out.assert_clean_exit();
    let lines = folded(&dir.path().join("out.folded"));
    assert!(samples_in(&lines, "hot_a").0 > 0, "{lines:?}");
}
