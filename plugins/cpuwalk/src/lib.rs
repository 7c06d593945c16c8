//! cpuwalk: which CPUs processes run on, sampled, like bpftrace's
//! cpuwalk.bt (`@cpu = lhist(cpu, ...)` for samples that interrupted a
//! process, not an idle CPU): samples per CPU (`@cpu[cpu]`), printed at exit.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, plugin};

struct Cpuwalk {
    cpu: Counter,
    name: String,
}

impl Plugin for Cpuwalk {
    const PROBES: &'static [&'static str] = &["cpu.sample"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Cpuwalk {
            cpu: Counter::new("cpu", &["cpu"]),
            name: String::new(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::CpuSample(_) = event.body else {
            return;
        };
        // As cpuwalk.bt's `/pid/`: an idle CPU runs pid 0.
        if event.header.pid == 0 {
            return;
        }
        use std::fmt::Write;
        self.name.clear();
        let _ = write!(self.name, "{}", event.header.cpu);
        self.cpu.add(&[&self.name], 1);
    }
}

plugin!(Cpuwalk);
