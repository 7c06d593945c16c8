package wasmtrace

import "strings"

// Names a sandboxed plugin cannot look up itself; every language gets the
// same answers from the host.

// SyscallName is the syscall's name on the host's architecture, e.g.
// "openat": what a SyscallEnter's ID means.
func SyscallName(id uint32) (string, bool) { return lookup(hostSyscallName, id) }

// ErrnoName is the errno's symbolic name, e.g. "ENOENT" for 2.
func ErrnoName(code uint32) (string, bool) { return lookup(hostErrnoName, code) }

// UserName is the user's name from the host's passwd database.
func UserName(uid uint32) (string, bool) { return lookup(hostUserName, uid) }

// DropReasonName is the kernel's name for a packet drop reason, e.g.
// "NO_SOCKET" (the numbers differ between kernels).
func DropReasonName(reason uint32) (string, bool) { return lookup(hostDropReasonName, reason) }

// lookup calls a names function, whose option<string> result the host
// writes as (set, address, length).
func lookup(call func(key, result uint32), key uint32) (string, bool) {
	var result struct{ set, addr, len uint32 }
	call(key, addrOf(&result))
	if result.set == 0 {
		return "", false
	}
	// A copy: a name is kept, and the host's block is a call's arena.
	return strings.Clone(stringAt(addrOf(&result.addr))), true
}
