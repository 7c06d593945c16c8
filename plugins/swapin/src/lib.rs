//! swapin: swap-ins per process, like bpftrace's swapin.bt (`@[comm, pid]`):
//! `@reads[comm, pid]` counts the reads from swap, `@pages[comm, pid]` the
//! pages they brought back. Set `print_maps = "interval"` for swapin.bt's
//! per-second view.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, plugin};

struct Swapin {
    reads: Counter,
    pages: Counter,
}

impl Plugin for Swapin {
    const PROBES: &'static [&'static str] = &["memory.swapin"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Swapin {
            reads: Counter::new("reads", &["comm", "pid"]),
            pages: Counter::new("pages", &["comm", "pid"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::MemorySwapin(s) = event.body else {
            return;
        };
        let pid = event.header.pid.to_string();
        let key = [event.header.comm, pid.as_str()];
        self.reads.add(&key, 1);
        self.pages.add(&key, u64::from(s.pages));
    }
}

plugin!(Swapin);
