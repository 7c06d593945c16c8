//! writeback: one line per pass of the kernel's flusher, like bpftrace's
//! writeback.bt: TIME(s) from the first pass seen, DEVICE, PAGES written,
//! REASON, and the pass's time in ms; and the pages written per device and
//! reason (`@pages[device, reason]`).

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Writeback {
    first_ns: Option<u64>,
    pages: Counter,
}

impl Plugin for Writeback {
    const PROBES: &'static [&'static str] = &["block.writeback"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "DEVICE", "PAGES", "REASON", "ms"]);
        Ok(Writeback {
            first_ns: None,
            pages: Counter::new("pages", &["device", "reason"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::BlockWriteback(pass) = event.body else {
            return;
        };
        let now = event.header.timestamp_ns;
        let first = *self.first_ns.get_or_insert(now);
        let device = event.text(pass.device);
        let reason = pass.reason.name();
        Row::new()
            .push(((now - first) / 1_000_000) as f64 / 1000.0)
            .push(device)
            .push(pass.pages)
            .push(reason)
            .push((pass.latency_ns / 1000) as f64 / 1000.0)
            .emit();
        self.pages.add(&[device, reason], pass.pages);
    }
}

plugin!(Writeback);
