//! Where results go: live rows and findings as they happen, maps and probe
//! statistics at intervals or at exit; as bpftrace-like text or JSON lines,
//! each written by its own sink (as bpftrace's TextOutput and JsonOutput).
//! Text never carries a raw control character from event or plugin data
//! (`escape`); JSON has serde's escaping.

mod json;
mod text;

use std::collections::HashMap;
use std::io::{self, Write};

use crate::config::Format;
use crate::deliver::{Deliveries, DeliveryStats};
use crate::maps::{Log2Hist, PluginMaps, Refused};
use crate::runtime::Emitted;
use crate::wit::{Container, Finding, Level, Value};

/// Per-probe event counts, shown at exit so that losses are never silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStats {
    pub probe: &'static str,
    pub events: u64,
    /// Dropped in the kernel: the ring buffer (or a kernel-counted probe's map) was full.
    pub lost: u64,
    /// Calls of its programs the kernel skipped because another eBPF program
    /// was running on that CPU: an upper bound on events missed (most calls
    /// are filtered out anyway).
    pub skipped: u64,
}

/// What a plugin cost and what it lost, cumulative across its restarts and
/// reloads; shown at exit (also for a plugin that is down) and exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStats {
    pub plugin: String,
    /// `running`, `down` (failed, waiting for its restart) or `unloaded`.
    pub state: &'static str,
    /// While down: how long until its next restart.
    pub restart_in: Option<std::time::Duration>,
    /// New versions swapped in (hot reloads).
    pub reloads: u64,
    pub events: u64,
    pub busy: std::time::Duration,
    /// Per probe, events dropped because the plugin's queue was full (only probes with drops).
    pub dropped: Vec<(&'static str, u64)>,
    /// Events it missed while down, or failed on.
    pub missed: u64,
    pub failures: u64,
    /// Map updates refused by its quotas.
    pub refused: Refused,
    /// Rows, findings, headers and logs refused by its emit budget.
    pub emits_refused: u64,
    /// Linear memory of its current instance.
    pub memory_bytes: u64,
    /// Nanoseconds from an event's kernel timestamp to the call that hands
    /// it to the plugin (live runs; empty in a replay).
    pub latency: Log2Hist,
}

impl PluginStats {
    /// CPU time inside the plugin per event handled.
    pub fn ns_per_event(&self) -> u128 {
        self.busy.as_nanos().checked_div(u128::from(self.events)).unwrap_or(0)
    }
}

impl PluginStats {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
}

/// How one format writes each thing the output is given.
trait Sink: Send {
    /// A plugin's column names, before its rows.
    fn columns(&mut self, plugin: &str, names: &[String]) -> io::Result<()>;
    /// A row, under the plugin's column names if it gave any.
    fn row(
        &mut self,
        plugin: &str,
        names: Option<&[String]>,
        values: &[Value],
        container: Option<&Container>,
    ) -> io::Result<()>;
    fn finding(&mut self, plugin: &str, f: &Finding, container: Option<&Container>) -> io::Result<()>;
    fn maps(&mut self, plugin: &PluginMaps) -> io::Result<()>;
    fn probe_stats(&mut self, s: &ProbeStats) -> io::Result<()>;
    fn plugin_stats(&mut self, s: &PluginStats) -> io::Result<()>;
    fn delivery(&mut self, s: &DeliveryStats) -> io::Result<()>;
    /// A plugin stopped (text output has it on stderr, through the log, only).
    fn plugin_failed(&mut self, plugin: &str, reason: &str) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

pub struct Output {
    sink: Box<dyn Sink>,
    /// Column names per plugin.
    columns: HashMap<String, Vec<String>>,
    /// The first failure to write live output, for the session to stop on.
    failed: Option<io::Error>,
    /// Receivers findings are also sent to.
    deliveries: Deliveries,
}

impl Output {
    /// Writes `format` to `out`; with several plugins (`label_plugins`),
    /// text rows start with the plugin's name.
    pub fn new(format: Format, out: Box<dyn Write + Send>, label_plugins: bool) -> Output {
        let sink: Box<dyn Sink> = match format {
            Format::Text => Box::new(text::TextSink::new(out, label_plugins)),
            Format::Json => Box::new(json::JsonSink::new(out)),
        };
        Output {
            sink,
            columns: HashMap::new(),
            failed: None,
            deliveries: Deliveries::default(),
        }
    }

    /// Also sends every finding to these receivers.
    pub fn with_deliveries(mut self, deliveries: Deliveries) -> Output {
        self.deliveries = deliveries;
        self
    }

    pub fn delivery_stats(&self) -> Vec<DeliveryStats> {
        self.deliveries.stats()
    }

    /// Gives the receivers their last chance to take what is queued, and
    /// says what reached each.
    pub fn finish_deliveries(&mut self) -> io::Result<()> {
        for s in self.deliveries.finish() {
            self.sink.delivery(&s)?;
        }
        self.sink.flush()
    }

    /// The first error writing live output (rows, findings) since the last call.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.failed.take()
    }

    fn keep_error(&mut self, result: io::Result<()>) {
        if let Err(e) = result {
            self.failed.get_or_insert(e);
        }
    }

    /// Writes what a plugin emitted; a write error is kept for `take_error`.
    pub fn emitted(&mut self, plugin: &str, items: Vec<Emitted>) {
        let result = self.write_emitted(plugin, items);
        self.keep_error(result);
    }

    fn write_emitted(&mut self, plugin: &str, items: Vec<Emitted>) -> io::Result<()> {
        for item in items {
            match item {
                Emitted::Columns(names) => {
                    self.sink.columns(plugin, &names)?;
                    self.columns.insert(plugin.to_string(), names);
                }
                Emitted::Row(values, container) => {
                    let names = self.columns.get(plugin).map(Vec::as_slice);
                    self.sink.row(plugin, names, &values, container.as_ref())?;
                }
                Emitted::Finding(f, container) => {
                    self.deliveries.offer(plugin, &f, container.as_ref());
                    self.sink.finding(plugin, &f, container.as_ref())?;
                }
                Emitted::Log(level, message) => match level {
                    // The log formatter escapes fields for the terminal (see `main`).
                    Level::Debug => tracing::debug!(plugin, "{message}"),
                    Level::Info => tracing::info!(plugin, "{message}"),
                    Level::Warn => tracing::warn!(plugin, "{message}"),
                    Level::Error => tracing::error!(plugin, "{message}"),
                },
            }
        }
        self.sink.flush()
    }

    /// Every plugin's maps, plugin by plugin.
    pub fn maps(&mut self, plugins: &[PluginMaps]) -> io::Result<()> {
        for plugin in plugins {
            self.sink.maps(plugin)?;
        }
        self.sink.flush()
    }

    pub fn probe_stats(&mut self, stats: &[ProbeStats]) -> io::Result<()> {
        for s in stats {
            self.sink.probe_stats(s)?;
        }
        self.sink.flush()
    }

    pub fn plugin_stats(&mut self, stats: &[PluginStats]) -> io::Result<()> {
        for s in stats {
            self.sink.plugin_stats(s)?;
        }
        self.sink.flush()
    }

    /// A plugin stopped.
    pub fn plugin_failed(&mut self, plugin: &str, reason: &str) {
        let result = self.sink.plugin_failed(plugin, reason);
        self.keep_error(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{MapKind, MapQuota};
    use crate::wit::{Runtime, Severity};
    use serde_json::{Value as Json, json};
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn rows() -> Vec<Emitted> {
        vec![
            Emitted::Columns(vec!["PID".into(), "COMM".into(), "PATH".into()]),
            Emitted::Row(
                vec![
                    Value::Uint(42),
                    Value::Text("cat".into()),
                    Value::Text("/etc/motd".into()),
                ],
                None,
            ),
        ]
    }

    #[test]
    fn text_rows_are_aligned_under_their_header() {
        let buf = Captured::default();
        let mut out = Output::new(Format::Text, Box::new(buf.clone()), false);
        out.emitted("opensnoop", rows());
        assert_eq!(buf.text(), "PID    COMM   PATH\n42     cat    /etc/motd\n");
    }

    #[test]
    fn json_rows_use_column_names() {
        let buf = Captured::default();
        let mut out = Output::new(Format::Json, Box::new(buf.clone()), false);
        out.emitted("opensnoop", rows());
        let line: Json = serde_json::from_str(buf.text().trim()).unwrap();
        assert_eq!(
            line,
            json!({"type": "row", "plugin": "opensnoop", "fields": {"PID": 42, "COMM": "cat", "PATH": "/etc/motd"}})
        );
    }

    #[test]
    fn findings_in_both_formats() {
        let finding = Finding {
            severity: Severity::High,
            rule: "shell".into(),
            message: "a shell".into(),
            fields: vec![("pid".into(), Value::Uint(7))],
            event: None,
        };
        let buf = Captured::default();
        Output::new(Format::Text, Box::new(buf.clone()), false)
            .emitted("p", vec![Emitted::Finding(finding.clone(), None)]);
        assert_eq!(buf.text(), "[HIGH] p/shell: a shell pid=7\n");
        let buf = Captured::default();
        Output::new(Format::Json, Box::new(buf.clone()), false).emitted("p", vec![Emitted::Finding(finding, None)]);
        let line: Json = serde_json::from_str(buf.text().trim()).unwrap();
        assert_eq!(line["severity"], "high");
        assert_eq!(line["fields"]["pid"], 7);
        assert!(line.get("container").is_none());
    }

    /// A finding about an event in a container says which, in both formats.
    #[test]
    fn findings_about_a_container_carry_it() {
        let finding = Finding {
            severity: Severity::Low,
            rule: "r".into(),
            message: "m".into(),
            fields: vec![],
            event: Some(0),
        };
        let container = crate::wit::Container {
            runtime: Runtime::CriO,
            id: "ab".repeat(32),
            name: "redis".into(),
            image: "redis:7".into(),
            pod: Some(crate::wit::Pod {
                namespace: "shop".into(),
                name: "cart-5c7f9".into(),
                container: "redis".into(),
            }),
        };
        let buf = Captured::default();
        Output::new(Format::Text, Box::new(buf.clone()), false)
            .emitted("p", vec![Emitted::Finding(finding.clone(), Some(container.clone()))]);
        assert_eq!(buf.text(), "[LOW] p/r: m container=shop/cart-5c7f9/redis\n");
        let buf = Captured::default();
        Output::new(Format::Json, Box::new(buf.clone()), false)
            .emitted("p", vec![Emitted::Finding(finding, Some(container))]);
        let line: Json = serde_json::from_str(buf.text().trim()).unwrap();
        assert_eq!(
            line["container"],
            json!({"runtime": "cri-o", "id": "ab".repeat(32), "name": "redis", "image": "redis:7",
                   "pod": {"namespace": "shop", "name": "cart-5c7f9", "container": "redis"}})
        );
    }

    #[test]
    fn maps_as_json() {
        let quota = MapQuota {
            maps: 4,
            keys_per_map: 4,
            bytes: 1 << 20,
        };
        let mut store = PluginMaps::new("p", quota);
        let c = store.create("opens", MapKind::Counter, vec!["comm".into()]).unwrap();
        store.add(c, &["cat".into()], 3).unwrap();
        let h = store.create("lat", MapKind::Log2Histogram, vec![]).unwrap();
        store.record(h, &[], 5).unwrap();
        let buf = Captured::default();
        Output::new(Format::Json, Box::new(buf.clone()), false)
            .maps(&[store])
            .unwrap();
        let lines: Vec<Json> = buf.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["entries"], json!([{"key": ["cat"], "value": 3}]));
        assert_eq!(
            lines[1]["entries"],
            json!([{"key": [], "count": 1, "sum": 5, "buckets": [{"min": 4, "count": 1}]}])
        );
    }

    /// The attack from the issue: a path that retitles, clears, colours and
    /// forges a line, in a row, a finding and a map key.
    const EVIL: &str = "/tmp/\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\r\nFAKE: root login";
    const EVIL_SHOWN: &str = "/tmp/\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mred\\r\\nFAKE: root login";

    #[test]
    fn text_escapes_event_data_in_rows_findings_and_maps() {
        let buf = Captured::default();
        let mut out = Output::new(Format::Text, Box::new(buf.clone()), true);
        let finding = Finding {
            severity: Severity::High,
            rule: "r\x1b".into(),
            message: EVIL.into(),
            fields: vec![("path\n".into(), Value::Text(EVIL.into()))],
            event: None,
        };
        out.emitted(
            "p",
            vec![
                Emitted::Columns(vec!["PATH".into()]),
                Emitted::Row(vec![Value::Text(EVIL.into())], None),
                Emitted::Finding(finding, None),
            ],
        );
        let mut store = PluginMaps::new(
            "p",
            MapQuota {
                maps: 1,
                keys_per_map: 1,
                bytes: 1 << 20,
            },
        );
        let c = store.create("opens", MapKind::Counter, vec!["path".into()]).unwrap();
        store.add(c, &[EVIL.into()], 1).unwrap();
        out.maps(&[store]).unwrap();
        assert_eq!(
            buf.text(),
            format!(
                "p: PATH\np: {EVIL_SHOWN}\n[HIGH] p/r\\x1b: {EVIL_SHOWN} path\\n={EVIL_SHOWN}\n\n--- p ---\n@opens[{EVIL_SHOWN}]: 1\n\n"
            )
        );
    }

    proptest::proptest! {
        /// Any strings in rows, findings and map keys: text output holds no
        /// control character but its line ends, one line per row or finding.
        #[test]
        fn fuzz_text_output_any_strings_one_line_each(cells in proptest::collection::vec("(?s).{0,16}", 1..4), rule in "(?s).{0,8}") {
            let buf = Captured::default();
            let mut out = Output::new(Format::Text, Box::new(buf.clone()), true);
            let finding = Finding { severity: Severity::Low, rule, message: cells[0].clone(), fields: vec![(cells[0].clone(), Value::Text(cells[0].clone()))], event: None };
            let row = cells.iter().map(|c| Value::Text(c.clone())).collect();
            out.emitted(&cells[0], vec![Emitted::Columns(cells.clone()), Emitted::Row(row, None), Emitted::Finding(finding, None)]);
            let mut store = PluginMaps::new("p", MapQuota { maps: 1, keys_per_map: 4, bytes: 1 << 20 });
            let c = store.create("c", MapKind::Counter, (0..cells.len()).map(|i| format!("k{i}")).collect()).unwrap();
            store.add(c, &cells, 1).unwrap();
            out.maps(&[store]).unwrap();
            let text = buf.text();
            proptest::prop_assert!(!text.chars().any(|c| c != '\n' && c.is_control()), "{text:?}");
            // header, row, finding, blank, `--- p ---`, the key, blank
            proptest::prop_assert_eq!(text.lines().count(), 7, "{:?}", text);
        }

        /// Any strings: every JSON line parses back to the very strings given.
        #[test]
        fn fuzz_json_output_any_strings_round_trip(cells in proptest::collection::vec("(?s).{0,16}", 1..4)) {
            let buf = Captured::default();
            let mut out = Output::new(Format::Json, Box::new(buf.clone()), false);
            let names: Vec<String> = (0..cells.len()).map(|i| format!("c{i}")).collect();
            let finding = Finding { severity: Severity::Low, rule: cells[0].clone(), message: cells[0].clone(), fields: vec![], event: None };
            out.emitted("p", vec![Emitted::Columns(names), Emitted::Row(cells.iter().map(|c| Value::Text(c.clone())).collect(), None), Emitted::Finding(finding, None)]);
            let text = buf.text();
            let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            proptest::prop_assert_eq!(lines.len(), 2);
            for (i, cell) in cells.iter().enumerate() {
                proptest::prop_assert_eq!(lines[0]["fields"][format!("c{i}")].as_str(), Some(cell.as_str()));
            }
            proptest::prop_assert_eq!(lines[1]["rule"].as_str(), Some(cells[0].as_str()));
        }
    }
}
