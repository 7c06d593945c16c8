//! Probes of every system call (`syscall.bpf.c`): each entry, or counts kept in
//! the kernel.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::record;
use super::{Delivery, Probe, StackSupport, btf_tp};
use crate::wit::{Body, SyscallCount, SyscallEnter};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "syscall.enter",
        id: ProbeId::SyscallEnter,
        object: Object::Syscall,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a system call was entered",
        hooks: &[btf_tp("syscall_enter", "raw_syscalls", "sys_enter")],
        decode: |_, probe, bytes| {
            let e: abi::SyscallEnterEvent = record(probe, bytes)?;
            Ok(Body::SyscallEnter(SyscallEnter { id: e.id as u32 }))
        },
        notes: "Fires for every syscall on the machine: narrow it with filters where you can.",
    },
    Probe {
        name: "syscall.count",
        id: ProbeId::SyscallCount,
        object: Object::Syscall,
        delivery: Delivery::KernelCounts,
        stacks: StackSupport::Never("it is counted in the kernel, not sent per call"),
        setup: None,
        summary: "system calls counted in the kernel, per process, syscall and command name",
        hooks: &[btf_tp("syscall_count", "raw_syscalls", "sys_enter")],
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
