//! tcpretrans: one line per TCP retransmission, IPv4 and IPv6, like
//! bpftrace's tcpretrans.bt: LADDR:LPORT, RADDR:RPORT and the connection's
//! STATE (SYN_SENT for a SYN sent again), and `@retransmits[raddr]`. TIME is
//! seconds since the first event; there is no PID column, as retransmits run
//! from timers in whatever task the CPU was running.

use wasmtrace_sdk::{Body, Config, Counter, Elapsed, Event, Plugin, Row, plugin, set_columns};

struct Tcpretrans {
    elapsed: Elapsed,
    retransmits: Counter,
}

impl Plugin for Tcpretrans {
    const PROBES: &'static [&'static str] = &["net.tcp.retransmit"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "LADDR:LPORT", "RADDR:RPORT", "STATE"]);
        Ok(Tcpretrans {
            elapsed: Elapsed::default(),
            retransmits: Counter::new("retransmits", &["raddr"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTcpRetransmit(r) = event.body else {
            return;
        };
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(format!("{}:{}", event.text(r.ends.saddr), r.ends.sport))
            .push(format!("{}:{}", event.text(r.ends.daddr), r.ends.dport))
            .push(r.state.name())
            .emit();
        self.retransmits.add(&[event.text(r.ends.daddr)], 1);
    }
}

plugin!(Tcpretrans);
