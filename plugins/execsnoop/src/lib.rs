//! execsnoop: one line per program executed, like bpftrace's execsnoop.bt.
//!
//! Config: `failed = true` also shows execs that failed (RET < 0);
//! `container = true` adds a CONTAINER column (`-` for the host's processes).

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

struct Execsnoop {
    show_failed: bool,
    show_container: bool,
    elapsed: Elapsed,
}

impl Plugin for Execsnoop {
    const PROBES: &'static [&'static str] = &["process.exec"];

    fn init(config: &Config) -> Result<Self, String> {
        let show_container = config.boolean("container")?.unwrap_or(false);
        match show_container {
            true => set_columns(&["TIME(ms)", "PID", "PPID", "RET", "CONTAINER", "ARGS"]),
            false => set_columns(&["TIME(ms)", "PID", "PPID", "RET", "ARGS"]),
        }
        Ok(Execsnoop {
            show_failed: config.boolean("failed")?.unwrap_or(false),
            show_container,
            elapsed: Elapsed::default(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::ProcessExec(exec) = event.body else {
            return;
        };
        if exec.ret < 0 && !self.show_failed {
            return;
        }
        let elapsed_ms = self.elapsed.since_first(event.header.timestamp_ns) / 1_000_000;
        let mut args = event.texts(&exec.argv).collect::<Vec<_>>().join(" ");
        if exec.argv_truncated {
            args.push_str(" ...");
        }
        let row = Row::new()
            .push(elapsed_ms)
            .push(event.header.pid)
            .push(event.header.ppid)
            .push(exec.ret);
        let row = match self.show_container {
            true => row.push(event.header.container_name()),
            false => row,
        };
        row.push(args).emit();
    }
}

plugin!(Execsnoop);
