//! wasmtrace's own pid as its probes see it. Probes get pids from the
//! kernel's initial pid namespace; `std::process::id()` is the pid in
//! wasmtrace's own namespace, which differs in a container run without the
//! host's pid namespace or under `unshare --pid`. The kernel tells: a tiny
//! program run once by `BPF_PROG_TEST_RUN` runs in this very task.

use aya::EbpfLoader;
use aya::programs::{RawTracePoint, RawTracePointRunOptions, TestRun};
use wasmtrace_ebpf::Object;

/// The tgid the kernel's probes give wasmtrace's events, so that its own
/// work is left out of what it traces. Where the kernel cannot run the
/// program (before Linux 5.10), the pid in wasmtrace's own namespace if
/// that is the initial one; else none (`u32::MAX`, above any pid): leaving
/// out the wrong process would hide another's work.
pub fn traced_tgid() -> u32 {
    match ask_kernel() {
        Ok(tgid) => tgid,
        Err(e) if in_initial_pid_namespace() => {
            tracing::debug!("cannot ask the kernel for wasmtrace's own pid ({e}); its pid is the kernel's");
            std::process::id()
        }
        Err(e) => {
            tracing::warn!(
                "cannot ask the kernel for wasmtrace's own pid ({e}), and wasmtrace runs in a pid \
                 namespace of its own: its own work shows in what it traces; run it in the host's \
                 pid namespace (Kubernetes: hostPID: true), or on Linux 5.10 or later"
            );
            u32::MAX
        }
    }
}

/// The initial pid namespace's inode number, fixed in the kernel (PROC_PID_INIT_INO).
const INITIAL_PID_NAMESPACE: &str = "pid:[4026531836]";

/// Whether wasmtrace's pids are the kernel's own (those probes see).
pub fn in_initial_pid_namespace() -> bool {
    std::fs::read_link("/proc/self/ns/pid").is_ok_and(|ns| ns.as_os_str() == INITIAL_PID_NAMESPACE)
}

fn ask_kernel() -> Result<u32, String> {
    let mut ebpf = EbpfLoader::new()
        .load(Object::Whoami.bytes())
        .map_err(|e| format!("loading {}: {e}", Object::Whoami.name()))?;
    let program: &mut RawTracePoint = ebpf
        .program_mut("whoami")
        .ok_or("no `whoami` program")?
        .try_into()
        .map_err(|e| format!("{e}"))?;
    program.load().map_err(|e| format!("loading `whoami`: {e}"))?;
    let run = program
        .test_run(RawTracePointRunOptions::new())
        .map_err(|e| format!("running `whoami`: {e}"))?;
    Ok(run.return_value)
}
