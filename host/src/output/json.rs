//! JSON lines, one object per thing, each with its `type`: `row`,
//! `finding`, `map`, `probe`, `plugin`, `delivery`, `plugin-failed`
//! (docs/config.md lists their fields).

use std::io::{self, Write};

use serde_json::{Map as JsonObject, Value as Json, json};

use super::{PluginStats, ProbeStats, Sink};
use crate::deliver::DeliveryStats;
use crate::maps::{Log2Hist, Map, PluginMaps, Values};
use crate::stacks;
use crate::values::{json_value, severity};
use crate::wit::{Container, Finding, Runtime, Value};

pub(super) struct JsonSink {
    out: Box<dyn Write + Send>,
}

impl JsonSink {
    pub(super) fn new(out: Box<dyn Write + Send>) -> JsonSink {
        JsonSink { out }
    }

    fn line(&mut self, value: Json) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &value)?;
        self.out.write_all(b"\n")
    }
}

impl Sink for JsonSink {
    /// Names only: rows carry them.
    fn columns(&mut self, _plugin: &str, _names: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn row(
        &mut self,
        plugin: &str,
        names: Option<&[String]>,
        values: &[Value],
        container: Option<&Container>,
    ) -> io::Result<()> {
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
        if let Some(c) = container {
            line["container"] = container_json(c);
        }
        self.line(line)
    }

    fn finding(&mut self, plugin: &str, f: &Finding, container: Option<&Container>) -> io::Result<()> {
        let fields: JsonObject<String, Json> = f.fields.iter().map(|(k, v)| (k.clone(), json_value(v))).collect();
        let mut line = json!({
            "type": "finding", "plugin": plugin, "severity": severity(f.severity),
            "rule": f.rule, "message": f.message, "fields": fields,
        });
        if let Some(c) = container {
            line["container"] = container_json(c);
        }
        self.line(line)
    }

    fn maps(&mut self, plugin: &PluginMaps) -> io::Result<()> {
        for map in plugin.maps() {
            self.line(json_map(&plugin.plugin, map))?;
        }
        Ok(())
    }

    fn probe_stats(&mut self, s: &ProbeStats) -> io::Result<()> {
        self.line(json!({
            "type": "probe", "probe": s.probe, "events": s.events, "lost": s.lost, "skipped": s.skipped,
        }))
    }

    fn plugin_stats(&mut self, s: &PluginStats) -> io::Result<()> {
        let dropped: JsonObject<String, Json> = s
            .dropped
            .iter()
            .map(|(probe, n)| (probe.to_string(), json!(n)))
            .collect();
        self.line(json!({
            "type": "plugin", "plugin": s.plugin, "state": s.state, "events": s.events,
            "busy_ns": s.busy.as_nanos() as u64, "ns_per_event": s.ns_per_event() as u64,
            "dropped": s.dropped_total(), "dropped_by_probe": dropped,
            "missed": s.missed, "failures": s.failures, "reloads": s.reloads, "memory_bytes": s.memory_bytes,
            "latency_p50_ns": s.latency.quantile(0.5), "latency_p99_ns": s.latency.quantile(0.99),
            "refused": {
                "maps": s.refused.maps, "keys": s.refused.keys, "memory": s.refused.bytes,
                "emits": s.emits_refused,
            },
        }))
    }

    fn delivery(&mut self, s: &DeliveryStats) -> io::Result<()> {
        self.line(json!({
            "type": "delivery", "output": s.output, "delivered": s.delivered, "dropped": s.dropped,
            "refused": s.refused, "spooled": s.spooled, "failed_attempts": s.failed_attempts,
        }))
    }

    fn plugin_failed(&mut self, plugin: &str, reason: &str) -> io::Result<()> {
        self.line(json!({"type": "plugin-failed", "plugin": plugin, "reason": reason}))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A container as JSON rows and findings carry it.
fn container_json(c: &Container) -> Json {
    let mut json = json!({
        "runtime": runtime_name(c.runtime), "id": c.id, "name": c.name, "image": c.image,
    });
    if let Some(pod) = &c.pod {
        json["pod"] = json!({"namespace": pod.namespace, "name": pod.name, "container": pod.container});
    }
    json
}

fn runtime_name(runtime: Runtime) -> &'static str {
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
        // Each stack's frames once per entry, as far as 16 MiB of them go
        // (a long stack under many keys); the rest without frames.
        Values::StackCounter(m) => {
            let mut budget: usize = 16 << 20;
            m.iter()
                .map(|(k, v)| {
                    let mut frames = |id| -> Vec<String> {
                        let text: Vec<String> = stacks::table().frames(id).iter().map(stacks::frame_text).collect();
                        let bytes: usize = text.iter().map(String::len).sum();
                        budget = budget.saturating_sub(bytes);
                        if budget == 0 { Vec::new() } else { text }
                    };
                    json!({"kernel_stack": frames(k.kernel), "user_stack": frames(k.user), "key": k.key, "value": v})
                })
                .collect()
        }
    };
    json!({
        "type": "map", "plugin": plugin, "name": map.name,
        "kind": map.values.kind().as_str(), "labels": map.labels, "entries": entries,
    })
}
