//! profile: where the CPUs spend their time, like bpftrace's profile.bt
//! (`profile:hz:49 /pid/ { @samples[ustack, kstack, comm] = count(); }`):
//! samples counted by kernel stack, user stack and command, idle CPUs left
//! out. Given other probes (`probes = [...]`, each with `stacks = ...` in
//! its `[probe]` table), it counts their events' stacks instead, as
//! bpftrace's `@[kstack] = count()` on a tracepoint.
//!
//! The host names the frames once per stack and writes the counts as
//! folded stacks, a flame graph and a pprof profile (`[output]`).

use wasmtrace_sdk::{Config, Event, Plugin, StackCounter, plugin};

struct Profile {
    samples: StackCounter,
}

impl Plugin for Profile {
    const PROBES: &'static [&'static str] = &["cpu.sample"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Profile {
            samples: StackCounter::new("samples", &["comm"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let h = &event.header;
        // As profile.bt's `/pid/`: an idle CPU runs pid 0.
        if h.pid == 0 || (h.kernel_stack == 0 && h.user_stack == 0) {
            return;
        }
        self.samples.add(h.kernel_stack, h.user_stack, &[h.comm], 1);
    }
}

plugin!(Profile);
