//! runqlat: CPU scheduler run-queue latency as a power-of-two histogram of
//! microseconds, like bpftrace's runqlat.bt (`@usecs`), printed at exit; and
//! how many runs followed each way of becoming runnable (`@runs[queued_by]`:
//! a wakeup, a new task, or a preemption).

use wasmtrace_sdk::{Body, Config, Counter, Event, Log2Histogram, Plugin, plugin};

struct Runqlat {
    usecs: Log2Histogram,
    runs: Counter,
}

impl Plugin for Runqlat {
    const PROBES: &'static [&'static str] = &["sched.runq-latency"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Runqlat {
            usecs: Log2Histogram::new("usecs", &[]),
            runs: Counter::new("runs", &["queued_by"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::SchedRunqLatency(run) = event.body else {
            return;
        };
        self.usecs.record(&[], run.latency_ns / 1000);
        self.runs.add(&[run.queued_by.name()], 1);
    }
}

plugin!(Runqlat);
