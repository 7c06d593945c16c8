//! tally: counts every event it receives per command and per key (the path
//! opened, the program executed, the syscall entered, the call made), like bpftrace's
//! `@[comm, str(args.filename)] = count()`. `wasmtrace bench` uses it as
//! the plugin that consumes every event.
//!
//! Config: none; `probes` in its `[plugin.tally]` table picks what it counts
//! (default: `file.open`).

use wasmtrace_sdk::{Body, Config, Counter, Event, Plugin, plugin};

struct Tally {
    events: Counter,
    id: String,
}

impl Plugin for Tally {
    const PROBES: &'static [&'static str] = &["file.open"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Tally {
            events: Counter::new("events", &["comm", "key"]),
            id: String::new(),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let key = match &event.body {
            Body::FileOpen(open) => open.path.as_str(),
            Body::ProcessExec(exec) => exec.filename.as_str(),
            Body::SyscallEnter(sys) => {
                use std::fmt::Write;
                self.id.clear();
                let _ = write!(self.id, "{}", sys.id);
                self.id.as_str()
            }
            Body::ProcessExit(_) => "exit",
            Body::SignalKill(kill) => kill.call.name(),
            Body::ProcessSleep(_) => "sleep",
            Body::FileSync(sync) => sync.call.name(),
            Body::FileStat(stat) => stat.path.as_str(),
            Body::SecuritySetuid(setuid) => setuid.call.name(),
            Body::ProcessFork(_) => "fork",
            Body::SecurityCapable(_) => "capable",
            Body::MemoryOomKill(oom) => oom.victim_comm.as_str(),
            Body::NetTcpConnect(c) => c.ends.daddr.as_str(),
            Body::NetTcpLife(l) => l.ends.daddr.as_str(),
            Body::NetTcpRetransmit(r) => r.ends.daddr.as_str(),
            Body::NetTcpAccept(a) => a.ends.daddr.as_str(),
            Body::NetTcpDrop(d) => d.ends.daddr.as_str(),
            Body::ShellReadline(r) => r.line.as_str(),
            Body::ProcessThread(_) => "thread",
            Body::FileLatency(l) => l.fs_type.as_str(),
            Body::MemorySwapin(s) => s.device.as_str(),
            Body::NetTcpSynBacklog(b) => b.ends.saddr.as_str(),
        };
        self.events.add(&[&event.header.comm, key], 1);
    }
}

plugin!(Tally);
