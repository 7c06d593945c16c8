//! capable: one line per capability check, like bpftrace's capable.bt: UID,
//! PID, COMM, CAP and its NAME, and whether it was granted (capable.bt's
//! AUDIT column came from a kprobe argument the tracepoint does not have).
//! TIME is seconds since the first event. `@checks[name, verdict]` counts them.

use wasmtrace_sdk::{Body, Config, Counter, Elapsed, Event, Plugin, Row, plugin, set_columns};

const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

struct Capable {
    elapsed: Elapsed,
    checks: Counter,
}

impl Plugin for Capable {
    const PROBES: &'static [&'static str] = &["security.capable"];

    fn init(_config: &Config) -> Result<Self, String> {
        set_columns(&["TIME(s)", "UID", "PID", "COMM", "CAP", "NAME", "VERDICT"]);
        Ok(Capable {
            elapsed: Elapsed::default(),
            checks: Counter::new("checks", &["name", "verdict"]),
        })
    }

    fn on_event(&mut self, event: &Event) {
        let Body::SecurityCapable(check) = event.body else {
            return;
        };
        let unknown;
        let name = match NAMES.get(check.cap as usize) {
            Some(name) => *name,
            None => {
                unknown = format!("CAP_{}", check.cap);
                &unknown
            }
        };
        let verdict = if check.ret == 0 { "granted" } else { "denied" };
        let h = &event.header;
        Row::new()
            .push(self.elapsed.seconds(h.timestamp_ns))
            .push(h.uid)
            .push(h.pid)
            .push(h.comm)
            .push(check.cap)
            .push(name)
            .push(verdict)
            .emit();
        self.checks.add(&[name, verdict], 1);
    }
}

plugin!(Capable);
