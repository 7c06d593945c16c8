//! tcplife: one line per TCP connection when it closes, IPv4 and IPv6, like
//! bpftrace's tcplife.bt: PID, COMM, LADDR, LPORT, RADDR, RPORT, TX_KB,
//! RX_KB and its lifetime in MS.

use wasmtrace_sdk::{Body, Config, Event, Plugin, Row, plugin, set_columns};

struct Tcplife;

impl Plugin for Tcplife {
    const PROBES: &'static [&'static str] = &["net.tcp.life"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&[
            "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB", "MS",
        ]);
        Ok(Tcplife)
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTcpLife(life) = event.body else {
            return;
        };
        Row::new()
            .push(event.header.pid)
            .push(event.header.comm)
            .push(event.text(life.ends.saddr))
            .push(life.ends.sport)
            .push(event.text(life.ends.daddr))
            .push(life.ends.dport)
            .push(life.tx_bytes / 1024)
            .push(life.rx_bytes / 1024)
            .push(life.duration_ns / 1_000_000)
            .emit();
    }
}

plugin!(Tcplife);
