//! tcpconnect: one line per outgoing TCP connection, IPv4 and IPv6, like
//! bpftrace's tcpconnect.bt (PID, COMM, SADDR, SPORT, DADDR, DPORT), with
//! RESULT (`ok`, or `failed` when refused, reset or timed out) and the
//! handshake's LAT(ms). TIME is seconds since the first event.

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

#[derive(Default)]
struct Tcpconnect {
    elapsed: Elapsed,
}

impl Plugin for Tcpconnect {
    const PROBES: &'static [&'static str] = &["net.tcp.connect"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&[
            "TIME(s)", "PID", "COMM", "SADDR", "SPORT", "DADDR", "DPORT", "RESULT", "LAT(ms)",
        ]);
        Ok(Tcpconnect::default())
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTcpConnect(c) = event.body else {
            return;
        };
        let h = &event.header;
        Row::new()
            .push(self.elapsed.seconds(h.timestamp_ns))
            .push(h.pid)
            .push(h.comm)
            .push(event.text(c.ends.saddr))
            .push(c.ends.sport)
            .push(event.text(c.ends.daddr))
            .push(c.ends.dport)
            .push(if c.established { "ok" } else { "failed" })
            .push(format!("{:.3}", c.latency_ns as f64 / 1e6))
            .emit();
    }
}

plugin!(Tcpconnect);
