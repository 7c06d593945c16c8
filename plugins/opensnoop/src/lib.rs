//! opensnoop: one line per open(), like bpftrace's opensnoop.bt, and a count
//! of opens per command.
//!
//! Config: `count_paths = true` also counts opens per path (`@paths`); mind
//! the cardinality on a busy machine.

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Opensnoop {
    opens: Counter,
    paths: Option<Counter>,
}

impl Plugin for Opensnoop {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(config: &Config) -> Result<Self, String> {
        set_columns(&["PID", "COMM", "FD", "ERR", "PATH"]);
        let count_paths = config.boolean("count_paths")?.unwrap_or(false);
        Ok(Opensnoop {
            opens: Counter::new("opens", &["comm"]),
            paths: count_paths.then(|| Counter::new("paths", &["path"])),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::FileOpen(open) = &event.body else {
            return;
        };
        let (fd, err) = if open.ret >= 0 { (open.ret, 0) } else { (-1, -open.ret) };
        Row::new()
            .push(event.header.pid)
            .push(event.header.comm.as_str())
            .push(fd)
            .push(err)
            .push(open.path.as_str())
            .emit();
        self.opens.add(&[&event.header.comm], 1);
        if let Some(paths) = &self.paths {
            paths.add(&[&open.path], 1);
        }
    }
}

plugin!(Opensnoop);
