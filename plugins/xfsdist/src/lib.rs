//! xfsdist: file system operation latency as power-of-two histograms of
//! microseconds per operation, like bpftrace's xfsdist.bt (`@us[op]`),
//! printed at exit. It serves every file system: config `fs = "ext4"` makes
//! it ext4dist, `fs = "btrfs"` btrfsdist (default: `xfs`).

use wasmtrace_sdk::{Body, Config, Event, Log2Histogram, Plugin, plugin};

struct Fsdist {
    fs: String,
    us: Log2Histogram,
}

impl Plugin for Fsdist {
    const PROBES: &'static [&'static str] = &["file.latency"];

    fn init(config: &Config) -> Result<Self, String> {
        Ok(Fsdist {
            fs: config.text("fs")?.unwrap_or("xfs").to_string(),
            us: Log2Histogram::new("us", &["op"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::FileLatency(io) = event.body else {
            return;
        };
        if event.text(io.fs_type) == self.fs {
            self.us.record(&[io.op.name()], io.latency_ns / 1000);
        }
    }
}

plugin!(Fsdist);
