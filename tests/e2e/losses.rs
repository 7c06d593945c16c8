//! When the host falls behind (here: it is stopped while a storm fills its
//! ring buffer), the kernel counts what it drops: delivered plus lost is
//! exactly what happened, and the user is told how to fix it. A slow plugin
//! no longer causes this: it loses only its own batches (tests/e2e/quotas.rs).

use crate::harness::{Tracer, child_opens, test_plugins, unique};

#[test]
fn a_full_ring_buffer_loses_events_countably() {
    require_kernel!();
    const N: u64 = 20_000;
    let comm = unique("wt-flood-");
    let config = format!(
        r#"
[limits]
ring_buffer_mib = 1
[probe."file.open"]
comm = ["{comm}"]
[plugin.slow]
path = "{}/misbehave.wasm"
[plugin.slow.config]
fail_in = "never"
"#,
        test_plugins().display()
    );
    let tracer = Tracer::start(&config);
    let pid = tracer.pid() as i32;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    child_opens(&comm, std::path::Path::new("/dev/null"), N as usize);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = tracer.stop();
    out.assert_clean_exit();
    let (events, lost) = out.probe("file.open");
    assert!(
        lost > 0,
        "a 1 MiB ring buffer that nobody reads must overflow: {events} events"
    );
    assert_eq!(events + lost, N, "every open is either delivered or counted as lost");
    assert_eq!(
        out.counter("slow", "seen", &[]),
        Some(events),
        "the plugin saw every delivered event"
    );
    assert!(
        out.stderr.contains("probe file.open lost") && out.stderr.contains("Raise [limits] ring_buffer_mib (now 1)"),
        "{}",
        out.stderr
    );
}
