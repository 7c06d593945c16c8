//! The soak run: mixed open, exec and connect storms for a long time, with
//! a plugin hot-reloaded every second, a plugin that traps and is redeployed
//! every few seconds, and the Prometheus endpoint scraped every second.
//! Nothing may be lost unaccounted: each event is delivered, or counted as
//! lost (ring buffer full), or within the kernel's count of skipped program
//! calls (a hook that fired while another eBPF program ran on that CPU);
//! each delivered event reaches each plugin or is counted as dropped or
//! missed for it. The host's memory, open files and threads must stay flat
//! after warm-up.
//!
//! CI runs it for 30 s. For the long run (figures printed on stderr):
//! `WASMTRACE_SOAK=10m cargo test --release --test e2e soak -- --nocapture`

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{
    Finished, Tracer, another_build, child_opens, example_plugins, fork_child_status, free_port, http_get, install,
    test_plugins, unique,
};

/// Host RSS may grow this much from the end of warm-up to the end of the run.
const RSS_GROWTH: f64 = 0.05;

/// The name of the host's blocking-pool threads (plugin loads, scrapes):
/// tokio keeps an idle one for its keep-alive (10 s) in case more work comes,
/// so while reloads and scrapes go on their number moves without a leak.
const POOL_THREAD: &str = "blocking-pool";

/// One look at the host process: resident memory (KiB), open fds, threads
/// outside the blocking pool, and the pool's threads.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
    threads: usize,
    pool_threads: usize,
}

fn sample(pid: u32, at: Duration) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .collect()
        })
        .unwrap_or_default();
    let pool_threads = names.iter().filter(|n| n.trim_end() == POOL_THREAD).count();
    Sample {
        at,
        rss_kib: field("VmRSS:"),
        fds,
        threads: names.len() - pool_threads,
        pool_threads,
    }
}

/// Once nothing gives the blocking pool work, its threads all end within
/// tokio's keep-alive: the time that took, or None if one stayed (a load
/// or scrape that never returned).
fn pool_drain_time(pid: u32) -> Option<Duration> {
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(20) {
        if sample(pid, Duration::ZERO).pool_threads == 0 {
            return Some(quiet.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Repeats `step` until `stop`, counting what each step generated.
fn storm(
    stop: &Arc<AtomicBool>,
    count: &Arc<AtomicU64>,
    step: impl Fn() -> u64 + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (stop, count) = (stop.clone(), count.clone());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            count.fetch_add(step(), Ordering::Relaxed);
        }
    })
}

fn soak_duration() -> Duration {
    std::env::var("WASMTRACE_SOAK")
        .ok()
        .map(|d| humantime::parse_duration(&d).expect("WASMTRACE_SOAK is a duration, e.g. 10m"))
        .unwrap_or(Duration::from_secs(30))
}

#[test]
fn soak_mixed_storms_reloads_traps_and_scrapes_lose_nothing_and_stay_flat() {
    require_kernel!();
    let duration = soak_duration();
    let warm_up = duration / 3;
    let plugins = tempfile::tempdir().unwrap();
    let tally = std::fs::read(example_plugins().join("tally.wasm")).unwrap();
    let misbehave = std::fs::read(test_plugins().join("misbehave.wasm")).unwrap();
    install(plugins.path(), "tally", &tally);
    install(plugins.path(), "churn", &tally);
    install(plugins.path(), "trapper", &misbehave);

    let comms = [unique("wt-so-"), unique("wt-sx-"), unique("wt-sc-")];
    let [open_comm, exec_comm, connect_comm] = comms.clone();
    let program = plugins.path().join(&exec_comm);
    std::fs::copy("/bin/true", &program).unwrap();
    let program_key = program.display().to_string();
    let port = free_port();
    let probes = r#"["file.open", "process.exec", "net.tcp.connect"]"#;
    let config = format!(
        r#"
watch = true
plugin_dir = "{dir}"
cache_dir = "{dir}/.cache"
[output]
prometheus = "127.0.0.1:{port}"
[probe."file.open"]
comm = ["{open_comm}"]
[probe."process.exec"]
comm = ["{exec_comm}"]
[probe."net.tcp.connect"]
comm = ["{connect_comm}"]
[plugin.tally]
path = "{dir}/tally.wasm"
probes = {probes}
[plugin.churn]
path = "{dir}/churn.wasm"
probes = {probes}
[plugin.trapper]
path = "{dir}/trapper.wasm"
[plugin.trapper.config]
after = 20000
"#,
        dir = plugins.path().display()
    );
    let tracer = Tracer::start(&config);
    let pid = tracer.pid();
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let (opens, execs, connects) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut storms = vec![
        storm(&stop, &opens, move || {
            child_opens(&open_comm, Path::new("/dev/null"), 20_000);
            std::thread::sleep(Duration::from_millis(50));
            20_000
        }),
        storm(&stop, &execs, move || {
            let status = std::process::Command::new(&program).status().unwrap();
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(5));
            1
        }),
    ];
    // The connect storm's listener accepts until the storm has ended: forked
    // children (this test's and others') inherit its socket, so closing it
    // here early would leave connects waiting on a listener nobody serves.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let serving = Arc::new(AtomicBool::new(true));
    let acceptor = {
        let serving = serving.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while serving.load(Ordering::Relaxed) {
                if listener.accept().is_err() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    storms.push(storm(&stop, &connects, move || {
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: target.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        // Reset on close: no TIME_WAIT sockets pile up over a long run.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // A child of its own name connects 200 times (raw syscalls only, after fork).
        let (_, status) = fork_child_status(&connect_comm, || {
            for _ in 0..200 {
                // SAFETY: socket calls on a socket this child owns, with valid arguments.
                unsafe {
                    let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                    let size = size_of::<libc::linger>() as libc::socklen_t;
                    libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, (&raw const linger).cast(), size);
                    let size = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                    if libc::connect(fd, (&raw const to).cast(), size) != 0 {
                        // The errno, in the exit status the test reports.
                        libc::_exit(*libc::__errno_location());
                    }
                    libc::close(fd);
                }
            }
        });
        assert_eq!(
            status, 0,
            "a connect failed (the errno is in the exit status's high byte)"
        );
        std::thread::sleep(Duration::from_millis(20));
        200
    }));

    // The operator's side: redeploys, scrapes and looks at the host, once a second.
    let mut samples = Vec::new();
    let (mut reloads, mut redeploys, mut scrapes, mut bad_scrapes) = (0u64, 0u64, 0u64, 0u64);
    let mut second = 0u64;
    while started.elapsed() < duration {
        std::thread::sleep(Duration::from_secs(1));
        second += 1;
        // Two builds in turn: a new version every second, each compiled once.
        install(
            plugins.path(),
            "churn",
            &another_build(&tally, &format!("v{}", second % 2)),
        );
        reloads += 1;
        if second.is_multiple_of(4) {
            install(
                plugins.path(),
                "trapper",
                &another_build(&misbehave, &format!("v{}", second / 4 % 2)),
            );
            redeploys += 1;
        }
        match http_get(port, "/metrics") {
            Ok(body) if body.contains("wasmtrace_tally_events") => scrapes += 1,
            _ => bad_scrapes += 1,
        }
        samples.push(sample(pid, started.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    for s in storms {
        s.join().unwrap();
    }
    serving.store(false, Ordering::Relaxed);
    acceptor.join().unwrap();
    // Let the last events drain before stopping, and the idle pool end.
    std::thread::sleep(Duration::from_secs(2));
    let pool_drained = pool_drain_time(pid);
    let out = tracer.stop();
    out.assert_clean_exit();
    let generated = [
        ("file.open", opens.load(Ordering::Relaxed), "/dev/null"),
        ("process.exec", execs.load(Ordering::Relaxed), program_key.as_str()),
        ("net.tcp.connect", connects.load(Ordering::Relaxed), "127.0.0.1"),
    ];
    eprintln!(
        "soak: {:.0?}, {reloads} reloads of churn, {redeploys} redeploys of trapper, {scrapes} scrapes ({bad_scrapes} failed)",
        started.elapsed()
    );
    let said = |what: &str| out.stderr.lines().filter(|l| l.contains(what)).count();
    let swaps = |plugin: &str| said(&format!("plugin `{plugin}`: new version swapped in")) as u64;
    let (tally_swaps, churn_swaps, trapper_swaps) = (swaps("tally"), swaps("churn"), swaps("trapper"));
    eprintln!(
        "soak: swapped in: tally {tally_swaps}, churn {churn_swaps}, trapper {trapper_swaps}; trapper failed {} times, restarted {} times",
        said("plugin `trapper` failed"),
        said("plugin `trapper` restarted")
    );
    assert_eq!(bad_scrapes, 0, "every scrape answers with the maps");
    // A version is swapped in once (the watcher may merge two that come
    // close together); a plugin left alone is never reloaded.
    assert!(
        churn_swaps <= reloads && churn_swaps * 2 >= reloads,
        "churn: {churn_swaps} swaps for {reloads} deploys"
    );
    assert!(
        trapper_swaps <= redeploys && trapper_swaps >= 1,
        "trapper: {trapper_swaps} swaps for {redeploys} deploys"
    );
    assert_eq!(tally_swaps, 0, "tally was never redeployed");
    check_counts(&out, &generated, &comms);
    check_flat(&samples, warm_up, pool_drained);
}

/// Every event generated is delivered or counted as lost in the kernel;
/// every delivered event reaches each plugin or is counted as dropped or
/// missed for it; plugins that were never down count each event exactly.
fn check_counts(out: &Finished, generated: &[(&str, u64, &str)], comms: &[String; 3]) {
    let mut delivered_opens = 0;
    for ((probe, made, key), comm) in generated.iter().zip(comms) {
        let (events, lost) = out.probe(probe);
        let skipped = out.of_type("probe").find(|l| l["probe"] == *probe).unwrap()["skipped"]
            .as_u64()
            .unwrap();
        eprintln!(
            "soak: {probe}: generated {made}, delivered {events}, lost in the kernel {lost}, hook calls skipped by the kernel {skipped}"
        );
        // Events the kernel did not run the probe for are within its count
        // of skipped calls (which also holds calls that were no event).
        assert!(events + lost <= *made, "{probe}: no event counted twice");
        assert!(
            *made - events - lost <= skipped,
            "{probe}: {} events neither delivered nor lost, beyond the {skipped} skipped calls",
            *made - events - lost
        );
        assert!(events > 0, "{probe}: some events were delivered");
        if *probe == "file.open" {
            delivered_opens = events;
        }
        for plugin in ["tally", "churn"] {
            let stats = out.plugin(plugin);
            let counted = out.counter(plugin, "events", &[comm, key]).unwrap_or(0);
            let dropped = stats["dropped_by_probe"][*probe].as_u64().unwrap_or(0);
            eprintln!("soak:   {plugin}: counted {counted}, dropped {dropped}");
            assert_eq!(stats["missed"], 0, "{plugin} never fails");
            assert_eq!(
                counted + dropped,
                events,
                "{plugin} on {probe}: counted + dropped = delivered"
            );
        }
    }
    let trapper = out.plugin("trapper");
    let (seen, dropped, missed) = (
        trapper["events"].as_u64().unwrap(),
        trapper["dropped"].as_u64().unwrap(),
        trapper["missed"].as_u64().unwrap(),
    );
    eprintln!(
        "soak: trapper: {} failures; events {seen} + dropped {dropped} + missed {missed} of {delivered_opens} opens",
        trapper["failures"]
    );
    assert!(
        trapper["failures"].as_u64().unwrap() >= 2,
        "the trapper trapped again after a redeploy"
    );
    assert_eq!(
        seen + dropped + missed,
        delivered_opens,
        "the trapper's events are all accounted for"
    );
}

/// After warm-up, resident memory grows by less than `RSS_GROWTH`, the open
/// fds and the threads outside the blocking pool come back to where they
/// were, and the pool empties once it has no more work.
fn check_flat(samples: &[Sample], warm_up: Duration, pool_drained: Option<Duration>) {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= warm_up).collect();
    assert!(
        after.len() >= 6,
        "the soak ran long enough to compare ({} samples)",
        after.len()
    );
    let mean_rss = |s: &[&Sample]| s.iter().map(|s| s.rss_kib).sum::<u64>() as f64 / s.len() as f64;
    let (first, last) = (&after[..3], &after[after.len() - 3..]);
    let growth = mean_rss(last) / mean_rss(first) - 1.0;
    let fds = after.iter().map(|s| s.fds);
    let threads = after.iter().map(|s| s.threads);
    let pool = after.iter().map(|s| s.pool_threads);
    eprintln!(
        "soak: after warm-up ({warm_up:.0?}): RSS {:.1} -> {:.1} MiB ({:+.1} %), peak {:.1} MiB; fds {}..{}; threads {}..{}, and {}..{} in the blocking pool, which emptied {:.1?} after the work stopped",
        mean_rss(first) / 1024.0,
        mean_rss(last) / 1024.0,
        growth * 100.0,
        after.iter().map(|s| s.rss_kib).max().unwrap() as f64 / 1024.0,
        fds.clone().min().unwrap(),
        fds.clone().max().unwrap(),
        threads.clone().min().unwrap(),
        threads.clone().max().unwrap(),
        pool.clone().min().unwrap(),
        pool.clone().max().unwrap(),
        pool_drained,
    );
    assert!(growth < RSS_GROWTH, "RSS grew {:.1} % after warm-up", growth * 100.0);
    let (fds_first, fds_last) = (
        after[0].fds.min(after[1].fds),
        last.iter().map(|s| s.fds).min().unwrap(),
    );
    assert!(fds_last <= fds_first, "open fds grew from {fds_first} to {fds_last}");
    let (threads_first, threads_last) = (
        first.iter().map(|s| s.threads).max().unwrap(),
        last.iter().map(|s| s.threads).min().unwrap(),
    );
    assert!(
        threads_last <= threads_first,
        "threads outside the blocking pool grew from {threads_first} to {threads_last}"
    );
    assert!(
        pool_drained.is_some(),
        "a blocking-pool thread was still there 20 s after the last reload and scrape"
    );
}
