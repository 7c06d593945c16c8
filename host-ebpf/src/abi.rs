//! The records that cross the ring buffers and the filter map, generated at
//! build time from `src/bpf/events.h` (its structs by bindgen, its probe list
//! by build.rs): the layout of a record is written once, in C.

use std::mem::size_of;

/// The C types bindgen names: `char` is a byte here, whatever the target's
/// `char` signedness.
#[allow(non_camel_case_types)]
pub mod ctypes {
    pub use std::ffi::{c_int, c_longlong, c_schar, c_short, c_uchar, c_uint, c_ulonglong, c_ushort};
    pub type c_char = u8;
}

/// events.h as bindgen reads it: C names, C layout.
#[allow(non_camel_case_types, non_upper_case_globals, dead_code)]
pub mod raw {
    include!(concat!(env!("OUT_DIR"), "/events.rs"));
}

include!(concat!(env!("OUT_DIR"), "/probes.rs"));

pub const COMM_LEN: usize = raw::COMM_LEN as usize;
pub const PATH_LEN: usize = raw::PATH_LEN as usize;
pub const ARGV_LEN: usize = raw::ARGV_LEN as usize;
pub const FILTER_MAX: usize = raw::FILTER_MAX as usize;
/// Cgroups a container filter can name at once.
pub const CGROUPS_MAX: usize = raw::CGROUPS_MAX as usize;
pub const SWAP_DEVICES_MAX: usize = raw::SWAP_DEVICES_MAX as usize;
/// Entries `syscall.count` counts per interval.
pub const SYSCALL_COUNT_KEYS: usize = raw::SYSCALL_COUNT_KEYS as usize;

/// `enum stack_kind`: the stacks a filter asks its probe's events to carry.
pub const STACK_KERNEL: u32 = raw::stack_kind_STACK_KERNEL;
pub const STACK_USER: u32 = raw::stack_kind_STACK_USER;

/// `enum scope`: which tasks a filter passes by where they run.
pub const SCOPE_ANY: u32 = raw::scope_SCOPE_ANY;
pub const SCOPE_HOST: u32 = raw::scope_SCOPE_HOST;
pub const SCOPE_CONTAINERS: u32 = raw::scope_SCOPE_CONTAINERS;
pub const SCOPE_CGROUPS: u32 = raw::scope_SCOPE_CGROUPS;

impl ProbeId {
    pub fn from_raw(raw: u32) -> Option<ProbeId> {
        ProbeId::ALL.get(raw as usize).copied()
    }
}

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

/// A record's bytes, as a ring-buffer item holds them.
pub fn bytes_of<T: aya::Pod>(record: &T) -> &[u8] {
    // SAFETY: `T: Pod` is plain bytes; events.h asserts every record's size,
    // and its explicit padding fields leave no uninitialised holes.
    unsafe { std::slice::from_raw_parts((record as *const T).cast::<u8>(), size_of::<T>()) }
}
