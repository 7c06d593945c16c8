//! oomkill: a finding for every OOM kill, worded like bpftrace's oomkill.bt
//! ("Triggered by PID … OOM kill of PID …"), with the victim's memory as
//! fields; `@kills[victim]` counts them.

use wasmtrace_sdk::{Body, Config, Counter, Event, Finding, Plugin, Severity, plugin};

struct Oomkill {
    kills: Counter,
}

impl Plugin for Oomkill {
    const PROBES: &'static [&'static str] = &["memory.oom-kill"];

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Oomkill {
            kills: Counter::new("kills", &["victim"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::MemoryOomKill(oom) = event.body else {
            return;
        };
        let h = &event.header;
        Finding::new(
            Severity::High,
            "oom-kill",
            format!(
                "Triggered by PID {} (\"{}\"), OOM kill of PID {} (\"{}\"), {} kB anon-rss, {} kB total-vm",
                h.pid,
                h.comm,
                oom.victim_pid,
                event.text(oom.victim_comm),
                oom.anon_rss_kb,
                oom.total_vm_kb
            ),
        )
        .field("trigger_pid", h.pid)
        .field("trigger_comm", h.comm)
        .field("victim_pid", oom.victim_pid)
        .field("victim_comm", event.text(oom.victim_comm))
        .field("victim_uid", oom.victim_uid)
        .field("anon_rss_kb", oom.anon_rss_kb)
        .field("total_vm_kb", oom.total_vm_kb)
        .field("oom_score_adj", oom.oom_score_adj)
        .emit();
        self.kills.add(&[event.text(oom.victim_comm)], 1);
    }
}

plugin!(Oomkill);
