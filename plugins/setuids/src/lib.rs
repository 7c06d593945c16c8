//! setuids: one line per setuid-family call, like bpftrace's setuids.bt:
//! PID, COMM, the caller's UID before the call, SYSCALL, and ARGS (RET) as
//! setuids.bt writes them. TIME is seconds since the first event. It also
//! sees setreuid, which setuids.bt does not trace.

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, SetuidCall, plugin, set_columns};

#[derive(Default)]
struct Setuids {
    elapsed: Elapsed,
}

impl Plugin for Setuids {
    const PROBES: &'static [&'static str] = &["security.setuid"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PID", "COMM", "UID", "SYSCALL", "ARGS (RET)"]);
        Ok(Setuids::default())
    }

    fn on_event(&mut self, event: &Event) {
        let Body::SecuritySetuid(s) = event.body else {
            return;
        };
        let args = match s.call {
            SetuidCall::Setuid => format!("uid={} ({})", s.uid, s.ret),
            SetuidCall::Setfsuid => format!("uid={} (prevuid={})", s.uid, s.ret),
            SetuidCall::Setresuid => format!("ruid={} euid={} suid={} ({})", s.uid, s.euid, s.suid, s.ret),
            SetuidCall::Setreuid => format!("ruid={} euid={} ({})", s.uid, s.euid, s.ret),
        };
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(event.header.pid)
            .push(event.header.comm)
            .push(s.caller_uid)
            .push(s.call.name())
            .push(args)
            .emit();
    }
}

plugin!(Setuids);
