//! The records that cross the ring buffers and the filter map: a mirror of
//! `src/bpf/events.h`, which is the source of truth. The size asserts here and
//! the `_Static_assert`s there keep the two in step.

use std::mem::size_of;

pub const COMM_LEN: usize = 16;
pub const PATH_LEN: usize = 256;
pub const ARGV_LEN: usize = 1024;
pub const FILTER_MAX: usize = 8;
/// Cgroups a container filter can name at once (`CGROUPS_MAX`).
pub const CGROUPS_MAX: usize = 16;

/// `enum scope`: which tasks a filter passes by where they run.
pub const SCOPE_ANY: u32 = 0;
pub const SCOPE_HOST: u32 = 1;
pub const SCOPE_CONTAINERS: u32 = 2;
pub const SCOPE_CGROUPS: u32 = 3;
pub const SWAP_DEVICES_MAX: usize = 8;

/// `enum probe_id`: the tag in every record's header.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeId {
    ProcessExec = 0,
    ProcessExit = 1,
    FileOpen = 2,
    SyscallEnter = 3,
    SignalKill = 4,
    ProcessSleep = 5,
    FileSync = 6,
    FileStat = 7,
    SecuritySetuid = 8,
    ProcessFork = 9,
    SecurityCapable = 10,
    MemoryOomKill = 11,
    NetTcpConnect = 12,
    NetTcpLife = 13,
    NetTcpRetransmit = 14,
    NetTcpAccept = 15,
    NetTcpDrop = 16,
    ShellReadline = 17,
    ProcessThread = 18,
    NetTcpSynBacklog = 19,
    FileLatency = 20,
    MemorySwapin = 21,
}

impl ProbeId {
    pub const ALL: [ProbeId; 22] = [
        ProbeId::ProcessExec,
        ProbeId::ProcessExit,
        ProbeId::FileOpen,
        ProbeId::SyscallEnter,
        ProbeId::SignalKill,
        ProbeId::ProcessSleep,
        ProbeId::FileSync,
        ProbeId::FileStat,
        ProbeId::SecuritySetuid,
        ProbeId::ProcessFork,
        ProbeId::SecurityCapable,
        ProbeId::MemoryOomKill,
        ProbeId::NetTcpConnect,
        ProbeId::NetTcpLife,
        ProbeId::NetTcpRetransmit,
        ProbeId::NetTcpAccept,
        ProbeId::NetTcpDrop,
        ProbeId::ShellReadline,
        ProbeId::ProcessThread,
        ProbeId::NetTcpSynBacklog,
        ProbeId::FileLatency,
        ProbeId::MemorySwapin,
    ];

    pub fn from_raw(raw: u32) -> Option<ProbeId> {
        ProbeId::ALL.get(raw as usize).copied()
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EventHeader {
    pub ts_boot_ns: u64,
    pub cgroup_id: u64,
    pub probe: u32,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProcessExecEvent {
    pub h: EventHeader,
    pub ret: i32,
    pub argc: u32,
    pub argv_len: u32,
    pub truncated: u32,
    pub caller_comm: [u8; COMM_LEN],
    pub filename: [u8; PATH_LEN],
    pub argv: [u8; ARGV_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProcessExitEvent {
    pub h: EventHeader,
    pub lifetime_ns: u64,
    pub exit_code: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FileOpenEvent {
    pub h: EventHeader,
    pub ret: i64,
    pub dfd: i32,
    pub flags: u32,
    pub mode: u32,
    pub _pad: u32,
    pub path: [u8; PATH_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SyscallEnterEvent {
    pub h: EventHeader,
    pub id: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SignalKillEvent {
    pub h: EventHeader,
    pub target: i32,
    pub signal: u32,
    pub ret: i32,
    /// `enum kill_call`: 0 kill, 1 tkill, 2 tgkill.
    pub call: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProcessSleepEvent {
    pub h: EventHeader,
    pub duration_ns: u64,
    pub clock: u32,
    pub flags: u32,
    pub parent_comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FileSyncEvent {
    pub h: EventHeader,
    /// `enum sync_call`: 0 sync, 1 syncfs, 2 fsync, 3 fdatasync, 4 sync_file_range, 5 msync.
    pub call: u32,
    pub fd: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FileStatEvent {
    pub h: EventHeader,
    pub ret: i32,
    /// `enum stat_call`: 0 stat, 1 lstat, 2 fstatat, 3 statx, 4 statfs.
    pub call: u32,
    pub path: [u8; PATH_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SecuritySetuidEvent {
    pub h: EventHeader,
    /// `enum setuid_call`: 0 setuid, 1 setfsuid, 2 setresuid, 3 setreuid.
    pub call: u32,
    pub caller_uid: u32,
    pub uid: i32,
    pub euid: i32,
    pub suid: i32,
    pub ret: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProcessForkEvent {
    pub h: EventHeader,
    pub child_pid: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SecurityCapableEvent {
    pub h: EventHeader,
    pub cap: u32,
    pub ret: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MemoryOomKillEvent {
    pub h: EventHeader,
    pub total_vm_kb: u64,
    pub anon_rss_kb: u64,
    pub file_rss_kb: u64,
    pub shmem_rss_kb: u64,
    pub victim_pid: u32,
    pub victim_uid: u32,
    pub oom_score_adj: i32,
    pub _pad: u32,
    pub victim_comm: [u8; COMM_LEN],
}

/// `struct tcp_ends`: local and remote address and port.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TcpEnds {
    /// AF_INET 2 or AF_INET6 10.
    pub family: u16,
    pub sport: u16,
    pub dport: u16,
    pub _pad: u16,
    /// IPv4 in the first 4 bytes.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NetTcpConnectEvent {
    pub h: EventHeader,
    pub ends: TcpEnds,
    pub latency_ns: u64,
    pub established: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NetTcpLifeEvent {
    pub h: EventHeader,
    pub ends: TcpEnds,
    pub duration_ns: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NetTcpRetransmitEvent {
    pub h: EventHeader,
    pub ends: TcpEnds,
    pub state: u32,
    pub _pad: u32,
}

/// net.tcp.accept's and net.tcp.syn-backlog's record.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NetTcpBacklogEvent {
    pub h: EventHeader,
    pub ends: TcpEnds,
    pub backlog: u32,
    pub max_backlog: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NetTcpDropEvent {
    pub h: EventHeader,
    pub ends: TcpEnds,
    pub reason: u32,
    pub tcp_flags: u8,
    pub _pad: [u8; 3],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShellReadlineEvent {
    pub h: EventHeader,
    pub line: [u8; PATH_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ProcessThreadEvent {
    pub h: EventHeader,
    pub start_routine: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FileLatencyEvent {
    pub h: EventHeader,
    pub latency_ns: u64,
    pub ret: i64,
    /// `enum file_op`: 0 read, 1 write, 2 open, 3 fsync.
    pub op: u32,
    pub fd: i32,
    pub fs_type: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MemorySwapinEvent {
    pub h: EventHeader,
    pub sector: u64,
    pub pages: u32,
    pub dev: u32,
}

/// `struct filter`: one per probe in each object's `filters` map.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub enabled: u32,
    pub exclude_tgid: u32,
    pub n_pids: u32,
    pub n_uids: u32,
    pub n_comms: u32,
    pub scope: u32,
    pub pids: [u32; FILTER_MAX],
    pub uids: [u32; FILTER_MAX],
    pub comms: [[u8; COMM_LEN]; FILTER_MAX],
    pub n_cgroups: u32,
    pub _pad: u32,
    pub cgroups: [u64; CGROUPS_MAX],
}

const _: () = assert!(size_of::<EventHeader>() == 64);
const _: () = assert!(size_of::<ProcessExecEvent>() == 64 + 16 + COMM_LEN + PATH_LEN + ARGV_LEN);
const _: () = assert!(size_of::<ProcessExitEvent>() == 80);
const _: () = assert!(size_of::<FileOpenEvent>() == 64 + 24 + PATH_LEN);
const _: () = assert!(size_of::<SyscallEnterEvent>() == 72);
const _: () = assert!(size_of::<SignalKillEvent>() == 80);
const _: () = assert!(size_of::<ProcessSleepEvent>() == 96);
const _: () = assert!(size_of::<FileSyncEvent>() == 72);
const _: () = assert!(size_of::<FileStatEvent>() == 64 + 8 + PATH_LEN);
const _: () = assert!(size_of::<SecuritySetuidEvent>() == 88);
const _: () = assert!(size_of::<ProcessForkEvent>() == 72);
const _: () = assert!(size_of::<SecurityCapableEvent>() == 72);
const _: () = assert!(size_of::<MemoryOomKillEvent>() == 64 + 48 + COMM_LEN);
const _: () = assert!(size_of::<TcpEnds>() == 40);
const _: () = assert!(size_of::<NetTcpConnectEvent>() == 64 + 40 + 16);
const _: () = assert!(size_of::<NetTcpLifeEvent>() == 64 + 40 + 24);
const _: () = assert!(size_of::<NetTcpRetransmitEvent>() == 64 + 40 + 8);
const _: () = assert!(size_of::<NetTcpBacklogEvent>() == 64 + 40 + 8);
const _: () = assert!(size_of::<NetTcpDropEvent>() == 64 + 40 + 8);
const _: () = assert!(size_of::<ShellReadlineEvent>() == 64 + PATH_LEN);
const _: () = assert!(size_of::<ProcessThreadEvent>() == 72);
const _: () = assert!(size_of::<FileLatencyEvent>() == 64 + 24 + 16);
const _: () = assert!(size_of::<MemorySwapinEvent>() == 64 + 16);
const _: () = assert!(size_of::<Filter>() == 24 + 32 + 32 + 128 + 8 + 8 * CGROUPS_MAX);

// SAFETY: plain `repr(C)` integers and byte arrays with explicit padding
// fields: every bit pattern is valid and there are no implicit holes.
unsafe impl aya::Pod for EventHeader {}
unsafe impl aya::Pod for ProcessExecEvent {}
unsafe impl aya::Pod for ProcessExitEvent {}
unsafe impl aya::Pod for FileOpenEvent {}
unsafe impl aya::Pod for SyscallEnterEvent {}
unsafe impl aya::Pod for SignalKillEvent {}
unsafe impl aya::Pod for ProcessSleepEvent {}
unsafe impl aya::Pod for FileSyncEvent {}
unsafe impl aya::Pod for FileStatEvent {}
unsafe impl aya::Pod for SecuritySetuidEvent {}
unsafe impl aya::Pod for ProcessForkEvent {}
unsafe impl aya::Pod for SecurityCapableEvent {}
unsafe impl aya::Pod for MemoryOomKillEvent {}
unsafe impl aya::Pod for NetTcpConnectEvent {}
unsafe impl aya::Pod for NetTcpLifeEvent {}
unsafe impl aya::Pod for NetTcpRetransmitEvent {}
unsafe impl aya::Pod for NetTcpBacklogEvent {}
unsafe impl aya::Pod for NetTcpDropEvent {}
unsafe impl aya::Pod for ShellReadlineEvent {}
unsafe impl aya::Pod for ProcessThreadEvent {}
unsafe impl aya::Pod for FileLatencyEvent {}
unsafe impl aya::Pod for MemorySwapinEvent {}
unsafe impl aya::Pod for Filter {}

/// Reads a record from the front of a ring-buffer item; `None` if it is too short.
pub fn read<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    (bytes.len() >= size_of::<T>())
        // SAFETY: length checked above; `T: Pod` accepts any bit pattern, and
        // `read_unaligned` makes no alignment assumption.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of a NUL-terminated C string field, without the NUL.
pub fn c_str(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// The size of each probe's record: what a recording notes so that a
/// replay can tell records of another layout from its own.
pub fn record_size(probe: ProbeId) -> usize {
    match probe {
        ProbeId::ProcessExec => size_of::<ProcessExecEvent>(),
        ProbeId::ProcessExit => size_of::<ProcessExitEvent>(),
        ProbeId::FileOpen => size_of::<FileOpenEvent>(),
        ProbeId::SyscallEnter => size_of::<SyscallEnterEvent>(),
        ProbeId::SignalKill => size_of::<SignalKillEvent>(),
        ProbeId::ProcessSleep => size_of::<ProcessSleepEvent>(),
        ProbeId::FileSync => size_of::<FileSyncEvent>(),
        ProbeId::FileStat => size_of::<FileStatEvent>(),
        ProbeId::SecuritySetuid => size_of::<SecuritySetuidEvent>(),
        ProbeId::ProcessFork => size_of::<ProcessForkEvent>(),
        ProbeId::SecurityCapable => size_of::<SecurityCapableEvent>(),
        ProbeId::MemoryOomKill => size_of::<MemoryOomKillEvent>(),
        ProbeId::NetTcpConnect => size_of::<NetTcpConnectEvent>(),
        ProbeId::NetTcpLife => size_of::<NetTcpLifeEvent>(),
        ProbeId::NetTcpRetransmit => size_of::<NetTcpRetransmitEvent>(),
        ProbeId::NetTcpAccept | ProbeId::NetTcpSynBacklog => size_of::<NetTcpBacklogEvent>(),
        ProbeId::NetTcpDrop => size_of::<NetTcpDropEvent>(),
        ProbeId::ShellReadline => size_of::<ShellReadlineEvent>(),
        ProbeId::ProcessThread => size_of::<ProcessThreadEvent>(),
        ProbeId::FileLatency => size_of::<FileLatencyEvent>(),
        ProbeId::MemorySwapin => size_of::<MemorySwapinEvent>(),
    }
}
