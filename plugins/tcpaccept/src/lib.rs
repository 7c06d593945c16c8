//! tcpaccept: one line per accepted TCP connection, IPv4 and IPv6, like
//! bpftrace's tcpaccept.bt: PID, COMM, RADDR, RPORT, LADDR, LPORT and BL,
//! the listener's backlog (waiting/maximum) after this accept. TIME is
//! seconds since the first event.

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

#[derive(Default)]
struct Tcpaccept {
    elapsed: Elapsed,
}

impl Plugin for Tcpaccept {
    const PROBES: &'static [&'static str] = &["net.tcp.accept"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PID", "COMM", "RADDR", "RPORT", "LADDR", "LPORT", "BL"]);
        Ok(Tcpaccept::default())
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTcpAccept(a) = event.body else {
            return;
        };
        let h = &event.header;
        Row::new()
            .push(self.elapsed.seconds(h.timestamp_ns))
            .push(h.pid)
            .push(h.comm)
            .push(event.text(a.ends.daddr))
            .push(a.ends.dport)
            .push(event.text(a.ends.saddr))
            .push(a.ends.sport)
            .push(format!("{}/{}", a.backlog, a.max_backlog))
            .emit();
    }
}

plugin!(Tcpaccept);
