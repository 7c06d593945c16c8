use crate::harness::{Tracer, fork_child, kernel_available, unique};

#[test]
fn syscount_counts_a_known_number_of_syscalls_by_name() {
    if !kernel_available("syscount_counts_a_known_number_of_syscalls_by_name") {
        return;
    }
    const N: u64 = 250;
    let comm = unique("wt-sys-");
    let tracer = Tracer::tool("syscount", "syscall.enter", &comm);
    fork_child(&comm, || {
        for _ in 0..N {
            // SAFETY: getppid has no arguments or side effects.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("syscount", "syscalls", &["getppid"]),
        Some(N),
        "stderr:\n{}",
        out.stderr
    );
    // After the rename the child makes N getppid calls and exit_group: nothing else is traced.
    assert_eq!(out.counter("syscount", "syscalls", &["exit_group"]), Some(1));
    assert_eq!(out.counter("syscount", "processes", &[&comm]), Some(N + 1));
    assert_eq!(out.probe("syscall.enter"), (N + 1, 0));
}
