//! Generated from wit/plugin.wit by `cargo xtask`. DO NOT EDIT.
//! Each enum's cases by the names the tools print.

use crate::*;

impl Runtime {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
        }
    }
}

impl KillCall {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            KillCall::Kill => "kill",
            KillCall::Tkill => "tkill",
            KillCall::Tgkill => "tgkill",
        }
    }
}

impl SyncCall {
    /// The case as the tools print it.
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
    /// The case as the tools print it.
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
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            SetuidCall::Setuid => "setuid",
            SetuidCall::Setfsuid => "setfsuid",
            SetuidCall::Setresuid => "setresuid",
            SetuidCall::Setreuid => "setreuid",
        }
    }
}

impl IpFamily {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
        }
    }
}

impl TcpState {
    /// The case as the tools print it.
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

impl FileOp {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            FileOp::Read => "read",
            FileOp::Write => "write",
            FileOp::Open => "open",
            FileOp::Fsync => "fsync",
        }
    }
}

impl QueueReason {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            QueueReason::Wakeup => "wakeup",
            QueueReason::NewTask => "new_task",
            QueueReason::Preempted => "preempted",
        }
    }
}

impl TaskState {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Sleeping => "sleeping",
            TaskState::DiskSleep => "disk_sleep",
            TaskState::Stopped => "stopped",
            TaskState::Traced => "traced",
            TaskState::Dead => "dead",
            TaskState::Zombie => "zombie",
            TaskState::Parked => "parked",
            TaskState::Idle => "idle",
        }
    }
}

impl BlockOp {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            BlockOp::Read => "read",
            BlockOp::Write => "write",
            BlockOp::Flush => "flush",
            BlockOp::Discard => "discard",
            BlockOp::SecureErase => "secure_erase",
            BlockOp::WriteZeroes => "write_zeroes",
            BlockOp::Other => "other",
        }
    }
}

impl WritebackReason {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            WritebackReason::Background => "background",
            WritebackReason::Vmscan => "vmscan",
            WritebackReason::Sync => "sync",
            WritebackReason::Periodic => "periodic",
            WritebackReason::LaptopTimer => "laptop_timer",
            WritebackReason::FsFreeSpace => "fs_free_space",
            WritebackReason::ForkerThread => "forker_thread",
            WritebackReason::ForeignFlush => "foreign_flush",
            WritebackReason::Other => "other",
        }
    }
}

impl DnsCall {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            DnsCall::Getaddrinfo => "getaddrinfo",
            DnsCall::Gethostbyname => "gethostbyname",
            DnsCall::Gethostbyname2 => "gethostbyname2",
        }
    }
}

impl TlsCall {
    /// The case as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            TlsCall::Read => "SSL_read",
            TlsCall::Write => "SSL_write",
            TlsCall::ReadEx => "SSL_read_ex",
            TlsCall::WriteEx => "SSL_write_ex",
            TlsCall::Handshake => "SSL_do_handshake",
        }
    }
}
