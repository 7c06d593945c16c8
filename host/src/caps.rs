//! The privileges tracing needs, as capabilities rather than uid 0 (as a
//! DaemonSet should run): loading and attaching tracepoint probes needs
//! CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN implies both), uprobes need
//! CAP_SYS_ADMIN; reading tracefs, which the kernel mounts mode 0700, needs
//! CAP_DAC_READ_SEARCH when not root; mounting it needs CAP_SYS_ADMIN.

/// Capability numbers (linux/capability.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    SysAdmin = 21,
    Perfmon = 38,
    Bpf = 39,
}

impl Cap {
    pub fn name(self) -> &'static str {
        match self {
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::Perfmon => "CAP_PERFMON",
            Cap::Bpf => "CAP_BPF",
        }
    }
}

/// This process's effective capabilities (`CapEff` in /proc/self/status).
fn effective() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0)
}

pub fn has(cap: Cap) -> bool {
    effective() & (1 << cap as u64) != 0
}

/// What loading and attaching probes needs that this process lacks.
/// Attaching a uprobe through perf_event_open needs CAP_SYS_ADMIN: with
/// CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH alone, Linux 6.18 refuses it.
pub fn missing_for_probes(uprobes: bool) -> Vec<Cap> {
    if has(Cap::SysAdmin) {
        return Vec::new();
    }
    let mut missing: Vec<Cap> = [Cap::Bpf, Cap::Perfmon].into_iter().filter(|&c| !has(c)).collect();
    if uprobes {
        missing.push(Cap::SysAdmin);
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bits_match_the_kernel() {
        assert_eq!((Cap::Bpf as u64, Cap::Bpf.name()), (39, "CAP_BPF"));
        // Every process holds a readable CapEff line; root in this VM holds all.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(has(Cap::SysAdmin) && missing_for_probes(true).is_empty());
        }
    }
}
