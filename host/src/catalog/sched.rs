//! Probes of the scheduler (`sched.bpf.c`): run-queue latency.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{record, wit_enum};
use super::{Delivery, Probe, StackSupport, btf_tp};
use crate::wit::{Body, SchedRunqLatency};

pub const PROBES: &[Probe] = &[Probe {
    name: "sched.runq-latency",
    id: ProbeId::SchedRunqLatency,
    object: Object::Sched,
    delivery: Delivery::Stream,
    stacks: StackSupport::Never("its event is made when the task is switched in, on another task's stack"),
    setup: None,
    summary: "a task got a CPU after waiting on a run queue, with how long it waited (as runqlat)",
    hooks: &[
        btf_tp("sched_wakeup", "sched", "sched_wakeup"),
        btf_tp("sched_wakeup_new", "sched", "sched_wakeup_new"),
        btf_tp("sched_switch", "sched", "sched_switch"),
        btf_tp("sched_exit", "sched", "sched_process_exit"),
    ],
    decode: |t, probe, bytes| {
        let e: abi::SchedRunqLatencyEvent = record(probe, bytes)?;
        Ok(Body::SchedRunqLatency(SchedRunqLatency {
            latency_ns: e.latency_ns,
            queued_by: wit_enum(probe, e.queued_by)?,
            prev_tid: e.prev_tid,
            prev_comm: t.c_str(&e.prev_comm),
            prev_state: wit_enum(probe, e.prev_state)?,
        }))
    },
    notes: "The latency is measured in the kernel, from the wakeup (or the switch that left the task runnable) to the switch that runs it: one event per run of a task that waited. Filters apply to the task that waited, not to the one the CPU was running. It fires on every context switch: filter on pids, comms or containers where switches are many. At most 16,384 tasks' waits are followed at once: past that, a wait is counted as lost.",
}];
