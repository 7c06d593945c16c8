//! opensnoop: one line per open(), like bpftrace's opensnoop.bt, and a count
//! of opens per command.
//!
//! Config: `count_paths = true` also counts opens per path (`@paths`); mind
//! the cardinality on a busy machine. `container = true` adds a CONTAINER
//! column and counts opens per container and command
//! (`@opens[container, comm]`, a `container` label in Prometheus).

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, Row, plugin, set_columns};

struct Opensnoop {
    opens: Counter,
    by_container: bool,
    paths: Option<Counter>,
}

impl Plugin for Opensnoop {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(config: &Config) -> Result<Self, String> {
        let count_paths = config.boolean("count_paths")?.unwrap_or(false);
        let by_container = config.boolean("container")?.unwrap_or(false);
        let opens = match by_container {
            true => {
                set_columns(&["PID", "COMM", "FD", "ERR", "CONTAINER", "PATH"]);
                Counter::new("opens", &["container", "comm"])
            }
            false => {
                set_columns(&["PID", "COMM", "FD", "ERR", "PATH"]);
                Counter::new("opens", &["comm"])
            }
        };
        Ok(Opensnoop {
            opens,
            by_container,
            paths: count_paths.then(|| Counter::new("paths", &["path"])),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::FileOpen(open) = event.body else {
            return;
        };
        let (fd, err) = if open.ret >= 0 { (open.ret, 0) } else { (-1, -open.ret) };
        let row = Row::new()
            .push(event.header.pid)
            .push(event.header.comm)
            .push(fd)
            .push(err);
        match self.by_container {
            true => {
                let container = event.header.container_name();
                row.push(container).push(event.text(open.path)).emit();
                self.opens.add(&[container, event.header.comm], 1);
            }
            false => {
                row.push(event.text(open.path)).emit();
                self.opens.add(&[event.header.comm], 1);
            }
        }
        if let Some(paths) = &self.paths {
            paths.add(&[event.text(open.path)], 1);
        }
    }
}

plugin!(Opensnoop);
