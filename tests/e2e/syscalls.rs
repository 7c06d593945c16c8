//! The two ways to see system calls: `syscall.enter` streams every call,
//! `syscall.count` counts them in the kernel and sends the counts every
//! interval. Both must account for every call, exactly.

use crate::harness::{Tracer, fork_child, getppid_calls, nanosleep_ms, test_plugins, unique};

const GETPPID: &str = "getppid";

#[test]
fn syscall_enter_streams_every_call() {
    require_kernel!();
    const N: u64 = 250;
    let comm = unique("wt-sye-");
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[probe.\"syscall.enter\"]\ncomm = [\"{comm}\"]\n[plugin.tally]\nprobes = [\"syscall.enter\"]\n",
        crate::harness::example_plugins().display()
    ));
    fork_child(&comm, || getppid_calls(N));
    let out = tracer.stop();
    out.assert_clean_exit();
    // After the rename the child makes N getppid calls and exit_group: nothing else is traced.
    let id = |nr: i64| nr.to_string();
    assert_eq!(
        out.counter("tally", "events", &[&comm, &id(libc::SYS_getppid)]),
        Some(N),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(
        out.counter("tally", "events", &[&comm, &id(libc::SYS_exit_group)]),
        Some(1)
    );
    assert_eq!(out.probe("syscall.enter"), (N + 1, 0));
}

#[test]
fn syscount_counts_a_known_number_of_syscalls_by_name() {
    require_kernel!();
    const N: u64 = 250;
    let comm = unique("wt-sys-");
    let tracer = Tracer::tool("syscount", "syscall.count", &comm);
    fork_child(&comm, || getppid_calls(N));
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("syscount", "syscalls", &[GETPPID]),
        Some(N),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.counter("syscount", "syscalls", &["exit_group"]), Some(1));
    assert_eq!(out.counter("syscount", "processes", &[&comm]), Some(N + 1));
    // Counted in the kernel: an event per syscall per interval, not per call.
    let (events, lost) = out.probe("syscall.count");
    assert_eq!(lost, 0);
    assert!(
        (2..=4).contains(&events),
        "{events} events for 2 syscalls in at most 2 intervals"
    );
}

/// Calls spread over several intervals: each interval's counts arrive as
/// their own events, with the caller's header, and they add up exactly.
#[test]
fn syscall_count_sends_each_intervals_counts_with_the_callers_header() {
    require_kernel!();
    const ROUNDS: u64 = 6;
    const PER_ROUND: u64 = 1000;
    let comm = unique("wt-syc-");
    let tracer = Tracer::start(&format!(
        "[output]\ninterval = \"100ms\"\n[probe.\"syscall.count\"]\ncomm = [\"{comm}\"]\n\
         [plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"syscall.count\"]\n",
        test_plugins().display()
    ));
    let pid = fork_child(&comm, || {
        for _ in 0..ROUNDS {
            getppid_calls(PER_ROUND);
            nanosleep_ms(150);
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    let getppid: Vec<_> = out
        .findings("syscall.count")
        .filter(|f| f["id"] == libc::SYS_getppid)
        .collect();
    for f in &getppid {
        assert_eq!(
            (&f["pid"], &f["tid"], &f["uid"]),
            (&pid.into(), &pid.into(), &0.into()),
            "{f}"
        );
    }
    let counts: Vec<u64> = getppid.iter().map(|f| f["count"].as_u64().unwrap()).collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        ROUNDS * PER_ROUND,
        "{counts:?}; stderr:\n{}",
        out.stderr
    );
    // A round per 150 ms, an interval per 100 ms: the rounds land in different intervals.
    assert!(counts.len() as u64 >= ROUNDS, "{counts:?}");
    let comms: Vec<_> = out
        .of_type("finding")
        .filter(|l| l["rule"] == "syscall.count")
        .map(|l| &l["message"])
        .collect();
    assert!(comms.iter().all(|c| **c == comm), "{comms:?}");
    let timestamps: Vec<u64> = getppid.iter().map(|f| f["timestamp_ns"].as_u64().unwrap()).collect();
    assert!(
        timestamps.is_sorted(),
        "sent in order, each stamped when read: {timestamps:?}"
    );
}

/// More distinct (process, syscall, comm) entries in one interval than the
/// kernel map holds: the calls it cannot count are reported lost, and
/// counted plus lost is every call made.
#[test]
fn syscall_count_reports_what_a_full_map_could_not_count() {
    require_kernel!();
    const NAMES: u64 = 12_000;
    // syscall.count's kernel map.
    const MAP_ENTRIES: u64 = 16_384;
    // A uid nothing else runs as: the filter then sees the child only, under any name.
    const UID: u32 = 0x007e_575c;
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[output]\ninterval = \"1h\"\n[probe.\"syscall.count\"]\nuid = [{UID}]\n[plugin.syscount]\n",
        crate::harness::example_plugins().display()
    ));
    // SAFETY: raw syscalls only, on a name buffer of the child's own.
    fork_child("wt-full", || unsafe {
        libc::setuid(UID);
        let mut name = *b"wt-00000000\0";
        for i in 0..NAMES {
            for (d, byte) in name[3..11].iter_mut().enumerate() {
                *byte = b"0123456789abcdef"[(i >> (28 - 4 * d)) as usize & 15];
            }
            libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
            libc::syscall(libc::SYS_getppid);
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    // Each name makes two entries (its prctl has the name before, its getppid the new one),
    // and the exit one more: 24,001 entries, 16,384 of which fit.
    let made = 2 * NAMES + 1;
    let counted: u64 = ["prctl", GETPPID, "exit_group"]
        .iter()
        .map(|s| out.counter("syscount", "syscalls", &[s]).unwrap_or(0))
        .sum();
    let (events, lost) = out.probe("syscall.count");
    assert_eq!(
        (events, lost),
        (MAP_ENTRIES, made - MAP_ENTRIES),
        "the map's entries counted, every call beyond lost; stderr:\n{}",
        out.stderr
    );
    assert_eq!(
        counted + lost,
        made,
        "counted {counted} in {events} events, lost {lost}"
    );
    assert!(
        out.stderr.contains(&format!(
            "probe syscall.count lost {lost} calls: its kernel map was full"
        )),
        "the loss is reported with its cause:\n{}",
        out.stderr
    );
}
