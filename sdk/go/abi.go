package wasmtrace

// The canonical ABI by hand: what `wit-bindgen go` would generate, written
// against the standard library only. Addresses are 32-bit offsets into the
// module's linear memory; Go's collector does not move objects, so the
// address of a live Go value stays valid.

import "unsafe"

// Memory the host asked for while lowering a call's arguments or an
// import's results. It lives until the call returns; Go values that alias
// it (strings, header columns) keep their part alive after that.
var arena [][]uint64

// The host's allocator for lists and strings it passes in. It is exported
// under the two names wit-component gives exports and imports, not as
// `cabi_realloc`: wit-component would hand that one to the WASI adapter,
// which calls it before Go's runtime has started.
//
//go:wasmexport cabi_export_realloc
func exportRealloc(old, oldSize, align, size uint32) uint32 {
	return realloc(old, oldSize, align, size)
}

//go:wasmexport cabi_import_realloc
func importRealloc(old, oldSize, align, size uint32) uint32 {
	return realloc(old, oldSize, align, size)
}

// allocating is the word the WASI adapter (adapter/adapter.wat) reads: set
// while the host has the plugin allocate, when a call out of the plugin
// traps. Go's allocator reads the clock; the adapter answers from memory.
const allocating = 8224

func realloc(old, oldSize, align, size uint32) uint32 {
	if size == 0 {
		return align
	}
	*(*uint32)(at(allocating)) = 1
	defer func() { *(*uint32)(at(allocating)) = 0 }()
	// Words, so that every block is 8-byte aligned (no WIT type needs more).
	block := make([]uint64, (size+7)/8)
	arena = append(arena, block)
	p := unsafe.Pointer(&block[0])
	if old != 0 {
		copy(unsafe.Slice((*byte)(p), size), unsafe.Slice((*byte)(at(old)), min(oldSize, size)))
	}
	return uint32(uintptr(p))
}

// endCall lets the collector have the call's arguments.
func endCall() {
	clear(arena)
	arena = arena[:0]
}

func at(addr uint32) unsafe.Pointer { return unsafe.Pointer(uintptr(addr)) }

func u8At(addr uint32) uint8   { return *(*uint8)(at(addr)) }
func u16At(addr uint32) uint16 { return *(*uint16)(at(addr)) }
func u32At(addr uint32) uint32 { return *(*uint32)(at(addr)) }
func u64At(addr uint32) uint64 { return *(*uint64)(at(addr)) }

// stringAt reads a string (address, length) without copying it.
func stringAt(addr uint32) string {
	n := u32At(addr + 4)
	if n == 0 {
		return ""
	}
	return unsafe.String((*byte)(at(u32At(addr))), n)
}

// listAt reads a list (address, length) of T, laid out as Go lays out T,
// without copying it.
func listAt[T any](addr uint32) []T {
	n := u32At(addr + 4)
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(at(u32At(addr))), n)
}

// A lowered string or list: its address and length.
type abiList struct{ addr, len uint32 }

func addrOf[T any](p *T) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

func lowerString(s string) abiList {
	return abiList{uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s))}
}

// lowerList points at a slice's elements. The caller keeps the slice alive
// (runtime.KeepAlive) until the host has read it.
func lowerList[T any](s []T) abiList {
	if len(s) == 0 {
		return abiList{}
	}
	return abiList{addrOf(&s[0]), uint32(len(s))}
}

func lowerStrings(ss []string) []abiList {
	out := make([]abiList, len(ss))
	for i, s := range ss {
		out[i] = lowerString(s)
	}
	return out
}

// A lowered option<u32>: whether it is set, and its value.
func lowerOption(v int32) (uint32, uint32) {
	if v < 0 {
		return 0, 0
	}
	return 1, uint32(v)
}
