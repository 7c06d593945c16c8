//! Names the host gives plugins: syscalls, errnos, users.

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
}
