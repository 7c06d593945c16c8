//! biosnoop: one line per block I/O request, with who submitted it and its
//! latency, like bpftrace's biosnoop.bt and libbpf-tools' biosnoop (`-Q`):
//! TIME(s) from the first request seen, COMM, PID, DISK, T (R, W, F for a
//! flush, D for a discard, ...), SECTOR, BYTES, QUE(ms) in the I/O scheduler,
//! LAT(ms) at the device. And the requests and bytes per disk and operation.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Biosnoop {
    first_ns: Option<u64>,
    requests: Counter,
    bytes: Counter,
}

fn ms(ns: u64) -> f64 {
    (ns / 1000) as f64 / 1000.0
}

impl Plugin for Biosnoop {
    const PROBES: &'static [&'static str] = &["block.io"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&[
            "TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES", "QUE(ms)", "LAT(ms)",
        ]);
        Ok(Biosnoop {
            first_ns: None,
            requests: Counter::new("requests", &["disk", "op"]),
            bytes: Counter::new("bytes", &["disk", "op"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::BlockIo(io) = event.body else {
            return;
        };
        let now = event.header.timestamp_ns;
        let first = *self.first_ns.get_or_insert(now);
        let disk = event.text(io.disk);
        let op = io.op.name();
        let kind = match op {
            "read" => "R",
            "write" => "W",
            "flush" => "F",
            "discard" => "D",
            "secure-erase" => "E",
            "write-zeroes" => "Z",
            _ => "?",
        };
        Row::new()
            .push(ms(now - first) / 1000.0)
            .push(event.header.comm)
            .push(event.header.pid)
            .push(disk)
            .push(kind)
            .push(io.sector)
            .push(io.bytes)
            .push(ms(io.queued_ns))
            .push(ms(io.service_ns))
            .emit();
        self.requests.add(&[disk, op], 1);
        self.bytes.add(&[disk, op], u64::from(io.bytes));
    }
}

plugin!(Biosnoop);
