//! statsnoop: one line per stat-family call, like bpftrace's statsnoop.bt
//! (PID, COMM, ERR, PATH), and `@stats[call]`. It also sees fstatat, which
//! glibc's stat() uses and statsnoop.bt does not trace.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Statsnoop {
    stats: Counter,
}

impl Plugin for Statsnoop {
    const PROBES: &'static [&'static str] = &["file.stat"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["PID", "COMM", "ERR", "PATH"]);
        Ok(Statsnoop {
            stats: Counter::new("stats", &["call"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::FileStat(stat) = event.body else {
            return;
        };
        Row::new()
            .push(event.header.pid)
            .push(event.header.comm)
            .push(if stat.ret >= 0 { 0 } else { -stat.ret })
            .push(event.text(stat.path))
            .emit();
        self.stats.add(&[stat.call.name()], 1);
    }
}

plugin!(Statsnoop);
