//! threadsnoop: one line per thread created with pthread_create, like
//! bpftrace's threadsnoop.bt: TIME(ms) since the first, PID, COMM and FUNC,
//! the new thread's function as an address (threadsnoop.bt names it; a
//! sandboxed plugin cannot read the process's symbols). `@threads[comm]`
//! counts them.

use wasmtrace_sdk::{Body, Config, Counter, Elapsed, Event, Plugin, Row, plugin, set_columns};

struct Threadsnoop {
    elapsed: Elapsed,
    threads: Counter,
}

impl Plugin for Threadsnoop {
    const PROBES: &'static [&'static str] = &["process.thread"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(ms)", "PID", "COMM", "FUNC"]);
        Ok(Threadsnoop {
            elapsed: Elapsed::default(),
            threads: Counter::new("threads", &["comm"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::ProcessThread(t) = event.body else {
            return;
        };
        let h = &event.header;
        Row::new()
            .push(self.elapsed.since_first(h.timestamp_ns) / 1_000_000)
            .push(h.pid)
            .push(h.comm)
            .push(format!("{:#x}", t.start_routine))
            .emit();
        self.threads.add(&[h.comm], 1);
    }
}

plugin!(Threadsnoop);
