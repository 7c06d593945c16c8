//! Echoes every event as a finding whose rule is the probe's name and whose
//! fields are all of the event's fields, so tests can check each probe's
//! decoding end to end.

use wasmtrace_sdk::{Body, Config, Container, Event, Finding, IpFamily, Plugin, Runtime, Severity, TcpEnds, plugin};

struct Echo;

impl Plugin for Echo {
    const PROBES: &'static [&'static str] = &[
        "process.exec",
        "process.exit",
        "file.open",
        "syscall.enter",
        "signal.kill",
        "process.sleep",
        "file.sync",
        "file.stat",
        "security.setuid",
        "process.fork",
        "security.capable",
        "memory.oom-kill",
        "net.tcp.connect",
        "net.tcp.life",
        "net.tcp.retransmit",
        "net.tcp.accept",
        "net.tcp.drop",
        "shell.readline",
        "process.thread",
        "net.tcp.syn-backlog",
        "file.latency",
        "memory.swapin",
        "file.unlink",
        "syscall.count",
        "sched.runq-latency",
    ];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Echo)
    }

    fn on_event(&mut self, event: &Event) {
        let h = &event.header;
        let finding = |probe: &str| {
            Finding::new(Severity::Info, probe, h.comm)
                .field("pid", h.pid)
                .field("tid", h.tid)
                .field("ppid", h.ppid)
                .field("uid", h.uid)
                .field("gid", h.gid)
                .field("cpu", h.cpu)
                .field("cgroup_id", h.cgroup_id)
                .field("timestamp_ns", h.timestamp_ns)
                .field("container", container(h.container))
        };
        let f = match event.body {
            Body::ProcessExec(e) => finding("process.exec")
                .field("caller_comm", event.text(e.caller_comm))
                .field("filename", event.text(e.filename))
                .field("argv", event.texts(&e.argv).collect::<Vec<_>>().join("\u{1f}"))
                .field("argv_truncated", e.argv_truncated)
                .field("ret", e.ret),
            Body::ProcessExit(e) => finding("process.exit")
                .field("exit_code", e.exit_code)
                .field("signal", e.signal)
                .field("core_dumped", e.core_dumped)
                .field("lifetime_ns", e.lifetime_ns),
            Body::FileOpen(e) => finding("file.open")
                .field("path", event.text(e.path))
                .field("flags", e.flags)
                .field("mode", e.mode)
                .field("dfd", e.dfd)
                .field("ret", e.ret),
            Body::SyscallEnter(e) => finding("syscall.enter").field("id", e.id),
            Body::SyscallCount(e) => finding("syscall.count").field("id", e.id).field("count", e.count),
            Body::SchedRunqLatency(e) => finding("sched.runq-latency")
                .field("latency_ns", e.latency_ns)
                .field("queued_by", e.queued_by.name())
                .field("prev_tid", e.prev_tid)
                .field("prev_comm", event.text(e.prev_comm))
                .field("prev_state", e.prev_state.name()),
            Body::BlockIo(e) => finding("block.io")
                .field("disk", event.text(e.disk))
                .field("major", e.major)
                .field("minor", e.minor)
                .field("op", e.op.name())
                .field("sync", e.sync)
                .field("meta", e.meta)
                .field("fua", e.fua)
                .field("preflush", e.preflush)
                .field("readahead", e.readahead)
                .field("sector", e.sector)
                .field("bytes", e.bytes)
                .field("queued_ns", e.queued_ns)
                .field("service_ns", e.service_ns)
                .field("error", e.error),
            Body::BlockWriteback(e) => finding("block.writeback")
                .field("device", event.text(e.device))
                .field("sb_major", e.sb_major)
                .field("sb_minor", e.sb_minor)
                .field("pages", e.pages)
                .field("latency_ns", e.latency_ns)
                .field("reason", e.reason.name())
                .field("sync_all", e.sync_all)
                .field("background", e.background),
            Body::NetDns(e) => finding("net.dns")
                .field("host", event.text(e.host))
                .field("call", e.call.name())
                .field("latency_ns", e.latency_ns)
                .field("error", e.error),
            Body::CpuSample(e) => finding("cpu.sample")
                .field("user", e.user)
                .field("runnable", e.runnable),
            Body::NetTls(e) => finding("net.tls")
                .field("call", e.call.name())
                .field("latency_ns", e.latency_ns)
                .field("bytes", e.bytes)
                .field("requested", e.requested)
                .field("ret", e.ret),
            Body::SignalKill(e) => finding("signal.kill")
                .field("call", e.call.name())
                .field("target", e.target)
                .field("signal", e.signal)
                .field("ret", e.ret),
            Body::ProcessSleep(e) => finding("process.sleep")
                .field("duration_ns", e.duration_ns)
                .field("clock", e.clock)
                .field("absolute", e.absolute)
                .field("parent_comm", event.text(e.parent_comm)),
            Body::FileSync(e) => finding("file.sync").field("call", e.call.name()).field("fd", e.fd),
            Body::FileStat(e) => finding("file.stat")
                .field("call", e.call.name())
                .field("path", event.text(e.path))
                .field("ret", e.ret),
            Body::SecuritySetuid(e) => finding("security.setuid")
                .field("call", e.call.name())
                .field("caller_uid", e.caller_uid)
                .field("uid", e.uid)
                .field("euid", e.euid)
                .field("suid", e.suid)
                .field("ret", e.ret),
            Body::ProcessFork(e) => finding("process.fork").field("child_pid", e.child_pid),
            Body::SecurityCapable(e) => finding("security.capable").field("cap", e.cap).field("ret", e.ret),
            Body::MemoryOomKill(e) => finding("memory.oom-kill")
                .field("victim_pid", e.victim_pid)
                .field("victim_comm", event.text(e.victim_comm))
                .field("victim_uid", e.victim_uid)
                .field("total_vm_kb", e.total_vm_kb)
                .field("anon_rss_kb", e.anon_rss_kb)
                .field("file_rss_kb", e.file_rss_kb)
                .field("shmem_rss_kb", e.shmem_rss_kb)
                .field("oom_score_adj", e.oom_score_adj),
            Body::NetTcpConnect(e) => ends(finding("net.tcp.connect"), event, &e.ends)
                .field("established", e.established)
                .field("latency_ns", e.latency_ns),
            Body::NetTcpLife(e) => ends(finding("net.tcp.life"), event, &e.ends)
                .field("duration_ns", e.duration_ns)
                .field("rx_bytes", e.rx_bytes)
                .field("tx_bytes", e.tx_bytes),
            Body::NetTcpRetransmit(e) => {
                ends(finding("net.tcp.retransmit"), event, &e.ends).field("state", e.state.name())
            }
            Body::NetTcpDrop(e) => ends(finding("net.tcp.drop"), event, &e.ends)
                .field("tcp_flags", e.tcp_flags)
                .field("reason", e.reason),
            Body::NetTcpSynBacklog(e) => ends(finding("net.tcp.syn-backlog"), event, &e.ends)
                .field("backlog", e.backlog)
                .field("max_backlog", e.max_backlog),
            Body::FileLatency(e) => finding("file.latency")
                .field("op", e.op.name())
                .field("fs_type", event.text(e.fs_type))
                .field("latency_ns", e.latency_ns)
                .field("fd", e.fd)
                .field("ret", e.ret),
            Body::MemorySwapin(e) => finding("memory.swapin")
                .field("pages", e.pages)
                .field("device", event.text(e.device)),
            Body::FileUnlink(e) => finding("file.unlink")
                .field("path", event.text(e.path))
                .field("dfd", e.dfd)
                .field("flags", e.flags)
                .field("ret", e.ret),
            Body::ShellReadline(e) => finding("shell.readline").field("line", event.text(e.line)),
            Body::ProcessThread(e) => finding("process.thread").field("start_routine", e.start_routine),
            Body::NetTcpAccept(e) => ends(finding("net.tcp.accept"), event, &e.ends)
                .field("backlog", e.backlog)
                .field("max_backlog", e.max_backlog),
        };
        f.emit();
    }
}

/// The container as one field: `runtime id name image namespace/pod/container`, `-` for the host.
fn container(c: Option<&Container>) -> String {
    let Some(c) = c else { return "-".into() };
    let runtime = match c.runtime {
        Runtime::Podman => "podman",
        Runtime::Docker => "docker",
        Runtime::Containerd => "containerd",
        Runtime::CriO => "cri-o",
    };
    let pod = c.pod.as_ref().map_or("-".to_string(), |p| {
        format!("{}/{}/{}", p.namespace, p.name, p.container)
    });
    format!("{runtime} {} {} {} {pod}", c.id, c.name, c.image)
}

fn ends(f: Finding, event: &Event, e: &TcpEnds) -> Finding {
    let family = match e.family {
        IpFamily::Ipv4 => "ipv4",
        IpFamily::Ipv6 => "ipv6",
    };
    f.field("family", family)
        .field("saddr", event.text(e.saddr))
        .field("sport", e.sport)
        .field("daddr", event.text(e.daddr))
        .field("dport", e.dport)
}

plugin!(Echo);
