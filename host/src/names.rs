//! Names the host gives plugins: syscalls, errnos, users, drop reasons.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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

/// The user's name from the host's passwd database, through the `Users` cache.
pub fn user(uid: u32) -> Option<String> {
    static USERS: LazyLock<Mutex<Users>> = LazyLock::new(Mutex::default);
    let users = || USERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(name) = users().cached(uid, Instant::now()) {
        return name;
    }
    // Outside the lock: a slow NSS lookup (LDAP, sssd) for one plugin holds
    // up no other plugin's answers from the cache.
    let name = uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned());
    users().keep(uid, name.clone(), Instant::now());
    name
}

/// How many user names are kept, and for how long.
const USERS_MAX: usize = 4096;
const USER_TTL: Duration = Duration::from_secs(60);

/// User names already looked up, unknown uids included. Plugins ask for any
/// uid as often as they like, and each NSS lookup may go to LDAP or sssd:
/// a uid is looked up at most once per `USER_TTL`, and when `USERS_MAX` are
/// kept the oldest goes.
#[derive(Default)]
struct Users {
    names: HashMap<u32, (Option<String>, Instant)>,
    /// Uids in the order they came in.
    order: VecDeque<u32>,
}

impl Users {
    /// The name kept for `uid` (`Some(None)`: known to be unknown), unless
    /// it is older than `USER_TTL`.
    fn cached(&self, uid: u32, now: Instant) -> Option<Option<String>> {
        let (name, at) = self.names.get(&uid)?;
        (now.duration_since(*at) < USER_TTL).then(|| name.clone())
    }

    fn keep(&mut self, uid: u32, name: Option<String>, now: Instant) {
        if self.names.insert(uid, (name, now)).is_none() {
            self.order.push_back(uid);
            if self.order.len() > USERS_MAX
                && let Some(oldest) = self.order.pop_front()
            {
                self.names.remove(&oldest);
            }
        }
    }

    /// The name for `uid`, from the cache or from `lookup`: what `user` does.
    #[cfg(test)]
    fn name(&mut self, uid: u32, now: Instant, lookup: impl FnOnce(u32) -> Option<String>) -> Option<String> {
        if let Some(name) = self.cached(uid, now) {
            return name;
        }
        let name = lookup(uid);
        self.keep(uid, name.clone(), now);
        name
    }
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
    use std::cell::Cell;

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
    fn a_uid_is_looked_up_once_until_its_name_expires_unknown_ones_too() {
        let lookups = Cell::new(0);
        let lookup = |uid: u32| -> Option<String> {
            lookups.set(lookups.get() + 1);
            (uid == 0).then(|| "root".to_string())
        };
        let mut users = Users::default();
        let start = Instant::now();
        for _ in 0..1000 {
            assert_eq!(users.name(0, start, lookup).as_deref(), Some("root"));
            assert_eq!(users.name(4242, start, lookup), None);
        }
        assert_eq!(lookups.get(), 2);
        let fresh = start + USER_TTL - Duration::from_millis(1);
        assert_eq!(users.name(0, fresh, lookup).as_deref(), Some("root"));
        assert_eq!(lookups.get(), 2);
        let stale = start + USER_TTL;
        assert_eq!(users.name(0, stale, lookup).as_deref(), Some("root"));
        assert_eq!(users.name(4242, stale, lookup), None);
        assert_eq!(lookups.get(), 4);
        assert_eq!(users.name(0, stale, lookup).as_deref(), Some("root"));
        assert_eq!(lookups.get(), 4);
    }

    #[test]
    fn a_sweep_of_uids_keeps_only_the_newest_names() {
        let mut users = Users::default();
        let now = Instant::now();
        for uid in 0..100_000 {
            users.name(uid, now, |uid| Some(format!("u{uid}")));
        }
        assert_eq!((users.names.len(), users.order.len()), (USERS_MAX, USERS_MAX));
        let lookups = Cell::new(0);
        let count = |_: u32| -> Option<String> {
            lookups.set(lookups.get() + 1);
            None
        };
        let newest = 100_000 - 1;
        let oldest_kept = 100_000 - USERS_MAX as u32;
        assert_eq!(users.name(newest, now, count), Some(format!("u{newest}")));
        assert_eq!(users.name(oldest_kept, now, count), Some(format!("u{oldest_kept}")));
        assert_eq!(lookups.get(), 0);
        assert_eq!(users.name(oldest_kept - 1, now, count), None);
        assert_eq!(lookups.get(), 1);
        assert_eq!((users.names.len(), users.order.len()), (USERS_MAX, USERS_MAX));
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
