//! tcpsynbl: the TCP SYN backlog as a power-of-two histogram per listen()
//! backlog, like bpftrace's tcpsynbl.bt (`@backlog[max]`), printed at exit,
//! and `@full[max]`, handshakes that found the backlog already full.

use wasmtrace_sdk::{Body, Config, Counter, Event, Log2Histogram, Plugin, plugin};

struct Tcpsynbl {
    backlog: Log2Histogram,
    full: Counter,
}

impl Plugin for Tcpsynbl {
    const PROBES: &'static [&'static str] = &["net.tcp.syn-backlog"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Tcpsynbl {
            backlog: Log2Histogram::new("backlog", &["max"]),
            full: Counter::new("full", &["max"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTcpSynBacklog(b) = event.body else {
            return;
        };
        let max = b.max_backlog.to_string();
        self.backlog.record(&[&max], u64::from(b.backlog));
        if b.backlog >= b.max_backlog {
            self.full.add(&[&max], 1);
        }
    }
}

plugin!(Tcpsynbl);
