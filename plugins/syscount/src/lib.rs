//! syscount: system calls counted by name and by process, like bpftrace's
//! syscount.bt (which prints ids; this names them). The kernel counts them
//! (`syscall.count`), as syscount.bt's `count()` does: the plugin adds up one
//! event per process, syscall and command name per interval.

use std::collections::HashMap;

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, names, plugin};

struct Syscount {
    by_syscall: Counter,
    by_process: Counter,
    names: HashMap<u32, String>,
}

impl Plugin for Syscount {
    const PROBES: &'static [&'static str] = &["syscall.count"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Syscount {
            by_syscall: Counter::new("syscalls", &["syscall"]),
            by_process: Counter::new("processes", &["comm"]),
            names: HashMap::new(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::SyscallCount(sys) = event.body else {
            return;
        };
        // One host lookup per distinct id, not per event.
        let name = self
            .names
            .entry(sys.id)
            .or_insert_with(|| names::syscall(sys.id).unwrap_or_else(|| sys.id.to_string()));
        self.by_syscall.add(&[name], sys.count);
        self.by_process.add(&[event.header.comm], sys.count);
    }
}

plugin!(Syscount);
