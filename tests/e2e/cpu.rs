//! cpu.sample and the tools on it (cpuwalk, runqlen): busy processes
//! pinned to one CPU, sampled, against their own CPU time and beside the
//! bpftrace originals.

use crate::harness::{Original, Tracer, fork_child, test_plugins, unique};

/// The CPU the busy tasks are pinned to: the last one, so that it exists.
fn busy_cpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
}

/// `tasks` processes named `comm`, pinned to `busy_cpu()`, spin in user code
/// for `ms` milliseconds of wall time. Returns the first one's pid and the
/// CPU time all of them used, user and system, by the kernel's count.
fn spin(comm: &str, tasks: usize, ms: i64) -> (u32, std::time::Duration) {
    let cpu = busy_cpu();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("cpu-time");
    let path = std::ffi::CString::new(report.to_str().unwrap()).unwrap();
    let pid = fork_child(comm, || unsafe {
        // SAFETY: raw syscalls only: affinity, fork, the vDSO clock, wait, a file of our own.
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        let mut first = true;
        for _ in 1..tasks {
            if libc::fork() == 0 {
                first = false;
                break;
            }
        }
        let mut now: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        let end = now.tv_sec * 1000 + now.tv_nsec / 1_000_000 + ms;
        while now.tv_sec * 1000 + now.tv_nsec / 1_000_000 < end {
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        }
        if !first {
            libc::_exit(0);
        }
        while libc::wait(std::ptr::null_mut()) > 0 {}
        let micros = |who| {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut usage);
            let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
            us(usage.ru_utime) + us(usage.ru_stime)
        };
        let total = micros(libc::RUSAGE_SELF) + micros(libc::RUSAGE_CHILDREN);
        let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        libc::write(fd, (&raw const total).cast(), 8);
        libc::close(fd);
    });
    let bytes: [u8; 8] = std::fs::read(&report).unwrap().try_into().unwrap();
    (pid, std::time::Duration::from_micros(u64::from_ne_bytes(bytes)))
}

#[test]
fn each_sample_is_the_task_the_cpu_ran_at_the_frequency_set() {
    require_kernel!();
    const HZ: u64 = 1000;
    let comm = unique("wt-smp-");
    let tracer = Tracer::start(&format!(
        "[probe.\"cpu.sample\"]\ncomm = [\"{comm}\"]\nfrequency = {HZ}\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"cpu.sample\"]\n",
        test_plugins().display()
    ));
    let (pid, used) = spin(&comm, 1, 500);
    let out = tracer.stop();
    out.assert_clean_exit();
    let samples: Vec<_> = out.findings("cpu.sample").collect();
    for s in &samples {
        assert_eq!(
            (s["pid"].as_u64(), s["cpu"].as_u64()),
            (Some(pid as u64), Some(busy_cpu() as u64)),
            "{s}"
        );
        assert!(s["runnable"].as_u64() >= Some(1), "the sampled task was running: {s}");
    }
    // One sample per 1/HZ of the CPU time it used, as perf's frequency
    // mode makes it (it tunes the period to the rate as it goes).
    let expected = used.as_secs_f64() * HZ as f64;
    let n = samples.len() as f64;
    eprintln!("cpu.sample: {n} samples for {used:?} of CPU at {HZ} Hz");
    assert!(
        n > expected * 0.7 && n < expected * 1.3,
        "{n} samples, {expected} expected"
    );
    // It spins in user code, the clock read through the vDSO.
    let user = samples.iter().filter(|s| s["user"] == true).count() as f64;
    assert!(user > n * 0.9, "{user} of {n} samples in user code");
}

/// A bpftrace linear histogram (`lhist`) printed under `title`: `[n, n+1)
/// count |@@|` lines, as (n, count).
fn bpftrace_lhist(lines: &[Vec<String>], title: &str) -> std::collections::BTreeMap<u64, u64> {
    lines
        .iter()
        .skip_while(|l| l.first().map(String::as_str) != Some(title))
        .skip(1)
        .take_while(|l| l.first().is_some_and(|w| w.starts_with('[')))
        .filter_map(|l| {
            let low = l[0].trim_start_matches('[').trim_end_matches(',').parse().ok()?;
            Some((low, l.get(2)?.parse().ok()?))
        })
        .collect()
}

/// Samples at `HZ` of `used` CPU time: within 30% (perf's frequency mode
/// tunes its period as it goes; seen: 0.9 to 1.1 of it).
fn about(samples: u64, used: std::time::Duration, hz: f64) -> bool {
    let expected = used.as_secs_f64() * hz;
    (samples as f64) > expected * 0.7 && (samples as f64) < expected * 1.3
}

#[test]
fn cpuwalk_agrees_with_cpuwalk_bt() {
    require_kernel!();
    let comm = unique("wt-cpw-");
    let tracer = Tracer::tool("cpuwalk", "cpu.sample", &comm);
    let bpftrace = Original::bpftrace("/usr/sbin/cpuwalk.bt");
    let (_, used) = spin(&comm, 1, 1000);
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let cpu = busy_cpu();
    let entries = out.entries("cpuwalk", "cpu");
    let ours = out.counter("cpuwalk", "cpu", &[&cpu.to_string()]).unwrap_or(0);
    assert_eq!(entries.len(), 1, "only the CPU it was pinned to: {entries:?}");
    assert!(about(ours, used, 99.0), "{ours} samples for {used:?} at 99 Hz");
    // cpuwalk.bt counts every process's samples on every CPU: the child's
    // among those of its CPU.
    let theirs = bpftrace_lhist(&bt, "@cpu:").get(&(cpu as u64)).copied().unwrap_or(0);
    eprintln!("cpuwalk: {ours} samples of the child on CPU {cpu}; cpuwalk.bt, of every process there: {theirs}");
    assert!(
        theirs as f64 >= ours as f64 * 0.7,
        "cpuwalk.bt: {theirs}; ours {ours}\n{bt:?}"
    );
}

#[test]
fn runqlen_counts_the_tasks_waiting_beside_each_sampled_one() {
    require_kernel!();
    let comm = unique("wt-rqn-");
    let tracer = Tracer::tool("runqlen", "cpu.sample", &comm);
    // Debian's runqlen.bt reads the CFS queue's `nr_running`, which Linux
    // 6.14 renamed `nr_queued`: the same program, with the new name.
    let script = std::fs::read_to_string("/usr/sbin/runqlen.bt").expect("bpftrace's tools (scripts/install-deps)");
    let dir = tempfile::tempdir().unwrap();
    let runqlen_bt = dir.path().join("runqlen.bt");
    let kernel_renamed = std::fs::read("/sys/kernel/btf/vmlinux")
        .is_ok_and(|btf| btf.windows(b"nr_queued\0".len()).any(|w| w == b"nr_queued\0"));
    let fixed = match kernel_renamed {
        true => script.replace("$my_q->nr_running", "$my_q->nr_queued"),
        false => script,
    };
    std::fs::write(&runqlen_bt, fixed).unwrap();
    let bpftrace = Original::bpftrace(runqlen_bt.to_str().unwrap());
    // Three spinning tasks on one CPU: whenever one runs, two wait.
    spin(&comm, 3, 1000);
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let lengths: Vec<(u64, u64)> = out
        .entries("runqlen", "runqlen")
        .iter()
        .map(|e| {
            (
                e["key"][0].as_str().unwrap().parse().unwrap(),
                e["value"].as_u64().unwrap(),
            )
        })
        .collect();
    let total: u64 = lengths.iter().map(|&(_, n)| n).sum();
    let two_or_more: u64 = lengths.iter().filter(|&&(len, _)| len >= 2).map(|&(_, n)| n).sum();
    assert!(total > 50 && two_or_more * 10 >= total * 8, "{lengths:?}");
    // runqlen.bt samples every CPU: the two waiting beside the child are among its samples.
    let theirs = bpftrace_lhist(&bt, "@runqlen:");
    let theirs_two_or_more: u64 = theirs.range(2..).map(|(_, n)| n).sum();
    eprintln!("runqlen: ours {lengths:?}; runqlen.bt's {theirs:?}");
    assert!(theirs_two_or_more > 0, "runqlen.bt: {theirs:?}\n{bt:?}");
}

/// /proc/loadavg's three averages, as printed there.
fn load_averages() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    text.split_whitespace().take(3).map(str::to_string).collect()
}

/// loads.bt reads the kernel's `avenrun` by address, which this kernel
/// refuses (no data symbols in kallsyms): the plugin reads the same figures
/// from /proc/loadavg, granted. The kernel changes them every 5 s; the test
/// reads them every 50 ms meanwhile, and each tick's row is one of those.
#[test]
fn loads_prints_the_kernels_load_averages_each_tick_when_granted() {
    require_kernel!();
    let config = |grant: &str| {
        format!(
            "plugin_dir = \"{}\"\n[output]\ninterval = \"500ms\"\n[plugin.loads]\n{grant}",
            crate::harness::example_plugins().display()
        )
    };
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut seen = vec![load_averages()];
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let now = load_averages();
                if !seen.contains(&now) {
                    seen.push(now);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            seen
        })
    };
    let tracer = Tracer::start(&config("[plugin.loads.grant]\nread_dirs = [\"/proc\"]\n"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = tracer.stop();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    out.assert_clean_exit();
    let rows = out.columns("loads", &["LOAD1", "LOAD5", "LOAD15"]);
    assert!(rows.len() >= 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| seen.contains(r)),
        "{rows:?}; /proc/loadavg showed {seen:?}"
    );
    let last = rows.last().unwrap();
    let milli = out.entry("loads", "load_milli", &["1"]).expect("a gauge")["value"].as_i64();
    assert_eq!(milli, Some((last[0].parse::<f64>().unwrap() * 1000.0).round() as i64));
    // Without the grant, the sandbox has no /proc: said once, in a row.
    let tracer = Tracer::start(&config(""));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = tracer.stop();
    out.assert_clean_exit();
    let said = out.columns("loads", &["LOAD1"]);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0][0].contains("grant read_dirs"), "{said:?}");
}
