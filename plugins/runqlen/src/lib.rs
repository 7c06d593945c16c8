//! runqlen: CPU run queue length, sampled, like bpftrace's runqlen.bt
//! (`@runqlen = lhist(len, ...)`): the tasks waiting for a CPU beside the
//! one it runs, per sample, counted by length (`@runqlen[len]`), printed at
//! exit. It counts the whole CPU's queue (runqlen.bt reads the interrupted
//! task's CFS group queue, which with cgroups holds only that group's tasks).

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, plugin};

struct Runqlen {
    runqlen: Counter,
    len: String,
}

impl Plugin for Runqlen {
    const PROBES: &'static [&'static str] = &["cpu.sample"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Runqlen {
            runqlen: Counter::new("runqlen", &["len"]),
            len: String::new(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::CpuSample(sample) = event.body else {
            return;
        };
        use std::fmt::Write;
        self.len.clear();
        let _ = write!(self.len, "{}", sample.runnable.saturating_sub(1));
        self.runqlen.add(&[&self.len], 1);
    }
}

plugin!(Runqlen);
