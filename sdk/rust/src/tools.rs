//! What the bpftrace-like tools print: the event enums by their system
//! calls' names, and a TIME column.

use crate::{FileOp, KillCall, SetuidCall, StatCall, SyncCall, TcpState};

impl KillCall {
    pub fn name(self) -> &'static str {
        match self {
            KillCall::Kill => "kill",
            KillCall::Tkill => "tkill",
            KillCall::Tgkill => "tgkill",
        }
    }
}

impl SyncCall {
    pub fn name(self) -> &'static str {
        match self {
            SyncCall::Sync => "sync",
            SyncCall::Syncfs => "syncfs",
            SyncCall::Fsync => "fsync",
            SyncCall::Fdatasync => "fdatasync",
            SyncCall::SyncFileRange => "sync_file_range",
            SyncCall::Msync => "msync",
        }
    }
}

impl StatCall {
    /// The system call's name: `newstat` is `stat`, and so on, as strace shows them.
    pub fn name(self) -> &'static str {
        match self {
            StatCall::Stat => "stat",
            StatCall::Lstat => "lstat",
            StatCall::Fstatat => "newfstatat",
            StatCall::Statx => "statx",
            StatCall::Statfs => "statfs",
        }
    }
}

impl SetuidCall {
    pub fn name(self) -> &'static str {
        match self {
            SetuidCall::Setuid => "setuid",
            SetuidCall::Setfsuid => "setfsuid",
            SetuidCall::Setresuid => "setresuid",
            SetuidCall::Setreuid => "setreuid",
        }
    }
}

impl FileOp {
    pub fn name(self) -> &'static str {
        match self {
            FileOp::Read => "read",
            FileOp::Write => "write",
            FileOp::Open => "open",
            FileOp::Fsync => "fsync",
        }
    }
}

impl TcpState {
    /// The kernel's name without its `TCP_`, as tcpretrans prints it.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
        }
    }
}

/// Time since the first event a plugin saw: the TIME column of tools that
/// print the time of day where a plugin has no wall clock.
#[derive(Debug, Default)]
pub struct Elapsed {
    first_ns: Option<u64>,
}

impl Elapsed {
    /// Nanoseconds from the first timestamp passed here to `timestamp_ns`.
    pub fn since_first(&mut self, timestamp_ns: u64) -> u64 {
        timestamp_ns.saturating_sub(*self.first_ns.get_or_insert(timestamp_ns))
    }

    /// The same, as seconds with milliseconds (`"1.204"`).
    pub fn seconds(&mut self, timestamp_ns: u64) -> String {
        let ns = self.since_first(timestamp_ns);
        format!("{}.{:03}", ns / 1_000_000_000, ns % 1_000_000_000 / 1_000_000)
    }
}
