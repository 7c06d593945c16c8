//! Compiles every `src/bpf/*.bpf.c` into a CO-RE eBPF object with clang, and
//! generates the Rust side of `src/bpf/events.h`: its structs (bindgen) and
//! the probe list (its `WASMTRACE_PROBES` lines), so that the layout of a
//! record is written once. The C enums come from the WIT (`wit_enums.h`),
//! so a record's enum value is its case's position there.
//!
//! The objects are relocated against the running kernel's BTF at load time,
//! so one build runs on any kernel with BTF.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// clang versions known to emit CO-RE relocations that aya accepts, newest first.
const CLANG_CANDIDATES: &[&str] = &["clang-19", "clang-18", "clang-17", "clang-16", "clang"];

fn main() {
    let src = Path::new("src/bpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = find_clang();
    let (arch_define, multiarch) = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => ("__TARGET_ARCH_x86", "x86_64-linux-gnu"),
        Ok("aarch64") => ("__TARGET_ARCH_arm64", "aarch64-linux-gnu"),
        Ok(other) => panic!("wasmtrace's eBPF programs are not ported to {other} yet"),
        Err(e) => panic!("CARGO_CFG_TARGET_ARCH: {e}"),
    };
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=../wit");
    let wit = wasmtrace_gen::Wit::load(Path::new("../wit")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("wit_enums.h"), wasmtrace_gen::c::enums(&wit)).expect("write wit_enums.h");
    let generated = format!("-I{}", out.display());
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .expect("read src/bpf")
        .map(|e| e.expect("read src/bpf entry").path())
        .collect();
    sources.sort();
    let mut stems = Vec::new();
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
        let name = source.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".bpf.c") else {
            continue;
        };
        stems.push(stem.to_string());
        let object = out.join(format!("{stem}.bpf.o"));
        let status = Command::new(&clang)
            .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
            .arg(format!("-D{arch_define}"))
            .args(arch_includes(multiarch))
            .arg(&generated)
            .arg("-c")
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .status()
            .unwrap_or_else(|e| panic!("running {clang}: {e}"));
        assert!(status.success(), "{clang} failed on {}", source.display());
    }
    let events = src.join("events.h");
    generate_structs(&events, multiarch, &generated, &out.join("events.rs"));
    generate_probes(&events, &out.join("probes.rs"));
    generate_objects(&stems, &out.join("objects.rs"));
}

/// `enum Object`: a variant per `.bpf.c` file (`net.bpf.c` is `Object::Net`),
/// with its bytes and its file name, so that a new family is only its file.
fn generate_objects(stems: &[String], out: &Path) {
    let variants: String = stems
        .iter()
        .map(|s| format!("    /// `{s}.bpf.c`\n    {},\n", camel(s)))
        .collect();
    let bytes: String = stems
        .iter()
        .map(|s| format!("            Object::{} => object_bytes!(\"{s}\"),\n", camel(s)))
        .collect();
    let names: String = stems
        .iter()
        .map(|s| format!("            Object::{} => \"{s}.bpf.o\",\n", camel(s)))
        .collect();
    let code = format!(
        "/// One compiled eBPF object: a probe family's programs and maps (or,\n\
         /// for `whoami`, the program that tells the host its own pid as probes see it).\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         pub enum Object {{\n{variants}}}\n\n\
         impl Object {{\n    \
             /// The object file's bytes, ready for `aya::EbpfLoader::load`.\n    \
             pub fn bytes(self) -> &'static [u8] {{\n        match self {{\n{bytes}        }}\n    }}\n\n    \
             /// The object file's name, for messages.\n    \
             pub fn name(self) -> &'static str {{\n        match self {{\n{names}        }}\n    }}\n}}\n"
    );
    std::fs::write(out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// Where the target's `asm/` headers are: Debian's multiarch folder, or its
/// cross-compilation one (`linux-libc-dev-arm64-cross`).
fn arch_includes(multiarch: &str) -> [String; 2] {
    [
        format!("-I/usr/include/{multiarch}"),
        format!("-I/usr/{multiarch}/include"),
    ]
}

/// The structs and constants of events.h, as bindgen reads them for the
/// target. `char` is `u8` (abi.rs's `ctypes`): strings are bytes.
fn generate_structs(events: &Path, multiarch: &str, generated: &str, out: &Path) {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    bindgen::Builder::default()
        .header_contents("wrapper.h", "#include <linux/types.h>\n#include \"events.h\"\n")
        .clang_arg(format!("-I{}", events.parent().unwrap().display()))
        .clang_args(arch_includes(multiarch))
        .clang_arg(generated)
        .clang_arg(format!("--target={target}"))
        .allowlist_file(".*events\\.h")
        .ctypes_prefix("crate::abi::ctypes")
        .derive_default(true)
        .layout_tests(false)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen could not read {}: {e}", events.display()))
        .write_to_file(out)
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// The Rust enum of the probe list (`X(NAME, record)` lines of events.h),
/// each probe's record size, and every struct by its Rust name
/// (`file_open_event` is `FileOpenEvent`).
fn generate_probes(events: &Path, out: &Path) {
    let text = std::fs::read_to_string(events).expect("read events.h");
    let probes: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("X(")?
                .split_once(')')
                .map(|(args, _)| args.to_string())
        })
        .map(|args| {
            let (name, record) = args.split_once(',').expect("X(NAME, record)");
            (camel(name.trim()), record.trim().to_string())
        })
        .collect();
    assert!(!probes.is_empty(), "no X(NAME, record) lines in {}", events.display());
    let variants: String = probes
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!("    {name} = {i},\n"))
        .collect();
    let all: String = probes.iter().map(|(name, _)| format!("ProbeId::{name}, ")).collect();
    let sizes: String = probes
        .iter()
        .map(|(name, record)| format!("        ProbeId::{name} => size_of::<raw::{record}>(),\n"))
        .collect();
    // Every struct of events.h by its Rust name, readable from bytes.
    let records: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("struct ")?.strip_suffix(" {"))
        .map(|c| {
            format!(
                "pub type {} = raw::{c};\n\
                 // SAFETY: a `repr(C)` struct of integers and byte arrays whose padding\n\
                 // events.h spells out as fields: any bit pattern is valid, no holes.\n\
                 unsafe impl aya::Pod for raw::{c} {{}}\n",
                camel(c)
            )
        })
        .collect();
    let n = probes.len();
    let code = format!(
        "/// `enum probe_id`: the tag in every record's header, in the order of\n\
         /// events.h's `WASMTRACE_PROBES`.\n\
         #[repr(u32)]\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         pub enum ProbeId {{\n{variants}}}\n\n\
         impl ProbeId {{\n    pub const ALL: [ProbeId; {n}] = [{all}];\n}}\n\n\
         /// The size of each probe's record: what a recording notes so that a\n\
         /// replay can tell records of another layout from its own.\n\
         pub fn record_size(probe: ProbeId) -> usize {{\n    match probe {{\n{sizes}    }}\n}}\n\n{records}"
    );
    std::fs::write(out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// `NET_TCP_SYN_BACKLOG` → `NetTcpSynBacklog`, `file_open_event` → `FileOpenEvent`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let w = w.to_ascii_lowercase();
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn find_clang() -> String {
    if let Ok(clang) = env::var("CLANG") {
        return clang;
    }
    CLANG_CANDIDATES
        .iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|c| c.to_string())
        .unwrap_or_else(|| {
            panic!(
                "no clang found to build the eBPF programs: install one \
                 (Debian/Ubuntu: `apt-get install clang-19 libbpf-dev`) or set CLANG=/path/to/clang"
            )
        })
}
