//! The probe catalog: one row per probe, in id order: what it attaches to,
//! any load-time setup, its fields, and how its record becomes its WIT body.
//! The loader, the decoder, `wasmtrace list` and docs/probes.md all read this
//! table, so a probe is its row here, its `.bpf.c` program, its record in
//! events.h and its record in the WIT (docs/contributing.md).

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::decode::{DecodeError, TextTable, record, tcp_ends, variant};
use crate::runtime::bindings::{
    Body, FileLatency, FileOp, FileOpen, FileStat, FileSync, FileUnlink, KillCall, MemoryOomKill, MemorySwapin,
    NetTcpAccept, NetTcpConnect, NetTcpDrop, NetTcpLife, NetTcpRetransmit, NetTcpSynBacklog, ProcessExec, ProcessExit,
    ProcessFork, ProcessSleep, ProcessThread, SecurityCapable, SecuritySetuid, SetuidCall, ShellReadline, SignalKill,
    StatCall, SyncCall, SyscallCount, SyscallEnter, TcpState,
};

/// What a program attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// A tracepoint: category and name, as under /sys/kernel/tracing/events.
    Tracepoint { category: &'static str, name: &'static str },
    /// The same tracepoint, attached through BTF (`tp_btf`): the program
    /// gets the tracepoint's typed arguments directly. Needs kernel BTF.
    BtfTracepoint { category: &'static str, name: &'static str },
    /// A function of a user-space program or library (a uprobe; a uretprobe
    /// when `ret`, as the program's section says). `target` is a path, or a
    /// library's file name looked up in the usual library folders.
    Uprobe {
        target: &'static str,
        symbol: &'static str,
        ret: bool,
    },
}

/// A hook that one of a probe's programs attaches to.
#[derive(Debug)]
pub struct Hook {
    /// The program's function name in the `.bpf.c` file.
    pub program: &'static str,
    pub attach: Attach,
    /// A probe is available when all its required hooks exist; optional
    /// hooks (e.g. `open`, which arm64 lacks) are attached where they exist.
    pub required: bool,
}

impl std::fmt::Display for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attach::Tracepoint { category, name } => write!(f, "tracepoint:{category}/{name}"),
            Attach::BtfTracepoint { category, name } => write!(f, "tp_btf:{category}/{name}"),
            Attach::Uprobe { target, symbol, ret } => {
                write!(f, "{}:{target}:{symbol}", if *ret { "uretprobe" } else { "uprobe" })
            }
        }
    }
}

/// A field of a probe's event, for `wasmtrace list` and the docs.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

/// A probe's load-time work on its loaded object; a message on failure.
pub type Setup = fn(&mut aya::Ebpf) -> Result<(), String>;

/// Reads one of a probe's records into its WIT body, its strings into the
/// batch's text table.
pub type Decode = fn(&mut TextTable, ProbeId, &[u8]) -> Result<Body, DecodeError>;

/// How a probe's calls reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// An event per call, through the family's ring buffer.
    Stream,
    /// Counted in a kernel map; an event per key every interval
    /// (`kernel_counts`). A full map, not the ring, loses calls.
    KernelCounts,
}

#[derive(Debug)]
pub struct Probe {
    pub name: &'static str,
    pub id: ProbeId,
    pub object: Object,
    pub delivery: Delivery,
    /// Work before the probe's programs attach, beyond setting its filter
    /// (e.g. memory.swapin's list of swap partitions).
    pub setup: Option<Setup>,
    pub summary: &'static str,
    pub hooks: &'static [Hook],
    pub fields: &'static [Field],
    /// The record (events.h) to the WIT body (plugin.wit).
    pub decode: Decode,
    /// What to know about when this probe sees an event and how its filters apply.
    pub notes: &'static str,
}

const fn tp(program: &'static str, category: &'static str, name: &'static str) -> Hook {
    Hook {
        program,
        attach: Attach::Tracepoint { category, name },
        required: true,
    }
}

const fn optional_tp(program: &'static str, category: &'static str, name: &'static str) -> Hook {
    Hook {
        program,
        attach: Attach::Tracepoint { category, name },
        required: false,
    }
}

const fn uprobe(program: &'static str, target: &'static str, symbol: &'static str, ret: bool) -> Hook {
    Hook {
        program,
        attach: Attach::Uprobe { target, symbol, ret },
        required: true,
    }
}

const fn field(name: &'static str, ty: &'static str, doc: &'static str) -> Field {
    Field { name, ty, doc }
}

/// Fields of the header that every event carries.
pub const HEADER_FIELDS: &[Field] = &[
    field("timestamp-ns", "u64", "nanoseconds since boot (CLOCK_BOOTTIME)"),
    field("cpu", "u32", "CPU the event happened on"),
    field("pid", "u32", "process id (thread-group id)"),
    field("tid", "u32", "thread id"),
    field("ppid", "u32", "parent's process id"),
    field("uid", "u32", "user id"),
    field("gid", "u32", "group id"),
    field("comm", "string", "command name, at most 15 bytes (sent once per batch)"),
    field("cgroup-id", "u64", "id of the task's cgroup (v2)"),
    field(
        "container",
        "option<container>",
        "the container it ran in; none for a process of the host",
    ),
];

pub const PROBES: &[Probe] = &[
    Probe {
        name: "process.exec",
        id: ProbeId::ProcessExec,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a program was executed (execve or execveat returned)",
        hooks: &[
            tp("process_exec_enter", "syscalls", "sys_enter_execve"),
            tp("process_exec_exit", "syscalls", "sys_exit_execve"),
            optional_tp("process_execat_enter", "syscalls", "sys_enter_execveat"),
            optional_tp("process_execat_exit", "syscalls", "sys_exit_execveat"),
        ],
        fields: &[
            field(
                "caller-comm",
                "text",
                "command name before the exec: who ran the program",
            ),
            field("filename", "text", "the path passed to execve (at most 255 bytes)"),
            field(
                "argv",
                "list<text>",
                "arguments, argv[0] first: at most 32, 1 KiB in all",
            ),
            field("argv-truncated", "bool", "more arguments were passed than are kept"),
            field("ret", "s32", "0 on success, or -errno"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::ProcessExecEvent = record(probe, bytes)?;
            let used = &e.argv[..(e.argv_len as usize).min(abi::ARGV_LEN)];
            Ok(Body::ProcessExec(ProcessExec {
                caller_comm: t.c_str(&e.caller_comm),
                filename: t.c_str(&e.filename),
                argv: used
                    .split(|&b| b == 0)
                    .take(e.argc as usize)
                    .map(|arg| t.bytes(arg))
                    .collect(),
                argv_truncated: e.truncated != 0,
                ret: e.ret,
            }))
        },
        notes: "Filters apply after the exec, so `comm` is the new program's name.",
    },
    Probe {
        name: "process.exit",
        id: ProbeId::ProcessExit,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a process exited (its thread-group leader)",
        hooks: &[tp("process_exit", "sched", "sched_process_exit")],
        fields: &[
            field("exit-code", "u32", "the exit status, when not killed by a signal"),
            field("signal", "u32", "the signal that killed it, or 0"),
            field("core-dumped", "bool", "whether it dumped core"),
            field("lifetime-ns", "u64", "time from the process's start to its exit"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::ProcessExitEvent = record(probe, bytes)?;
            // The kernel's wait status: exit code in bits 8-15, signal in 0-6, core flag 7.
            Ok(Body::ProcessExit(ProcessExit {
                exit_code: (e.exit_code >> 8) & 0xff,
                signal: e.exit_code & 0x7f,
                core_dumped: e.exit_code & 0x80 != 0,
                lifetime_ns: e.lifetime_ns,
            }))
        },
        notes: "",
    },
    Probe {
        name: "file.open",
        id: ProbeId::FileOpen,
        object: Object::File,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a file was opened (open, openat or openat2 returned)",
        hooks: &[
            tp("file_openat_exit", "syscalls", "sys_exit_openat"),
            optional_tp("file_open_exit", "syscalls", "sys_exit_open"),
            optional_tp("file_openat2_exit", "syscalls", "sys_exit_openat2"),
        ],
        fields: &[
            field("path", "text", "the path as passed, at most 255 bytes"),
            field("flags", "u32", "open flags (O_RDONLY, O_CREAT, ...)"),
            field("mode", "u32", "mode for created files"),
            field("dfd", "s32", "directory fd the path is relative to; -100 is AT_FDCWD"),
            field("ret", "s64", "the new fd, or -errno"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileOpenEvent = record(probe, bytes)?;
            Ok(Body::FileOpen(FileOpen {
                path: t.c_str(&e.path),
                flags: e.flags,
                mode: e.mode,
                dfd: e.dfd,
                ret: e.ret,
            }))
        },
        notes: "One event per open, sent when it returns; the arguments are read from the registers saved at syscall entry.",
    },
    Probe {
        name: "syscall.enter",
        id: ProbeId::SyscallEnter,
        object: Object::Syscall,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a system call was entered",
        hooks: &[Hook {
            program: "syscall_enter",
            attach: Attach::BtfTracepoint {
                category: "raw_syscalls",
                name: "sys_enter",
            },
            required: true,
        }],
        fields: &[field(
            "id",
            "u32",
            "the syscall number (the `names.syscall` import names it)",
        )],
        decode: |_, probe, bytes| {
            let e: abi::SyscallEnterEvent = record(probe, bytes)?;
            Ok(Body::SyscallEnter(SyscallEnter { id: e.id as u32 }))
        },
        notes: "Fires for every syscall on the machine: narrow it with filters where you can.",
    },
    Probe {
        name: "signal.kill",
        id: ProbeId::SignalKill,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a signal was sent with kill, tkill or tgkill (as killsnoop)",
        hooks: &[
            tp("signal_kill_exit", "syscalls", "sys_exit_kill"),
            optional_tp("signal_tkill_exit", "syscalls", "sys_exit_tkill"),
            optional_tp("signal_tgkill_exit", "syscalls", "sys_exit_tgkill"),
        ],
        fields: &[
            field("call", "kill-call", "`kill`, `tkill` or `tgkill`"),
            field(
                "target",
                "s32",
                "kill's pid (0: the sender's process group, -1: all it may signal, < -1: that group), or tkill/tgkill's thread id",
            ),
            field(
                "signal",
                "u32",
                "the signal number; 0 only checks that the target exists",
            ),
            field("ret", "s32", "0 on success, or -errno"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::SignalKillEvent = record(probe, bytes)?;
            let call = variant(&[KillCall::Kill, KillCall::Tkill, KillCall::Tgkill], probe, e.call)?;
            Ok(Body::SignalKill(SignalKill {
                call,
                target: e.target,
                signal: e.signal,
                ret: e.ret,
            }))
        },
        notes: "The header is the sender. One event when the call returns; the arguments are read from the registers saved at syscall entry.",
    },
    Probe {
        name: "process.sleep",
        id: ProbeId::ProcessSleep,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a thread went to sleep with nanosleep or clock_nanosleep (as naptime)",
        hooks: &[
            tp("process_nanosleep_enter", "syscalls", "sys_enter_nanosleep"),
            optional_tp("process_clock_nanosleep_enter", "syscalls", "sys_enter_clock_nanosleep"),
        ],
        fields: &[
            field(
                "duration-ns",
                "u64",
                "the requested sleep; with `absolute`, the wake-up time on `clock`",
            ),
            field(
                "clock",
                "u32",
                "the clock: 0 CLOCK_REALTIME, 1 CLOCK_MONOTONIC (nanosleep's), ...",
            ),
            field("absolute", "bool", "TIMER_ABSTIME was given"),
            field("parent-comm", "text", "the parent process's command name"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::ProcessSleepEvent = record(probe, bytes)?;
            Ok(Body::ProcessSleep(ProcessSleep {
                duration_ns: e.duration_ns,
                clock: e.clock,
                absolute: e.flags & 1 != 0,
                parent_comm: t.c_str(&e.parent_comm),
            }))
        },
        notes: "Sent when the sleep starts: `duration-ns` is what was asked for, not how long it slept. glibc's sleep() and nanosleep() use clock_nanosleep.",
    },
    Probe {
        name: "file.sync",
        id: ProbeId::FileSync,
        object: Object::File,
        delivery: Delivery::Stream,
        setup: None,
        summary: "data was flushed with sync, syncfs, fsync, fdatasync, sync_file_range or msync (as syncsnoop)",
        hooks: &[
            tp("file_fsync_enter", "syscalls", "sys_enter_fsync"),
            optional_tp("file_sync_enter", "syscalls", "sys_enter_sync"),
            optional_tp("file_syncfs_enter", "syscalls", "sys_enter_syncfs"),
            optional_tp("file_fdatasync_enter", "syscalls", "sys_enter_fdatasync"),
            optional_tp("file_sync_file_range_enter", "syscalls", "sys_enter_sync_file_range"),
            optional_tp("file_msync_enter", "syscalls", "sys_enter_msync"),
        ],
        fields: &[
            field(
                "call",
                "sync-call",
                "`sync`, `syncfs`, `fsync`, `fdatasync`, `sync-file-range` or `msync`",
            ),
            field("fd", "s32", "the file descriptor, or -1 for sync and msync"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::FileSyncEvent = record(probe, bytes)?;
            let call = variant(
                &[
                    SyncCall::Sync,
                    SyncCall::Syncfs,
                    SyncCall::Fsync,
                    SyncCall::Fdatasync,
                    SyncCall::SyncFileRange,
                    SyncCall::Msync,
                ],
                probe,
                e.call,
            )?;
            Ok(Body::FileSync(FileSync { call, fd: e.fd }))
        },
        notes: "Sent when the call is entered, as syncsnoop.bt does.",
    },
    Probe {
        name: "file.stat",
        id: ProbeId::FileStat,
        object: Object::File,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a file's status was read with stat, lstat, fstatat, statx or statfs (as statsnoop)",
        hooks: &[
            tp("file_statx_exit", "syscalls", "sys_exit_statx"),
            optional_tp("file_stat_exit", "syscalls", "sys_exit_newstat"),
            optional_tp("file_lstat_exit", "syscalls", "sys_exit_newlstat"),
            optional_tp("file_fstatat_exit", "syscalls", "sys_exit_newfstatat"),
            optional_tp("file_statfs_exit", "syscalls", "sys_exit_statfs"),
        ],
        fields: &[
            field("call", "stat-call", "`stat`, `lstat`, `fstatat`, `statx` or `statfs`"),
            field(
                "path",
                "text",
                "the path as passed, at most 255 bytes (fstatat, statx: relative to their directory fd)",
            ),
            field("ret", "s32", "0 on success, or -errno"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileStatEvent = record(probe, bytes)?;
            let call = variant(
                &[
                    StatCall::Stat,
                    StatCall::Lstat,
                    StatCall::Fstatat,
                    StatCall::Statx,
                    StatCall::Statfs,
                ],
                probe,
                e.call,
            )?;
            Ok(Body::FileStat(FileStat {
                call,
                path: t.c_str(&e.path),
                ret: e.ret,
            }))
        },
        notes: "One event when the call returns; the arguments are read from the registers saved at syscall entry. glibc's stat() uses fstatat or statx, which statsnoop.bt does not trace.",
    },
    Probe {
        name: "security.setuid",
        id: ProbeId::SecuritySetuid,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a process changed its user ids with setuid, setfsuid, setresuid or setreuid (as setuids)",
        hooks: &[
            tp("security_setuid_enter", "syscalls", "sys_enter_setuid"),
            tp("security_setuid_exit", "syscalls", "sys_exit_setuid"),
            optional_tp("security_setfsuid_enter", "syscalls", "sys_enter_setfsuid"),
            optional_tp("security_setfsuid_exit", "syscalls", "sys_exit_setfsuid"),
            optional_tp("security_setresuid_enter", "syscalls", "sys_enter_setresuid"),
            optional_tp("security_setresuid_exit", "syscalls", "sys_exit_setresuid"),
            optional_tp("security_setreuid_enter", "syscalls", "sys_enter_setreuid"),
            optional_tp("security_setreuid_exit", "syscalls", "sys_exit_setreuid"),
        ],
        fields: &[
            field("call", "setuid-call", "`setuid`, `setfsuid`, `setresuid` or `setreuid`"),
            field("caller-uid", "u32", "the caller's uid before the call"),
            field(
                "uid",
                "s32",
                "setuid and setfsuid's uid; setresuid and setreuid's real uid (-1: unchanged)",
            ),
            field(
                "euid",
                "s32",
                "setresuid and setreuid's effective uid (-1: unchanged or not given)",
            ),
            field("suid", "s32", "setresuid's saved uid (-1: unchanged or not given)"),
            field(
                "ret",
                "s32",
                "0 on success, or -errno; setfsuid returns the previous fsuid",
            ),
        ],
        decode: |_, probe, bytes| {
            let e: abi::SecuritySetuidEvent = record(probe, bytes)?;
            let call = variant(
                &[
                    SetuidCall::Setuid,
                    SetuidCall::Setfsuid,
                    SetuidCall::Setresuid,
                    SetuidCall::Setreuid,
                ],
                probe,
                e.call,
            )?;
            Ok(Body::SecuritySetuid(SecuritySetuid {
                call,
                caller_uid: e.caller_uid,
                uid: e.uid,
                euid: e.euid,
                suid: e.suid,
                ret: e.ret,
            }))
        },
        notes: "Entry and exit are paired in the kernel, as the caller's uid is read at entry. The header's uid is the uid after the call.",
    },
    Probe {
        name: "process.fork",
        id: ProbeId::ProcessFork,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a task was created by fork, vfork or clone: a process or a thread (as pidpersec)",
        hooks: &[tp("process_fork", "sched", "sched_process_fork")],
        fields: &[field(
            "child-pid",
            "u32",
            "the new task's id: its pid, or its thread id for a thread",
        )],
        decode: |_, probe, bytes| {
            let e: abi::ProcessForkEvent = record(probe, bytes)?;
            Ok(Body::ProcessFork(ProcessFork { child_pid: e.child_pid }))
        },
        notes: "The header is the parent, in whose context the tracepoint fires.",
    },
    Probe {
        name: "security.capable",
        id: ProbeId::SecurityCapable,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "the kernel checked a capability of a task, granted or not (as capable)",
        hooks: &[tp("security_capable", "capability", "cap_capable")],
        fields: &[
            field(
                "cap",
                "u32",
                "the capability's number: CAP_CHOWN 0, ..., CAP_SYS_ADMIN 21, ...",
            ),
            field("ret", "s32", "0 when the task has it, else -EPERM"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::SecurityCapableEvent = record(probe, bytes)?;
            Ok(Body::SecurityCapable(SecurityCapable { cap: e.cap, ret: e.ret }))
        },
        notes: "capable.bt used the cap_capable kprobe, which also showed the audit flag; the tracepoint (6.x) does not have it. Checks are frequent: filter by comm or pid.",
    },
    Probe {
        name: "memory.oom-kill",
        id: ProbeId::MemoryOomKill,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: None,
        summary: "the OOM killer chose a victim (as oomkill)",
        hooks: &[tp("memory_oom_kill", "oom", "mark_victim")],
        fields: &[
            field("victim-pid", "u32", "the process to be killed"),
            field("victim-comm", "text", "its command name (empty before Linux 6.x)"),
            field("victim-uid", "u32", "its user (0 before Linux 6.x)"),
            field("total-vm-kb", "u64", "its virtual memory, KiB (0 before Linux 6.x)"),
            field("anon-rss-kb", "u64", "its anonymous resident memory, KiB"),
            field("file-rss-kb", "u64", "its file-backed resident memory, KiB"),
            field("shmem-rss-kb", "u64", "its shared-memory resident memory, KiB"),
            field("oom-score-adj", "s32", "its oom_score_adj"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::MemoryOomKillEvent = record(probe, bytes)?;
            Ok(Body::MemoryOomKill(MemoryOomKill {
                victim_pid: e.victim_pid,
                victim_comm: t.c_str(&e.victim_comm),
                victim_uid: e.victim_uid,
                total_vm_kb: e.total_vm_kb,
                anon_rss_kb: e.anon_rss_kb,
                file_rss_kb: e.file_rss_kb,
                shmem_rss_kb: e.shmem_rss_kb,
                oom_score_adj: e.oom_score_adj,
            }))
        },
        notes: "The header is the task whose allocation triggered the OOM killer; filters apply to it, not to the victim.",
    },
    Probe {
        name: "net.tcp.connect",
        id: ProbeId::NetTcpConnect,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "an outgoing TCP connection (IPv4 or IPv6) was established or failed (as tcpconnect)",
        hooks: &[tp("net_tcp_connect_state", "sock", "inet_sock_set_state")],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field("established", "bool", "false when it was refused, reset or timed out"),
            field("latency-ns", "u64", "from the SYN to the answer"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpConnectEvent = record(probe, bytes)?;
            Ok(Body::NetTcpConnect(NetTcpConnect {
                ends: tcp_ends(t, probe, &e.ends)?,
                established: e.established != 0,
                latency_ns: e.latency_ns,
            }))
        },
        notes: "The header is the task that called connect(); filters apply to it. Sent when the handshake ends, once the local port is known (tcpconnect.bt printed at connect(), from a kprobe).",
    },
    Probe {
        name: "net.tcp.life",
        id: ProbeId::NetTcpLife,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP connection closed, with its duration and bytes (as tcplife)",
        hooks: &[tp("net_tcp_life_state", "sock", "inet_sock_set_state")],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field("duration-ns", "u64", "from the first SYN to the close"),
            field("rx-bytes", "u64", "bytes received (tcp_sock.bytes_received)"),
            field("tx-bytes", "u64", "bytes sent and acknowledged (tcp_sock.bytes_acked)"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpLifeEvent = record(probe, bytes)?;
            Ok(Body::NetTcpLife(NetTcpLife {
                ends: tcp_ends(t, probe, &e.ends)?,
                duration_ns: e.duration_ns,
                rx_bytes: e.rx_bytes,
                tx_bytes: e.tx_bytes,
            }))
        },
        notes: "The header is the task that called connect(), or else the one that closed the socket (close() or shutdown() first); filters apply to it. Connections opened before the probe, or reset without a close() by their owner, are not reported.",
    },
    Probe {
        name: "net.tcp.retransmit",
        id: ProbeId::NetTcpRetransmit,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP segment was retransmitted (as tcpretrans)",
        hooks: &[Hook {
            program: "net_tcp_retransmit",
            attach: Attach::BtfTracepoint {
                category: "tcp",
                name: "tcp_retransmit_skb",
            },
            required: true,
        }],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field(
                "state",
                "tcp-state",
                "the connection's TCP state (`syn-sent` for a SYN sent again)",
            ),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpRetransmitEvent = record(probe, bytes)?;
            const STATES: [TcpState; 12] = [
                TcpState::Established,
                TcpState::SynSent,
                TcpState::SynRecv,
                TcpState::FinWait1,
                TcpState::FinWait2,
                TcpState::TimeWait,
                TcpState::Close,
                TcpState::CloseWait,
                TcpState::LastAck,
                TcpState::Listen,
                TcpState::Closing,
                TcpState::NewSynRecv,
            ];
            let state = (e.state as usize)
                .checked_sub(1)
                .and_then(|i| STATES.get(i))
                .copied()
                .ok_or(DecodeError::UnknownState { probe, state: e.state })?;
            Ok(Body::NetTcpRetransmit(NetTcpRetransmit {
                ends: tcp_ends(t, probe, &e.ends)?,
                state,
            }))
        },
        notes: "Retransmits run from timers: the header is whatever task the CPU was running, so pid and comm filters do not select connections here.",
    },
    Probe {
        name: "net.tcp.accept",
        id: ProbeId::NetTcpAccept,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP connection (IPv4 or IPv6) was accepted (as tcpaccept)",
        hooks: &[
            tp("net_tcp_accept4_exit", "syscalls", "sys_exit_accept4"),
            optional_tp("net_tcp_accept_exit", "syscalls", "sys_exit_accept"),
        ],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field(
                "backlog",
                "u32",
                "connections still waiting on the listener after this one",
            ),
            field("max-backlog", "u32", "the listener's listen() backlog"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpBacklogEvent = record(probe, bytes)?;
            Ok(Body::NetTcpAccept(NetTcpAccept {
                ends: tcp_ends(t, probe, &e.ends)?,
                backlog: e.backlog,
                max_backlog: e.max_backlog,
            }))
        },
        notes: "The header is the task that called accept(); one event when it returns, read from the new socket and the listening one (tcpaccept.bt used the inet_csk_accept kretprobe).",
    },
    Probe {
        name: "net.tcp.drop",
        id: ProbeId::NetTcpDrop,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "the kernel dropped a TCP packet (IPv4 or IPv6), with its reason (as tcpdrop)",
        hooks: &[tp("net_tcp_drop", "skb", "kfree_skb")],
        fields: &[
            field(
                "ends",
                "tcp-ends",
                "as in the packet: `saddr`/`sport` its source, `daddr`/`dport` its destination; `family`",
            ),
            field(
                "tcp-flags",
                "u8",
                "the packet's TCP flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10",
            ),
            field(
                "reason",
                "u32",
                "the kernel's drop reason (`names.drop-reason` names it: NO_SOCKET, TCP_LISTEN_OVERFLOW, ...); 0 before Linux 5.17",
            ),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpDropEvent = record(probe, bytes)?;
            Ok(Body::NetTcpDrop(NetTcpDrop {
                ends: tcp_ends(t, probe, &e.ends)?,
                tcp_flags: e.tcp_flags,
                reason: e.reason,
            }))
        },
        notes: "Drops happen in softirq: the header is whatever task the CPU was running, so pid and comm filters do not select packets. tcpdrop.bt used the tcp_drop kprobe, which newer kernels removed; every dropped skb passes kfree_skb.",
    },
    Probe {
        name: "shell.readline",
        id: ProbeId::ShellReadline,
        object: Object::User,
        delivery: Delivery::Stream,
        setup: None,
        summary: "bash read a command line (as bashreadline)",
        hooks: &[uprobe("shell_readline", "/bin/bash", "readline", true)],
        fields: &[field("line", "text", "the line, at most 255 bytes")],
        decode: |t, probe, bytes| {
            let e: abi::ShellReadlineEvent = record(probe, bytes)?;
            Ok(Body::ShellReadline(ShellReadline { line: t.c_str(&e.line) }))
        },
        notes: "A uretprobe on /bin/bash's readline(): shells with readline linked in (Debian's, Ubuntu's, Fedora's bash) are seen; other shells or another bash binary are not.",
    },
    Probe {
        name: "process.thread",
        id: ProbeId::ProcessThread,
        object: Object::User,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a thread is being created with pthread_create (as threadsnoop)",
        hooks: &[uprobe("process_thread", "libc.so.6", "pthread_create", false)],
        fields: &[field(
            "start-routine",
            "u64",
            "the new thread's function: an address in the process (plugins cannot resolve it to a name)",
        )],
        decode: |_, probe, bytes| {
            let e: abi::ProcessThreadEvent = record(probe, bytes)?;
            Ok(Body::ProcessThread(ProcessThread {
                start_routine: e.start_routine,
            }))
        },
        notes: "A uprobe on glibc's pthread_create (in libc.so.6 since glibc 2.34). Threads made without it (Go, raw clone) are not seen; `process.fork` sees every new task.",
    },
    Probe {
        name: "net.tcp.syn-backlog",
        id: ProbeId::NetTcpSynBacklog,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP handshake completed on a listener, with the listener's backlog (as tcpsynbl)",
        hooks: &[tp("net_tcp_syn_backlog_state", "sock", "inet_sock_set_state")],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field("backlog", "u32", "connections already waiting on the listener"),
            field("max-backlog", "u32", "the listener's listen() backlog"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpBacklogEvent = record(probe, bytes)?;
            Ok(Body::NetTcpSynBacklog(NetTcpSynBacklog {
                ends: tcp_ends(t, probe, &e.ends)?,
                backlog: e.backlog,
                max_backlog: e.max_backlog,
            }))
        },
        notes: "Read from the new socket as it is created from the listener (a copy of it), where tcpsynbl.bt used the tcp_v4_syn_recv_sock kprobe. Handshakes complete in softirq: pid and comm filters do not select listeners.",
    },
    Probe {
        name: "file.latency",
        id: ProbeId::FileLatency,
        object: Object::File,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a read, write, open or fsync returned, with its latency and file system (as xfsdist, ext4dist, ...)",
        hooks: &[
            tp("file_read_latency_enter", "syscalls", "sys_enter_read"),
            tp("file_read_latency_exit", "syscalls", "sys_exit_read"),
            tp("file_write_latency_enter", "syscalls", "sys_enter_write"),
            tp("file_write_latency_exit", "syscalls", "sys_exit_write"),
            tp("file_openat_latency_enter", "syscalls", "sys_enter_openat"),
            tp("file_openat_latency_exit", "syscalls", "sys_exit_openat"),
            tp("file_fsync_latency_enter", "syscalls", "sys_enter_fsync"),
            tp("file_fsync_latency_exit", "syscalls", "sys_exit_fsync"),
            optional_tp("file_pread64_latency_enter", "syscalls", "sys_enter_pread64"),
            optional_tp("file_pread64_latency_exit", "syscalls", "sys_exit_pread64"),
            optional_tp("file_pwrite64_latency_enter", "syscalls", "sys_enter_pwrite64"),
            optional_tp("file_pwrite64_latency_exit", "syscalls", "sys_exit_pwrite64"),
            optional_tp("file_fdatasync_latency_enter", "syscalls", "sys_enter_fdatasync"),
            optional_tp("file_fdatasync_latency_exit", "syscalls", "sys_exit_fdatasync"),
        ],
        fields: &[
            field(
                "op",
                "file-op",
                "`read` (read, pread64), `write` (write, pwrite64), `open` (openat), `fsync` (fsync, fdatasync)",
            ),
            field(
                "fs-type",
                "text",
                "the file system's name: `ext4`, `xfs`, `btrfs`, `tmpfs`, `proc`, ...",
            ),
            field("latency-ns", "u64", "from the call's entry to its return"),
            field("fd", "s32", "the file descriptor (for open, the new one)"),
            field("ret", "s64", "bytes read or written, the new fd, or -errno"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileLatencyEvent = record(probe, bytes)?;
            let op = variant(&[FileOp::Read, FileOp::Write, FileOp::Open, FileOp::Fsync], probe, e.op)?;
            Ok(Body::FileLatency(FileLatency {
                op,
                fs_type: t.c_str(&e.fs_type),
                latency_ns: e.latency_ns,
                fd: e.fd,
                ret: e.ret,
            }))
        },
        notes: "Timed at the syscall boundary for every file system (xfsdist.bt timed XFS's own functions with kprobes): it includes the VFS and page cache, and sockets and pipes show with their pseudo file systems (`sockfs`, `pipefs`). Every read and write on the machine passes here: filter by pid, uid or comm.",
    },
    Probe {
        name: "memory.swapin",
        id: ProbeId::MemorySwapin,
        object: Object::Process,
        delivery: Delivery::Stream,
        setup: Some(crate::swaps::load_devices),
        summary: "pages were read back from a swap partition (as swapin)",
        hooks: &[tp("memory_swapin", "block", "block_bio_queue")],
        fields: &[
            field("pages", "u32", "pages read (swap readahead reads several at once)"),
            field("device", "text", "the swap device, as major:minor"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::MemorySwapinEvent = record(probe, bytes)?;
            // The kernel's dev_t: major in the top 12 bits, minor in the low 20.
            Ok(Body::MemorySwapin(MemorySwapin {
                pages: e.pages,
                device: t.display(format_args!("{}:{}", e.dev >> 20, e.dev & 0xfffff)),
            }))
        },
        notes: "No tracepoint marks a swap-in (swapin.bt used the swap_readpage kprobe): this counts reads queued to the swap partitions /proc/swaps lists at start-up (disks, zram, loop devices), which the faulting task submits itself. Swap files share their file system's device and are not seen.",
    },
    Probe {
        name: "file.unlink",
        id: ProbeId::FileUnlink,
        object: Object::File,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a file or a folder was removed (unlink, unlinkat or rmdir returned)",
        hooks: &[
            tp("file_unlinkat_exit", "syscalls", "sys_exit_unlinkat"),
            optional_tp("file_unlink_exit", "syscalls", "sys_exit_unlink"),
            optional_tp("file_rmdir_exit", "syscalls", "sys_exit_rmdir"),
        ],
        fields: &[
            field("path", "text", "the path as passed, at most 255 bytes"),
            field("dfd", "s32", "directory fd the path is relative to; -100 is AT_FDCWD"),
            field("flags", "u32", "AT_REMOVEDIR (0x200) when a folder is removed"),
            field("ret", "s32", "0, or -errno"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileUnlinkEvent = record(probe, bytes)?;
            Ok(Body::FileUnlink(FileUnlink {
                path: t.c_str(&e.path),
                dfd: e.dfd,
                flags: e.flags,
                ret: e.ret,
            }))
        },
        notes: "The arguments are read from the registers saved at syscall entry; arm64 has only unlinkat.",
    },
    Probe {
        name: "syscall.count",
        id: ProbeId::SyscallCount,
        object: Object::Syscall,
        delivery: Delivery::KernelCounts,
        setup: None,
        summary: "system calls counted in the kernel, per process, syscall and command name",
        hooks: &[Hook {
            program: "syscall_count",
            attach: Attach::BtfTracepoint {
                category: "raw_syscalls",
                name: "sys_enter",
            },
            required: true,
        }],
        fields: &[
            field("id", "u32", "the syscall number (the `names.syscall` import names it)"),
            field("count", "u64", "calls made in the interval"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::SyscallCountEvent = record(probe, bytes)?;
            Ok(Body::SyscallCount(SyscallCount {
                id: e.id as u32,
                count: e.count,
            }))
        },
        notes: "Counted in the kernel, like bpftrace's `count()`: a call costs a map update, not an event. \
                One event per process, syscall and comm every interval (`output.interval`), sent at the \
                interval's end. Its header is the first call's, but for the timestamp, which is when the \
                counts were read. Up to 16,384 of them per interval; calls beyond are counted as lost.",
    },
];

/// What a `tcp-ends` field holds.
const TCP_ENDS: &str =
    "`family` (`ipv4`, `ipv6`), `saddr` and `sport` (local), `daddr` and `dport` (remote); addresses as text";

/// The probe with this name.
pub fn find(name: &str) -> Option<&'static Probe> {
    PROBES.iter().find(|p| p.name == name)
}

/// The probe for this id: its row, as the rows are in id order.
pub fn by_id(id: ProbeId) -> &'static Probe {
    &PROBES[id as usize]
}

/// The catalog name closest to a misspelt one, for "did you mean".
pub fn suggest(name: &str) -> Option<&'static str> {
    PROBES
        .iter()
        .map(|p| (strsim::levenshtein(name, p.name), p.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// One row per probe of events.h's list, in its order (so `by_id` indexes).
    #[test]
    fn the_rows_follow_the_probe_list() {
        let ids: Vec<ProbeId> = PROBES.iter().map(|p| p.id).collect();
        assert_eq!(ids, ProbeId::ALL);
    }

    /// The catalog's fields are the WIT's: the same names and types in the
    /// same order; and the cases of the WIT's `body` are the probes, in id
    /// order (the SDKs that read a body by its case number rely on it).
    #[test]
    fn the_fields_are_the_wits() {
        use wit_parser::{Resolve, Type, TypeDefKind};

        fn type_name(resolve: &Resolve, ty: &Type) -> String {
            let id = match ty {
                Type::Bool => return "bool".into(),
                Type::U8 => return "u8".into(),
                Type::U16 => return "u16".into(),
                Type::U32 => return "u32".into(),
                Type::U64 => return "u64".into(),
                Type::S32 => return "s32".into(),
                Type::S64 => return "s64".into(),
                Type::String => return "string".into(),
                Type::Id(id) => *id,
                other => panic!("a field of type {other:?}"),
            };
            let def = &resolve.types[id];
            match (&def.name, &def.kind) {
                (Some(name), _) => name.clone(),
                (None, TypeDefKind::List(item)) => format!("list<{}>", type_name(resolve, item)),
                (None, TypeDefKind::Option(item)) => format!("option<{}>", type_name(resolve, item)),
                (None, kind) => panic!("an anonymous {kind:?}"),
            }
        }

        let mut resolve = Resolve::default();
        resolve
            .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit"))
            .unwrap();
        let (_, events) = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some("events"))
            .unwrap();
        let record = |name: &str| -> Vec<(String, String)> {
            let TypeDefKind::Record(r) = &resolve.types[events.types[name]].kind else {
                panic!("{name} is not a record");
            };
            r.fields
                .iter()
                .map(|f| (f.name.clone(), type_name(&resolve, &f.ty)))
                .collect()
        };
        let TypeDefKind::Variant(body) = &resolve.types[events.types["body"]].kind else {
            panic!("body is not a variant");
        };
        let cases: Vec<String> = body.cases.iter().map(|c| c.name.clone()).collect();
        let probes: Vec<String> = PROBES.iter().map(|p| p.name.replace('.', "-")).collect();
        assert_eq!(cases, probes);
        for (case, probe) in body.cases.iter().zip(PROBES) {
            let Some(ty) = &case.ty else {
                panic!("{} carries no record", case.name)
            };
            let ours: Vec<(String, String)> = probe
                .fields
                .iter()
                .map(|f| (f.name.to_string(), f.ty.to_string()))
                .collect();
            assert_eq!(ours, record(&type_name(&resolve, ty)), "{}", probe.name);
        }
        let header: Vec<&str> = HEADER_FIELDS.iter().map(|f| f.name).collect();
        let wit: Vec<String> = record("headers").into_iter().map(|(name, _)| name).collect();
        assert_eq!(header, wit);
    }

    #[test]
    fn every_probe_has_a_required_hook() {
        for p in PROBES {
            assert!(p.hooks.iter().any(|h| h.required), "{}", p.name);
        }
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(suggest("file.opne"), Some("file.open"));
        assert_eq!(suggest("proces.exec"), Some("process.exec"));
        assert_eq!(suggest("net.tcp.conect"), Some("net.tcp.connect"));
        assert_eq!(suggest("gpu.kernel.launch"), None);
    }
}
