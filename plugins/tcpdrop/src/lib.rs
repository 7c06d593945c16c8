//! tcpdrop: one line per TCP packet the kernel dropped, IPv4 and IPv6, like
//! bpftrace's tcpdrop.bt, with the kernel's REASON for it (NO_SOCKET,
//! TCP_LISTEN_OVERFLOW, ...) and the packet's FLAGS, and `@drops[reason]`.
//! Addresses are the packet's source and destination. TIME is seconds since
//! the first event.

use std::collections::HashMap;

use wasmtrace_sdk::{Body, Config, Counter, Elapsed, Event, Plugin, Row, names, plugin, set_columns};

struct Tcpdrop {
    elapsed: Elapsed,
    drops: Counter,
    reasons: HashMap<u32, String>,
}

/// tcpdump's letters for the TCP flags.
fn flags(bits: u8) -> String {
    [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, letter)| *letter)
    .collect()
}

impl Plugin for Tcpdrop {
    const PROBES: &'static [&'static str] = &["net.tcp.drop"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "SADDR:SPORT", "DADDR:DPORT", "FLAGS", "REASON"]);
        Ok(Tcpdrop {
            elapsed: Elapsed::default(),
            drops: Counter::new("drops", &["reason"]),
            reasons: HashMap::new(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::NetTcpDrop(drop) = event.body else {
            return;
        };
        // One host lookup per distinct reason, not per event.
        let reason = self
            .reasons
            .entry(drop.reason)
            .or_insert_with(|| names::drop_reason(drop.reason).unwrap_or_else(|| drop.reason.to_string()));
        Row::new()
            .push(self.elapsed.seconds(event.header.timestamp_ns))
            .push(format!("{}:{}", event.text(drop.ends.saddr), drop.ends.sport))
            .push(format!("{}:{}", event.text(drop.ends.daddr), drop.ends.dport))
            .push(flags(drop.tcp_flags))
            .push(reason.as_str())
            .emit();
        self.drops.add(&[reason], 1);
    }
}

plugin!(Tcpdrop);
