//! bashreadline: every command line typed into bash, like bpftrace's
//! bashreadline.bt (PID, COMMAND). TIME is seconds since the first event.

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

#[derive(Default)]
struct Bashreadline {
    elapsed: Elapsed,
}

impl Plugin for Bashreadline {
    const PROBES: &'static [&'static str] = &["shell.readline"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PID", "COMMAND"]);
        Ok(Bashreadline::default())
    }

    fn on_event(&mut self, event: &Event) {
        let Body::ShellReadline(r) = event.body else {
            return;
        };
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(event.header.pid)
            .push(event.text(r.line))
            .emit();
    }
}

plugin!(Bashreadline);
