//! `wasmtrace bench`: generates workloads, runs them untraced and under
//! each tracer, and prints one table of times, ratios, events and costs,
//! all taken in the same run (these machines are shared and noisy).

mod tracer;
pub mod workload;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use tracer::Stacks;
pub use tracer::Tracer;
use tracer::{Report, Running};
pub use workload::Workload;

pub struct Options {
    pub workloads: Vec<Workload>,
    /// Repetitions per workload; each workload's default when `None`.
    pub count: Option<u64>,
    /// Where the `tally` component (and the others of the 4-plugin run) are.
    pub plugin_dir: PathBuf,
    /// Runs of each workload per tracer; the fastest counts.
    pub repeat: u32,
    /// Also run bpftrace and libbpf-tools where installed.
    pub compare: bool,
    /// Also measure the kernel's time in eBPF programs (its run-time statistics).
    pub kernel_time: bool,
}

/// The plugins of the "4 plugins loaded" run: tally plus three examples.
const FOUR_PLUGINS: [&str; 4] = ["tally", "syscount", "execsnoop", "lifetime"];
/// The "slow neighbour" run: tally beside opentop (JavaScript, ~50× slower
/// per event) on the same probe; tally must still count every event.
const SLOW_NEIGHBOUR: [&str; 2] = ["tally", "opentop"];

struct Row {
    workload: Workload,
    tracer: String,
    generated: u64,
    elapsed: Duration,
    untraced: Duration,
    /// Time the kernel spent in every eBPF program while the workload ran.
    kernel: Option<Duration>,
    outcome: Result<Report, String>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the wasmtrace binary")?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    // The exec storm runs a copy of true, so that its events carry a name of their own.
    let program = scratch.path().join(Workload::Exec.comm());
    std::fs::copy("/bin/true", &program).context("copying /bin/true for the exec storm")?;
    let plugin_dir = std::path::absolute(&options.plugin_dir)?;
    anyhow::ensure!(
        plugin_dir.join("tally.wasm").is_file(),
        "no tally.wasm in {}: build the example plugins first (plugins/build)",
        plugin_dir.display()
    );

    // The kernel keeps programs' run times only while this is held.
    let _kernel_stats = match options.kernel_time {
        true => Some(
            aya::sys::enable_stats(aya::sys::Stats::RunTime)
                .context("enabling the kernel's eBPF run-time statistics (needs CAP_SYS_ADMIN)")?,
        ),
        false => None,
    };
    let mut rows = Vec::new();
    for &workload in &options.workloads {
        let count = options.count.unwrap_or(workload.default_count());
        eprintln!("bench: {} ({count} repetitions)", workload.name());
        let untraced = fastest(options.repeat, || workload::spawn(&exe, workload, count, &program))?;
        let wasmtrace = |plugins: &[&'static str], stacks| Tracer::Wasmtrace {
            plugins: plugins.to_vec(),
            stacks,
        };
        let mut tracers = vec![wasmtrace(&["tally"], Stacks::Probes)];
        match workload {
            Workload::Open => {
                // Without a plugin it shows what the kernel side and decoding cost alone.
                tracers.push(wasmtrace(&[], Stacks::Probes));
                tracers.push(wasmtrace(&FOUR_PLUGINS, Stacks::Probes));
                tracers.push(wasmtrace(&SLOW_NEIGHBOUR, Stacks::Probes));
                // What stacks cost an event of a probe that is not sampled.
                tracers.push(wasmtrace(&["tally"], Stacks::Both));
            }
            Workload::Switch => tracers.push(wasmtrace(&["tally", "runqlat"], Stacks::Probes)),
            Workload::Profile => {
                tracers.push(wasmtrace(&["tally"], Stacks::None));
                tracers.push(wasmtrace(&["tally", "profile"], Stacks::Probes));
            }
            Workload::Exec | Workload::Connect | Workload::Lookup => {}
        }
        if options.compare {
            tracers.push(Tracer::Bpftrace);
            // Their runqlat and profile print aggregates, with no events to count.
            if !matches!(workload, Workload::Switch | Workload::Profile) {
                tracers.push(Tracer::LibbpfTools);
            }
        }
        for tracer in tracers {
            let config = scratch.path().join("bench.toml");
            std::fs::write(&config, config_text(&tracer, workload, &plugin_dir))?;
            let Some(cmd) = tracer.command(workload, &exe, &config) else {
                eprintln!("bench: {} is not installed; skipped", tracer.label());
                continue;
            };
            let mut row = Row {
                workload,
                tracer: tracer.label(),
                generated: count * u64::from(options.repeat),
                elapsed: Duration::ZERO,
                untraced,
                kernel: None,
                outcome: Err(String::new()),
            };
            let run = || workload::spawn(&exe, workload, count, &program);
            row.outcome = measure(&tracer, cmd, workload, options.repeat, run)
                .map(|(elapsed, kernel, report)| {
                    row.elapsed = elapsed;
                    row.kernel = kernel.filter(|_| options.kernel_time);
                    report
                })
                .map_err(|e| format!("{e:#}"));
            rows.push(row);
        }
    }
    print!("{}", table(&rows));
    Ok(())
}

/// The fastest of `repeat` runs: the least disturbed by the machine's other work.
fn fastest(repeat: u32, mut run: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..repeat.max(1) {
        best = best.min(run()?);
    }
    Ok(best)
}

fn measure(
    tracer: &Tracer,
    cmd: std::process::Command,
    workload: Workload,
    repeat: u32,
    run: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<(Duration, Option<Duration>, Report)> {
    let running = Running::start(tracer, workload, cmd)?;
    let before = programs_run_time();
    let elapsed = fastest(repeat, run);
    let kernel = programs_run_time().saturating_sub(before);
    // Let the tracer drain what the workload left in its buffers.
    std::thread::sleep(Duration::from_millis(200));
    let report = running.stop(tracer, workload)?;
    Ok((elapsed?, Some(kernel), report))
}

/// The run time of every loaded eBPF program, summed: whichever tracer
/// loaded them, it is the kernel side's cost.
fn programs_run_time() -> Duration {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|program| program.run_time())
        .sum()
}

fn config_text(tracer: &Tracer, workload: Workload, plugin_dir: &Path) -> String {
    let mut text = format!(
        "plugin_dir = {:?}\n[output]\nprint_maps = \"exit\"\n",
        plugin_dir.display().to_string()
    );
    if let Tracer::Wasmtrace { plugins, stacks } = tracer {
        let probe_table = match stacks {
            Stacks::Probes => None,
            Stacks::None => Some("stacks = \"none\"\n"),
            Stacks::Both => Some("stacks = \"both\"\n"),
        };
        if plugins.is_empty() || probe_table.is_some() {
            let _ = writeln!(text, "[probe.{:?}]\n{}", workload.probe(), probe_table.unwrap_or(""));
        }
        for plugin in plugins {
            let _ = writeln!(text, "[plugin.{plugin}]");
            if *plugin == "tally" {
                let _ = writeln!(text, "probes = [{:?}]", workload.probe());
            }
        }
    }
    text
}

fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "\n{:<14} {:<28} {:>9} {:>9} {:>10} {:>10} {:>8} {:>9} {:>9} {:>8} {:>9} {:>10} {:>9} {:>9}\n",
        "workload",
        "tracer",
        "time",
        "slowdown",
        "generated",
        "delivered",
        "lost",
        "dropped",
        "host CPU",
        "CPU/ev",
        "peak RSS",
        "plugin/ev",
        "p99 lat",
        "kernel/ev"
    );
    for row in rows {
        let _ = write!(out, "{:<14} {:<28} ", row.workload.name(), row.tracer);
        match &row.outcome {
            Ok(r) => {
                // Busy CPUs' events are the samples taken: per event is per sample delivered.
                let (generated, events) = match row.workload.one_event_per_repetition() {
                    true => (row.generated.to_string(), row.generated),
                    false => ("-".to_string(), r.delivered),
                };
                let _ = writeln!(
                    out,
                    "{:>9} {:>8.2}x {:>10} {:>10} {:>8} {:>9} {:>9} {:>8} {:>6} MiB {:>10} {:>9} {:>9}",
                    format!("{:.2?}", row.elapsed),
                    row.elapsed.as_secs_f64() / row.untraced.as_secs_f64(),
                    generated,
                    r.delivered,
                    r.lost,
                    r.dropped.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                    format!("{:.2?}", r.cpu),
                    format!("{} ns", r.cpu.as_nanos() / u128::from(events.max(1))),
                    r.peak_rss_kib / 1024,
                    r.plugin_ns.map(|ns| format!("{ns} ns")).unwrap_or_else(|| "-".into()),
                    r.latency_p99_ns
                        .map(|ns| format!("{:.1?}", Duration::from_nanos(ns)))
                        .unwrap_or_else(|| "-".into()),
                    row.kernel
                        .map(|t| format!("{} ns", t.as_nanos() / u128::from(events.max(1))))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            Err(e) => {
                let _ = writeln!(out, "could not run: {e}");
            }
        }
    }
    for row in rows {
        if let Ok(Report {
            stacks: Some(stacks), ..
        }) = &row.outcome
        {
            let _ = writeln!(out, "{:<14} {}: {stacks}", row.workload.name(), row.tracer);
        }
    }
    let mut untraced: Vec<(Workload, Duration)> = rows.iter().map(|r| (r.workload, r.untraced)).collect();
    untraced.dedup_by_key(|(w, _)| *w);
    for (workload, time) in untraced {
        let _ = writeln!(out, "{:<14} untraced: {time:.2?}", workload.name());
    }
    out.push_str(
        "time: the fastest run; slowdown: against untraced; delivered: the workload's events the tracer counted;\n\
         lost: in the kernel (ring buffer full); dropped: from slower plugins' own queues (all plugins together);\n\
         host CPU, CPU/ev, peak RSS: the tracer process's; plugin/ev: CPU time inside tally per event;\n\
         p99 lat: from an event to the call that hands it to tally, 99th percentile (end of its log2 bucket);\n\
         kernel/ev: time in the tracer's eBPF programs per event (with --kernel-time);\n\
         busy CPUs: sampled at 99 Hz; its events are the samples (generated: -), the per-event figures per sample\n",
    );
    out
}
