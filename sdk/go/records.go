// Code generated from wit/plugin.wit by `cargo xtask`. DO NOT EDIT.

package wasmtrace

// ProcessExec is process.exec: execve or execveat returned.
type ProcessExec struct {
	// The command name before the exec: the program that ran this one
	// (after a fork, the parent's name).
	CallerComm Text
	// The path passed to execve, at most 255 bytes.
	Filename Text
	// The arguments, argv[0] first, as far as they fit: at most 32, 1 KiB in all
	// (see argv-truncated).
	Argv []Text
	// More arguments were passed than the probe keeps.
	ArgvTruncated bool
	// 0 on success, or -errno.
	Ret int32
}

// ProcessExit is process.exit: a process (its thread-group leader) exited.
type ProcessExit struct {
	// The exit status (exit(2)'s argument), when not killed by a signal.
	ExitCode uint32
	// The signal that killed it, or 0.
	Signal uint32
	// Whether it dumped core.
	CoreDumped bool
	// Time from the process's start to its exit.
	LifetimeNs uint64
}

// FileOpen is file.open: open, openat or openat2 returned.
type FileOpen struct {
	// The path as passed, at most 255 bytes (relative paths are relative to dfd).
	Path Text
	// Open flags (O_RDONLY, O_CREAT, ...).
	Flags uint32
	// Mode for created files.
	Mode uint32
	// The directory fd a relative path is relative to; -100 (AT_FDCWD) for the
	// working directory.
	Dfd int32
	// The new fd, or -errno.
	Ret int64
}

// SyscallEnter is syscall.enter: any system call was entered.
type SyscallEnter struct {
	// The architecture's syscall number (the names.syscall import names it).
	ID uint32
}

// SignalKill is signal.kill: kill, tkill or tgkill returned.
type SignalKill struct {
	// Which call: kill, tkill or tgkill.
	Call KillCall
	// The target: kill's pid (0: the caller's process group, -1: every process it
	// may signal, below -1: the process group -target), or tkill and tgkill's
	// thread id.
	Target int32
	// The signal number (0 only checks that the target exists).
	Signal uint32
	// 0 on success, or -errno.
	Ret int32
}

// ProcessSleep is process.sleep: nanosleep or clock_nanosleep was entered.
type ProcessSleep struct {
	// The requested time; with absolute, the wake-up time on clock.
	DurationNs uint64
	// The clock (CLOCK_REALTIME 0, CLOCK_MONOTONIC 1, ...); nanosleep's is 1.
	Clock uint32
	// TIMER_ABSTIME was given: duration-ns is a point in time, not a duration.
	Absolute bool
	// The parent process's command name.
	ParentComm Text
}

// FileSync is file.sync: a sync-family system call was entered.
type FileSync struct {
	// Which call: sync, syncfs, fsync, fdatasync, sync-file-range or msync.
	Call SyncCall
	// The file descriptor, or -1 for sync and msync.
	Fd int32
}

// FileStat is file.stat: stat, lstat, fstatat, statx or statfs returned.
type FileStat struct {
	// Which call: stat, lstat, fstatat, statx or statfs.
	Call StatCall
	// The path as passed, at most 255 bytes (for fstatat and statx, a relative
	// path is relative to their directory fd).
	Path Text
	// 0 on success, or -errno.
	Ret int32
}

// SecuritySetuid is security.setuid: setuid, setfsuid, setresuid or setreuid returned.
type SecuritySetuid struct {
	// Which call: setuid, setfsuid, setresuid or setreuid.
	Call SetuidCall
	// The caller's uid before the call.
	CallerUID uint32
	// The uid of setuid and setfsuid; the real uid of setresuid and setreuid
	// (-1: unchanged).
	UID int32
	// The effective uid of setresuid and setreuid (-1: unchanged or not given).
	EUID int32
	// The saved uid of setresuid (-1: unchanged or not given).
	SUID int32
	// 0 on success, or -errno; setfsuid returns the previous fsuid.
	Ret int32
}

// ProcessFork is process.fork: a task was created (a process, or a thread). The
// header is the parent.
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

// MemoryOomKill is memory.oom-kill: the OOM killer chose a victim. The header is the
// task whose allocation triggered it.
type MemoryOomKill struct {
	// The pid of the process to be killed.
	VictimPid uint32
	// Its command name (empty before Linux 6.x, whose tracepoint gives only the pid).
	VictimComm Text
	// Its user id (0 before Linux 6.x).
	VictimUID uint32
	// Its virtual memory, in KiB (0 before Linux 6.x).
	TotalVMKb uint64
	// Its anonymous resident memory, in KiB (0 before Linux 6.x).
	AnonRssKb uint64
	// Its file-backed resident memory, in KiB (0 before Linux 6.x).
	FileRssKb uint64
	// Its shared-memory resident memory, in KiB (0 before Linux 6.x).
	ShmemRssKb uint64
	// Its oom_score_adj (0 before Linux 6.x).
	OomScoreAdj int32
}

// NetTCPConnect is net.tcp.connect: an outgoing TCP connection was established or
// failed. The header is the task that called connect().
type NetTCPConnect struct {
	// The connection's two ends: family, local and remote address and port.
	Ends TCPEnds
	// False when it was refused, reset or timed out.
	Established bool
	// From the SYN to the answer.
	LatencyNs uint64
}

// NetTCPLife is net.tcp.life: a TCP connection closed. The header is the task that
// opened it with connect(), or else the one that closed it.
type NetTCPLife struct {
	// The connection's two ends: family, local and remote address and port.
	Ends TCPEnds
	// From the first SYN to the close.
	DurationNs uint64
	// Bytes received (tcp_sock.bytes_received).
	RxBytes uint64
	// Bytes sent and acknowledged (tcp_sock.bytes_acked).
	TxBytes uint64
}

// NetTCPRetransmit is net.tcp.retransmit: a TCP segment was sent again. The header is
// whatever task the CPU was running (retransmits come from timers).
type NetTCPRetransmit struct {
	// The connection's two ends: family, local and remote address and port.
	Ends TCPEnds
	// The connection's TCP state (syn-sent for a SYN sent again).
	State TCPState
}

// NetTCPAccept is net.tcp.accept: accept() returned a TCP connection. The header is
// the task that accepted it.
type NetTCPAccept struct {
	// The connection's two ends: family, local (the listener's) and remote (the
	// client's) address and port.
	Ends TCPEnds
	// Connections still waiting on the listener after this one.
	Backlog uint32
	// The listener's listen() backlog.
	MaxBacklog uint32
}

// NetTCPDrop is net.tcp.drop: the kernel dropped a TCP packet. The header is
// whatever task the CPU was running (drops happen in softirq).
type NetTCPDrop struct {
	// The packet's ends: family, saddr/sport its source, daddr/dport its
	// destination (not local and remote).
	Ends TCPEnds
	// The packet's TCP flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10.
	TCPFlags uint8
	// The kernel's drop reason (names.drop-reason names it: NO_SOCKET,
	// TCP_LISTEN_OVERFLOW, ...); 0 before Linux 5.17.
	Reason uint32
}

// ShellReadline is shell.readline: bash read a command line (its readline() returned).
type ShellReadline struct {
	// The line, at most 255 bytes.
	Line Text
}

// ProcessThread is process.thread: a thread is being created with pthread_create().
// The header is the creating thread.
type ProcessThread struct {
	// The new thread's function: an address in the process (plugins cannot
	// resolve it to a name).
	StartRoutine uint64
}

// NetTCPSynBacklog is net.tcp.syn-backlog: a handshake completed on a listener, whose
// backlog it joins. The header is whatever task the CPU was running.
type NetTCPSynBacklog struct {
	// The new connection's two ends: family, local (the listener's) and remote
	// (the client's) address and port.
	Ends TCPEnds
	// Connections already waiting on the listener.
	Backlog uint32
	// The listener's listen() backlog.
	MaxBacklog uint32
}

// FileLatency is file.latency: a read, write, open or fsync returned, timed from its
// start, with the file system it went to.
type FileLatency struct {
	// The operation: read (read, pread64), write (write, pwrite64), open
	// (openat) or fsync (fsync, fdatasync).
	Op FileOp
	// The file system's name: ext4, xfs, btrfs, tmpfs, proc, ...
	FsType Text
	// From the call's entry to its return.
	LatencyNs uint64
	// The file descriptor (for open, the new one).
	Fd int32
	// Bytes read or written, the new fd, or -errno.
	Ret int64
}

// MemorySwapin is memory.swapin: pages were read back from a swap partition. The
// header is the task whose page fault needed them.
type MemorySwapin struct {
	// Pages read (swap readahead reads several at once).
	Pages uint32
	// The swap device, as major:minor.
	Device Text
}

// FileUnlink is file.unlink: unlink, unlinkat or rmdir returned: a file or a folder
// was removed (or was not: see ret).
type FileUnlink struct {
	// The path as passed, at most 255 bytes (relative paths are relative to dfd).
	Path Text
	// The directory fd a relative path is relative to; -100 (AT_FDCWD) for the
	// working directory.
	Dfd int32
	// AT_REMOVEDIR (0x200) when a folder is removed (rmdir).
	Flags uint32
	// 0 on success, or -errno.
	Ret int32
}

// SyscallCount is syscall.count: system calls counted in the kernel. One event per
// process, syscall and command name per interval, sent at its end; the
// header is the first call's, but for the timestamp (when the counts
// were read).
type SyscallCount struct {
	// The architecture's syscall number (the names.syscall import names it).
	ID uint32
	// Calls made in the interval.
	Count uint64
}

// SchedRunqLatency is sched.runq-latency: a task got a CPU after waiting on a run queue.
// The header is that task, on the CPU it now runs on.
type SchedRunqLatency struct {
	// Time from when it became runnable to when it ran: its run-queue latency.
	LatencyNs uint64
	// How it became runnable.
	QueuedBy QueueReason
	// The thread it took the CPU from: 0 when the CPU was idle (prev-comm
	// is then swapper/N), or when it was wasmtrace's own, which is left out
	// (prev-comm is then empty).
	PrevTid uint32
	// That thread's command name.
	PrevComm Text
	// The state that thread left the CPU in: running when it was preempted
	// (or yielded), else why it stopped running (sleeping, disk-sleep, ...).
	PrevState TaskState
}

// BlockIo is block.io: a block device finished a request (as biosnoop and
// biolatency see it). The header is the task that submitted it, on the
// CPU it submitted from; its time is the completion's. I/O that the kernel
// writes back for a process is a kernel worker's (kworker/...), as in
// biosnoop.
type BlockIo struct {
	// The disk's name (vda, nvme0n1, loop0), of the whole disk even
	// when the request is for one of its partitions.
	Disk Text
	// The disk's device number, major part.
	Major uint32
	// The disk's device number, minor part (its first minor).
	Minor uint32
	// What the request does.
	Op BlockOp
	// REQ_SYNC: someone waits for it.
	Sync bool
	// REQ_META: file system metadata.
	Meta bool
	// REQ_FUA: forced unit access, written through the disk's cache.
	Fua bool
	// REQ_PREFLUSH: the disk's cache is flushed before it.
	Preflush bool
	// REQ_RAHEAD: read-ahead, which the kernel may drop.
	Readahead bool
	// The first sector (512 bytes each, whatever the disk's block size),
	// from the start of the whole disk.
	Sector uint64
	// Its size in bytes (0 for a flush).
	Bytes uint32
	// Time from its insertion into the I/O scheduler to its issue to the
	// driver; 0 when it was issued directly (no scheduler, or one that
	// let it pass).
	QueuedNs uint64
	// Time from its issue to the driver to its completion: the device's time.
	ServiceNs uint64
	// 0 on success, else the error the kernel reports to the submitter
	// (-EIO, -ETIMEDOUT, -ENOSPC, ...).
	Error int32
}

// BlockWriteback is block.writeback: the kernel's flusher finished a pass writing a backing
// device's dirty pages back (as writeback.bt prints them). The header is
// the flusher, a kernel worker (kworker/u8:2).
type BlockWriteback struct {
	// The backing device, as the kernel names it (254:0; btrfs-1).
	Device Text
	// The file system's device number, major part; 0 with sb-minor 0 for
	// a pass over every file system of the device.
	SbMajor uint32
	// The file system's device number, minor part.
	SbMinor uint32
	// Pages written in the pass.
	Pages uint64
	// Time the pass took.
	LatencyNs uint64
	// Why the kernel wrote back.
	Reason WritebackReason
	// A data-integrity pass (WB_SYNC_ALL: sync, syncfs), which waits on
	// every page; else one that writes what it can (WB_SYNC_NONE).
	SyncAll bool
	// A background pass: dirty memory passed its background threshold.
	Background bool
}

// NetDns is net.dns: a process looked a host name up through libc (getaddrinfo,
// gethostbyname, gethostbyname2), from call to return, as gethostlatency
// sees it. The header is the calling thread.
type NetDns struct {
	// The name looked up, as the caller passed it (at most 255 bytes).
	Host Text
	// Which function.
	Call DnsCall
	// Time from the call to its return: the lookup's latency.
	LatencyNs uint64
	// getaddrinfo: its return, 0 or an EAI_ code (-2 EAI_NONAME, -3
	// EAI_AGAIN, -8 EAI_SERVICE, ...); gethostbyname and gethostbyname2:
	// 0 when they returned an entry, -1 when not.
	Error int32
}

// NetTls is net.tls: a process read, wrote or shook hands through OpenSSL's libssl
// (SSL_read, SSL_write, their _ex forms, SSL_do_handshake), from call to
// return, as sslsnoop and ssllatency see it. Sizes only: the data is
// never read (it is what TLS protects). The header is the calling thread.
type NetTls struct {
	// Which function.
	Call TlsCall
	// Time from the call to its return.
	LatencyNs uint64
	// Bytes read or written: SSL_read's and SSL_write's positive return,
	// or the count the _ex forms report; 0 for a handshake or a failure.
	Bytes uint64
	// The size the caller asked to read or write; 0 for a handshake.
	Requested uint64
	// The function's return: SSL_read and SSL_write, bytes or 0 and below
	// on failure; the _ex forms and SSL_do_handshake, 1 on success.
	Ret int32
}

// CPUSample is cpu.sample: a CPU was sampled, at the probe's frequency on every CPU
// (99 Hz unless its [probe] table sets frequency), as bpftrace's
// profile:hz. The header is the task the sample interrupted, on that
// CPU: pid 0 (swapper/N) when the CPU was idle.
type CPUSample struct {
	// It was running user code; else kernel code (or the CPU was idle).
	User bool
	// The tasks runnable on that CPU then, the interrupted one included:
	// the run queue's length is one less (0 when idle; 0 also on kernels
	// without group scheduling, where it is not read).
	Runnable uint32
}

// TCPEnds is the two ends of a TCP connection.
type TCPEnds struct {
	// The address family: ipv4 or ipv6.
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
func (*SyscallCount) Probe() string     { return "syscall.count" }
func (*SchedRunqLatency) Probe() string { return "sched.runq-latency" }
func (*BlockIo) Probe() string          { return "block.io" }
func (*BlockWriteback) Probe() string   { return "block.writeback" }
func (*NetDns) Probe() string           { return "net.dns" }
func (*NetTls) Probe() string           { return "net.tls" }
func (*CPUSample) Probe() string        { return "cpu.sample" }

// tcpEnds reads a tcp-ends record: aligned to 4, and as long as a multiple of 4.
func (c *cursor) tcpEnds() TCPEnds {
	c.align(4)
	v := TCPEnds{Family: IPFamily(c.u8()), Saddr: c.text(), Sport: c.u16(), Daddr: c.text(), Dport: c.u16()}
	c.align(4)
	return v
}

// One record per probe, reused from event to event.
var bodies struct {
	processExec      ProcessExec
	processExit      ProcessExit
	fileOpen         FileOpen
	syscallEnter     SyscallEnter
	signalKill       SignalKill
	processSleep     ProcessSleep
	fileSync         FileSync
	fileStat         FileStat
	securitySetuid   SecuritySetuid
	processFork      ProcessFork
	securityCapable  SecurityCapable
	memoryOomKill    MemoryOomKill
	netTCPConnect    NetTCPConnect
	netTCPLife       NetTCPLife
	netTCPRetransmit NetTCPRetransmit
	netTCPAccept     NetTCPAccept
	netTCPDrop       NetTCPDrop
	shellReadline    ShellReadline
	processThread    ProcessThread
	netTCPSynBacklog NetTCPSynBacklog
	fileLatency      FileLatency
	memorySwapin     MemorySwapin
	fileUnlink       FileUnlink
	syscallCount     SyscallCount
	schedRunqLatency SchedRunqLatency
	blockIo          BlockIo
	blockWriteback   BlockWriteback
	netDns           NetDns
	netTls           NetTls
	cpuSample        CPUSample
}

// liftBody reads the body at addr: its case (a byte), then its record.
func liftBody(addr uint32) Body {
	c := cursor(addr + bodyPayload)
	switch u8At(addr) {
	case 0:
		b := &bodies.processExec
		*b = ProcessExec{CallerComm: c.text(), Filename: c.text(), Argv: c.texts(), ArgvTruncated: c.bool(), Ret: c.s32()}
		return b
	case 1:
		b := &bodies.processExit
		*b = ProcessExit{ExitCode: c.u32(), Signal: c.u32(), CoreDumped: c.bool(), LifetimeNs: c.u64()}
		return b
	case 2:
		b := &bodies.fileOpen
		*b = FileOpen{Path: c.text(), Flags: c.u32(), Mode: c.u32(), Dfd: c.s32(), Ret: c.s64()}
		return b
	case 3:
		b := &bodies.syscallEnter
		*b = SyscallEnter{ID: c.u32()}
		return b
	case 4:
		b := &bodies.signalKill
		*b = SignalKill{Call: KillCall(c.u8()), Target: c.s32(), Signal: c.u32(), Ret: c.s32()}
		return b
	case 5:
		b := &bodies.processSleep
		*b = ProcessSleep{DurationNs: c.u64(), Clock: c.u32(), Absolute: c.bool(), ParentComm: c.text()}
		return b
	case 6:
		b := &bodies.fileSync
		*b = FileSync{Call: SyncCall(c.u8()), Fd: c.s32()}
		return b
	case 7:
		b := &bodies.fileStat
		*b = FileStat{Call: StatCall(c.u8()), Path: c.text(), Ret: c.s32()}
		return b
	case 8:
		b := &bodies.securitySetuid
		*b = SecuritySetuid{Call: SetuidCall(c.u8()), CallerUID: c.u32(), UID: c.s32(), EUID: c.s32(), SUID: c.s32(), Ret: c.s32()}
		return b
	case 9:
		b := &bodies.processFork
		*b = ProcessFork{ChildPid: c.u32()}
		return b
	case 10:
		b := &bodies.securityCapable
		*b = SecurityCapable{Cap: c.u32(), Ret: c.s32()}
		return b
	case 11:
		b := &bodies.memoryOomKill
		*b = MemoryOomKill{VictimPid: c.u32(), VictimComm: c.text(), VictimUID: c.u32(), TotalVMKb: c.u64(), AnonRssKb: c.u64(), FileRssKb: c.u64(), ShmemRssKb: c.u64(), OomScoreAdj: c.s32()}
		return b
	case 12:
		b := &bodies.netTCPConnect
		*b = NetTCPConnect{Ends: c.tcpEnds(), Established: c.bool(), LatencyNs: c.u64()}
		return b
	case 13:
		b := &bodies.netTCPLife
		*b = NetTCPLife{Ends: c.tcpEnds(), DurationNs: c.u64(), RxBytes: c.u64(), TxBytes: c.u64()}
		return b
	case 14:
		b := &bodies.netTCPRetransmit
		*b = NetTCPRetransmit{Ends: c.tcpEnds(), State: TCPState(c.u8())}
		return b
	case 15:
		b := &bodies.netTCPAccept
		*b = NetTCPAccept{Ends: c.tcpEnds(), Backlog: c.u32(), MaxBacklog: c.u32()}
		return b
	case 16:
		b := &bodies.netTCPDrop
		*b = NetTCPDrop{Ends: c.tcpEnds(), TCPFlags: c.u8(), Reason: c.u32()}
		return b
	case 17:
		b := &bodies.shellReadline
		*b = ShellReadline{Line: c.text()}
		return b
	case 18:
		b := &bodies.processThread
		*b = ProcessThread{StartRoutine: c.u64()}
		return b
	case 19:
		b := &bodies.netTCPSynBacklog
		*b = NetTCPSynBacklog{Ends: c.tcpEnds(), Backlog: c.u32(), MaxBacklog: c.u32()}
		return b
	case 20:
		b := &bodies.fileLatency
		*b = FileLatency{Op: FileOp(c.u8()), FsType: c.text(), LatencyNs: c.u64(), Fd: c.s32(), Ret: c.s64()}
		return b
	case 21:
		b := &bodies.memorySwapin
		*b = MemorySwapin{Pages: c.u32(), Device: c.text()}
		return b
	case 22:
		b := &bodies.fileUnlink
		*b = FileUnlink{Path: c.text(), Dfd: c.s32(), Flags: c.u32(), Ret: c.s32()}
		return b
	case 23:
		b := &bodies.syscallCount
		*b = SyscallCount{ID: c.u32(), Count: c.u64()}
		return b
	case 24:
		b := &bodies.schedRunqLatency
		*b = SchedRunqLatency{LatencyNs: c.u64(), QueuedBy: QueueReason(c.u8()), PrevTid: c.u32(), PrevComm: c.text(), PrevState: TaskState(c.u8())}
		return b
	case 25:
		b := &bodies.blockIo
		*b = BlockIo{Disk: c.text(), Major: c.u32(), Minor: c.u32(), Op: BlockOp(c.u8()), Sync: c.bool(), Meta: c.bool(), Fua: c.bool(), Preflush: c.bool(), Readahead: c.bool(), Sector: c.u64(), Bytes: c.u32(), QueuedNs: c.u64(), ServiceNs: c.u64(), Error: c.s32()}
		return b
	case 26:
		b := &bodies.blockWriteback
		*b = BlockWriteback{Device: c.text(), SbMajor: c.u32(), SbMinor: c.u32(), Pages: c.u64(), LatencyNs: c.u64(), Reason: WritebackReason(c.u8()), SyncAll: c.bool(), Background: c.bool()}
		return b
	case 27:
		b := &bodies.netDns
		*b = NetDns{Host: c.text(), Call: DnsCall(c.u8()), LatencyNs: c.u64(), Error: c.s32()}
		return b
	case 28:
		b := &bodies.netTls
		*b = NetTls{Call: TlsCall(c.u8()), LatencyNs: c.u64(), Bytes: c.u64(), Requested: c.u64(), Ret: c.s32()}
		return b
	case 29:
		b := &bodies.cpuSample
		*b = CPUSample{User: c.bool(), Runnable: c.u32()}
		return b
	}
	return nil
}

// A body is the variant's case (a byte), then its record at bodyPayload.
const (
	bodySize    = 72
	bodyPayload = 8
)

// Where a batch record's fields are.
const (
	batchSize       = 128
	batchHeaders    = 0
	batchBodies     = 96
	batchComms      = 104
	batchText       = 112
	batchContainers = 120
)

// Where a headers record's fields are.
const (
	headersSize        = 96
	headersTimestampNs = 0
	headersCPU         = 8
	headersPid         = 16
	headersTid         = 24
	headersPpid        = 32
	headersUID         = 40
	headersGID         = 48
	headersComm        = 56
	headersCgroupID    = 64
	headersContainer   = 72
	headersKernelStack = 80
	headersUserStack   = 88
)

// Where a container record's fields are.
const (
	containerSize     = 56
	containerRuntime  = 0
	containerID       = 4
	containerName     = 12
	containerImage    = 20
	containerPod      = 28
	containerPodValue = 32
)

// Where a pod record's fields are.
const (
	podSize      = 24
	podNamespace = 0
	podName      = 8
	podContainer = 16
)
