//! Probes of processes and their lives (`process.bpf.c`): exec, exit, fork, sleep,
//! signals, privileges, memory pressure.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{record, wit_enum};
use super::{Delivery, Probe, StackSupport, optional_tp, tp};
use crate::wit::{
    Body, MemoryOomKill, MemorySwapin, ProcessExec, ProcessExit, ProcessFork, ProcessSleep, SecurityCapable,
    SecuritySetuid, SignalKill,
};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "process.exec",
        id: ProbeId::ProcessExec,
        object: Object::Process,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a program was executed (execve or execveat returned)",
        hooks: &[
            tp("process_exec_enter", "syscalls", "sys_enter_execve"),
            tp("process_exec_exit", "syscalls", "sys_exit_execve"),
            optional_tp("process_execat_enter", "syscalls", "sys_enter_execveat"),
            optional_tp("process_execat_exit", "syscalls", "sys_exit_execveat"),
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
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a process exited (its thread-group leader)",
        hooks: &[tp("process_exit", "sched", "sched_process_exit")],
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
        name: "signal.kill",
        id: ProbeId::SignalKill,
        object: Object::Process,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a signal was sent with kill, tkill or tgkill (as killsnoop)",
        hooks: &[
            tp("signal_kill_exit", "syscalls", "sys_exit_kill"),
            optional_tp("signal_tkill_exit", "syscalls", "sys_exit_tkill"),
            optional_tp("signal_tgkill_exit", "syscalls", "sys_exit_tgkill"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::SignalKillEvent = record(probe, bytes)?;
            let call = wit_enum(probe, e.call)?;
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
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a thread went to sleep with nanosleep or clock_nanosleep (as naptime)",
        hooks: &[
            tp("process_nanosleep_enter", "syscalls", "sys_enter_nanosleep"),
            optional_tp("process_clock_nanosleep_enter", "syscalls", "sys_enter_clock_nanosleep"),
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
        name: "security.setuid",
        id: ProbeId::SecuritySetuid,
        object: Object::Process,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
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
        decode: |_, probe, bytes| {
            let e: abi::SecuritySetuidEvent = record(probe, bytes)?;
            let call = wit_enum(probe, e.call)?;
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
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a task was created by fork, vfork or clone: a process or a thread (as pidpersec)",
        hooks: &[tp("process_fork", "sched", "sched_process_fork")],
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
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "the kernel checked a capability of a task, granted or not (as capable)",
        hooks: &[tp("security_capable", "capability", "cap_capable")],
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
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "the OOM killer chose a victim (as oomkill)",
        hooks: &[tp("memory_oom_kill", "oom", "mark_victim")],
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
        name: "memory.swapin",
        id: ProbeId::MemorySwapin,
        object: Object::Process,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: Some(crate::swaps::load_devices),
        summary: "pages were read back from a swap partition (as swapin)",
        hooks: &[tp("memory_swapin", "block", "block_bio_queue")],
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
];
