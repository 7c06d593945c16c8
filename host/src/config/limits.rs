//! The `[limits]` table: the kernel ring buffers' size, and everything one
//! plugin may make the host hold or do. Defaults are far above what the
//! shipped tools reach; docs/sandbox.md says what happens at each.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Invalid;
use super::bounded::{BadDuration, duration_within, mib_within, within};

/// The kernel side's buffers, and the bounds every plugin runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per probe family's ring buffer.
    pub ring_buffer_bytes: u32,
    pub plugin: PluginLimits,
}

/// What one plugin may make the host hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Events waiting for the plugin; batches past this are dropped for it alone.
    pub queue_events: u32,
    /// CPU time (of the plugin's own thread) one call may use.
    pub cpu_per_call: Duration,
    /// Wall-clock time one call may take, host calls (WASI sleeps) included.
    pub wall_per_call: Duration,
    /// All its linear memories and tables together.
    pub memory_bytes: usize,
    /// Rows, findings, column headers and logs per output interval.
    pub emits_per_interval: u32,
    /// Bytes of those per output interval.
    pub emit_bytes_per_interval: u64,
    /// Maps the plugin may create.
    pub maps: u32,
    /// Keys one of its maps may hold.
    pub keys_per_map: u32,
    /// Host memory its maps' entries may take, keys included.
    pub map_memory_bytes: u64,
    /// Longest string it may hand the host (map key part, label, row cell,
    /// finding text, log line); longer ones are cut with a visible mark.
    pub string_bytes: u32,
}

impl PluginLimits {
    pub fn map_quota(&self) -> crate::maps::MapQuota {
        crate::maps::MapQuota {
            maps: self.maps,
            keys_per_map: self.keys_per_map,
            bytes: self.map_memory_bytes,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            ring_buffer_bytes: 4 << 20,
            plugin: PluginLimits {
                queue_events: 65_536,
                cpu_per_call: Duration::from_secs(2),
                wall_per_call: Duration::from_secs(10),
                memory_bytes: 256 << 20,
                emits_per_interval: 10_000,
                emit_bytes_per_interval: 4 << 20,
                maps: 64,
                keys_per_map: 65_536,
                map_memory_bytes: 64 << 20,
                string_bytes: 4096,
            },
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    ring_buffer_mib: Option<Spanned<u32>>,
    plugin_queue_events: Option<Spanned<u32>>,
    plugin_cpu_per_call: Option<Spanned<String>>,
    plugin_wall_per_call: Option<Spanned<String>>,
    plugin_memory_mib: Option<Spanned<u32>>,
    plugin_emits_per_interval: Option<Spanned<u32>>,
    plugin_emit_kib_per_interval: Option<Spanned<u32>>,
    plugin_maps: Option<Spanned<u32>>,
    plugin_keys_per_map: Option<Spanned<u32>>,
    plugin_map_memory_mib: Option<Spanned<u32>>,
    plugin_string_bytes: Option<Spanned<u32>>,
}

/// A time limit on one call: from 10 ms to 1 h, or the default.
fn per_call(raw: &Option<Spanned<String>>, key: &str, default: Duration) -> Result<Duration, Invalid> {
    let range = Duration::from_millis(10)..=Duration::from_secs(3600);
    duration_within(raw, range, default, |s, bad| match bad {
        BadDuration::OutOfRange => format!("{key} must be from 10ms to 1h"),
        BadDuration::Unreadable(e) => format!("bad {key} `{s}`: {e} (write e.g. \"2s\")"),
    })
}

impl RawLimits {
    pub(super) fn parse(&self) -> Result<Limits, Invalid> {
        let d = Limits::default();
        let ring_mib = within(
            &self.ring_buffer_mib,
            "ring_buffer_mib",
            1..=1024,
            d.ring_buffer_bytes >> 20,
        )?;
        if !ring_mib.is_power_of_two() {
            let span = self.ring_buffer_mib.as_ref().map_or(0..0, Spanned::span);
            return Err((
                span,
                format!("ring_buffer_mib must be a power of two from 1 to 1024, not {ring_mib}"),
            ));
        }
        let p = d.plugin;
        let cpu_per_call = per_call(&self.plugin_cpu_per_call, "plugin_cpu_per_call", p.cpu_per_call)?;
        let wall_per_call = per_call(&self.plugin_wall_per_call, "plugin_wall_per_call", p.wall_per_call)?;
        // A call's CPU time cannot exceed its wall time: the CPU limit would never be reached.
        if wall_per_call < cpu_per_call {
            let span = (self.plugin_wall_per_call.as_ref())
                .or(self.plugin_cpu_per_call.as_ref())
                .map_or(0..0, Spanned::span);
            return Err((
                span,
                format!(
                    "plugin_wall_per_call ({wall_per_call:?}) must be at least plugin_cpu_per_call ({cpu_per_call:?})"
                ),
            ));
        }
        Ok(Limits {
            ring_buffer_bytes: ring_mib << 20,
            plugin: PluginLimits {
                queue_events: within(
                    &self.plugin_queue_events,
                    "plugin_queue_events",
                    1024..=1 << 24,
                    p.queue_events,
                )?,
                cpu_per_call,
                wall_per_call,
                memory_bytes: mib_within(
                    &self.plugin_memory_mib,
                    "plugin_memory_mib",
                    4096,
                    p.memory_bytes as u64,
                )? as usize,
                emits_per_interval: within(
                    &self.plugin_emits_per_interval,
                    "plugin_emits_per_interval",
                    0..=u32::MAX - 1,
                    p.emits_per_interval,
                )?,
                emit_bytes_per_interval: u64::from(within(
                    &self.plugin_emit_kib_per_interval,
                    "plugin_emit_kib_per_interval",
                    1..=1 << 20,
                    (p.emit_bytes_per_interval >> 10) as u32,
                )?) << 10,
                maps: within(&self.plugin_maps, "plugin_maps", 1..=4096, p.maps)?,
                keys_per_map: within(
                    &self.plugin_keys_per_map,
                    "plugin_keys_per_map",
                    1..=1 << 24,
                    p.keys_per_map,
                )?,
                map_memory_bytes: mib_within(
                    &self.plugin_map_memory_mib,
                    "plugin_map_memory_mib",
                    16384,
                    p.map_memory_bytes,
                )?,
                string_bytes: within(
                    &self.plugin_string_bytes,
                    "plugin_string_bytes",
                    64..=1 << 20,
                    p.string_bytes,
                )?,
            },
        })
    }
}
