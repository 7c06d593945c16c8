//! gethostlatency: one line per host name lookup through libc, like
//! bpftrace's gethostlatency.bt: TIME(s) from the first lookup seen, PID,
//! COMM, LATms, HOST, and also CALL and ERR (getaddrinfo's EAI_ code); and
//! lookups per host and result (`@lookups[host, err]`).

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Gethostlatency {
    first_ns: Option<u64>,
    lookups: Counter,
}

impl Plugin for Gethostlatency {
    const PROBES: &'static [&'static str] = &["net.dns"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "PID", "COMM", "LATms", "CALL", "ERR", "HOST"]);
        Ok(Gethostlatency {
            first_ns: None,
            lookups: Counter::new("lookups", &["host", "err"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetDns(lookup) = event.body else {
            return;
        };
        let now = event.header.timestamp_ns;
        let first = *self.first_ns.get_or_insert(now);
        let host = event.text(lookup.host);
        Row::new()
            .push(((now - first) / 1_000_000) as f64 / 1000.0)
            .push(event.header.pid)
            .push(event.header.comm)
            .push((lookup.latency_ns / 1000) as f64 / 1000.0)
            .push(lookup.call.name())
            .push(lookup.error)
            .push(host)
            .emit();
        // Lookups are rare (a call takes microseconds at least): no buffer kept.
        self.lookups.add(&[host, &lookup.error.to_string()], 1);
    }
}

plugin!(Gethostlatency);
