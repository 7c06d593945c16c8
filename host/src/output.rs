//! Where results go: live rows and findings as they happen, maps and probe
//! statistics at intervals or at exit; as bpftrace-like text or JSON lines.
//! Text never carries a raw control character from event or plugin data
//! (`escape`); JSON has serde's escaping.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{Map as JsonObject, Value as Json, json};

use crate::config::Format;
use crate::deliver::{Deliveries, DeliveryStats};
use crate::escape;
use crate::maps::{Log2Hist, Map, PluginMaps, Refused, Values};
use crate::render;
use crate::runtime::Emitted;
use crate::values::{json_value, severity, text_value};
use crate::wit::{Container, Finding, Level, Runtime};

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

pub struct Output {
    format: Format,
    out: Box<dyn Write + Send>,
    /// Column names per plugin.
    columns: HashMap<String, Vec<String>>,
    /// With several plugins, text rows start with the plugin's name.
    label_plugins: bool,
    /// The first failure to write live output, for the session to stop on.
    failed: Option<io::Error>,
    /// Receivers findings are also sent to.
    deliveries: Deliveries,
}

const MIN_COLUMN_WIDTH: usize = 6;

impl Output {
    pub fn new(format: Format, out: Box<dyn Write + Send>, label_plugins: bool) -> Output {
        Output {
            format,
            out,
            columns: HashMap::new(),
            label_plugins,
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
            match self.format {
                Format::Text => writeln!(
                    self.out,
                    "findings to {}: {} delivered, {} dropped ({} refused by the receiver), {} in the spool file, {} failed attempts",
                    s.output, s.delivered, s.dropped, s.refused, s.spooled, s.failed_attempts
                )?,
                Format::Json => self.json_line(json!({
                    "type": "delivery", "output": s.output, "delivered": s.delivered, "dropped": s.dropped,
                    "refused": s.refused, "spooled": s.spooled, "failed_attempts": s.failed_attempts,
                }))?,
            }
        }
        self.out.flush()
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
                    if self.format == Format::Text {
                        let header = self.text_row(plugin, &names);
                        writeln!(self.out, "{header}")?;
                    }
                    self.columns.insert(plugin.to_string(), names);
                }
                Emitted::Row(values, container) => match self.format {
                    Format::Text => {
                        let cells: Vec<String> = values.iter().map(text_value).collect();
                        let line = self.text_row(plugin, &cells);
                        writeln!(self.out, "{line}")?;
                    }
                    Format::Json => {
                        let names = self.columns.get(plugin);
                        let fields: JsonObject<String, Json> = values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| {
                                (
                                    names
                                        .and_then(|n| n.get(i))
                                        .cloned()
                                        .unwrap_or_else(|| format!("column{i}")),
                                    json_value(v),
                                )
                            })
                            .collect();
                        let mut line = json!({"type": "row", "plugin": plugin, "fields": fields});
                        if let Some(c) = &container {
                            line["container"] = container_json(c);
                        }
                        self.json_line(line)?;
                    }
                },
                Emitted::Finding(f, container) => self.finding(plugin, &f, container.as_ref())?,
                Emitted::Log(level, message) => match level {
                    // The log formatter escapes fields for the terminal (see `main`).
                    Level::Debug => tracing::debug!(plugin, "{message}"),
                    Level::Info => tracing::info!(plugin, "{message}"),
                    Level::Warn => tracing::warn!(plugin, "{message}"),
                    Level::Error => tracing::error!(plugin, "{message}"),
                },
            }
        }
        self.out.flush()
    }

    /// Cells padded to the plugin's column widths; the last column is not padded.
    fn text_row(&self, plugin: &str, cells: &[String]) -> String {
        let names = self.columns.get(plugin);
        let mut line = if self.label_plugins {
            format!("{}: ", escape::terminal(plugin))
        } else {
            String::new()
        };
        for (i, cell) in cells.iter().enumerate() {
            let cell = escape::terminal(cell);
            if i + 1 == cells.len() {
                line.push_str(&cell);
            } else {
                let width = names
                    .and_then(|n| n.get(i))
                    .map_or(0, |n| n.len())
                    .max(MIN_COLUMN_WIDTH);
                line.push_str(&format!("{cell:<width$} "));
            }
        }
        line
    }

    fn finding(&mut self, plugin: &str, f: &Finding, container: Option<&Container>) -> io::Result<()> {
        self.deliveries.offer(plugin, f, container);
        match self.format {
            Format::Text => {
                let mut fields: Vec<String> = f
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", escape::terminal(k), escape::terminal(&text_value(v))))
                    .collect();
                if let Some(c) = container {
                    fields.push(format!("container={}", escape::terminal(&container_label(c))));
                }
                writeln!(
                    self.out,
                    "[{}] {}/{}: {} {}",
                    severity(f.severity).to_uppercase(),
                    escape::terminal(plugin),
                    escape::terminal(&f.rule),
                    escape::terminal(&f.message),
                    fields.join(" ")
                )
            }
            Format::Json => {
                let fields: JsonObject<String, Json> =
                    f.fields.iter().map(|(k, v)| (k.clone(), json_value(v))).collect();
                let mut line = json!({
                    "type": "finding", "plugin": plugin, "severity": severity(f.severity),
                    "rule": f.rule, "message": f.message, "fields": fields,
                });
                if let Some(c) = container {
                    line["container"] = container_json(c);
                }
                self.json_line(line)
            }
        }
    }

    /// Every plugin's maps, plugin by plugin.
    pub fn maps(&mut self, plugins: &[PluginMaps]) -> io::Result<()> {
        for plugin in plugins {
            match self.format {
                Format::Text => {
                    let text = render::maps(plugin.maps());
                    if !text.is_empty() {
                        write!(self.out, "\n--- {} ---\n{text}", escape::terminal(&plugin.plugin))?;
                    }
                }
                Format::Json => {
                    for map in plugin.maps() {
                        self.json_line(json_map(&plugin.plugin, map))?;
                    }
                }
            }
        }
        self.out.flush()
    }

    pub fn probe_stats(&mut self, stats: &[ProbeStats]) -> io::Result<()> {
        for s in stats {
            match self.format {
                Format::Text => {
                    let skipped = if s.skipped > 0 {
                        format!(
                            ", {} hook calls skipped in the kernel (up to as many events missed)",
                            s.skipped
                        )
                    } else {
                        String::new()
                    };
                    writeln!(
                        self.out,
                        "probe {}: {} events, {} lost{skipped}",
                        s.probe, s.events, s.lost
                    )?
                }
                Format::Json => self.json_line(json!({
                    "type": "probe", "probe": s.probe, "events": s.events, "lost": s.lost, "skipped": s.skipped,
                }))?,
            }
        }
        self.out.flush()
    }

    pub fn plugin_stats(&mut self, stats: &[PluginStats]) -> io::Result<()> {
        for s in stats {
            let per_event_ns = s.ns_per_event();
            match self.format {
                Format::Text => {
                    let mut line = format!(
                        "plugin {} ({}): {} events in {:.1?} ({per_event_ns} ns/event), {} dropped, memory {} MiB",
                        escape::terminal(&s.plugin),
                        s.state,
                        s.events,
                        s.busy,
                        s.dropped_total(),
                        s.memory_bytes >> 20
                    );
                    if let (Some(p50), Some(p99)) = (s.latency.quantile(0.5), s.latency.quantile(0.99)) {
                        line.push_str(&format!(
                            ", latency p50 ≤ {:.1?}, p99 ≤ {:.1?}",
                            std::time::Duration::from_nanos(p50),
                            std::time::Duration::from_nanos(p99)
                        ));
                    }
                    for (what, n) in [
                        ("missed while down", s.missed),
                        ("failures", s.failures),
                        ("map updates refused (plugin_maps)", s.refused.maps),
                        ("map keys refused (plugin_keys_per_map)", s.refused.keys),
                        ("map keys refused (plugin_map_memory_mib)", s.refused.bytes),
                        ("emits refused (per-interval budget)", s.emits_refused),
                    ] {
                        if n > 0 {
                            line.push_str(&format!(", {n} {what}"));
                        }
                    }
                    writeln!(self.out, "{line}")?;
                }
                Format::Json => {
                    let dropped: JsonObject<String, Json> = s
                        .dropped
                        .iter()
                        .map(|(probe, n)| (probe.to_string(), json!(n)))
                        .collect();
                    self.json_line(json!({
                        "type": "plugin", "plugin": s.plugin, "state": s.state, "events": s.events,
                        "busy_ns": s.busy.as_nanos() as u64, "ns_per_event": per_event_ns as u64,
                        "dropped": s.dropped_total(), "dropped_by_probe": dropped,
                        "missed": s.missed, "failures": s.failures, "reloads": s.reloads, "memory_bytes": s.memory_bytes,
                        "latency_p50_ns": s.latency.quantile(0.5), "latency_p99_ns": s.latency.quantile(0.99),
                        "refused": {
                            "maps": s.refused.maps, "keys": s.refused.keys, "memory": s.refused.bytes,
                            "emits": s.emits_refused,
                        },
                    }))?
                }
            }
        }
        self.out.flush()
    }

    /// A plugin stopped; text output has it on stderr (through the log) only.
    pub fn plugin_failed(&mut self, plugin: &str, reason: &str) {
        if self.format == Format::Json {
            let result = self.json_line(json!({"type": "plugin-failed", "plugin": plugin, "reason": reason}));
            self.keep_error(result);
        }
    }

    fn json_line(&mut self, value: Json) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &value)?;
        self.out.write_all(b"\n")
    }
}

/// A container as JSON rows and findings carry it.
pub fn container_json(c: &Container) -> Json {
    let mut json = json!({
        "runtime": runtime_name(c.runtime), "id": c.id, "name": c.name, "image": c.image,
    });
    if let Some(pod) = &c.pod {
        json["pod"] = json!({"namespace": pod.namespace, "name": pod.name, "container": pod.container});
    }
    json
}

/// A container in one word: `namespace/pod/container` under Kubernetes, else its name.
pub fn container_label(c: &Container) -> String {
    match &c.pod {
        Some(pod) => format!("{}/{}/{}", pod.namespace, pod.name, pod.container),
        None => c.name.clone(),
    }
}

pub fn runtime_name(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Podman => "podman",
        Runtime::Docker => "docker",
        Runtime::Containerd => "containerd",
        Runtime::CriO => "cri-o",
    }
}

fn json_map(plugin: &str, map: &Map) -> Json {
    let entries: Vec<Json> = match &map.values {
        Values::Counter(m) => m.iter().map(|(k, v)| json!({"key": k, "value": v})).collect(),
        Values::Gauge(m) => m.iter().map(|(k, v)| json!({"key": k, "value": v})).collect(),
        Values::Log2Histogram(m) => m
            .iter()
            .map(|(k, h)| {
                let buckets: Vec<Json> = (0..h.buckets.len())
                    .filter(|&b| h.buckets[b] > 0)
                    .map(|b| json!({"min": Log2Hist::lower_bound(b), "count": h.buckets[b]}))
                    .collect();
                json!({"key": k, "count": h.count, "sum": h.sum, "buckets": buckets})
            })
            .collect(),
    };
    json!({
        "type": "map", "plugin": plugin, "name": map.name,
        "kind": map.values.kind().as_str(), "labels": map.labels, "entries": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{MapKind, MapQuota};
    use crate::wit::{Severity, Value};
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
