//! What the end-to-end tests share: building the plugin components from
//! source, running the real `wasmtrace` binary, and driving workloads.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value as Json;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
}

pub fn wasmtrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmtrace"))
}

/// Whether kernel tests can run. Without root they skip, unless
/// WASMTRACE_REQUIRE_KERNEL=1 (as in CI), where skipping is a failure.
pub fn kernel_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("WASMTRACE_REQUIRE_KERNEL").as_deref() != Ok("1"),
        "{test}: kernel tests need root, and WASMTRACE_REQUIRE_KERNEL=1 forbids skipping them"
    );
    eprintln!("SKIPPED {test}: kernel tests need root");
    false
}

/// Returns from the test unless kernel tests can run here (root), naming
/// the test; under WASMTRACE_REQUIRE_KERNEL=1 (CI) skipping fails instead.
macro_rules! require_kernel {
    () => {
        fn here() {}
        let test = std::any::type_name_of_val(&here).trim_end_matches("::here");
        let test = test.rsplit("::").next().unwrap_or(test);
        if !crate::harness::kernel_available(test) {
            return;
        }
    };
}

/// Builds a workspace of plugins for wasm32-wasip2 and returns its output folder.
fn build_components(workspace: &Path) -> PathBuf {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .current_dir(workspace)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo to build plugin components");
    assert!(
        status.success(),
        "building the components in {} failed",
        workspace.display()
    );
    workspace.join("target/wasm32-wasip2/release")
}

/// The example plugins (plugins/) in every language, built from source by
/// plugins/build once per test run.
pub fn example_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let status = Command::new(repo().join("plugins/build"))
            .env("WASMTRACE", env!("CARGO_BIN_EXE_wasmtrace"))
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .expect("running plugins/build");
        assert!(status.success(), "plugins/build failed");
        repo().join("plugins/target/components")
    })
}

/// The misbehaving test plugins (tests/plugins/), built once per test run.
pub fn test_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_components(&repo().join("tests/plugins")))
}

/// The Go test plugin (tests/plugins/echo-go: its build.sh runs Go's
/// wasip1 port, then `wasm-tools`), built once per test run into the Rust
/// ones' folder.
pub fn go_test_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = test_plugins().to_path_buf();
        let status = Command::new(repo().join("tests/plugins/echo-go/build.sh"))
            .env("WIT", repo().join("wit"))
            .env("SDK", repo().join("sdk/go"))
            .env("OUT", &out)
            .status()
            .expect("running tests/plugins/echo-go/build.sh");
        assert!(status.success(), "building tests/plugins/echo-go failed");
        out
    })
}

/// A name no other test or process uses, short enough for a comm (15 bytes).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n:x}", std::process::id() & 0xffff)
}

/// A running `wasmtrace run --output json`.
/// A child process killed (and reaped) when dropped unless it was waited for:
/// a test that fails midway must not leave a tracer or an original running,
/// its probes attached.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // A no-op for a child already waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

pub struct Tracer {
    child: Reaped,
    stdout: JoinHandle<String>,
    stderr: mpsc::Receiver<String>,
    /// Stderr lines read so far.
    said: String,
    _dir: tempfile::TempDir,
}

/// What a stopped tracer printed.
pub struct Finished {
    pub status: ExitStatus,
    pub lines: Vec<Json>,
    /// Bytes it wrote to stdout.
    pub stdout_bytes: usize,
    pub stderr: String,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped wasmtrace may take to exit before the test fails.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How a tracer is started: `Tracer::with(config)`, then what differs from
/// `wasmtrace run --output json` in a folder of its own, then `start`.
pub struct TracerBuilder<'a> {
    config: &'a str,
    dir: Option<tempfile::TempDir>,
    args: Vec<String>,
    ready: &'static str,
    env: Vec<(&'a str, &'a str)>,
    wrapper: &'a [&'a str],
}

impl<'a> TracerBuilder<'a> {
    /// The config is written into `dir` (which the tracer then keeps).
    pub fn dir(mut self, dir: tempfile::TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Text output (read it with `stop_raw`).
    pub fn text(mut self) -> Self {
        self.args = ["run", "--output", "text"].map(String::from).to_vec();
        self
    }

    /// `wasmtrace record FILE` instead, ready once it records.
    pub fn record(mut self, file: &Path) -> Self {
        self.args = vec!["record".into(), file.to_str().unwrap().into()];
        self.ready = "wasmtrace: recording";
        self
    }

    /// A variable in wasmtrace's environment.
    pub fn env(mut self, name: &'a str, value: &'a str) -> Self {
        self.env.push((name, value));
        self
    }

    /// `command` (e.g. `setpriv`, its options, and a wasmtrace binary) run
    /// instead of wasmtrace itself, wasmtrace's arguments after it.
    pub fn wrapped(mut self, command: &'a [&'a str]) -> Self {
        self.wrapper = command;
        self
    }

    /// Starts it and waits until it is ready (its probes attached).
    pub fn start(self) -> Tracer {
        let dir = self.dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let path = dir.path().join("wasmtrace.toml");
        std::fs::write(&path, self.config).unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args);
                cmd
            }
            None => wasmtrace(),
        };
        let mut child = cmd
            .envs(self.env.iter().copied())
            .args(&self.args)
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning wasmtrace");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            out.read_to_end(&mut bytes).unwrap();
            String::from_utf8(bytes).expect("wasmtrace writes UTF-8")
        });
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut tracer = Tracer {
            child: Reaped(child),
            stdout,
            stderr,
            said: String::new(),
            _dir: dir,
        };
        tracer.wait_for_stderr(self.ready);
        tracer
    }
}

impl Tracer {
    /// A tracer on `config`, to be told how it differs, then started.
    pub fn with(config: &str) -> TracerBuilder<'_> {
        TracerBuilder {
            config,
            dir: None,
            args: ["run", "--output", "json"].map(String::from).to_vec(),
            ready: "wasmtrace: tracing",
            env: Vec::new(),
            wrapper: &[],
        }
    }

    /// Starts wasmtrace on `config` and waits until its probes are attached.
    pub fn start(config: &str) -> Tracer {
        Tracer::with(config).start()
    }

    /// Starts the example `plugin` with its `probe` narrowed in the kernel to
    /// the command `comm`.
    pub fn tool(plugin: &str, probe: &str, comm: &str) -> Tracer {
        Tracer::start(&format!(
            "plugin_dir = \"{}\"\n[probe.\"{probe}\"]\ncomm = [\"{comm}\"]\n[plugin.{plugin}]\n",
            example_plugins().display()
        ))
    }

    /// Waits until wasmtrace writes a stderr line containing `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str) {
        loop {
            match self.stderr.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.said.push_str(&line);
                    self.said.push('\n');
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("wasmtrace never said {needle:?}; it said:\n{}", self.said);
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Samples its resident memory every 100 ms for `how_long`; the peak, in MiB.
    pub fn peak_rss_mib(&self, how_long: Duration) -> u64 {
        self.peak_memory_mib(how_long).0
    }

    /// Samples its memory every 100 ms for `how_long`; the peaks, in MiB, of
    /// what is resident (VmRSS) and of what it holds, touched or not (VmData:
    /// heap and private mappings).
    pub fn peak_memory_mib(&self, how_long: Duration) -> (u64, u64) {
        let status = format!("/proc/{}/status", self.pid());
        let mut peaks = (0, 0);
        let end = std::time::Instant::now() + how_long;
        while std::time::Instant::now() < end {
            let text = std::fs::read_to_string(&status).unwrap_or_default();
            let kib = |field: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
                    .unwrap_or(0)
            };
            peaks = (peaks.0.max(kib("VmRSS:")), peaks.1.max(kib("VmData:")));
            std::thread::sleep(Duration::from_millis(100));
        }
        (peaks.0 >> 10, peaks.1 >> 10)
    }

    /// Stops it as Ctrl-C would, and collects what it printed.
    pub fn stop(self) -> Finished {
        let (status, stdout, stderr) = self.stop_raw();
        Finished::new(status, &stdout, stderr)
    }

    /// Stops it as Ctrl-C would: its exit status, stdout and stderr as printed.
    /// One that has not exited a minute later is killed, and the test fails.
    pub fn stop_raw(mut self) -> (ExitStatus, String, String) {
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let given_up = std::time::Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > given_up {
                let _ = self.child.kill();
                let said: String = self.stderr.try_iter().map(|l| l + "\n").collect();
                panic!(
                    "wasmtrace did not stop within {STOP_TIMEOUT:?} of SIGINT; it said:\n{}{said}",
                    self.said
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.join().unwrap();
        let stderr: String = self.said + &self.stderr.iter().map(|l| l + "\n").collect::<String>();
        (status, stdout, stderr)
    }
}

impl Finished {
    /// From a finished `--output json` command's output.
    pub fn of(out: std::process::Output) -> Finished {
        Finished::new(
            out.status,
            &String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// From what a `--output json` run printed.
    pub fn new(status: ExitStatus, stdout: &str, stderr: String) -> Finished {
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        Finished {
            status,
            lines,
            stdout_bytes: stdout.len(),
            stderr,
        }
    }

    /// A plugin's figures, as printed at exit.
    pub fn plugin(&self, plugin: &str) -> &Json {
        self.of_type("plugin")
            .find(|l| l["plugin"] == plugin)
            .unwrap_or_else(|| panic!("no stats for plugin {plugin}; stderr:\n{}", self.stderr))
    }

    /// A map's entries, as printed at exit.
    pub fn entries(&self, plugin: &str, map: &str) -> Vec<Json> {
        self.of_type("map")
            .find(|l| l["plugin"] == plugin && l["name"] == map)
            .and_then(|m| m["entries"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
        self.lines.iter().filter(move |l| l["type"] == kind)
    }

    /// The fields of every live row the plugin printed.
    pub fn rows<'a>(&'a self, plugin: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
        self.of_type("row")
            .filter(move |l| l["plugin"] == plugin)
            .map(|l| &l["fields"])
    }

    /// These columns of the plugin's rows, as text.
    pub fn columns(&self, plugin: &str, names: &[&str]) -> Vec<Vec<String>> {
        self.rows(plugin)
            .map(|r| {
                names
                    .iter()
                    .map(|n| match &r[n] {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect()
    }

    /// The fields of every finding with this rule.
    pub fn findings<'a>(&'a self, rule: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
        self.of_type("finding")
            .filter(move |l| l["rule"] == rule)
            .map(|l| &l["fields"])
    }

    /// A counter's value for `key`, as printed at exit.
    pub fn counter(&self, plugin: &str, map: &str, key: &[&str]) -> Option<u64> {
        self.entry(plugin, map, key)?["value"].as_u64()
    }

    /// A map's entry for `key` (a histogram's has `count`, `sum`, `buckets`), as printed at exit.
    pub fn entry(&self, plugin: &str, map: &str, key: &[&str]) -> Option<&Json> {
        let map = self
            .of_type("map")
            .find(|l| l["plugin"] == plugin && l["name"] == map)?;
        map["entries"]
            .as_array()?
            .iter()
            .find(|e| e["key"] == serde_json::json!(key))
    }

    /// (events, lost) for a probe, as printed at exit.
    pub fn probe(&self, probe: &str) -> (u64, u64) {
        let p = self
            .of_type("probe")
            .find(|l| l["probe"] == probe)
            .unwrap_or_else(|| panic!("no stats for probe {probe}; stderr:\n{}", self.stderr));
        (p["events"].as_u64().unwrap(), p["lost"].as_u64().unwrap())
    }

    pub fn assert_clean_exit(&self) {
        assert!(
            self.status.success(),
            "wasmtrace exited with {}; stderr:\n{}",
            self.status,
            self.stderr
        );
    }
}

/// Makes `n` getppid calls: a syscall with no arguments or effects, raw
/// (so usable in a `fork_child` body).
pub fn getppid_calls(n: u64) {
    for _ in 0..n {
        // SAFETY: getppid has no arguments or side effects.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
}

/// Sleeps with one raw nanosleep call (glibc's `nanosleep` makes a clock_nanosleep one).
pub fn nanosleep_ms(ms: i64) {
    let pause = libc::timespec {
        tv_sec: ms / 1000,
        tv_nsec: ms % 1000 * 1_000_000,
    };
    // SAFETY: a valid timespec; no remainder is asked for.
    unsafe { libc::syscall(libc::SYS_nanosleep, &pause, std::ptr::null_mut::<libc::timespec>()) };
}

/// Makes a FIFO named `name` in `dir`, for a plugin to block on reading.
pub fn mkfifo(dir: &Path, name: &str) -> PathBuf {
    let fifo = dir.join(name);
    let c_fifo = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        fifo.display()
    );
    fifo
}

/// Forks a child that names itself `comm` (its command name, as the kernel
/// sees it), runs `body` and exits 0; waits for it and returns its pid.
/// `body` runs after fork in a threaded process, so it may only make raw
/// syscalls: no allocation, no locks.
pub fn fork_child(comm: &str, body: impl FnOnce()) -> u32 {
    fork_child_status(comm, body).0
}

/// Like `fork_child`, also returning the child's wait status.
pub fn fork_child_status(comm: &str, body: impl FnOnce()) -> (u32, i32) {
    let comm = CString::new(comm).unwrap();
    // SAFETY: the child only makes raw syscalls (prctl, what `body` makes, _exit).
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            libc::prctl(libc::PR_SET_NAME, comm.as_ptr() as libc::c_ulong, 0, 0, 0);
            body();
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        (pid as u32, status)
    }
}

/// Runs a Python script under the command name `comm` (it names itself
/// first; `ctypes`, `json`, `os`, `pty`, `socket`, `threading` and `time`
/// are imported); returns what it printed.
pub fn python(comm: &str, body: &str) -> String {
    let script = format!(
        "import ctypes, json, os, pty, socket, threading, time\n\
         ctypes.CDLL(None).prctl(15, {comm:?}.encode(), 0, 0, 0)\n{body}\n"
    );
    let run = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).unwrap()
}

/// Forks a child named `comm` that opens `path` `n` times; returns its pid.
pub fn child_opens(comm: &str, path: &Path, n: usize) -> u32 {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    fork_child(comm, || {
        for _ in 0..n {
            // SAFETY: a valid NUL-terminated path.
            unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
    })
}

/// Runs `cmd` to its end and collects its output, as `Command::output`
/// does; one still running after `limit` is killed, and the test fails.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let read = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let given_up = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > given_up {
            let _ = child.kill();
            let said = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
            panic!("{cmd:?} still ran after {limit:?}; it said:\n{said}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The file system type (as the kernel names it) of the mount holding `path`.
pub fn fs_type(path: &Path) -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some((fields[4], fields[dash + 1]))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.len())
        .map(|(_, fs)| fs.to_string())
        .unwrap()
}

/// The original of a tool (a bpftrace script such as
/// /usr/sbin/killsnoop.bt, or a libbpf-tools program) watching alongside
/// wasmtrace, for parity tests.
pub struct Original {
    child: Reaped,
    stdout: JoinHandle<String>,
}

impl Original {
    /// Starts a libbpf-tools program (line-buffered, so its lines come as
    /// they happen) and waits for its column header, printed once attached.
    pub fn libbpf_tool(tool: &str, args: &[&str]) -> Original {
        let mut cmd = Command::new("stdbuf");
        cmd.args(["-oL", tool]).args(args);
        let (original, header) = Original::spawn(cmd, "stdbuf (and libbpf-tools)");
        assert!(
            !header.is_empty(),
            "{tool} printed nothing (is libbpf-tools installed?)"
        );
        original
    }

    /// Starts a bpftrace tool and waits until it has attached.
    pub fn bpftrace(tool: &str) -> Original {
        let mut cmd = Command::new("bpftrace");
        cmd.arg(tool);
        let (original, first) = Original::spawn(
            cmd,
            "bpftrace (Debian package `bpftrace`; scripts/install-deps installs it)",
        );
        assert!(first.starts_with("Attaching"), "bpftrace {tool} said {first:?}");
        // bpftrace prints "Attaching" before it attaches; its BEGIN header
        // comes after. Give it the time it needs.
        std::thread::sleep(Duration::from_secs(2));
        original
    }

    /// Runs `cmd`, reads its first line, and collects the rest on a thread.
    fn spawn(mut cmd: Command, what: &str) -> (Original, String) {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("running {what}: {e}"));
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            out.read_to_end(&mut bytes).unwrap();
            String::from_utf8(bytes).expect("wasmtrace writes UTF-8")
        });
        (
            Original {
                child: Reaped(child),
                stdout,
            },
            first,
        )
    }

    /// Stops it as Ctrl-C would; the words of each line it printed.
    pub fn stop(mut self) -> Vec<Vec<String>> {
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.child.wait().unwrap();
        let text = self.stdout.join().unwrap();
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET over HTTP/1.0; the body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    http(port, "GET", path, "").map(|(_, body)| body)
}

/// A request over HTTP/1.0 with a JSON body; the status line and the body.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(String, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((head.lines().next().unwrap_or_default().to_string(), body.to_string()))
}

/// Puts a component in place the way a careful deploy does: write aside, then rename.
pub fn install(dir: &Path, name: &str, bytes: &[u8]) {
    let aside = dir.join(format!(".{name}.partial"));
    std::fs::write(&aside, bytes).unwrap();
    std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(&aside, dir.join(format!("{name}.wasm"))).unwrap();
}

/// The same component with a custom section appended: other bytes, same behaviour.
pub fn another_build(component: &[u8], tag: &str) -> Vec<u8> {
    let mut content = vec![tag.len() as u8];
    content.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    out.push(content.len() as u8); // LEB128 size, < 128
    out.extend_from_slice(&content);
    out
}

/// A server a test runs (Prometheus, Alertmanager, rsyslogd), stopped when dropped.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a set-up command that must succeed; its stdout, trimmed.
pub fn run_ok(cmd: &str, args: &[&str]) -> String {
    run_command(Command::new(cmd).args(args))
}

/// Runs a command that must succeed (podman, openssl, a Python script…); its stdout, trimmed.
pub fn run_command(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps installs what the tests run)"));
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A loop device over a sparse temporary file, detached when dropped.
pub struct LoopDevice {
    pub path: String,
    _file: tempfile::NamedTempFile,
}

impl LoopDevice {
    pub fn new(bytes: u64) -> LoopDevice {
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().set_len(bytes).unwrap();
        let path = run_ok("losetup", &["--find", "--show", file.path().to_str().unwrap()]);
        LoopDevice { path, _file: file }
    }

    /// Its name as the kernel's disk list has it (`loop3`).
    pub fn name(&self) -> &str {
        self.path.trim_start_matches("/dev/")
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["--detach", &self.path]).status();
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, made
/// with openssl.
pub fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=wasmtrace-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("running openssl (scripts/install-deps installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (cert, key)
}

/// A steady stream of `n` opens of /dev/null by a child named `comm`, one
/// every ~0.5 ms, from another thread; joins to the child's pid.
pub fn steady_opens(comm: &str, n: usize) -> std::thread::JoinHandle<u32> {
    let comm = comm.to_string();
    std::thread::spawn(move || {
        let path = std::ffi::CString::new("/dev/null").unwrap();
        fork_child(&comm, || {
            for _ in 0..n {
                // SAFETY: raw syscalls with a valid path.
                unsafe {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    libc::close(fd);
                    libc::usleep(500);
                }
            }
        })
    })
}

/// opensnoop saw each of [`steady_opens`]' `n` opens by `pid` exactly once,
/// across the versions swapped in while they went on.
pub fn assert_each_open_once(out: &Finished, comm: &str, n: usize, pid: u32) {
    out.assert_clean_exit();
    assert_eq!(out.probe("file.open"), (n as u64, 0));
    assert_eq!(
        out.counter("opensnoop", "opens", &[comm]),
        Some(n as u64),
        "stderr:\n{}",
        out.stderr
    );
    let rows: Vec<_> = out.rows("opensnoop").collect();
    assert_eq!(rows.len(), n, "one row per open, across both versions");
    assert!(rows.iter().all(|r| r["PID"] == pid));
}

/// Types `line` and `exit` into an interactive bash on a pseudo-terminal
/// (which reads them with readline); returns its pid.
pub fn typed_into_bash(line: &str) -> String {
    python(
        &unique("wt-pty-"),
        &format!(
            r#"
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/bash", ["bash", "--norc", "--noprofile", "-i"])
os.write(fd, b"{line}\nexit\n")
while True:
    try:
        if not os.read(fd, 4096):
            break
    except OSError:
        break
os.waitpid(pid, 0)
print(pid)
"#
        ),
    )
    .trim()
    .to_string()
}
