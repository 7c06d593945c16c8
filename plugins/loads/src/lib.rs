//! loads: the kernel's load averages every interval, like bpftrace's
//! loads.bt (which reads the kernel's `avenrun` by address, where kallsyms
//! lists it): here from /proc/loadavg, the kernel's own figures, which the
//! plugin may read once granted `read_dirs = ["/proc"]`. One row per tick
//! (LOAD1, LOAD5, LOAD15), and a gauge per average in thousandths
//! (`load_milli[minutes]`), for Prometheus. It needs no probe.

use wasmtrace_sdk::{Config, Event, Gauge, Plugin, Row, plugin, set_columns};

struct Loads {
    load_milli: Gauge,
    said: bool,
}

impl Plugin for Loads {
    const PROBES: &'static [&'static str] = &[];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["LOAD1", "LOAD5", "LOAD15"]);
        Ok(Loads {
            load_milli: Gauge::new("load_milli", &["minutes"]),
            said: false,
        })
    }

    fn on_event(&mut self, _event: &Event) {}

    fn on_tick(&mut self) {
        let text = match std::fs::read_to_string("/proc/loadavg") {
            Ok(text) => text,
            Err(e) => {
                // Once: the grant is missing, and every tick would say so.
                if !self.said {
                    self.said = true;
                    Row::new()
                        .push(format!("/proc/loadavg: {e} (grant read_dirs = [\"/proc\"])"))
                        .emit();
                }
                return;
            }
        };
        let averages: Vec<&str> = text.split_whitespace().take(3).collect();
        let [one, five, fifteen] = averages[..] else {
            return;
        };
        Row::new().push(one).push(five).push(fifteen).emit();
        for (minutes, value) in [("1", one), ("5", five), ("15", fifteen)] {
            if let Ok(value) = value.parse::<f64>() {
                self.load_milli.set(&[minutes], (value * 1000.0).round() as i64);
            }
        }
    }
}

plugin!(Loads);
