package wasmtrace

// Each probe's record, in the WIT's words (wit/plugin.wit, interface
// events): the field order here is the layout the host writes, so a field
// added there is added here in the same place.

// ProcessExec is process.exec: execve or execveat returned.
type ProcessExec struct {
	// The command name before the exec: the program that ran this one.
	CallerComm Text
	// The path passed to execve.
	Filename Text
	// The arguments, argv[0] first, as far as they fit.
	Argv []Text
	// More arguments were passed than the probe keeps.
	ArgvTruncated bool
	// 0 on success, or -errno.
	Ret int32
}

// ProcessExit is process.exit: a process (its thread-group leader) exited.
type ProcessExit struct {
	// The exit status, when not killed by a signal.
	ExitCode uint32
	// The signal that killed it, or 0.
	Signal     uint32
	CoreDumped bool
	// Time from the process's start to its exit.
	LifetimeNs uint64
}

// FileOpen is file.open: open, openat or openat2 returned.
type FileOpen struct {
	// The path as passed (relative paths are relative to Dfd).
	Path Text
	// Open flags (O_RDONLY, O_CREAT, ...).
	Flags uint32
	// Mode for created files.
	Mode uint32
	// The directory fd; -100 (AT_FDCWD) for the working directory.
	Dfd int32
	// The new fd, or -errno.
	Ret int64
}

// SyscallEnter is syscall.enter: any system call was entered.
type SyscallEnter struct {
	// The architecture's syscall number (SyscallName names it).
	ID uint32
}

// KillCall is which of kill, tkill and tgkill.
type KillCall uint8

const (
	Kill KillCall = iota
	Tkill
	Tgkill
)

func (c KillCall) String() string { return enumName(c, "kill", "tkill", "tgkill") }

// SignalKill is signal.kill: kill, tkill or tgkill returned.
type SignalKill struct {
	Call KillCall
	// kill's pid (0: the caller's group, -1: every process it may signal,
	// below -1: that process group), or tkill/tgkill's thread id.
	Target int32
	// The signal number (0 only checks that the target exists).
	Signal uint32
	// 0 on success, or -errno.
	Ret int32
}

// ProcessSleep is process.sleep: nanosleep or clock_nanosleep was entered.
type ProcessSleep struct {
	// The requested time; with Absolute, the wake-up time on Clock.
	DurationNs uint64
	// The clock (CLOCK_REALTIME 0, CLOCK_MONOTONIC 1, ...); nanosleep's is 1.
	Clock uint32
	// TIMER_ABSTIME: DurationNs is a point in time, not a duration.
	Absolute bool
	// The parent process's command name.
	ParentComm Text
}

// SyncCall is which sync-family system call.
type SyncCall uint8

const (
	Sync SyncCall = iota
	Syncfs
	Fsync
	Fdatasync
	SyncFileRange
	Msync
)

func (c SyncCall) String() string {
	return enumName(c, "sync", "syncfs", "fsync", "fdatasync", "sync_file_range", "msync")
}

// FileSync is file.sync: a sync-family system call was entered.
type FileSync struct {
	Call SyncCall
	// The file descriptor, or -1 for sync and msync.
	Fd int32
}

// StatCall is which stat-family system call.
type StatCall uint8

const (
	Stat StatCall = iota
	Lstat
	Fstatat
	Statx
	Statfs
)

// String is the system call's name as strace shows it (fstatat is newfstatat).
func (c StatCall) String() string {
	return enumName(c, "stat", "lstat", "newfstatat", "statx", "statfs")
}

// FileStat is file.stat: stat, lstat, fstatat, statx or statfs returned.
type FileStat struct {
	Call StatCall
	// The path as passed (fstatat and statx: relative to their directory fd).
	Path Text
	// 0 on success, or -errno.
	Ret int32
}

// SetuidCall is which setuid-family system call.
type SetuidCall uint8

const (
	Setuid SetuidCall = iota
	Setfsuid
	Setresuid
	Setreuid
)

func (c SetuidCall) String() string {
	return enumName(c, "setuid", "setfsuid", "setresuid", "setreuid")
}

// SecuritySetuid is security.setuid: setuid, setfsuid, setresuid or setreuid returned.
type SecuritySetuid struct {
	Call SetuidCall
	// The caller's uid before the call.
	CallerUID uint32
	// setuid and setfsuid's uid; setresuid and setreuid's real uid (-1: unchanged).
	UID int32
	// setresuid and setreuid's effective uid (-1: unchanged or not given).
	EUID int32
	// setresuid's saved uid (-1: unchanged or not given).
	SUID int32
	// 0 on success, or -errno; setfsuid returns the previous fsuid.
	Ret int32
}

// ProcessFork is process.fork: a task was created. The header is the parent.
type ProcessFork struct {
	// The new task's id: its pid, or its thread id for a thread.
	ChildPid uint32
}

// SecurityCapable is security.capable: the kernel checked a capability of the task.
type SecurityCapable struct {
	// The capability's number (CAP_CHOWN 0, ..., CAP_SYS_ADMIN 21, ...).
	Cap uint32
	// 0 when the task has it, else -EPERM.
	Ret int32
}

// MemoryOomKill is memory.oom-kill: the OOM killer chose a victim. The
// header is the task whose allocation triggered it.
type MemoryOomKill struct {
	VictimPid uint32
	// Empty on kernels before 6.x, whose tracepoint lacks it (so do the sizes).
	VictimComm  Text
	VictimUID   uint32
	TotalVMKb   uint64
	AnonRssKb   uint64
	FileRssKb   uint64
	ShmemRssKb  uint64
	OomScoreAdj int32
}

// IPFamily is IPv4 or IPv6.
type IPFamily uint8

const (
	IPv4 IPFamily = iota
	IPv6
)

func (f IPFamily) String() string { return enumName(f, "ipv4", "ipv6") }

// TCPEnds are the two ends of a TCP connection.
type TCPEnds struct {
	Family IPFamily
	// Local address, as text ("127.0.0.1", "::1", "::ffff:10.0.0.1").
	Saddr Text
	// Local port.
	Sport uint16
	// Remote address, as text.
	Daddr Text
	// Remote port.
	Dport uint16
}

// TCPState is a TCP state, as the kernel names it.
type TCPState uint8

const (
	Established TCPState = iota
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
	NewSynRecv
)

// String is the kernel's name without its TCP_, as tcpretrans prints it.
func (s TCPState) String() string {
	return enumName(s, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
		"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV")
}

// NetTCPConnect is net.tcp.connect: an outgoing TCP connection was
// established or failed. The header is the task that called connect().
type NetTCPConnect struct {
	Ends TCPEnds
	// False when it was refused, reset or timed out.
	Established bool
	// From the SYN to the answer.
	LatencyNs uint64
}

// NetTCPLife is net.tcp.life: a TCP connection closed. The header is the
// task that opened it with connect(), or else the one that closed it.
type NetTCPLife struct {
	Ends       TCPEnds
	DurationNs uint64
	RxBytes    uint64
	TxBytes    uint64
}

// NetTCPRetransmit is net.tcp.retransmit: a TCP segment was sent again.
// The header is whatever task the CPU was running.
type NetTCPRetransmit struct {
	Ends  TCPEnds
	State TCPState
}

// NetTCPAccept is net.tcp.accept: accept() returned a TCP connection. The
// header is the task that accepted it.
type NetTCPAccept struct {
	// Local: the listening address and port; remote: the client.
	Ends TCPEnds
	// Connections still waiting on the listener after this one.
	Backlog uint32
	// The listener's listen() backlog.
	MaxBacklog uint32
}

// NetTCPDrop is net.tcp.drop: the kernel dropped a TCP packet. The header
// is whatever task the CPU was running.
type NetTCPDrop struct {
	// As in the packet: Saddr/Sport its source, Daddr/Dport its destination.
	Ends TCPEnds
	// The packet's TCP flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10.
	TCPFlags uint8
	// The kernel's drop reason (DropReasonName names it), 0 before Linux 5.17.
	Reason uint32
}

// ShellReadline is shell.readline: bash read a command line.
type ShellReadline struct {
	// The line, at most 255 bytes.
	Line Text
}

// ProcessThread is process.thread: a thread is being created with
// pthread_create(). The header is the creating thread.
type ProcessThread struct {
	// The new thread's function: an address in the process.
	StartRoutine uint64
}

// NetTCPSynBacklog is net.tcp.syn-backlog: a handshake completed on a
// listener, whose backlog it joins.
type NetTCPSynBacklog struct {
	// The new connection; local is the listener's address and port.
	Ends TCPEnds
	// Connections already waiting on the listener.
	Backlog uint32
	// The listener's listen() backlog.
	MaxBacklog uint32
}

// FileOp is read, write, open or fsync.
type FileOp uint8

const (
	Read FileOp = iota
	Write
	Open
	FsyncOp
)

func (o FileOp) String() string { return enumName(o, "read", "write", "open", "fsync") }

// FileLatency is file.latency: a read, write, open or fsync returned,
// timed from its start, with the file system it went to.
type FileLatency struct {
	Op FileOp
	// The file system's name: ext4, xfs, btrfs, tmpfs, proc, ...
	FsType    Text
	LatencyNs uint64
	// The file descriptor (for open, the new one).
	Fd int32
	// Bytes read or written, the new fd, or -errno.
	Ret int64
}

// MemorySwapin is memory.swapin: pages were read back from a swap
// partition. The header is the task whose page fault needed them.
type MemorySwapin struct {
	// Pages read (swap readahead reads several at once).
	Pages uint32
	// The swap device, as major:minor.
	Device Text
}

// FileUnlink is file.unlink: unlink, unlinkat or rmdir returned.
type FileUnlink struct {
	// The path as passed (relative paths are relative to Dfd).
	Path Text
	// The directory fd; -100 (AT_FDCWD) for the working directory.
	Dfd int32
	// AT_REMOVEDIR (0x200) when a folder is removed (rmdir).
	Flags uint32
	// 0 on success, or -errno.
	Ret int32
}

func (*ProcessExec) Probe() string      { return "process.exec" }
func (*ProcessExit) Probe() string      { return "process.exit" }
func (*FileOpen) Probe() string         { return "file.open" }
func (*SyscallEnter) Probe() string     { return "syscall.enter" }
func (*SignalKill) Probe() string       { return "signal.kill" }
func (*ProcessSleep) Probe() string     { return "process.sleep" }
func (*FileSync) Probe() string         { return "file.sync" }
func (*FileStat) Probe() string         { return "file.stat" }
func (*SecuritySetuid) Probe() string   { return "security.setuid" }
func (*ProcessFork) Probe() string      { return "process.fork" }
func (*SecurityCapable) Probe() string  { return "security.capable" }
func (*MemoryOomKill) Probe() string    { return "memory.oom-kill" }
func (*NetTCPConnect) Probe() string    { return "net.tcp.connect" }
func (*NetTCPLife) Probe() string       { return "net.tcp.life" }
func (*NetTCPRetransmit) Probe() string { return "net.tcp.retransmit" }
func (*NetTCPAccept) Probe() string     { return "net.tcp.accept" }
func (*NetTCPDrop) Probe() string       { return "net.tcp.drop" }
func (*ShellReadline) Probe() string    { return "shell.readline" }
func (*ProcessThread) Probe() string    { return "process.thread" }
func (*NetTCPSynBacklog) Probe() string { return "net.tcp.syn-backlog" }
func (*FileLatency) Probe() string      { return "file.latency" }
func (*MemorySwapin) Probe() string     { return "memory.swapin" }
func (*FileUnlink) Probe() string       { return "file.unlink" }
