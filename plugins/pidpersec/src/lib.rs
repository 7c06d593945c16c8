//! pidpersec: new tasks (processes and threads) per interval, like
//! bpftrace's pidpersec.bt prints them per second: one row per `[output]
//! interval` (1 s by default), and `@forks[comm]`, the count per parent.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Pidpersec {
    interval: u64,
    pids: u64,
    forks: Counter,
}

impl Plugin for Pidpersec {
    const PROBES: &'static [&'static str] = &["process.fork"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["INTERVAL", "PIDS"]);
        Ok(Pidpersec {
            interval: 0,
            pids: 0,
            forks: Counter::new("forks", &["comm"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        if let Body::ProcessFork(_) = event.body {
            self.pids += 1;
            self.forks.add(&[event.header.comm], 1);
        }
    }

    fn on_tick(&mut self) {
        self.interval += 1;
        Row::new()
            .push(self.interval)
            .push(std::mem::take(&mut self.pids))
            .emit();
    }
}

plugin!(Pidpersec);
