//! bpftrace-like text: rows under padded headers, `[SEVERITY] plugin/rule:`
//! findings, maps as bpftrace prints them, statistics in sentences. Every
//! string from events or plugins is escaped for the terminal.

use std::io::{self, Write};

use super::{PluginStats, ProbeStats, Sink};
use crate::deliver::DeliveryStats;
use crate::escape;
use crate::maps::PluginMaps;
use crate::render;
use crate::values::{severity, text_value};
use crate::wit::{Container, Finding, Value};

const MIN_COLUMN_WIDTH: usize = 6;

pub(super) struct TextSink {
    out: Box<dyn Write + Send>,
    /// With several plugins, rows start with the plugin's name.
    label_plugins: bool,
}

impl TextSink {
    pub(super) fn new(out: Box<dyn Write + Send>, label_plugins: bool) -> TextSink {
        TextSink { out, label_plugins }
    }

    /// Cells padded to the plugin's column widths; the last column is not padded.
    fn text_row(&self, plugin: &str, names: Option<&[String]>, cells: &[String]) -> String {
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
}

impl Sink for TextSink {
    fn columns(&mut self, plugin: &str, names: &[String]) -> io::Result<()> {
        let header = self.text_row(plugin, Some(names), names);
        writeln!(self.out, "{header}")
    }

    fn row(
        &mut self,
        plugin: &str,
        names: Option<&[String]>,
        values: &[Value],
        _container: Option<&Container>,
    ) -> io::Result<()> {
        let cells: Vec<String> = values.iter().map(text_value).collect();
        let line = self.text_row(plugin, names, &cells);
        writeln!(self.out, "{line}")
    }

    fn finding(&mut self, plugin: &str, f: &Finding, container: Option<&Container>) -> io::Result<()> {
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

    fn maps(&mut self, plugin: &PluginMaps) -> io::Result<()> {
        let text = render::maps(plugin.maps());
        if !text.is_empty() {
            write!(self.out, "\n--- {} ---\n{text}", escape::terminal(&plugin.plugin))?;
        }
        Ok(())
    }

    fn probe_stats(&mut self, s: &ProbeStats) -> io::Result<()> {
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
        )
    }

    fn plugin_stats(&mut self, s: &PluginStats) -> io::Result<()> {
        let mut line = format!(
            "plugin {} ({}): {} events in {:.1?} ({} ns/event), {} dropped, memory {} MiB",
            escape::terminal(&s.plugin),
            s.state,
            s.events,
            s.busy,
            s.ns_per_event(),
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
        writeln!(self.out, "{line}")
    }

    fn delivery(&mut self, s: &DeliveryStats) -> io::Result<()> {
        writeln!(
            self.out,
            "findings to {}: {} delivered, {} dropped ({} refused by the receiver), {} in the spool file, {} failed attempts",
            s.output, s.delivered, s.dropped, s.refused, s.spooled, s.failed_attempts
        )
    }

    fn plugin_failed(&mut self, _plugin: &str, _reason: &str) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A container in one word: `namespace/pod/container` under Kubernetes, else its name.
fn container_label(c: &Container) -> String {
    match &c.pod {
        Some(pod) => format!("{}/{}/{}", pod.namespace, pod.name, pod.container),
        None => c.name.clone(),
    }
}
