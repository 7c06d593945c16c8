//! bitesize: block I/O sizes as power-of-two histograms of bytes per
//! command, like bpftrace's bitesize.bt (`@[comm]`), printed at exit.

use wasmtrace_sdk::{Body, Config, Event, Log2Histogram, Plugin, plugin};

struct Bitesize {
    bytes: Log2Histogram,
}

impl Plugin for Bitesize {
    const PROBES: &'static [&'static str] = &["block.io"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Bitesize {
            bytes: Log2Histogram::new("bytes", &["comm"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::BlockIo(io) = event.body else {
            return;
        };
        self.bytes.record(&[event.header.comm], u64::from(io.bytes));
    }
}

plugin!(Bitesize);
