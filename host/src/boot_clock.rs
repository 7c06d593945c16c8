//! CLOCK_BOOTTIME, the clock of the events' timestamps (the kernel's
//! `bpf_ktime_get_boot_ns`).

/// Now, in nanoseconds since boot (suspend included).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
