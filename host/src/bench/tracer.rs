//! The tracers `wasmtrace bench` compares: wasmtrace itself (a child
//! `wasmtrace run`), and bpftrace and libbpf-tools where installed, each
//! doing the same job on the same workload.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};

use super::workload::Workload;

/// How long a tracer may take to attach before the bench gives up on it.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(120);
/// bpftrace says "Attaching" before it has, and libbpf-tools say nothing
/// on a pipe (stdio buffers their header): every tracer gets this long
/// after its start-up message (or its start) before the workload runs.
const SETTLE: Duration = Duration::from_secs(2);

/// The stacks the workload's probe carries in a wasmtrace run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacks {
    /// As the probe's table defaults (none, but cpu.sample's both).
    Probes,
    None,
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracer {
    /// `wasmtrace run` with these plugins (the first is `tally`, which
    /// counts every event), the workload's probe carrying these stacks.
    Wasmtrace { plugins: Vec<&'static str>, stacks: Stacks },
    /// bpftrace counting in the kernel, per comm and key.
    Bpftrace,
    /// The libbpf-tools tool that prints every event.
    LibbpfTools,
}

/// What a tracer reported about the workload's events, and what it cost.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: u64,
    pub lost: u64,
    pub cpu: Duration,
    pub peak_rss_kib: u64,
    /// Nanoseconds per event inside the counting plugin (wasmtrace only).
    pub plugin_ns: Option<u64>,
    /// Events dropped from the plugins' own queues, all plugins together (wasmtrace only).
    pub dropped: Option<u64>,
    /// Nanoseconds from an event to the call that hands it to tally, p99 (an upper bound).
    pub latency_p99_ns: Option<u64>,
    /// What the session's stacks took, as wasmtrace says at exit.
    pub stacks: Option<String>,
}

impl Tracer {
    pub fn label(&self) -> String {
        match self {
            Tracer::Wasmtrace { plugins, stacks } => {
                let with = match stacks {
                    Stacks::Probes => "",
                    Stacks::None => ", no stacks",
                    Stacks::Both => ", stacks",
                };
                match plugins.len() {
                    0 => format!("wasmtrace (no plugin{with})"),
                    1 | 2 => format!("wasmtrace ({}{with})", plugins.join(" + ")),
                    n => format!("wasmtrace ({n} plugins{with})"),
                }
            }
            Tracer::Bpftrace => "bpftrace count()".into(),
            Tracer::LibbpfTools => "libbpf-tools".into(),
        }
    }

    /// Whether this tracer can be run here at all (installed), and how.
    pub fn command(&self, workload: Workload, exe: &Path, config: &Path) -> Option<Command> {
        match self {
            Tracer::Wasmtrace { .. } => {
                let mut cmd = Command::new(exe);
                cmd.args(["run", "--output", "json", "--config"]).arg(config);
                Some(cmd)
            }
            Tracer::Bpftrace => {
                let program = match workload {
                    Workload::Open => {
                        "tracepoint:syscalls:sys_enter_openat { @[comm, str(args->filename)] = count(); }"
                    }
                    Workload::Exec => "tracepoint:sched:sched_process_exec { @[comm, str(args->filename)] = count(); }",
                    Workload::Connect => "tracepoint:raw_syscalls:sys_enter { @[comm, args->id] = count(); }",
                    // runqlat.bt (TASK_RUNNING is 0), counting each run by the name of the task that waited.
                    Workload::Switch => {
                        "tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; } \
                         tracepoint:sched:sched_switch { if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; } \
                         $ns = @qtime[args->next_pid]; if ($ns) { @usecs = hist((nsecs - $ns) / 1000); \
                         @[args->next_comm, 0] = count(); } delete(@qtime[args->next_pid]); }"
                    }
                    // gethostlatency.bt's timing of getaddrinfo, counting each call.
                    Workload::Lookup => {
                        "uprobe:libc:getaddrinfo { @start[tid] = nsecs; } \
                         uretprobe:libc:getaddrinfo /@start[tid]/ { @[comm, 0] = count(); delete(@start[tid]); }"
                    }
                    // The profile one-liner, and a count of samples by comm to report.
                    Workload::Profile => "profile:hz:99 { @s[kstack, ustack, comm] = count(); @[comm, 0] = count(); }",
                };
                let bpftrace = find_program("bpftrace")?;
                let mut cmd = Command::new(bpftrace);
                cmd.args(["-e", program]);
                Some(cmd)
            }
            Tracer::LibbpfTools => {
                let tool = match workload {
                    Workload::Open => "opensnoop",
                    Workload::Exec => "execsnoop",
                    Workload::Connect => "tcpconnect",
                    // Its runqlat and profile print aggregates, with no events to count.
                    Workload::Switch | Workload::Profile => return None,
                    Workload::Lookup => "gethostlatency",
                };
                let path = Path::new("/usr/sbin").join(tool);
                path.exists().then(|| Command::new(path))
            }
        }
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// A tracer attached and waiting for the workload.
pub struct Running {
    child: Child,
    stdout: JoinHandle<Collected>,
    stderr: JoinHandle<String>,
}

impl Running {
    /// Starts the tracer and waits until it says it has attached.
    pub fn start(tracer: &Tracer, workload: Workload, mut cmd: Command) -> anyhow::Result<Running> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", tracer.label()))?;
        let (ready_tx, ready) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        // wasmtrace says it is ready on stderr, bpftrace on stdout.
        let wasmtrace = matches!(tracer, Tracer::Wasmtrace { .. });
        let bpftrace = *tracer == Tracer::Bpftrace;
        if *tracer == Tracer::LibbpfTools {
            let _ = ready_tx.send(());
        }
        let tx = ready_tx.clone();
        let comm = workload.comm();
        // Only what the report needs is kept: the bench must stay small, as
        // its children's peak RSS starts from its own.
        let stdout = std::thread::spawn(move || {
            let mut collected = Collected::default();
            for line in stdout.lines().map_while(Result::ok) {
                if bpftrace && line.starts_with("Attaching") {
                    let _ = tx.send(());
                }
                // libbpf-tools print the command in one of their first three columns.
                if line.split_whitespace().take(3).any(|word| word == comm) {
                    collected.matching += 1;
                }
                let keep = if wasmtrace {
                    line.contains("\"tally\"")
                        || line.contains("\"type\":\"probe\"")
                        || line.contains("\"type\":\"plugin\"")
                } else {
                    bpftrace && line.starts_with("@[")
                };
                if keep {
                    collected.lines.push(line);
                }
            }
            collected
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                if wasmtrace && line.starts_with("wasmtrace: tracing") {
                    let _ = ready_tx.send(());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let mut running = Running { child, stdout, stderr };
        let attached = ready.recv_timeout(ATTACH_TIMEOUT).is_ok();
        if attached {
            std::thread::sleep(SETTLE);
        }
        if !attached || running.exited() {
            let _ = running.child.kill();
            let report = running.finish().err().map(|e| format!("{e:#}")).unwrap_or_default();
            bail!("{} did not attach: {report}", tracer.label());
        }
        Ok(running)
    }

    /// Stops the tracer with SIGINT (so it prints its results) and collects them.
    pub fn stop(self, tracer: &Tracer, workload: Workload) -> anyhow::Result<Report> {
        // Read before it exits; wait4's ru_maxrss would count the bench's own
        // pages too, which the child shared until its exec.
        let peak_rss_kib = peak_rss_kib(self.child.id()).context("reading the tracer's peak RSS")?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let (collected, rusage, stderr) = self.finish()?;
        let mut report = match tracer {
            Tracer::Wasmtrace { .. } => wasmtrace_report(&collected.lines, workload),
            Tracer::Bpftrace => Report {
                delivered: bpftrace_count(&collected.lines, workload),
                ..Report::default()
            },
            Tracer::LibbpfTools => Report {
                delivered: collected.matching,
                ..Report::default()
            },
        };
        report.cpu = timeval(rusage.ru_utime) + timeval(rusage.ru_stime);
        report.stacks = stderr
            .lines()
            .find_map(|l| Some(l.split_once("stacks: ")?.1.to_string()));
        report.peak_rss_kib = peak_rss_kib;
        Ok(report)
    }

    /// Whether the child has exited, leaving it to be reaped by `finish`.
    fn exited(&self) -> bool {
        // SAFETY: zeroed siginfo is valid; WNOWAIT leaves the child waitable.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.child.id(),
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled the pid field (0 when the child still runs).
        r == 0 && unsafe { info.si_pid() } != 0
    }

    /// Waits for the child, returning what its stdout held, its resource
    /// usage and its stderr; an error with its last words when it failed.
    fn finish(self) -> anyhow::Result<(Collected, libc::rusage, String)> {
        let pid = self.child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: zeroed rusage is valid; wait4 fills it for our own child.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        anyhow::ensure!(
            waited == pid,
            "waiting for the tracer: {}",
            std::io::Error::last_os_error()
        );
        let collected = self.stdout.join().unwrap_or_default();
        let stderr = self.stderr.join().unwrap_or_default();
        let by_sigint = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGINT;
        let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        if !(success || by_sigint) {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message");
            bail!("exited with status {status:#x}: {last}");
        }
        Ok((collected, rusage, stderr))
    }
}

/// What the bench keeps of a tracer's standard output.
#[derive(Default)]
struct Collected {
    /// The lines its report is read from.
    lines: Vec<String>,
    /// How many lines are the workload's events (libbpf-tools print one per event).
    matching: u64,
}

/// VmHWM: the process's peak resident set so far.
fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line")
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// The workload's count in tally's map, the probe's losses and tally's cost,
/// from `wasmtrace run --output json`.
fn wasmtrace_report(lines: &[String], workload: Workload) -> Report {
    let mut report = Report::default();
    for line in lines {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match value["type"].as_str() {
            Some("map") if value["plugin"] == "tally" => {
                for entry in value["entries"].as_array().into_iter().flatten() {
                    if entry["key"][0] == workload.comm() && workload_key(workload, &entry["key"][1]) {
                        report.delivered += entry["value"].as_u64().unwrap_or(0);
                    }
                }
            }
            Some("probe") if value["probe"] == workload.probe() => {
                report.lost += value["lost"].as_u64().unwrap_or(0);
            }
            Some("plugin") => {
                *report.dropped.get_or_insert(0) += value["dropped"].as_u64().unwrap_or(0);
                if value["plugin"] == "tally" {
                    report.plugin_ns = value["ns_per_event"].as_u64();
                    report.latency_p99_ns = value["latency_p99_ns"].as_u64();
                }
            }
            _ => {}
        }
    }
    report
}

/// Whether a count's key is the workload's event (the connect storm's
/// process makes other syscalls too; only connect() counts).
fn workload_key(workload: Workload, key: &serde_json::Value) -> bool {
    match workload {
        Workload::Connect => key == &serde_json::Value::from(libc::SYS_connect.to_string()),
        Workload::Open | Workload::Exec | Workload::Switch | Workload::Lookup | Workload::Profile => true,
    }
}

/// Sums bpftrace's `@[comm, key]: N` lines for the workload.
fn bpftrace_count(lines: &[String], workload: Workload) -> u64 {
    let prefix = format!("@[{}, ", workload.comm());
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once("]: "))
        .filter(|(key, _)| workload != Workload::Connect || *key == libc::SYS_connect.to_string())
        .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
        .sum()
}
