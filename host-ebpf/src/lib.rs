//! wasmtrace's kernel side: the CO-RE eBPF objects (built from `src/bpf/*.bpf.c`
//! by `build.rs`) and the Rust side of the records they emit ([`abi`]), which
//! `build.rs` generates from their C header.

pub mod abi;

/// One compiled eBPF object: a probe family's programs and maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    Process,
    File,
    Syscall,
    Net,
    User,
    /// Not a probe family: the program that tells the host its own pid as
    /// probes see it (`whoami.bpf.c`).
    Whoami,
}

/// aya parses the ELF in place, which wants 8-byte alignment.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

macro_rules! object_bytes {
    ($stem:literal) => {{
        static BYTES: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/", $stem, ".bpf.o")));
        &BYTES.0
    }};
}

impl Object {
    /// The object file's bytes, ready for `aya::EbpfLoader::load`.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Object::Process => object_bytes!("process"),
            Object::File => object_bytes!("file"),
            Object::Syscall => object_bytes!("syscall"),
            Object::Net => object_bytes!("net"),
            Object::User => object_bytes!("user"),
            Object::Whoami => object_bytes!("whoami"),
        }
    }

    /// The object file's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Object::Process => "process.bpf.o",
            Object::File => "file.bpf.o",
            Object::Syscall => "syscall.bpf.o",
            Object::Net => "net.bpf.o",
            Object::User => "user.bpf.o",
            Object::Whoami => "whoami.bpf.o",
        }
    }
}
