//! The Prometheus exposition endpoint: every plugin's maps as metrics
//! (`wasmtrace_PLUGIN_MAP`, map labels as labels; log2 histograms as
//! Prometheus histograms), and wasmtrace's own per-probe event and loss
//! counters. `server` serves them at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::maps::{Key, Log2Hist, Map, PluginMaps, Values};
use crate::output::{PluginStats, ProbeStats};

mod server;
pub use server::serve;

/// The session's own figures, as of its last tick.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub probes: Vec<ProbeStats>,
    pub plugins: Vec<PluginStats>,
    pub deliveries: Vec<crate::deliver::DeliveryStats>,
}

/// What the session publishes for the endpoint.
pub type SharedStats = Arc<Mutex<Published>>;

/// A counter family per figure: (name, help, value of a row).
fn family<T>(out: &mut String, name: &str, help: &str, rows: impl Iterator<Item = (String, T)>)
where
    T: std::fmt::Display,
{
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// The text exposition format (version 0.0.4).
pub fn render(plugins: &[PluginMaps], published: &Published) -> String {
    let mut out = String::new();
    // Metric names from different maps can coincide once sanitised (plugins
    // `a-b` and `a_b`): the first keeps the name, the others are left out and say so.
    let mut taken: BTreeMap<String, (String, String)> = BTreeMap::new();
    for plugin in plugins {
        for map in plugin.maps() {
            let base = format!("wasmtrace_{}_{}", sanitize(&plugin.plugin), sanitize(&map.name));
            let owner = (plugin.plugin.clone(), map.name.clone());
            match taken.get(&base) {
                Some(first) if *first != owner => {
                    let _ = writeln!(
                        out,
                        "# wasmtrace: map @{} of plugin {} left out: its metric name {base} is taken by map @{} of plugin {}",
                        map.name,
                        escape(&plugin.plugin),
                        first.1,
                        escape(&first.0)
                    );
                }
                _ => {
                    taken.insert(base.clone(), owner);
                    render_map(&mut out, &base, &plugin.plugin, map);
                }
            }
        }
    }
    let probe = |s: &ProbeStats| format!("probe=\"{}\"", escape(s.probe));
    family(
        &mut out,
        "wasmtrace_probe_events_total",
        "Events a probe delivered.",
        published.probes.iter().map(|s| (probe(s), s.events)),
    );
    family(
        &mut out,
        "wasmtrace_probe_lost_total",
        "Events a probe dropped in the kernel: its ring buffer (syscall.count: its kernel map) was full.",
        published.probes.iter().map(|s| (probe(s), s.lost)),
    );
    family(
        &mut out,
        "wasmtrace_probe_skipped_total",
        "Calls of a probe's programs the kernel skipped (another eBPF program was running on that CPU): an upper bound on events missed.",
        published.probes.iter().map(|s| (probe(s), s.skipped)),
    );
    let plugin = |s: &PluginStats| format!("plugin=\"{}\"", escape(&s.plugin));
    let plugins = &published.plugins;
    family(
        &mut out,
        "wasmtrace_plugin_events_total",
        "Events a plugin handled.",
        plugins.iter().map(|s| (plugin(s), s.events)),
    );
    family(
        &mut out,
        "wasmtrace_plugin_busy_seconds_total",
        "Time a plugin spent handling events.",
        plugins.iter().map(|s| (plugin(s), s.busy.as_secs_f64())),
    );
    family(
        &mut out,
        "wasmtrace_plugin_dropped_total",
        "Events dropped for a plugin because its queue was full (it fell behind).",
        plugins.iter().flat_map(|s| {
            s.dropped
                .iter()
                .map(move |(probe, n)| (format!("{},probe=\"{}\"", plugin(s), escape(probe)), *n))
        }),
    );
    family(
        &mut out,
        "wasmtrace_plugin_missed_total",
        "Events a plugin missed while down after a failure, or failed on.",
        plugins.iter().map(|s| (plugin(s), s.missed)),
    );
    family(
        &mut out,
        "wasmtrace_plugin_failures_total",
        "Times a plugin trapped, overran a limit, or failed to restart.",
        plugins.iter().map(|s| (plugin(s), s.failures)),
    );
    family(
        &mut out,
        "wasmtrace_plugin_refused_total",
        "Updates and output a plugin's quotas refused, by [limits] setting.",
        plugins.iter().flat_map(|s| {
            [
                ("plugin_maps", s.refused.maps),
                ("plugin_keys_per_map", s.refused.keys),
                ("plugin_map_memory_mib", s.refused.bytes),
                ("plugin_emits_per_interval", s.emits_refused),
            ]
            .map(|(limit, n)| (format!("{},limit=\"{limit}\"", plugin(s)), n))
        }),
    );
    let output = |s: &crate::deliver::DeliveryStats| format!("output=\"{}\"", s.output);
    let deliveries = &published.deliveries;
    family(
        &mut out,
        "wasmtrace_findings_delivered_total",
        "Findings a receiver (alertmanager, webhook, syslog) accepted.",
        deliveries.iter().map(|s| (output(s), s.delivered)),
    );
    family(
        &mut out,
        "wasmtrace_findings_dropped_total",
        "Findings that found a receiver's queue (and spool file) full.",
        deliveries.iter().map(|s| (output(s), s.dropped)),
    );
    family(
        &mut out,
        "wasmtrace_findings_failed_attempts_total",
        "Deliveries to a receiver that failed and were retried.",
        deliveries.iter().map(|s| (output(s), s.failed_attempts)),
    );
    out
}

fn render_map(out: &mut String, base: &str, plugin: &str, map: &Map) {
    let help = format!("Map @{} of plugin {plugin}.", map.name);
    let labels: Vec<String> = map.labels.iter().map(|l| sanitize(l)).collect();
    match &map.values {
        Values::Counter(m) => {
            let name = format!("{base}_total");
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (key, v) in m {
                let _ = writeln!(out, "{name}{} {v}", label_set(&labels, key, None));
            }
        }
        Values::Gauge(m) => {
            let _ = writeln!(out, "# HELP {base} {help}\n# TYPE {base} gauge");
            for (key, v) in m {
                let _ = writeln!(out, "{base}{} {v}", label_set(&labels, key, None));
            }
        }
        Values::Log2Histogram(m) => {
            let _ = writeln!(out, "# HELP {base} {help}\n# TYPE {base} histogram");
            for (key, h) in m {
                render_histogram(out, base, &labels, key, h);
            }
        }
    }
}

/// Bucket `b` holds integers in `[2^(b-1), 2^b)`, so its Prometheus upper
/// bound (`le`, inclusive) is `2^b - 1`; buckets are cumulative.
fn render_histogram(out: &mut String, base: &str, labels: &[String], key: &Key, h: &Log2Hist) {
    let last = h.buckets.iter().rposition(|&n| n > 0).unwrap_or(0);
    let mut cumulative = 0;
    for (b, n) in h.buckets.iter().enumerate().take(last + 1) {
        cumulative += n;
        let le = if b == 64 { u64::MAX } else { (1u64 << b) - 1 };
        let _ = writeln!(
            out,
            "{base}_bucket{} {cumulative}",
            label_set(labels, key, Some(&le.to_string()))
        );
    }
    let _ = writeln!(out, "{base}_bucket{} {}", label_set(labels, key, Some("+Inf")), h.count);
    let _ = writeln!(out, "{base}_sum{} {}", label_set(labels, key, None), h.sum);
    let _ = writeln!(out, "{base}_count{} {}", label_set(labels, key, None), h.count);
}

fn label_set(labels: &[String], key: &Key, le: Option<&str>) -> String {
    let mut pairs: Vec<String> = labels
        .iter()
        .zip(key)
        .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// Metric and label names allow `[a-zA-Z0-9_]` (and no leading digit).
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// A label value as the exposition format quotes it; any other byte,
/// control characters included, is allowed as is.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::{MapKind, MapQuota, Refused};

    const QUOTA: MapQuota = MapQuota {
        maps: 8,
        keys_per_map: 8,
        bytes: 1 << 20,
    };

    fn key(parts: &[&str]) -> Key {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn maps_become_metrics() {
        let mut snoop = PluginMaps::new("open-snoop", QUOTA);
        let opens = snoop.create("opens", MapKind::Counter, key(&["comm"])).unwrap();
        snoop.add(opens, &key(&["ca\"t\\"]), 3).unwrap();
        let mut q = PluginMaps::new("q", QUOTA);
        let depth = q.create("depth", MapKind::Gauge, vec![]).unwrap();
        q.set(depth, &[], -2).unwrap();
        let lat = q.create("latency", MapKind::Log2Histogram, key(&["op"])).unwrap();
        for v in [0, 1, 5, 6] {
            q.record(lat, &key(&["read"]), v).unwrap();
        }
        let published = Published {
            probes: vec![ProbeStats {
                probe: "file.open",
                events: 9,
                lost: 1,
                skipped: 2,
            }],
            plugins: vec![PluginStats {
                plugin: "q".into(),
                state: "running",
                restart_in: None,
                reloads: 0,
                events: 8,
                busy: std::time::Duration::from_millis(1500),
                dropped: vec![("file.open", 1)],
                missed: 0,
                failures: 2,
                refused: Refused {
                    maps: 0,
                    keys: 4,
                    bytes: 0,
                },
                emits_refused: 5,
                memory_bytes: 1 << 20,
                latency: Default::default(),
            }],
            deliveries: vec![crate::deliver::DeliveryStats {
                output: "webhook",
                delivered: 6,
                dropped: 2,
                spooled: 0,
                failed_attempts: 3,
            }],
        };
        assert_eq!(
            render(&[snoop, q], &published),
            "# HELP wasmtrace_open_snoop_opens_total Map @opens of plugin open-snoop.\n\
             # TYPE wasmtrace_open_snoop_opens_total counter\n\
             wasmtrace_open_snoop_opens_total{comm=\"ca\\\"t\\\\\"} 3\n\
             # HELP wasmtrace_q_depth Map @depth of plugin q.\n\
             # TYPE wasmtrace_q_depth gauge\n\
             wasmtrace_q_depth -2\n\
             # HELP wasmtrace_q_latency Map @latency of plugin q.\n\
             # TYPE wasmtrace_q_latency histogram\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"0\"} 1\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"1\"} 2\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"3\"} 2\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"7\"} 4\n\
             wasmtrace_q_latency_bucket{op=\"read\",le=\"+Inf\"} 4\n\
             wasmtrace_q_latency_sum{op=\"read\"} 12\n\
             wasmtrace_q_latency_count{op=\"read\"} 4\n\
             # HELP wasmtrace_probe_events_total Events a probe delivered.\n\
             # TYPE wasmtrace_probe_events_total counter\n\
             wasmtrace_probe_events_total{probe=\"file.open\"} 9\n\
             # HELP wasmtrace_probe_lost_total Events a probe dropped in the kernel: its ring buffer (syscall.count: its kernel map) was full.\n\
             # TYPE wasmtrace_probe_lost_total counter\n\
             wasmtrace_probe_lost_total{probe=\"file.open\"} 1\n\
             # HELP wasmtrace_probe_skipped_total Calls of a probe's programs the kernel skipped (another eBPF program was running on that CPU): an upper bound on events missed.\n\
             # TYPE wasmtrace_probe_skipped_total counter\n\
             wasmtrace_probe_skipped_total{probe=\"file.open\"} 2\n\
             # HELP wasmtrace_plugin_events_total Events a plugin handled.\n\
             # TYPE wasmtrace_plugin_events_total counter\n\
             wasmtrace_plugin_events_total{plugin=\"q\"} 8\n\
             # HELP wasmtrace_plugin_busy_seconds_total Time a plugin spent handling events.\n\
             # TYPE wasmtrace_plugin_busy_seconds_total counter\n\
             wasmtrace_plugin_busy_seconds_total{plugin=\"q\"} 1.5\n\
             # HELP wasmtrace_plugin_dropped_total Events dropped for a plugin because its queue was full (it fell behind).\n\
             # TYPE wasmtrace_plugin_dropped_total counter\n\
             wasmtrace_plugin_dropped_total{plugin=\"q\",probe=\"file.open\"} 1\n\
             # HELP wasmtrace_plugin_missed_total Events a plugin missed while down after a failure, or failed on.\n\
             # TYPE wasmtrace_plugin_missed_total counter\n\
             wasmtrace_plugin_missed_total{plugin=\"q\"} 0\n\
             # HELP wasmtrace_plugin_failures_total Times a plugin trapped, overran a limit, or failed to restart.\n\
             # TYPE wasmtrace_plugin_failures_total counter\n\
             wasmtrace_plugin_failures_total{plugin=\"q\"} 2\n\
             # HELP wasmtrace_plugin_refused_total Updates and output a plugin's quotas refused, by [limits] setting.\n\
             # TYPE wasmtrace_plugin_refused_total counter\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_maps\"} 0\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_keys_per_map\"} 4\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_map_memory_mib\"} 0\n\
             wasmtrace_plugin_refused_total{plugin=\"q\",limit=\"plugin_emits_per_interval\"} 5\n\
             # HELP wasmtrace_findings_delivered_total Findings a receiver (alertmanager, webhook, syslog) accepted.\n\
             # TYPE wasmtrace_findings_delivered_total counter\n\
             wasmtrace_findings_delivered_total{output=\"webhook\"} 6\n\
             # HELP wasmtrace_findings_dropped_total Findings that found a receiver's queue (and spool file) full.\n\
             # TYPE wasmtrace_findings_dropped_total counter\n\
             wasmtrace_findings_dropped_total{output=\"webhook\"} 2\n\
             # HELP wasmtrace_findings_failed_attempts_total Deliveries to a receiver that failed and were retried.\n\
             # TYPE wasmtrace_findings_failed_attempts_total counter\n\
             wasmtrace_findings_failed_attempts_total{output=\"webhook\"} 3\n"
        );
    }

    #[test]
    fn names_that_coincide_once_sanitised_are_kept_apart() {
        let mut dash = PluginMaps::new("a-b", QUOTA);
        let m = dash.create("m", MapKind::Counter, vec![]).unwrap();
        dash.add(m, &[], 1).unwrap();
        let mut under = PluginMaps::new("a_b", QUOTA);
        let m = under.create("m", MapKind::Gauge, vec![]).unwrap();
        under.set(m, &[], 2).unwrap();
        let text = render(&[dash, under], &Published::default());
        assert_eq!(text.matches("# TYPE wasmtrace_a_b_m").count(), 1, "{text}");
        assert!(text.contains("wasmtrace_a_b_m_total 1\n"), "{text}");
        assert!(
            text.contains("# wasmtrace: map @m of plugin a_b left out: its metric name wasmtrace_a_b_m is taken by map @m of plugin a-b"),
            "{text}"
        );
    }

    /// A label value read back as Prometheus reads it: `\\`, `\"` and `\n` unescaped.
    fn unquote(s: &str) -> (String, &str) {
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return (out, &s[i + 1..]),
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some(c) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        panic!("unterminated label value in {s:?}")
    }

    /// A sample line's metric name and labels.
    fn sample(line: &str) -> (&str, Vec<(String, String)>) {
        let (name, mut rest) = line.split_once('{').unwrap_or((line.split(' ').next().unwrap(), ""));
        let mut labels = Vec::new();
        while let Some((label, after)) = rest.split_once("=\"") {
            let (value, after) = unquote(after);
            labels.push((label.to_string(), value));
            rest = after.strip_prefix(',').unwrap_or(after);
        }
        (name, labels)
    }

    proptest::proptest! {
        /// Any keys: every line is a comment or one sample, and each label
        /// value reads back as the key part it came from.
        #[test]
        fn fuzz_prometheus_any_keys_round_trip(keys in proptest::collection::vec(proptest::collection::vec("(?s).{0,12}", 2), 1..6)) {
            let mut p = PluginMaps::new("p", MapQuota { maps: 8, keys_per_map: 64, bytes: 1 << 20 });
            let c = p.create("c", MapKind::Counter, key(&["a", "b"])).unwrap();
            let h = p.create("h", MapKind::Log2Histogram, key(&["a", "b"])).unwrap();
            for k in &keys {
                p.add(c, k, 1).unwrap();
                p.record(h, k, 3).unwrap();
            }
            let text = render(&[p], &Published::default());
            let mut seen = std::collections::BTreeSet::new();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let (name, labels) = sample(line);
                proptest::prop_assert!(name.starts_with("wasmtrace_p_"), "{line:?}");
                let parts: Vec<String> = labels.iter().filter(|(l, _)| l == "a" || l == "b").map(|(_, v)| v.clone()).collect();
                proptest::prop_assert_eq!(parts.len(), 2, "{:?}", line);
                seen.insert(parts);
            }
            let wanted: std::collections::BTreeSet<Vec<String>> = keys.into_iter().collect();
            proptest::prop_assert_eq!(seen, wanted);
        }
    }
}
