//! What the bpftrace-like tools print beside the events: a TIME column.
//! (The enums' printed names are in enums.rs, generated from the WIT.)

/// Time since the first event a plugin saw: the TIME column of tools that
/// print the time of day where a plugin has no wall clock.
#[derive(Debug, Default)]
pub struct Elapsed {
    first_ns: Option<u64>,
}

impl Elapsed {
    /// Nanoseconds from the first timestamp passed here to `timestamp_ns`.
    pub fn since_first(&mut self, timestamp_ns: u64) -> u64 {
        timestamp_ns.saturating_sub(*self.first_ns.get_or_insert(timestamp_ns))
    }

    /// The same, as seconds with milliseconds (`"1.204"`).
    pub fn seconds(&mut self, timestamp_ns: u64) -> String {
        let ns = self.since_first(timestamp_ns);
        format!("{}.{:03}", ns / 1_000_000_000, ns % 1_000_000_000 / 1_000_000)
    }
}
