//! execsnoop: one line per program executed, like bpftrace's execsnoop.bt.
//!
//! Config: `failed = true` also shows execs that failed (RET < 0).

use wasmtrace_sdk::{Body, Config, Elapsed, Event, Plugin, Row, plugin, set_columns};

struct Execsnoop {
    show_failed: bool,
    elapsed: Elapsed,
}

impl Plugin for Execsnoop {
    const PROBES: &'static [&'static str] = &["process.exec"];

    fn init(config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(ms)", "PID", "PPID", "RET", "ARGS"]);
        Ok(Execsnoop {
            show_failed: config.boolean("failed")?.unwrap_or(false),
            elapsed: Elapsed::default(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::ProcessExec(exec) = &event.body else {
            return;
        };
        if exec.ret < 0 && !self.show_failed {
            return;
        }
        let elapsed_ms = self.elapsed.since_first(event.header.timestamp_ns) / 1_000_000;
        let mut args = exec.argv.join(" ");
        if exec.argv_truncated {
            args.push_str(" ...");
        }
        Row::new()
            .push(elapsed_ms)
            .push(event.header.pid)
            .push(event.header.ppid)
            .push(exec.ret)
            .push(args)
            .emit();
    }
}

plugin!(Execsnoop);
