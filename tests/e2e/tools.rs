//! The bpftrace tools as plugins: each one's rows for a workload the test
//! drives, exactly; and, beside the bpftrace original, the same facts.

use std::process::Command;

use serde_json::Value as Json;

use crate::harness::{
    Finished, LoopDevice, Original, Tracer, example_plugins, fork_child, fs_type, getppid_calls, run_ok, unique,
};

/// Runs `workload` in a child named `comm` while wasmtrace runs the example
/// `plugin` (its probe narrowed to `comm`) and bpftrace runs the original
/// `/usr/sbin/BT`; returns wasmtrace's output, bpftrace's lines and the child's pid.
fn watch_both(
    plugin: &str,
    probe: &str,
    bt: &str,
    comm: &str,
    workload: impl FnOnce(),
) -> (Finished, Vec<Vec<String>>, String) {
    watch_both_running(plugin, probe, bt, comm, || fork_child(comm, workload))
}

/// Like `watch_both`, with `run` starting the workload and returning its pid.
fn watch_both_running(
    plugin: &str,
    probe: &str,
    bt: &str,
    comm: &str,
    run: impl FnOnce() -> u32,
) -> (Finished, Vec<Vec<String>>, String) {
    let tracer = Tracer::tool(plugin, probe, comm);
    let bpftrace = Original::bpftrace(&format!("/usr/sbin/{bt}"));
    let pid = run();
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    (out, bt, pid.to_string())
}

/// The bpftrace tool's lines whose `comm_column`th word is `comm`, as these columns.
fn bpftrace_lines(lines: &[Vec<String>], comm_column: usize, comm: &str, columns: &[usize]) -> Vec<Vec<String>> {
    lines
        .iter()
        .filter(|l| l.get(comm_column).is_some_and(|c| c == comm))
        .map(|l| columns.iter().map(|&i| l[i].clone()).collect())
        .collect()
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

#[test]
fn killsnoop_shows_each_signal_and_agrees_with_killsnoop_bt() {
    require_kernel!();
    let comm = unique("wt-kill-");
    const NO_SUCH_PID: i32 = 0x3fff_fff0;
    // SAFETY: raw syscalls only.
    let (out, bt, pid) = watch_both("killsnoop", "signal.kill", "killsnoop.bt", &comm, || unsafe {
        libc::kill(libc::getpid(), 0);
        libc::kill(NO_SUCH_PID, libc::SIGUSR1);
        libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), 0);
    });
    let comm = comm.as_str();
    let rows = out.columns("killsnoop", &["PID", "COMM", "SIG", "TPID", "RESULT"]);
    let expected = strings(&[
        &[&pid, comm, "0", &pid, "0"],
        &[
            &pid,
            comm,
            &libc::SIGUSR1.to_string(),
            &NO_SUCH_PID.to_string(),
            &(-libc::ESRCH).to_string(),
        ],
        &[&pid, comm, "0", &pid, "0"],
    ]);
    assert_eq!(rows, expected, "stderr:\n{}", out.stderr);
    // killsnoop.bt: TIME PID COMM SIG TPID RESULT; it traces kill() only.
    assert_eq!(bpftrace_lines(&bt, 2, comm, &[1, 2, 3, 4, 5]), expected[..2]);
}

#[test]
fn naptime_shows_each_sleep_and_agrees_with_naptime_bt() {
    require_kernel!();
    let comm = unique("wt-nap-");
    let parent_comm = std::fs::read_to_string("/proc/thread-self/comm")
        .unwrap()
        .trim()
        .to_string();
    // SAFETY: raw syscalls with valid timespecs.
    let (out, bt, pid) = watch_both("naptime", "process.sleep", "naptime.bt", &comm, || unsafe {
        let nap = |ns: i64| libc::timespec { tv_sec: 0, tv_nsec: ns };
        libc::syscall(libc::SYS_nanosleep, &nap(12_000_000), 0usize);
        libc::syscall(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            0,
            &nap(13_000_000),
            0usize,
        );
        // Neither a yield nor a sleep until a point in time is a nap.
        libc::syscall(libc::SYS_nanosleep, &nap(0), 0usize);
        let mut now = nap(0);
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        libc::syscall(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &now,
            0usize,
        );
    });
    let (ppid, comm) = (std::process::id().to_string(), comm.as_str());
    let rows = out.columns("naptime", &["PPID", "PCOMM", "PID", "COMM", "SECONDS"]);
    assert_eq!(
        rows,
        strings(&[
            &[&ppid, &parent_comm, &pid, comm, "0.012"],
            &[&ppid, &parent_comm, &pid, comm, "0.013"],
        ]),
        "stderr:\n{}",
        out.stderr
    );
    // naptime.bt: TIME PPID PCOMM PID COMM SECONDS; it traces nanosleep only,
    // and its PPID is the parent thread's id, so that column is left out.
    assert_eq!(
        bpftrace_lines(&bt, 4, comm, &[2, 3, 4, 5]),
        strings(&[&[&parent_comm, &pid, comm, "0.012"]])
    );
}

#[test]
fn syncsnoop_shows_each_sync_call_and_agrees_with_syncsnoop_bt() {
    require_kernel!();
    let comm = unique("wt-sync-");
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("f").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: raw syscalls on a file and a mapping of our own.
    let (out, bt, pid) = watch_both("syncsnoop", "file.sync", "syncsnoop.bt", &comm, || unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600);
        libc::write(fd, b"x".as_ptr().cast(), 1);
        libc::fsync(fd);
        libc::fdatasync(fd);
        libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        libc::syncfs(fd);
        let map = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd, 0);
        libc::msync(map, 4096, libc::MS_SYNC);
        libc::sync();
    });
    let events = ["fsync", "fdatasync", "sync_file_range", "syncfs", "msync", "sync"];
    let comm = comm.as_str();
    let expected: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                pid.clone(),
                comm.to_string(),
                format!("tracepoint:syscalls:sys_enter_{e}"),
            ]
        })
        .collect();
    let rows = out.columns("syncsnoop", &["PID", "COMM", "EVENT"]);
    assert_eq!(rows, expected, "stderr:\n{}", out.stderr);
    for e in events {
        assert_eq!(out.counter("syncsnoop", "syncs", &[comm, e]), Some(1), "{e}");
    }
    // syncsnoop.bt: TIME PID COMM EVENT.
    assert_eq!(bpftrace_lines(&bt, 2, comm, &[1, 2, 3]), expected);
}

/// The fields the tools do not print: which call, the clock, absolute sleeps, the fd.
#[test]
fn signal_sleep_and_sync_events_carry_every_field() {
    require_kernel!();
    let comm = unique("wt-fld-");
    let tracer = Tracer::start(&format!(
        r#"
[probe."signal.kill"]
comm = ["{comm}"]
[probe."process.sleep"]
comm = ["{comm}"]
[probe."file.sync"]
comm = ["{comm}"]
[plugin.echo]
path = "{}/echo.wasm"
probes = ["signal.kill", "process.sleep", "file.sync"]
"#,
        crate::harness::test_plugins().display()
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("f").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: raw syscalls with valid arguments.
    fork_child(&comm, || unsafe {
        libc::syscall(libc::SYS_tkill, libc::gettid(), 0);
        let at = libc::timespec {
            tv_sec: 0,
            tv_nsec: 5_000,
        };
        libc::syscall(libc::SYS_clock_nanosleep, libc::CLOCK_REALTIME, 0, &at, 0usize);
        let mut now = at;
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        libc::syscall(
            libc::SYS_clock_nanosleep,
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &now,
            0usize,
        );
        let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600);
        libc::syscall(libc::SYS_fsync, fd);
    });
    let out = tracer.stop();
    out.assert_clean_exit();

    let kills: Vec<_> = out.findings("signal.kill").collect();
    assert_eq!(kills.len(), 1, "stderr:\n{}", out.stderr);
    assert_eq!(
        (kills[0]["call"].as_str(), kills[0]["signal"].as_u64()),
        (Some("tkill"), Some(0))
    );
    assert_eq!(kills[0]["target"], kills[0]["tid"]);

    let sleeps: Vec<_> = out.findings("process.sleep").collect();
    assert_eq!(sleeps.len(), 2, "stderr:\n{}", out.stderr);
    assert_eq!(
        (&sleeps[0]["duration_ns"], &sleeps[0]["clock"], &sleeps[0]["absolute"]),
        (
            &Json::from(5_000),
            &Json::from(libc::CLOCK_REALTIME),
            &Json::from(false)
        )
    );
    assert_eq!(
        (&sleeps[1]["clock"], &sleeps[1]["absolute"]),
        (&Json::from(libc::CLOCK_MONOTONIC), &Json::from(true))
    );

    let syncs: Vec<_> = out.findings("file.sync").collect();
    assert_eq!(syncs.len(), 1, "stderr:\n{}", out.stderr);
    assert_eq!(syncs[0]["call"], "fsync");
    assert!(syncs[0]["fd"].as_i64().unwrap() >= 3, "{}", syncs[0]);
}

#[test]
fn statsnoop_shows_each_stat_and_agrees_with_statsnoop_bt() {
    require_kernel!();
    let comm = unique("wt-stat-");
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present");
    std::fs::write(&present, b"x").unwrap();
    let missing = dir.path().join("missing");
    let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let (present_c, missing_c, dir_c) = (c(&present), c(&missing), c(dir.path()));
    // SAFETY: raw syscalls with valid paths and buffers.
    let (out, bt, pid) = watch_both("statsnoop", "file.stat", "statsnoop.bt", &comm, || unsafe {
        let mut buf = [0u8; 512];
        // stat(2) and lstat(2) where the architecture has them; arm64 has only fstatat.
        #[cfg(target_arch = "x86_64")]
        {
            libc::syscall(libc::SYS_stat, present_c.as_ptr(), buf.as_mut_ptr());
            libc::syscall(libc::SYS_lstat, missing_c.as_ptr(), buf.as_mut_ptr());
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            libc::syscall(
                libc::SYS_newfstatat,
                libc::AT_FDCWD,
                present_c.as_ptr(),
                buf.as_mut_ptr(),
                0,
            );
            let nofollow = libc::AT_SYMLINK_NOFOLLOW;
            libc::syscall(
                libc::SYS_newfstatat,
                libc::AT_FDCWD,
                missing_c.as_ptr(),
                buf.as_mut_ptr(),
                nofollow,
            );
        }
        libc::syscall(libc::SYS_statfs, dir_c.as_ptr(), buf.as_mut_ptr());
        libc::syscall(
            libc::SYS_statx,
            libc::AT_FDCWD,
            present_c.as_ptr(),
            0,
            0x7ff,
            buf.as_mut_ptr(),
        );
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            missing_c.as_ptr(),
            buf.as_mut_ptr(),
            0,
        );
    });
    let comm = comm.as_str();
    let (present, missing, dir) = (
        present.to_str().unwrap(),
        missing.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    );
    let enoent = libc::ENOENT.to_string();
    let rows = out.columns("statsnoop", &["PID", "COMM", "ERR", "PATH"]);
    let expected = strings(&[
        &[&pid, comm, "0", present],
        &[&pid, comm, &enoent, missing],
        &[&pid, comm, "0", dir],
        &[&pid, comm, "0", present],
        &[&pid, comm, &enoent, missing],
    ]);
    assert_eq!(rows, expected, "stderr:\n{}", out.stderr);
    for (call, n) in [
        ("stat", 1),
        ("lstat", 1),
        ("statfs", 1),
        ("statx", 1),
        ("newfstatat", 1),
    ] {
        assert_eq!(out.counter("statsnoop", "stats", &[call]), Some(n), "{call}");
    }
    // statsnoop.bt: PID COMM ERR PATH; it does not trace newfstatat.
    assert_eq!(bpftrace_lines(&bt, 1, comm, &[0, 1, 2, 3]), expected[..4]);
}

#[test]
fn setuids_shows_each_uid_change_and_agrees_with_setuids_bt() {
    require_kernel!();
    let comm = unique("wt-suid-");
    // SAFETY: raw syscalls; the child drops to nobody, then fails to come back.
    let (out, bt, pid) = watch_both("setuids", "security.setuid", "setuids.bt", &comm, || unsafe {
        libc::syscall(libc::SYS_setuid, 0);
        libc::syscall(libc::SYS_setfsuid, 0);
        libc::syscall(libc::SYS_setreuid, -1, -1);
        libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534);
        libc::syscall(libc::SYS_setuid, 0);
    });
    let comm = comm.as_str();
    let eperm = format!("uid=0 ({})", -libc::EPERM);
    let rows = out.columns("setuids", &["PID", "COMM", "UID", "SYSCALL", "ARGS (RET)"]);
    let expected = strings(&[
        &[&pid, comm, "0", "setuid", "uid=0 (0)"],
        &[&pid, comm, "0", "setfsuid", "uid=0 (prevuid=0)"],
        &[&pid, comm, "0", "setreuid", "ruid=-1 euid=-1 (0)"],
        &[&pid, comm, "0", "setresuid", "ruid=65534 euid=65534 suid=65534 (0)"],
        &[&pid, comm, "65534", "setuid", &eperm],
    ]);
    assert_eq!(rows, expected, "stderr:\n{}", out.stderr);
    // setuids.bt: TIME PID COMM UID SYSCALL ARGS... (RET); it does not trace setreuid.
    let bt: Vec<Vec<String>> = bt
        .iter()
        .filter(|l| l.get(2).is_some_and(|c| c == comm))
        .map(|l| {
            let mut row = l[1..5].to_vec();
            row.push(l[5..].join(" "));
            row
        })
        .collect();
    let without_setreuid: Vec<Vec<String>> = expected.iter().filter(|r| r[3] != "setreuid").cloned().collect();
    assert_eq!(bt, without_setreuid);
}

#[test]
fn pidpersec_counts_every_new_task() {
    require_kernel!();
    const N: u64 = 7;
    let comm = unique("wt-fork-");
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[output]\ninterval = \"200ms\"\n[probe.\"process.fork\"]\ncomm = [\"{comm}\"]\n[plugin.pidpersec]\n",
        example_plugins().display()
    ));
    // SAFETY: fork, _exit and waitpid only.
    fork_child(&comm, || unsafe {
        for _ in 0..N {
            let child = libc::fork();
            if child == 0 {
                libc::_exit(0);
            }
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    let per_interval: u64 = out.rows("pidpersec").map(|r| r["PIDS"].as_u64().unwrap()).sum();
    assert_eq!(per_interval, N, "stderr:\n{}", out.stderr);
    assert_eq!(out.counter("pidpersec", "forks", &[&comm]), Some(N));
}

#[test]
fn capable_shows_granted_and_denied_checks() {
    require_kernel!();
    let comm = unique("wt-cap-");
    let tracer = Tracer::tool("capable", "security.capable", &comm);
    let dir = tempfile::tempdir().unwrap();
    let path = std::ffi::CString::new(dir.path().join("f").as_os_str().as_encoded_bytes()).unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    // SAFETY: raw syscalls on a file of our own; the child drops to nobody.
    let pid = fork_child(&comm, || unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
        // Giving a file away takes CAP_CHOWN: root has it ...
        libc::fchown(fd, 65534, u32::MAX);
        libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534);
        // ... nobody, taking it back to root, does not.
        libc::fchown(fd, 0, u32::MAX);
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    let rows = out.columns("capable", &["UID", "PID", "COMM", "CAP", "NAME", "VERDICT"]);
    let chown: Vec<_> = rows.iter().filter(|r| r[4] == "CAP_CHOWN").cloned().collect();
    let (pid, comm) = (pid.to_string(), comm.as_str());
    assert_eq!(
        chown,
        strings(&[
            &["0", &pid, comm, "0", "CAP_CHOWN", "granted"],
            &["65534", &pid, comm, "0", "CAP_CHOWN", "denied"],
        ]),
        "all rows: {rows:?}\nstderr:\n{}",
        out.stderr
    );
    assert!(
        rows.iter()
            .any(|r| r[4] == "CAP_SETUID" && r[0] == "0" && r[5] == "granted"),
        "{rows:?}"
    );
    assert_eq!(out.counter("capable", "checks", &["CAP_CHOWN", "denied"]), Some(1));
}

/// A memory cgroup limited to `bytes` (cgroup v2, or v1's memory
/// controller); removed on drop.
struct MemoryCgroup {
    dir: std::path::PathBuf,
    procs: std::ffi::CString,
}

impl MemoryCgroup {
    /// A cgroup whose processes cannot swap: over the limit they are OOM-killed.
    fn new(name: &str, bytes: u64) -> MemoryCgroup {
        let cgroup = MemoryCgroup::swapping(name, bytes);
        // No swap to escape to (another test may have turned swap on): v2
        // says so with swap.max; v1 with memsw (when swap is accounted) and
        // a swappiness of 0.
        let _ = std::fs::write(cgroup.dir.join("memory.swap.max"), "0");
        let _ = std::fs::write(cgroup.dir.join("memory.memsw.limit_in_bytes"), bytes.to_string());
        let _ = std::fs::write(cgroup.dir.join("memory.swappiness"), "0");
        cgroup
    }

    /// A cgroup whose processes swap out what exceeds the limit.
    fn swapping(name: &str, bytes: u64) -> MemoryCgroup {
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        let v2_memory = std::fs::read_to_string(v2.join("cgroup.subtree_control")).is_ok_and(|c| c.contains("memory"));
        let (dir, limit) = if v2_memory {
            (v2.join(name), "memory.max")
        } else {
            (v2.join("memory").join(name), "memory.limit_in_bytes")
        };
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "creating the memory cgroup {}: {e} (needs cgroup v2 with the memory controller, or v1's)",
                dir.display()
            )
        });
        std::fs::write(dir.join(limit), bytes.to_string()).unwrap();
        MemoryCgroup {
            procs: std::ffi::CString::new(dir.join("cgroup.procs").as_os_str().as_encoded_bytes()).unwrap(),
            dir,
        }
    }

    /// In a forked child: moves it into the cgroup, writes `bytes` of fresh
    /// memory, and with `read_back` reads it all again.
    fn fill(&self, bytes: usize, read_back: bool) {
        // SAFETY: raw syscalls only (a forked child of a threaded process
        // must not allocate); the mapping is ours and `bytes` long.
        unsafe {
            let fd = libc::open(self.procs.as_ptr(), libc::O_WRONLY);
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            let mem = libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
            .cast::<u8>();
            for page in (0..bytes).step_by(4096) {
                mem.add(page).write_volatile(1);
            }
            if read_back {
                for page in (0..bytes).step_by(4096) {
                    mem.add(page).read_volatile();
                }
            }
        }
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn oomkill_reports_the_victim_of_a_memory_limited_cgroup() {
    require_kernel!();
    let comm = unique("wt-oom-");
    let tracer = Tracer::tool("oomkill", "memory.oom-kill", &comm);
    let cgroup = MemoryCgroup::new(&comm, 32 << 20);
    const HOG: usize = 512 << 20;
    // The child touches more memory than its cgroup may have, until the OOM killer stops it.
    let pid = fork_child(&comm, || cgroup.fill(HOG, false));
    let out = tracer.stop();
    out.assert_clean_exit();
    drop(cgroup);

    let kills: Vec<_> = out.findings("oom-kill").collect();
    assert_eq!(kills.len(), 1, "stderr:\n{}", out.stderr);
    let kill = kills[0];
    assert_eq!(
        (&kill["trigger_pid"], &kill["victim_pid"]),
        (&Json::from(pid), &Json::from(pid))
    );
    assert_eq!(kill["victim_comm"], comm.as_str());
    let rss = kill["anon_rss_kb"].as_u64().unwrap();
    // At least the part of the hog the cgroup held (the child also maps, uncharged,
    // what it shares with its parent, which depends on the test binary).
    assert!(rss >= 16 << 10, "anon-rss {rss} kB: {kill}");
    let message = out.of_type("finding").find(|f| f["rule"] == "oom-kill").unwrap()["message"].clone();
    assert!(
        message.as_str().unwrap().starts_with(&format!(
            "Triggered by PID {pid} (\"{comm}\"), OOM kill of PID {pid} (\"{comm}\")"
        )),
        "{message}"
    );
    assert_eq!(out.counter("oomkill", "kills", &[&comm]), Some(1));
}

#[test]
fn opensnoop_agrees_with_opensnoop_bt() {
    require_kernel!();
    let comm = unique("wt-obt-");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(unique("target-"));
    std::fs::write(&target, b"x").unwrap();
    let path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: raw syscalls with a valid path.
    let (out, bt, pid) = watch_both("opensnoop", "file.open", "opensnoop.bt", &comm, || unsafe {
        for _ in 0..5 {
            libc::close(libc::open(path.as_ptr(), libc::O_RDONLY));
        }
    });
    let target = target.to_str().unwrap();
    let ours: Vec<_> = out
        .columns("opensnoop", &["PID", "COMM", "ERR", "PATH"])
        .into_iter()
        .filter(|r| r[3] == target)
        .collect();
    assert_eq!(ours, vec![vec![pid, comm.clone(), "0".into(), target.into()]; 5]);
    // opensnoop.bt: PID COMM FD ERR PATH.
    let theirs: Vec<_> = bpftrace_lines(&bt, 1, &comm, &[0, 1, 3, 4])
        .into_iter()
        .filter(|r| r[3] == target)
        .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn execsnoop_agrees_with_execsnoop_bt() {
    require_kernel!();
    // The exec'd program's name is the comm the filter sees.
    let comm = unique("wt-ebt-");
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join(&comm);
    std::fs::copy("/bin/true", &program).unwrap();
    let (out, bt, pid) = watch_both_running("execsnoop", "process.exec", "execsnoop.bt", &comm, || {
        let child = std::process::Command::new(&program)
            .args(["one", "two"])
            .spawn()
            .unwrap();
        let pid = child.id();
        child.wait_with_output().unwrap();
        pid
    });

    let args = format!("{} one two", program.display());
    let ours = out.columns("execsnoop", &["PID", "ARGS"]);
    assert_eq!(ours, [[pid, args.clone()]], "stderr:\n{}", out.stderr);
    // execsnoop.bt: TIME(ms) PID ARGS...
    let theirs: Vec<Vec<String>> = bt
        .iter()
        .filter(|l| l.len() > 2 && l[2..].join(" ") == args)
        .map(|l| vec![l[1].clone(), l[2..].join(" ")])
        .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn syscount_agrees_with_syscount_bt() {
    require_kernel!();
    let comm = unique("wt-sbt-");
    // Enough calls to be in syscount.bt's top 10 processes on a busy machine.
    let (out, bt, _) = watch_both("syscount", "syscall.count", "syscount.bt", &comm, || {
        getppid_calls(100_000)
    });
    let ours = out
        .counter("syscount", "processes", &[&comm])
        .expect("a count for the child");
    assert!(ours > 100_000, "{ours}");
    // syscount.bt: `@process[COMM]: N` in its top 10.
    let prefix = format!("@process[{comm}]:");
    let theirs: Vec<u64> = bt
        .iter()
        .filter(|l| l.first().is_some_and(|w| *w == prefix))
        .map(|l| l[1].parse().unwrap())
        .collect();
    assert_eq!(theirs, [ours]);
    assert_eq!(out.counter("syscount", "syscalls", &["getppid"]), Some(100_000));
}

#[test]
fn xfsdist_histograms_each_operation_on_the_chosen_file_system() {
    require_kernel!();
    let comm = unique("wt-fsd-");
    let dir = tempfile::tempdir().unwrap();
    let fs = fs_type(dir.path());
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[probe.\"file.latency\"]\ncomm = [\"{comm}\"]\n[plugin.xfsdist]\n[plugin.xfsdist.config]\nfs = \"{fs}\"\n",
        example_plugins().display()
    ));
    let path = std::ffi::CString::new(dir.path().join("f").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: raw syscalls on a file of our own.
    fork_child(&comm, || unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600);
        for _ in 0..4 {
            libc::write(fd, b"data".as_ptr().cast(), 4);
        }
        let mut buf = [0u8; 4];
        for i in 0..3 {
            libc::pread(fd, buf.as_mut_ptr().cast(), 4, i * 4);
        }
        libc::fsync(fd);
        libc::fdatasync(fd);
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    for (op, n) in [("open", 1), ("write", 4), ("read", 3), ("fsync", 2)] {
        let hist = out
            .entry("xfsdist", "us", &[op])
            .unwrap_or_else(|| panic!("no histogram for {op} on {fs}; stderr:\n{}", out.stderr));
        assert_eq!(hist["count"], n, "{op}: {hist}");
    }
}

/// Pages read back from swap since boot, by the kernel's count (`pswpin`).
fn pages_swapped_in() -> u64 {
    let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap();
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix("pswpin "))
        .and_then(|n| n.parse().ok())
        .expect("/proc/vmstat has pswpin")
}

/// A swap partition on a loop device, active until dropped.
struct LoopSwap(LoopDevice);

impl LoopSwap {
    fn new(bytes: u64) -> LoopSwap {
        let device = LoopDevice::new(bytes);
        run_ok("mkswap", &[&device.path]);
        run_ok("swapon", &[&device.path]);
        LoopSwap(device)
    }
}

impl Drop for LoopSwap {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.0.path).status();
    }
}

#[test]
fn swapin_counts_the_pages_a_process_reads_back_from_swap() {
    require_kernel!();
    let swap = LoopSwap::new(128 << 20);
    let comm = unique("wt-swap-");
    let tracer = Tracer::tool("swapin", "memory.swapin", &comm);
    let cgroup = MemoryCgroup::swapping(&comm, 16 << 20);
    const SIZE: usize = 48 << 20;
    // The child fills more memory than its cgroup may keep (the rest is
    // swapped out), then reads all of it back.
    let before = pages_swapped_in();
    let pid = fork_child(&comm, || cgroup.fill(SIZE, true));
    let swapped_in = pages_swapped_in() - before;
    let out = tracer.stop();
    out.assert_clean_exit();
    drop(cgroup);
    drop(swap);
    let key = [comm.as_str(), &pid.to_string()];
    let reads = out.counter("swapin", "reads", &key).unwrap_or(0);
    let pages = out.counter("swapin", "pages", &key).unwrap_or(0);
    // Every page the kernel read back from swap meanwhile (nothing else
    // swaps: only this child's cgroup is short of memory), and a good part
    // of what did not fit in the cgroup (the rest can still be in the swap
    // cache when it is touched again).
    assert_eq!(pages, swapped_in, "reads {reads}; stderr:\n{}", out.stderr);
    assert!(pages >= ((SIZE - (16 << 20)) / 4096) as u64 / 2, "pages {pages}");
    assert!(reads > 0 && pages >= reads, "readahead reads a page or more each time");
}
