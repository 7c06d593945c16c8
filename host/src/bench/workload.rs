//! The workloads `wasmtrace bench` generates: each runs in its own process
//! (`wasmtrace bench-workload`), under a command name of its own, so that a
//! tracer's counts for it can be told apart from the rest of the machine.

use std::ffi::CString;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// open() and close() /dev/null.
    Open,
    /// fork and exec a copy of /bin/true, and wait for it.
    Exec,
    /// connect() to a loopback TCP listener, accept, and close with a reset.
    Connect,
    /// two threads pass a byte back and forth through pipes: each pass
    /// wakes the other thread, which then waits on a run queue for a CPU.
    Switch,
    /// getaddrinfo("127.0.0.1") through libc: a uprobe and a uretprobe per
    /// call, answered without a lookup.
    Lookup,
    /// every CPU busy in user code (a thread each), sampled at 99 Hz with
    /// kernel and user stacks: its events are the samples, as many as the
    /// run's length makes.
    Profile,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::Open,
        Workload::Exec,
        Workload::Connect,
        Workload::Switch,
        Workload::Lookup,
        Workload::Profile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Open => "open storm",
            Workload::Exec => "exec storm",
            Workload::Connect => "connect storm",
            Workload::Switch => "switch storm",
            Workload::Lookup => "lookup storm",
            Workload::Profile => "busy CPUs",
        }
    }

    /// Repetitions that take about a second untraced on a small machine.
    pub fn default_count(self) -> u64 {
        match self {
            Workload::Open => 2_000_000,
            Workload::Exec => 2_000,
            Workload::Connect => 20_000,
            Workload::Switch => 20_000,
            Workload::Lookup => 50_000,
            Workload::Profile => 10_000_000_000,
        }
    }

    /// The command name its events carry. For the exec storm it is the
    /// executed program's name, which the exec gives the child.
    pub fn comm(self) -> &'static str {
        match self {
            Workload::Open => "wtb-open",
            Workload::Exec => "wtb-exec",
            Workload::Connect => "wtb-connect",
            Workload::Switch => "wtb-switch",
            Workload::Lookup => "wtb-lookup",
            Workload::Profile => "wtb-profile",
        }
    }

    /// The probe whose events it generates, one per repetition.
    pub fn probe(self) -> &'static str {
        match self {
            Workload::Open => "file.open",
            Workload::Exec => "process.exec",
            Workload::Connect => "syscall.enter",
            Workload::Switch => "sched.runq-latency",
            Workload::Lookup => "net.dns",
            Workload::Profile => "cpu.sample",
        }
    }

    /// Whether each repetition makes one event; the samples of busy CPUs
    /// are as many as the time they took makes.
    pub fn one_event_per_repetition(self) -> bool {
        self != Workload::Profile
    }
}

/// Runs `count` repetitions of the workload in this process and returns how long they took.
/// `program` is the executable the exec storm runs.
pub fn generate(workload: Workload, count: u64, program: &Path) -> anyhow::Result<Duration> {
    let comm = CString::new(workload.comm()).expect("no NUL in a command name");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    let started;
    match workload {
        Workload::Open => {
            let path = c"/dev/null";
            started = Instant::now();
            for _ in 0..count {
                // SAFETY: a valid path; the fd is ours to close.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    anyhow::ensure!(fd >= 0, "opening /dev/null: {}", std::io::Error::last_os_error());
                    libc::close(fd);
                }
            }
        }
        Workload::Exec => {
            started = Instant::now();
            for _ in 0..count {
                let status = Command::new(program)
                    .status()
                    .with_context(|| format!("running {}", program.display()))?;
                anyhow::ensure!(status.success(), "{} failed: {status}", program.display());
            }
        }
        Workload::Connect => {
            let listener = TcpListener::bind("127.0.0.1:0").context("listening on loopback")?;
            let addr = listener.local_addr()?;
            started = Instant::now();
            // Accepting in the same thread keeps the backlog from overflowing
            // (an overflow drops the SYN and costs a 1 s retransmit).
            for _ in 0..count {
                let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
                reset_on_close(&stream);
                let (accepted, _) = listener.accept().context("accepting on loopback")?;
                drop(stream);
                drop(accepted);
            }
        }
        Workload::Switch => {
            started = Instant::now();
            ping_pong(count / 2)?;
        }
        Workload::Lookup => {
            started = Instant::now();
            for _ in 0..count {
                let mut found = std::ptr::null_mut();
                // SAFETY: a NUL-terminated host, no service or hints; the result is freed.
                let error =
                    unsafe { libc::getaddrinfo(c"127.0.0.1".as_ptr(), std::ptr::null(), std::ptr::null(), &mut found) };
                anyhow::ensure!(error == 0, "getaddrinfo(127.0.0.1) failed: {error}");
                // SAFETY: what getaddrinfo returned, once.
                unsafe { libc::freeaddrinfo(found) };
            }
        }
        Workload::Profile => {
            started = Instant::now();
            busy(count);
        }
    }
    let elapsed = started.elapsed();
    writeln!(std::io::stdout(), "{}", elapsed.as_nanos())?;
    Ok(elapsed)
}

/// `steps` steps of a loop of calls, shared out among a thread per CPU.
fn busy(steps: u64) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let each = steps / threads;
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || (0..each).fold(0u64, |acc, i| std::hint::black_box(acc ^ i.rotate_left(7))))
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
}

/// `rounds` round trips of a byte between this thread and another (named
/// as this one: it inherits the name), through a pipe each way.
fn ping_pong(rounds: u64) -> anyhow::Result<()> {
    let pipe = || -> anyhow::Result<[libc::c_int; 2]> {
        let mut fds = [0; 2];
        // SAFETY: pipe fills the two descriptors it is given.
        anyhow::ensure!(
            unsafe { libc::pipe(fds.as_mut_ptr()) } == 0,
            "pipe: {}",
            std::io::Error::last_os_error()
        );
        Ok(fds)
    };
    let (there, back) = (pipe()?, pipe()?);
    // Each side reads one byte, then passes it on; a failed call ends both.
    let pass = |from: libc::c_int, to: libc::c_int| -> bool {
        let mut byte = 0u8;
        // SAFETY: one byte into and out of a live buffer, on our own pipes.
        unsafe { libc::read(from, (&raw mut byte).cast(), 1) == 1 && libc::write(to, (&raw const byte).cast(), 1) == 1 }
    };
    let echo = std::thread::spawn(move || (0..rounds).all(|_| pass(there[0], back[1])));
    let mut ok = true;
    for _ in 0..rounds {
        // SAFETY: one byte from a live buffer into our own pipe.
        ok = ok && unsafe { libc::write(there[1], c"x".as_ptr().cast(), 1) } == 1;
        let mut byte = 0u8;
        // SAFETY: one byte into a live buffer, from our own pipe.
        ok = ok && unsafe { libc::read(back[0], (&raw mut byte).cast(), 1) } == 1;
        if !ok {
            break;
        }
    }
    let echoed = echo.join().map_err(|_| anyhow::anyhow!("the echo thread panicked"))?;
    for fd in there.into_iter().chain(back) {
        // SAFETY: closing our own descriptors once.
        unsafe { libc::close(fd) };
    }
    anyhow::ensure!(
        ok && echoed,
        "passing a byte through a pipe: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Closing with a reset leaves no TIME_WAIT socket behind, so repeated
/// storms do not run out of ephemeral ports and slow each other down.
fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Runs the workload in a child process (`exe bench-workload`) and returns
/// the time its repetitions took, as the child measured it.
pub fn spawn(exe: &Path, workload: Workload, count: u64, program: &Path) -> anyhow::Result<Duration> {
    let kind = clap::ValueEnum::to_possible_value(&workload).expect("no skipped workloads");
    let output = Command::new(exe)
        .args(["bench-workload", kind.get_name(), &count.to_string()])
        .arg(program)
        .output()
        .context("starting the workload")?;
    anyhow::ensure!(
        output.status.success(),
        "the {} failed: {}",
        workload.name(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let nanos: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("reading the workload's time")?;
    Ok(Duration::from_nanos(nanos))
}
