//! sslsnoop: one line per OpenSSL read, write and handshake, like bpftrace's
//! sslsnoop.bt: TIME(us) from the first call seen, TID, COMM, LAT(us), RET,
//! FUNC, and also BYTES moved; and bytes per command and function
//! (`@bytes[comm, func]`).

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Sslsnoop {
    first_ns: Option<u64>,
    bytes: Counter,
}

impl Plugin for Sslsnoop {
    const PROBES: &'static [&'static str] = &["net.tls"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(us)", "TID", "COMM", "LAT(us)", "RET", "BYTES", "FUNC"]);
        Ok(Sslsnoop {
            first_ns: None,
            bytes: Counter::new("bytes", &["comm", "func"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTls(call) = event.body else {
            return;
        };
        let now = event.header.timestamp_ns;
        let first = *self.first_ns.get_or_insert(now);
        let func = call.call.name();
        Row::new()
            .push((now - first) / 1000)
            .push(event.header.tid)
            .push(event.header.comm)
            .push(call.latency_ns / 1000)
            .push(call.ret)
            .push(call.bytes)
            .push(func)
            .emit();
        self.bytes.add(&[event.header.comm, func], call.bytes);
    }
}

plugin!(Sslsnoop);
