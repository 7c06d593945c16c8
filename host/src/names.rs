//! Names the host gives plugins: syscalls, errnos, users, drop reasons.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The syscall's name on the host's architecture.
pub fn syscall(id: u32) -> Option<String> {
    syscalls::Sysno::new(id as usize).map(|s| s.name().to_string())
}

/// The errno's symbolic name, e.g. `ENOENT`.
pub fn errno(code: u32) -> Option<String> {
    i32::try_from(code)
        .ok()
        .and_then(|c| syscalls::Errno::new(c).name())
        .map(str::to_string)
}

/// The user's name from the host's passwd database.
pub fn user(uid: u32) -> Option<String> {
    uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
}

/// The kernel's name for a packet drop reason, from the `skb:kfree_skb`
/// tracepoint's format, which lists them (their numbers change between kernels).
pub fn drop_reason(reason: u32) -> Option<String> {
    static REASONS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    REASONS
        .get_or_init(|| {
            crate::tracefs::events_dir()
                .ok()
                .and_then(|dir| std::fs::read_to_string(dir.join("skb/kfree_skb/format")).ok())
                .map(|format| drop_reasons(&format))
                .unwrap_or_default()
        })
        .get(&reason)
        .cloned()
}

/// `{ 3, "NO_SOCKET" }` pairs in a tracepoint format's `__print_symbolic`.
fn drop_reasons(format: &str) -> HashMap<u32, String> {
    format
        .split("{ ")
        .skip(1)
        .filter_map(|pair| {
            let (number, rest) = pair.split_once(", \"")?;
            let (name, _) = rest.split_once('"')?;
            Some((number.trim().parse().ok()?, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(syscall(syscalls::Sysno::openat as u32).as_deref(), Some("openat"));
        assert_eq!(syscall(100_000), None);
        assert_eq!(errno(2).as_deref(), Some("ENOENT"));
        assert_eq!(errno(13).as_deref(), Some("EACCES"));
        assert_eq!(user(0).as_deref(), Some("root"));
    }

    #[test]
    fn drop_reasons_come_from_the_tracepoint_format() {
        let format = r#"print fmt: "reason: %s", __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 128, "MAX" })"#;
        let reasons = drop_reasons(format);
        assert_eq!(reasons.len(), 3);
        assert_eq!(reasons[&3], "NO_SOCKET");
        assert_eq!(reasons[&128], "MAX");
    }
}
