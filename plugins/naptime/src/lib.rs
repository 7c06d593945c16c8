//! naptime: one line per sleep a process starts, like bpftrace's naptime.bt:
//! parent and process, and the seconds asked for. Zero sleeps (yields) are
//! left out as there; so are sleeps until an absolute time, which have no
//! length. It also sees clock_nanosleep, which glibc's sleep() uses and
//! naptime.bt does not trace.

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

#[derive(Default)]
struct Naptime {
    elapsed: Elapsed,
}

impl Plugin for Naptime {
    const PROBES: &'static [&'static str] = &["process.sleep"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PPID", "PCOMM", "PID", "COMM", "SECONDS"]);
        Ok(Naptime::default())
    }

    fn on_event(&mut self, event: &Event) {
        let Body::ProcessSleep(sleep) = event.body else {
            return;
        };
        if sleep.duration_ns == 0 || sleep.absolute {
            return;
        }
        let h = &event.header;
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(h.ppid)
            .push(event.text(sleep.parent_comm))
            .push(h.pid)
            .push(h.comm)
            .push(format!(
                "{}.{:03}",
                sleep.duration_ns / 1_000_000_000,
                sleep.duration_ns % 1_000_000_000 / 1_000_000
            ))
            .emit();
    }
}

plugin!(Naptime);
