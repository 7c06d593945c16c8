//! biolatency: block I/O latency as a power-of-two histogram of microseconds,
//! like bpftrace's biolatency.bt (`@usecs`), printed at exit: from the
//! request's insertion into the I/O scheduler (or its issue, when it was
//! issued directly) to its completion.
//!
//! Config: `queued = false` counts the device's time only, from issue to
//! completion (libbpf-tools' biolatency without `-Q`); `disks = true` keeps a
//! histogram per disk (its `-D`).

use wasmtrace_sdk::{Body, Config, Event, Log2Histogram, Plugin, plugin};

struct Biolatency {
    usecs: Log2Histogram,
    queued: bool,
    per_disk: bool,
}

impl Plugin for Biolatency {
    const PROBES: &'static [&'static str] = &["block.io"];

    fn init(config: &Config) -> Result<Self, String> {
        let per_disk = config.boolean("disks")?.unwrap_or(false);
        Ok(Biolatency {
            usecs: Log2Histogram::new("usecs", if per_disk { &["disk"] } else { &[] }),
            queued: config.boolean("queued")?.unwrap_or(true),
            per_disk,
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::BlockIo(io) = event.body else {
            return;
        };
        let ns = if self.queued {
            io.queued_ns + io.service_ns
        } else {
            io.service_ns
        };
        match self.per_disk {
            true => self.usecs.record(&[event.text(io.disk)], ns / 1000),
            false => self.usecs.record(&[], ns / 1000),
        }
    }
}

plugin!(Biolatency);
