//! Probes of user-space functions (`user.bpf.c`, uprobes): bash's readline and
//! libc's pthread_create.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::record;
use super::{Delivery, Probe, uprobe};
use crate::wit::{Body, ProcessThread, ShellReadline};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "shell.readline",
        id: ProbeId::ShellReadline,
        object: Object::User,
        delivery: Delivery::Stream,
        setup: None,
        summary: "bash read a command line (as bashreadline)",
        hooks: &[uprobe("shell_readline", "/bin/bash", "readline", true)],
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
        decode: |_, probe, bytes| {
            let e: abi::ProcessThreadEvent = record(probe, bytes)?;
            Ok(Body::ProcessThread(ProcessThread {
                start_routine: e.start_routine,
            }))
        },
        notes: "A uprobe on glibc's pthread_create (in libc.so.6 since glibc 2.34). Threads made without it (Go, raw clone) are not seen; `process.fork` sees every new task.",
    },
];
