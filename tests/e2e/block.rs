//! block.io and its tools (biosnoop, biolatency, bitesize): direct I/O of
//! known sizes at known places on a loop device, which nothing else uses,
//! and beside the originals that run here (bitesize.bt, libbpf-tools'
//! biolatency; biosnoop in either form needs kprobes or fentry).

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;

use crate::harness::{LoopDevice, Original, Tracer, run_ok, test_plugins, unique};

const MIB: u64 = 1 << 20;

/// One request: read or write `len` bytes at `offset`.
#[derive(Clone, Copy)]
struct Io {
    write: bool,
    offset: u64,
    len: usize,
}

fn ios(write: bool, first_mib: u64, count: u64, len: usize) -> impl Iterator<Item = Io> {
    (0..count).map(move |i| Io {
        write,
        offset: (first_mib + i) * MIB,
        len,
    })
}

/// A child named `comm` makes each request with O_DIRECT, so that each is
/// one block request of its size (none merges: a MiB apart, one at a time).
/// Returns its pid.
fn direct_io(comm: &str, device: &LoopDevice, requests: &[Io]) -> u32 {
    let path = CString::new(device.path.as_str()).unwrap();
    let largest = requests.iter().map(|io| io.len).max().unwrap();
    let layout = std::alloc::Layout::from_size_align(largest, 4096).unwrap();
    // SAFETY: a non-zero size; freed below.
    let buffer = unsafe { std::alloc::alloc_zeroed(layout) };
    let (pid, status) = crate::harness::fork_child_status(comm, || unsafe {
        // SAFETY: raw syscalls on our own device and buffer.
        let fd = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_DIRECT);
        if fd < 0 {
            libc::_exit(2);
        }
        for io in requests {
            let done = match io.write {
                true => libc::pwrite(fd, buffer.cast(), io.len, io.offset as i64),
                false => libc::pread(fd, buffer.cast(), io.len, io.offset as i64),
            };
            if done != io.len as isize {
                libc::_exit(3);
            }
        }
    });
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(buffer, layout) };
    assert_eq!(status, 0, "the child's direct I/O on {} failed", device.path);
    pid
}

/// The device's scheduler: `none` issues directly; with `mq-deadline` every
/// request is inserted first, then dispatched.
fn set_scheduler(device: &LoopDevice, scheduler: &str) {
    std::fs::write(format!("/sys/block/{}/queue/scheduler", device.name()), scheduler).unwrap();
}

#[test]
fn each_direct_request_is_one_event_with_its_place_size_and_submitter() {
    require_kernel!();
    let device = LoopDevice::new(64 * MIB);
    let rdev = std::fs::metadata(&device.path).unwrap().rdev();
    let (major, minor) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    let comm = unique("wt-bio-");
    let tracer = Tracer::start(&format!(
        "[probe.\"block.io\"]\ncomm = [\"{comm}\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"block.io\"]\n",
        test_plugins().display()
    ));
    // Issued directly (no scheduler), then through one (inserted, then issued).
    set_scheduler(&device, "none");
    let direct: Vec<Io> = ios(true, 0, 8, 4096)
        .chain(ios(true, 16, 4, 65536))
        .chain(ios(false, 32, 4, 8192))
        .collect();
    let direct_pid = direct_io(&comm, &device, &direct);
    set_scheduler(&device, "mq-deadline");
    let queued: Vec<Io> = ios(true, 48, 4, 16384).collect();
    let queued_pid = direct_io(&comm, &device, &queued);
    let out = tracer.stop();
    out.assert_clean_exit();
    let events: Vec<_> = out.findings("block.io").collect();
    let seen: Vec<(bool, u64, u64)> = events
        .iter()
        .map(|e| {
            (
                e["op"] == "write",
                e["sector"].as_u64().unwrap(),
                e["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let made: Vec<(bool, u64, u64)> = direct
        .iter()
        .chain(&queued)
        .map(|io| (io.write, io.offset / 512, io.len as u64))
        .collect();
    assert_eq!(seen, made, "the requests, in order: (write, sector, bytes)");
    let pids = std::iter::repeat_n(direct_pid, direct.len()).chain(std::iter::repeat_n(queued_pid, queued.len()));
    for (e, pid) in events.iter().zip(pids) {
        assert_eq!(e["pid"], pid, "{e}");
        assert_eq!(e["disk"], device.name(), "{e}");
        assert_eq!(
            (e["major"].as_u64(), e["minor"].as_u64()),
            (Some(major), Some(minor)),
            "{e}"
        );
        assert_eq!(e["error"], 0, "{e}");
        // Direct I/O waits for its completion: REQ_SYNC.
        assert_eq!(e["sync"], true, "{e}");
        for flag in ["meta", "fua", "preflush", "readahead"] {
            assert_eq!(e[flag], false, "{flag}: {e}");
        }
        assert!(e["service_ns"].as_u64().unwrap() > 0, "{e}");
    }
    let (direct_events, queued_events) = events.split_at(direct.len());
    assert!(direct_events.iter().all(|e| e["queued_ns"] == 0), "{direct_events:?}");
    assert!(
        queued_events.iter().all(|e| e["queued_ns"].as_u64() > Some(0)),
        "{queued_events:?}"
    );
    assert_eq!(out.probe("block.io"), (events.len() as u64, 0));
}

/// A histogram's buckets as (lowest value, count), non-empty ones only.
type Buckets = std::collections::BTreeMap<u64, u64>;

fn our_buckets(hist: &serde_json::Value) -> Buckets {
    hist["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["min"].as_u64().unwrap(), b["count"].as_u64().unwrap()))
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// bpftrace's bound (`4K`, `64K`, `1M`, `512`) as a number.
fn bpftrace_bound(word: &str) -> u64 {
    let word = word.trim_matches(|c| c == '[' || c == ',' || c == ')' || c == ']');
    let (digits, scale) = match word.chars().last() {
        Some('K') => (&word[..word.len() - 1], 1 << 10),
        Some('M') => (&word[..word.len() - 1], 1 << 20),
        Some('G') => (&word[..word.len() - 1], 1 << 30),
        _ => (word, 1),
    };
    digits.parse::<u64>().unwrap() * scale
}

/// The histogram bpftrace printed under `@[key]:`: `[lo, hi) count |@@|` lines.
fn bpftrace_histogram(lines: &[Vec<String>], key: &str) -> Buckets {
    let title = format!("@[{key}]:");
    lines
        .iter()
        .skip_while(|l| l.first() != Some(&title))
        .skip(1)
        .take_while(|l| l.first().is_some_and(|w| w.starts_with('[')))
        .map(|l| {
            // `[0]` is one word, `[4K, 8K)` two: the count follows the closing bracket.
            let at = l.iter().position(|w| w.ends_with(']') || w.ends_with(')')).unwrap();
            (bpftrace_bound(&l[0]), l[at + 1].parse().unwrap())
        })
        .filter(|&(_, count)| count > 0)
        .collect()
}

#[test]
fn bitesize_agrees_with_bitesize_bt() {
    require_kernel!();
    let device = LoopDevice::new(64 * MIB);
    set_scheduler(&device, "none");
    let comm = unique("wt-bsz-");
    let tracer = Tracer::tool("bitesize", "block.io", &comm);
    let bpftrace = Original::bpftrace("/usr/sbin/bitesize.bt");
    let requests: Vec<Io> = ios(true, 0, 8, 4096)
        .chain(ios(false, 8, 4, 8192))
        .chain(ios(true, 16, 4, 65536))
        .chain(ios(false, 24, 2, 1 << 20))
        .collect();
    direct_io(&comm, &device, &requests);
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let ours = out
        .entry("bitesize", "bytes", &[&comm])
        .expect("a histogram for the child");
    let buckets = our_buckets(ours);
    // The small requests as made. A MiB read is split as the device's limits
    // and the buffer's pages say (seen: into 2 or 4 requests, some of 8 KiB):
    // only its bytes are known.
    let made: u64 = requests.iter().map(|io| io.len as u64).sum();
    assert_eq!(ours["sum"], made, "{ours}");
    for (lo, n) in [(4096, 8), (8192, 4), (65536, 4)] {
        assert!(
            buckets.get(&lo) >= Some(&n),
            "[{lo}, ...) holds {n} requests or more: {ours}"
        );
    }
    // bitesize.bt reads the issue tracepoint's comm: the child's, as it
    // issues directly (no scheduler). The same requests, split the same way.
    assert_eq!(bpftrace_histogram(&bt, &comm), buckets, "{bt:?}");
}

/// libbpf-tools' histogram: `lo -> hi : count |**|` lines.
fn libbpf_histogram(lines: &[Vec<String>]) -> Buckets {
    lines
        .iter()
        .filter(|l| l.get(1).is_some_and(|w| w == "->") && l.get(3).is_some_and(|w| w == ":"))
        .map(|l| (l[0].parse().unwrap(), l[4].parse().unwrap()))
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// The bucket that holds the middle request.
fn median(buckets: &Buckets) -> u64 {
    let total: u64 = buckets.values().sum();
    let mut seen = 0;
    for (&lo, &count) in buckets {
        seen += count;
        if seen * 2 >= total {
            return lo;
        }
    }
    panic!("an empty histogram")
}

#[test]
fn biolatency_agrees_with_libbpf_tools_biolatency() {
    require_kernel!();
    const N: u64 = 200;
    let device = LoopDevice::new(256 * MIB);
    // Through a scheduler, so that both count the time queued in it (`-Q`).
    set_scheduler(&device, "mq-deadline");
    let comm = unique("wt-blat-");
    let tracer = Tracer::tool("biolatency", "block.io", &comm);
    let original = Original::libbpf_tool("/usr/sbin/biolatency", &["-Q", "-d", device.name()]);
    let requests: Vec<Io> = ios(true, 0, N / 2, 4096)
        .chain(ios(false, N / 2, N / 2, 4096))
        .collect();
    direct_io(&comm, &device, &requests);
    let out = tracer.stop();
    let theirs = libbpf_histogram(&original.stop());
    out.assert_clean_exit();
    let hist = out.entry("biolatency", "usecs", &[]).expect("a histogram");
    let ours = our_buckets(hist);
    // Nothing but the child uses the device: both count its every request.
    assert_eq!(hist["count"], N, "{hist}");
    assert_eq!(theirs.values().sum::<u64>(), N, "{theirs:?}");
    // The same requests, timed at the same hooks by two programs: their
    // middle ones fall in the same power of two, or the next.
    let (a, b) = (median(&ours).max(1), median(&theirs).max(1));
    eprintln!("biolatency: ours {ours:?}; libbpf-tools' {theirs:?}");
    assert!(a.max(b) / a.min(b) <= 2, "ours {ours:?}; libbpf-tools' {theirs:?}");
}

#[test]
fn biosnoop_prints_each_request_with_its_submitter() {
    require_kernel!();
    let device = LoopDevice::new(64 * MIB);
    set_scheduler(&device, "none");
    let comm = unique("wt-bsn-");
    let tracer = Tracer::tool("biosnoop", "block.io", &comm);
    let requests: Vec<Io> = ios(true, 2, 3, 4096).chain(ios(false, 10, 2, 32768)).collect();
    let pid = direct_io(&comm, &device, &requests);
    let out = tracer.stop();
    out.assert_clean_exit();
    let rows = out.columns("biosnoop", &["COMM", "PID", "DISK", "T", "SECTOR", "BYTES", "QUE(ms)"]);
    let expected: Vec<Vec<String>> = requests
        .iter()
        .map(|io| {
            let kind = if io.write { "W" } else { "R" };
            [
                &comm,
                &pid.to_string(),
                device.name(),
                kind,
                &(io.offset / 512).to_string(),
                &io.len.to_string(),
                "0.0",
            ]
            .map(str::to_string)
            .to_vec()
        })
        .collect();
    assert_eq!(rows, expected);
    let disk = device.name();
    assert_eq!(out.counter("biosnoop", "requests", &[disk, "write"]), Some(3));
    assert_eq!(out.counter("biosnoop", "bytes", &[disk, "read"]), Some(65536));
}

/// An ext4 file system on a loop device of its own, mounted until dropped:
/// its backing device (`7:3`) writes back nothing but what the test writes.
struct Ext4 {
    mount: tempfile::TempDir,
    device: LoopDevice,
}

impl Ext4 {
    fn new() -> Ext4 {
        let device = LoopDevice::new(128 * MIB);
        run_ok("mkfs.ext4", &["-q", &device.path]);
        let mount = tempfile::tempdir().unwrap();
        run_ok("mount", &[&device.path, mount.path().to_str().unwrap()]);
        Ext4 { mount, device }
    }

    /// Its backing device's name, as the kernel names backing devices.
    fn bdi(&self) -> String {
        let (major, minor) = self.dev();
        format!("{major}:{minor}")
    }

    fn dev(&self) -> (u64, u64) {
        let rdev = std::fs::metadata(&self.device.path).unwrap().rdev();
        (libc::major(rdev) as u64, libc::minor(rdev) as u64)
    }

    /// A child named `comm` writes `bytes` to a new file, then syncs the file system.
    fn write_and_sync(&self, comm: &str, bytes: usize) {
        let path = CString::new(self.mount.path().join("data").to_str().unwrap()).unwrap();
        let chunk = [7u8; 65536];
        let (_, status) = crate::harness::fork_child_status(comm, || unsafe {
            // SAFETY: raw syscalls on our own file.
            let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
            for _ in 0..bytes / chunk.len() {
                if libc::write(fd, chunk.as_ptr().cast(), chunk.len()) != chunk.len() as isize {
                    libc::_exit(3);
                }
            }
            if libc::syncfs(fd) != 0 {
                libc::_exit(4);
            }
        });
        assert_eq!(status, 0, "the child's writes to {}", self.mount.path().display());
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.mount.path()).status();
    }
}

#[test]
fn a_syncfs_is_written_back_in_passes_that_hold_its_pages() {
    require_kernel!();
    let fs = Ext4::new();
    let tracer = Tracer::start(&format!(
        "[probe.\"block.writeback\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"block.writeback\"]\n",
        test_plugins().display()
    ));
    fs.write_and_sync(&unique("wt-wb-"), 4 << 20);
    let out = tracer.stop();
    out.assert_clean_exit();
    let (major, minor) = fs.dev();
    let passes: Vec<_> = out
        .findings("block.writeback")
        .filter(|p| p["device"] == fs.bdi().as_str())
        .collect();
    // syncfs: passes that write what they can (WB_SYNC_NONE); one that waits
    // on every page (WB_SYNC_ALL) comes only when dirty pages are left then.
    let ours: Vec<_> = passes
        .iter()
        .filter(|p| (p["sb_major"].as_u64(), p["sb_minor"].as_u64()) == (Some(major), Some(minor)))
        .collect();
    assert!(ours.iter().all(|p| p["reason"] == "sync"), "{ours:?}");
    assert!(ours.iter().any(|p| p["sync_all"] == false), "{ours:?}");
    let pages: u64 = ours.iter().map(|p| p["pages"].as_u64().unwrap()).sum();
    assert_eq!(pages, 1024, "4 MiB of 4 KiB pages: {ours:?}");
    for pass in &ours {
        assert!(pass["latency_ns"].as_u64().unwrap() > 0, "{pass}");
        // The flusher: a kernel worker.
        assert_eq!(pass["ppid"], 2, "{pass}");
    }
}

#[test]
fn writeback_agrees_with_writeback_bt() {
    require_kernel!();
    let fs = Ext4::new();
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[plugin.writeback]\n",
        crate::harness::example_plugins().display()
    ));
    let bpftrace = Original::bpftrace("/usr/sbin/writeback.bt");
    fs.write_and_sync(&unique("wt-wbb-"), 4 << 20);
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let device = fs.bdi();
    let ours: Vec<Vec<String>> = out
        .columns("writeback", &["DEVICE", "PAGES", "REASON"])
        .into_iter()
        .filter(|r| r[0] == device)
        .collect();
    // writeback.bt: TIME DEVICE PAGES REASON ms. Its PAGES is the work's
    // remaining budget, not what the pass wrote: only the passes compare.
    let theirs: Vec<&Vec<String>> = bt.iter().filter(|l| l.get(1) == Some(&device)).collect();
    let syncs = |reasons: &mut dyn Iterator<Item = &String>| reasons.filter(|r| *r == "sync").count();
    let (our_syncs, their_syncs) = (
        syncs(&mut ours.iter().map(|r| &r[2])),
        syncs(&mut theirs.iter().map(|l| &l[3])),
    );
    // The workload's passes happen while both watch; only wasmtrace watched
    // before bpftrace attached, when another test's sync() may have passed.
    assert!(
        their_syncs >= 2 && our_syncs >= their_syncs,
        "ours {ours:?}; writeback.bt's {theirs:?}"
    );
    let pages = out.counter("writeback", "pages", &[&device, "sync"]).unwrap();
    assert!(pages >= 1024, "{pages} pages; ours {ours:?}");
}
