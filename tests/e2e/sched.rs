//! sched.runq-latency and runqlat: a run per wakeup of a task that sleeps,
//! with its fields, and beside bpftrace's runqlat.bt.

use crate::harness::{Original, Tracer, fork_child, test_plugins, unique};

/// What a child named `comm` that sleeps 1 ms `n` times switched: its pid,
/// and its voluntary and involuntary context switches while it slept, by
/// the kernel's count (getrusage). Each voluntary switch (a sleep) is
/// followed by a wakeup and a run; each involuntary one (a preemption, or a
/// sleep whose timer fired before it was off the CPU) by a run after a wait.
fn sleeper(comm: &str, n: u64) -> (u32, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let counts = dir.path().join("switches");
    let pid = fork_child(comm, || {
        let switches = || {
            // SAFETY: getrusage fills the struct it is given.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
            (usage.ru_nvcsw as u64, usage.ru_nivcsw as u64)
        };
        let nap = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        let before = switches();
        for _ in 0..n {
            // SAFETY: a valid timespec; no remainder asked for.
            unsafe { libc::nanosleep(&nap, std::ptr::null_mut()) };
        }
        let after = switches();
        // Out of the filter before writing and exiting, which may be
        // preempted too (the unmapping of a forked test process takes a while).
        // SAFETY: a NUL-terminated name.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"wt-done".as_ptr() as libc::c_ulong, 0, 0, 0) };
        let _ = std::fs::write(&counts, format!("{} {}", after.0 - before.0, after.1 - before.1));
    });
    let text = std::fs::read_to_string(&counts).unwrap();
    let (voluntary, involuntary) = text.split_once(' ').unwrap();
    (pid, voluntary.parse().unwrap(), involuntary.parse().unwrap())
}

/// Runs after wakeups and after preemptions, against the kernel's count of
/// the child's voluntary and involuntary switches: each switch is followed by
/// one run, but on a loaded machine the kernel's switch counts and its
/// tracepoints part by a few in a thousand. bpftrace, counting the same
/// tracepoints for a sleeper beside two busy loops, saw 499 wakeups and 499
/// switches in for 500 voluntary switches out; this test, run beside its
/// twin, saw up to 4 in 500 runs fewer (and none skipped or lost by the
/// probe). So a run may be missing, up to 2%, and never one too many.
fn agrees_with_the_kernel((wakeups, preempted): (u64, u64), (voluntary, involuntary): (u64, u64)) {
    let (runs, switches) = (wakeups + preempted, voluntary + involuntary);
    let slack = switches.div_ceil(50);
    assert!(
        runs <= switches && runs + slack >= switches && wakeups <= voluntary + slack && wakeups + slack >= voluntary,
        "runs after wakeups {wakeups} and after preemptions {preempted}; the kernel's voluntary \
         switches {voluntary} and involuntary ones {involuntary}"
    );
}

#[test]
fn each_wakeup_of_a_sleeping_task_is_one_run_with_its_latency() {
    require_kernel!();
    const N: usize = 50;
    let comm = unique("wt-rq-");
    let tracer = Tracer::start(&format!(
        "[probe.\"sched.runq-latency\"]\ncomm = [\"{comm}\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"sched.runq-latency\"]\n",
        test_plugins().display()
    ));
    let (pid, voluntary, involuntary) = sleeper(&comm, N as u64);
    let out = tracer.stop();
    out.assert_clean_exit();
    let runs: Vec<_> = out.findings("sched.runq-latency").collect();
    let count = |by: &str| runs.iter().filter(|f| f["queued_by"] == by).count() as u64;
    // The new task is not seen: it still had its parent's name when it was created.
    agrees_with_the_kernel((count("wakeup"), count("preempted")), (voluntary, involuntary));
    assert!(voluntary > N as u64 * 9 / 10, "{voluntary} of {N} sleeps left the CPU");
    // The header is the task that waited, read from its task_struct, as the
    // helpers read the current task's: the CPU was running another.
    let cgroup = {
        let line = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let path = line
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("cgroup v2")
            .to_string();
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(format!("/sys/fs/cgroup{path}")).unwrap())
    };
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::getuid() as u64, libc::getgid() as u64) };
    for run in &runs {
        let header = (
            run["pid"].as_u64(),
            run["tid"].as_u64(),
            run["ppid"].as_u64(),
            run["uid"].as_u64(),
            run["gid"].as_u64(),
            run["cgroup_id"].as_u64(),
        );
        let ours = (
            Some(pid as u64),
            Some(pid as u64),
            Some(std::process::id() as u64),
            Some(uid),
            Some(gid),
            Some(cgroup),
        );
        assert_eq!(header, ours, "{run}");
        let latency = run["latency_ns"].as_u64().unwrap();
        assert!(latency > 0 && latency < 10_000_000_000, "{run}");
    }
    // A sleeper woken on an idle CPU takes it from the CPU's idle task
    // (tid 0, `swapper/N`), which is always runnable. (A tid 0 with no name
    // is wasmtrace's own thread, left out.) On a busy machine no CPU may have
    // been idle: only what the runs from the idle task say is checked.
    let from_idle: Vec<_> = runs
        .iter()
        .filter(|r| r["prev_tid"] == 0 && r["prev_comm"] != "")
        .collect();
    for run in from_idle {
        assert!(run["prev_comm"].as_str().unwrap().starts_with("swapper/"), "{run}");
        assert_eq!(run["prev_state"], "running", "{run}");
    }
}

/// The power-of-two histogram bpftrace printed: `[lo, hi) count |@@@|` lines.
fn bpftrace_hist_total(lines: &[Vec<String>]) -> u64 {
    lines
        .iter()
        .filter(|l| l.first().is_some_and(|w| w.starts_with('[')))
        .filter_map(|l| {
            // `[0]` is one word, `[2, 4)` two: the count follows the closing bracket.
            let at = l.iter().position(|w| w.ends_with(']') || w.ends_with(')'))?;
            l.get(at + 1)?.parse::<u64>().ok()
        })
        .sum()
}

#[test]
fn runqlat_counts_each_run_and_agrees_with_runqlat_bt() {
    require_kernel!();
    const N: u64 = 500;
    let comm = unique("wt-rql-");
    let tracer = Tracer::tool("runqlat", "sched.runq-latency", &comm);
    // Debian's runqlat.bt includes <linux/sched.h> for TASK_RUNNING, which
    // bpftrace 0.17's clang cannot parse here (`__aligned_u64`): the same
    // program, with the constant defined instead.
    let script = std::fs::read_to_string("/usr/sbin/runqlat.bt").expect("bpftrace's tools (scripts/install-deps)");
    let dir = tempfile::tempdir().unwrap();
    let runqlat_bt = dir.path().join("runqlat.bt");
    std::fs::write(
        &runqlat_bt,
        script.replace("#include <linux/sched.h>", "#define TASK_RUNNING 0"),
    )
    .unwrap();
    let bpftrace = Original::bpftrace(runqlat_bt.to_str().unwrap());
    let (_, voluntary, involuntary) = sleeper(&comm, N);
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let runs = |by: &str| out.counter("runqlat", "runs", &[by]).unwrap_or(0);
    let (_, lost) = out.probe("sched.runq-latency");
    assert_eq!(lost, 0);
    agrees_with_the_kernel((runs("wakeup"), runs("preempted")), (voluntary, involuntary));
    let hist = out.entry("runqlat", "usecs", &[]).expect("a histogram");
    assert_eq!(
        hist["count"].as_u64(),
        Some(runs("wakeup") + runs("preempted")),
        "{hist}"
    );
    // runqlat.bt sees every task's runs after a wakeup, the child's among them.
    let theirs = bpftrace_hist_total(&bt);
    eprintln!(
        "runqlat: the child's runs {} ({involuntary} after preemptions); runqlat.bt, every task's: {theirs}",
        voluntary + involuntary
    );
    assert!(theirs >= voluntary, "runqlat.bt counted {theirs} runs:\n{bt:?}");
}
