//! killsnoop: one line per signal sent with kill, tkill or tgkill, like
//! bpftrace's killsnoop.bt (TIME is seconds since the first event: the
//! sandbox has no wall clock).

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

#[derive(Default)]
struct Killsnoop {
    elapsed: Elapsed,
}

impl Plugin for Killsnoop {
    const PROBES: &'static [&'static str] = &["signal.kill"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PID", "COMM", "SIG", "TPID", "RESULT"]);
        Ok(Killsnoop::default())
    }

    fn on_event(&mut self, event: &Event) {
        let Body::SignalKill(kill) = event.body else {
            return;
        };
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(event.header.pid)
            .push(event.header.comm)
            .push(kill.signal)
            .push(kill.target)
            .push(kill.ret)
            .emit();
    }
}

plugin!(Killsnoop);
