//! wasmtrace's kernel side: the CO-RE eBPF objects (built from `src/bpf/*.bpf.c`
//! by `build.rs`) and the Rust side of the records they emit ([`abi`]), which
//! `build.rs` generates from their C header.

pub mod abi;

/// aya parses the ELF in place, which wants 8-byte alignment.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

macro_rules! object_bytes {
    ($stem:literal) => {{
        static BYTES: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/", $stem, ".bpf.o")));
        &BYTES.0
    }};
}

include!(concat!(env!("OUT_DIR"), "/objects.rs"));
