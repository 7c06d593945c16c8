package wasmtrace

// The WIT enums of the events interface, by the names the tools print.

// KillCall is which of kill, tkill and tgkill.
type KillCall uint8

const (
	Kill KillCall = iota
	Tkill
	Tgkill
)

func (c KillCall) String() string { return enumName(c, "kill", "tkill", "tgkill") }

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

// IPFamily is IPv4 or IPv6.
type IPFamily uint8

const (
	IPv4 IPFamily = iota
	IPv6
)

func (f IPFamily) String() string { return enumName(f, "ipv4", "ipv6") }

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

// FileOp is read, write, open or fsync.
type FileOp uint8

const (
	Read FileOp = iota
	Write
	Open
	FsyncOp
)

func (o FileOp) String() string { return enumName(o, "read", "write", "open", "fsync") }
