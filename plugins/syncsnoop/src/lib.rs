//! syncsnoop: one line per sync-family call, like bpftrace's syncsnoop.bt,
//! whose EVENT column names the tracepoint (TIME is seconds since the first
//! event: the sandbox has no wall clock). `@syncs[comm, call]` counts them.

use wasmtrace_sdk::{Body, Config, Counter, Elapsed, Event, Plugin, Row, plugin, set_columns};

struct Syncsnoop {
    elapsed: Elapsed,
    syncs: Counter,
}

impl Plugin for Syncsnoop {
    const PROBES: &'static [&'static str] = &["file.sync"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PID", "COMM", "EVENT"]);
        Ok(Syncsnoop {
            elapsed: Elapsed::default(),
            syncs: Counter::new("syncs", &["comm", "call"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::FileSync(sync) = event.body else {
            return;
        };
        let call = sync.call.name();
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(event.header.pid)
            .push(event.header.comm)
            .push(format!("tracepoint:syscalls:sys_enter_{call}"))
            .emit();
        self.syncs.add(&[event.header.comm, call], 1);
    }
}

plugin!(Syncsnoop);
