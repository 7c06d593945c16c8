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
        let key = match event.body {
            Body::FileOpen(open) => event.text(open.path),
            Body::ProcessExec(exec) => event.text(exec.filename),
            Body::SyscallEnter(sys) => number(&mut self.id, sys.id),
            Body::SyscallCount(sys) => number(&mut self.id, sys.id),
            Body::ProcessExit(_) => "exit",
            Body::SchedRunqLatency(_) => "runq",
            Body::BlockIo(io) => event.text(io.disk),
            Body::BlockWriteback(pass) => event.text(pass.device),
            Body::NetDns(lookup) => event.text(lookup.host),
            Body::NetTls(call) => call.call.name(),
            Body::CpuSample(sample) => match sample.user {
                true => "user",
                false => "kernel",
            },
            Body::SignalKill(kill) => kill.call.name(),
            Body::ProcessSleep(_) => "sleep",
            Body::FileSync(sync) => sync.call.name(),
            Body::FileStat(stat) => event.text(stat.path),
            Body::SecuritySetuid(setuid) => setuid.call.name(),
            Body::ProcessFork(_) => "fork",
            Body::SecurityCapable(_) => "capable",
            Body::MemoryOomKill(oom) => event.text(oom.victim_comm),
            Body::NetTcpConnect(c) => event.text(c.ends.daddr),
            Body::NetTcpLife(l) => event.text(l.ends.daddr),
            Body::NetTcpRetransmit(r) => event.text(r.ends.daddr),
            Body::NetTcpAccept(a) => event.text(a.ends.daddr),
            Body::NetTcpDrop(d) => event.text(d.ends.daddr),
            Body::ShellReadline(r) => event.text(r.line),
            Body::ProcessThread(_) => "thread",
            Body::FileLatency(l) => event.text(l.fs_type),
            Body::MemorySwapin(s) => event.text(s.device),
            Body::FileUnlink(u) => event.text(u.path),
            Body::NetTcpSynBacklog(b) => event.text(b.ends.saddr),
        };
        // syscall.count's events are counted already, in the kernel.
        let calls = match event.body {
            Body::SyscallCount(sys) => sys.count,
            _ => 1,
        };
        self.events.add(&[event.header.comm, key], calls);
    }
}

/// `n` as text, in a buffer reused from event to event.
fn number(buf: &mut String, n: u32) -> &str {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "{n}");
    buf
}

plugin!(Tally);
