//! The Prometheus exposition endpoint: every plugin's maps as metrics
//! (`wasmtrace_PLUGIN_MAP`, map labels as labels; log2 histograms as
//! Prometheus histograms), and wasmtrace's own per-probe event and loss
//! counters, served at `/metrics` from a thread of its own.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::maps::{Key, Log2Hist, Map, MapStore, SharedMaps, Values};
use crate::output::ProbeStats;

/// Per-probe counts the session publishes for the endpoint.
pub type SharedStats = Arc<Mutex<Vec<ProbeStats>>>;

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve Prometheus metrics on {addr}: {reason}. Pick a free address in [output] prometheus, or remove it"
)]
pub struct ServeError {
    addr: SocketAddr,
    reason: String,
}

/// Starts serving; the thread lives as long as the process.
pub fn serve(addr: SocketAddr, maps: SharedMaps, stats: SharedStats) -> Result<(), ServeError> {
    let server = tiny_http::Server::http(addr).map_err(|e| ServeError {
        addr,
        reason: e.to_string(),
    })?;
    std::thread::Builder::new()
        .name("prometheus".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = if request.url() == "/metrics" || request.url().starts_with("/metrics?") {
                    let text = {
                        let maps = maps.lock().expect("map store lock");
                        let stats = stats.lock().expect("stats lock");
                        render(&maps, &stats)
                    };
                    let content_type = tiny_http::Header::from_bytes("Content-Type", "text/plain; version=0.0.4")
                        .expect("a valid header");
                    tiny_http::Response::from_string(text).with_header(content_type)
                } else {
                    tiny_http::Response::from_string("wasmtrace: metrics are at /metrics\n").with_status_code(404)
                };
                if let Err(e) = request.respond(response) {
                    tracing::debug!("answering a Prometheus scrape: {e}");
                }
            }
        })
        .map_err(|e| ServeError {
            addr,
            reason: e.to_string(),
        })?;
    Ok(())
}

/// The text exposition format (version 0.0.4).
pub fn render(store: &MapStore, stats: &[ProbeStats]) -> String {
    let mut out = String::new();
    for map in store.maps() {
        render_map(&mut out, map);
    }
    for (name, help, value) in [
        (
            "wasmtrace_probe_events_total",
            "Events a probe delivered.",
            (|s: &ProbeStats| s.events) as fn(&ProbeStats) -> u64,
        ),
        (
            "wasmtrace_probe_lost_total",
            "Events a probe dropped in the kernel: its ring buffer was full.",
            |s| s.lost,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in stats {
            let _ = writeln!(out, "{name}{{probe=\"{}\"}} {}", escape(s.probe), value(s));
        }
    }
    out
}

fn render_map(out: &mut String, map: &Map) {
    let base = format!("wasmtrace_{}_{}", sanitize(&map.plugin), sanitize(&map.name));
    let help = format!("Map @{} of plugin {}.", map.name, map.plugin);
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
                render_histogram(out, &base, &labels, key, h);
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

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::MapKind;

    fn key(parts: &[&str]) -> Key {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn maps_become_metrics() {
        let mut store = MapStore::default();
        let opens = store
            .create("open-snoop", "opens", MapKind::Counter, key(&["comm"]))
            .unwrap();
        store.add(opens, &key(&["ca\"t\\"]), 3).unwrap();
        let depth = store.create("q", "depth", MapKind::Gauge, vec![]).unwrap();
        store.set(depth, &[], -2).unwrap();
        let lat = store
            .create("q", "latency", MapKind::Log2Histogram, key(&["op"]))
            .unwrap();
        for v in [0, 1, 5, 6] {
            store.record(lat, &key(&["read"]), v).unwrap();
        }
        let stats = [ProbeStats {
            probe: "file.open",
            events: 9,
            lost: 1,
        }];
        assert_eq!(
            render(&store, &stats),
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
             # HELP wasmtrace_probe_lost_total Events a probe dropped in the kernel: its ring buffer was full.\n\
             # TYPE wasmtrace_probe_lost_total counter\n\
             wasmtrace_probe_lost_total{probe=\"file.open\"} 1\n"
        );
    }
}
