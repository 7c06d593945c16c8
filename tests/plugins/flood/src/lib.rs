//! A plugin that tries to make the host hold or print without bound, so
//! that tests can show the quotas holding. It floods in every `on-tick` and
//! every `on-events` call.
//!
//! Config: `flood` = what to flood:
//! - "keys": `per_call` new keys in one counter, one host call each;
//! - "maps": `per_call` new maps;
//! - "handles": `per_call` handles to one map, never dropped;
//! - "columns": `per_call` column headers of 16 names;
//! - "rows", "logs", "findings": `per_call` of each, 100 bytes of text apiece;
//! - "huge": a key, a row cell and a log line of 1 MiB each.
//!
//! `per_call` defaults to 200,000; `text` (default 100 `x`) is the rows',
//! logs' and findings' text. A flood of output also counts itself in the
//! map `floods`, so that a test knows how many there were (a flood of maps
//! or keys does not: that map would take part of what it measures).

use wasmtrace_sdk::bindings::wasmtrace::plugin::maps as host;
use wasmtrace_sdk::{Config, Event, Finding, Level, Plugin, Row, Severity, log, plugin, set_columns};

struct Flood {
    what: String,
    per_call: u64,
    text: String,
    /// Numbers keys and maps so that each one is new.
    next: u64,
    keys: host::Counter,
    floods: Option<host::Counter>,
    /// Handles kept alive on purpose.
    hoard: Vec<host::Counter>,
}

impl Flood {
    fn flood(&mut self) {
        if let Some(floods) = &self.floods {
            floods.add(&[], 1);
        }
        let text = self.text.as_str();
        for _ in 0..self.per_call {
            self.next += 1;
            let n = self.next;
            match self.what.as_str() {
                "keys" => self.keys.add(&[format!("key-{n:016}")], 1),
                "maps" => {
                    host::Counter::new(&format!("map_{n}"), &[]).add(&[], 1);
                }
                "handles" => self.hoard.push(host::Counter::new("hoarded", &[])),
                "columns" => set_columns(&["COLUMN"; 16]),
                "rows" => Row::new().push(n).push(text).emit(),
                "logs" => log(Level::Info, text),
                "findings" => Finding::new(Severity::High, "flood", text).emit(),
                _ => {}
            }
        }
        if self.what == "huge" {
            let huge = "h".repeat(1 << 20);
            self.keys.add(std::slice::from_ref(&huge), 1);
            Row::new().push(huge.as_str()).emit();
            log(Level::Warn, &huge);
        }
    }
}

impl Plugin for Flood {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(config: &Config) -> Result<Self, String> {
        let what = config.text("flood")?.unwrap_or("keys").to_string();
        let floods = matches!(what.as_str(), "columns" | "rows" | "logs" | "findings")
            .then(|| host::Counter::new("floods", &[]));
        Ok(Flood {
            what,
            per_call: config.integer("per_call")?.unwrap_or(200_000) as u64,
            text: config.text("text")?.map_or_else(|| "x".repeat(100), str::to_string),
            next: 0,
            keys: host::Counter::new("keys", &["key".to_string()]),
            floods,
            hoard: Vec::new(),
        })
    }

    fn on_event(&mut self, _event: &Event) {
        self.flood();
    }

    fn on_tick(&mut self) {
        self.flood();
    }
}

plugin!(Flood);
