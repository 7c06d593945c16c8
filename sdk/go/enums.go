// Code generated from wit/plugin.wit by `cargo xtask`. DO NOT EDIT.

package wasmtrace

// Runtime is a container runtime whose containers wasmtrace names.
type Runtime uint8

const (
	Podman Runtime = iota
	Docker
	Containerd
	CriO
)

// String is its name as the tools print it.
func (v Runtime) String() string { return enumName(v, "podman", "docker", "containerd", "cri-o") }

// KillCall is which of kill, tkill and tgkill.
type KillCall uint8

const (
	Kill KillCall = iota
	Tkill
	Tgkill
)

// String is its name as the tools print it.
func (v KillCall) String() string { return enumName(v, "kill", "tkill", "tgkill") }

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

// String is its name as the tools print it.
func (v SyncCall) String() string {
	return enumName(v, "sync", "syncfs", "fsync", "fdatasync", "sync_file_range", "msync")
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

// String is its name as the tools print it.
func (v StatCall) String() string {
	return enumName(v, "stat", "lstat", "newfstatat", "statx", "statfs")
}

// SetuidCall is which setuid-family system call.
type SetuidCall uint8

const (
	Setuid SetuidCall = iota
	Setfsuid
	Setresuid
	Setreuid
)

// String is its name as the tools print it.
func (v SetuidCall) String() string {
	return enumName(v, "setuid", "setfsuid", "setresuid", "setreuid")
}

// IPFamily is IPv4 or IPv6.
type IPFamily uint8

const (
	IPv4 IPFamily = iota
	IPv6
)

// String is its name as the tools print it.
func (v IPFamily) String() string { return enumName(v, "ipv4", "ipv6") }

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

// String is its name as the tools print it.
func (v TCPState) String() string {
	return enumName(v, "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV")
}

// FileOp is read, write, open or fsync.
type FileOp uint8

const (
	Read FileOp = iota
	Write
	Open
	FsyncOp
)

// String is its name as the tools print it.
func (v FileOp) String() string { return enumName(v, "read", "write", "open", "fsync") }

// QueueReason is how a task came to wait on a run queue.
type QueueReason uint8

const (
	Wakeup QueueReason = iota
	NewTask
	Preempted
)

// String is its name as the tools print it.
func (v QueueReason) String() string { return enumName(v, "wakeup", "new_task", "preempted") }

// TaskState is a task's state as ps shows it (R, S, D, T, t, X, Z, P, I).
type TaskState uint8

const (
	Running TaskState = iota
	Sleeping
	DiskSleep
	Stopped
	Traced
	Dead
	Zombie
	Parked
	Idle
)

// String is its name as the tools print it.
func (v TaskState) String() string {
	return enumName(v, "running", "sleeping", "disk_sleep", "stopped", "traced", "dead", "zombie", "parked", "idle")
}

// BlockOp is a block request's operation (REQ_OP_*).
type BlockOp uint8

const (
	ReadOp BlockOp = iota
	WriteOp
	Flush
	Discard
	SecureErase
	WriteZeroes
	Other
)

// String is its name as the tools print it.
func (v BlockOp) String() string {
	return enumName(v, "read", "write", "flush", "discard", "secure_erase", "write_zeroes", "other")
}

// WritebackReason is why the kernel writes pages back (enum wb_reason).
type WritebackReason uint8

const (
	Background WritebackReason = iota
	Vmscan
	SyncReason
	Periodic
	LaptopTimer
	FsFreeSpace
	ForkerThread
	ForeignFlush
	OtherReason
)

// String is its name as the tools print it.
func (v WritebackReason) String() string {
	return enumName(v, "background", "vmscan", "sync", "periodic", "laptop_timer", "fs_free_space", "forker_thread", "foreign_flush", "other")
}

// DnsCall is a libc name-lookup function.
type DnsCall uint8

const (
	Getaddrinfo DnsCall = iota
	Gethostbyname
	Gethostbyname2
)

// String is its name as the tools print it.
func (v DnsCall) String() string {
	return enumName(v, "getaddrinfo", "gethostbyname", "gethostbyname2")
}

// TlsCall is an OpenSSL libssl function.
type TlsCall uint8

const (
	ReadCall TlsCall = iota
	WriteCall
	ReadEx
	WriteEx
	Handshake
)

// String is its name as the tools print it.
func (v TlsCall) String() string {
	return enumName(v, "SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex", "SSL_do_handshake")
}
