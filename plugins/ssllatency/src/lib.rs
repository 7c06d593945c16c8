//! ssllatency: OpenSSL call latency as power-of-two histograms of
//! microseconds per function, like bpftrace's ssllatency.bt, printed at exit:
//! `usecs[func]` for calls that succeeded, `failed_usecs[func]` for the
//! others (ssllatency.bt's `@hist` and `@histF`; its `@stat` counts and
//! averages are each histogram's count and sum).

use wasmtrace_sdk::{Body, Config, Event, Log2Histogram, Plugin, plugin};

struct Ssllatency {
    usecs: Log2Histogram,
    failed_usecs: Log2Histogram,
}

impl Plugin for Ssllatency {
    const PROBES: &'static [&'static str] = &["net.tls"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Ssllatency {
            usecs: Log2Histogram::new("usecs", &["func"]),
            failed_usecs: Log2Histogram::new("failed_usecs", &["func"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTls(call) = event.body else {
            return;
        };
        // As ssllatency.bt: a return of 1 or more is a success.
        let hist = if call.ret >= 1 { &self.usecs } else { &self.failed_usecs };
        hist.record(&[call.call.name()], call.latency_ns / 1000);
    }
}

plugin!(Ssllatency);
