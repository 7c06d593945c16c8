//! Probes of the CPUs (`cpu.bpf.c`): sampling.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::record;
use super::{Attach, Delivery, Hook, Probe, StackSupport};
use crate::wit::{Body, CpuSample};

pub const PROBES: &[Probe] = &[Probe {
    name: "cpu.sample",
    id: ProbeId::CpuSample,
    object: Object::Cpu,
    delivery: Delivery::Stream,
    stacks: StackSupport::ByDefault,
    setup: None,
    summary: "every CPU sampled at a frequency: the task it was running, user or kernel code, and its run queue (as profile:hz)",
    hooks: &[Hook {
        program: "cpu_sample",
        attach: Attach::CpuClock,
        required: true,
    }],
    decode: |_, probe, bytes| {
        let e: abi::CpuSampleEvent = record(probe, bytes)?;
        Ok(Body::CpuSample(CpuSample {
            user: e.user != 0,
            runnable: e.runnable,
        }))
    },
    notes: "A software cpu-clock perf event on every online CPU (no hardware counters needed, so it works in VMs), at 99 Hz unless the probe's table sets `frequency` (1 to 10000 Hz): one event per CPU per period, idle CPUs included (pid 0). Filters apply to the interrupted task. CPUs brought online later are not sampled.",
}];
