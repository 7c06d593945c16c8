//! Compiles every `src/bpf/*.bpf.c` into a CO-RE eBPF object with clang.
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
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .expect("read src/bpf")
        .map(|e| e.expect("read src/bpf entry").path())
        .collect();
    sources.sort();
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
        let name = source.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".bpf.c") else {
            continue;
        };
        let object = out.join(format!("{stem}.bpf.o"));
        let status = Command::new(&clang)
            .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
            .arg(format!("-D{arch_define}"))
            .arg(format!("-I/usr/include/{multiarch}"))
            .arg("-c")
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .status()
            .unwrap_or_else(|e| panic!("running {clang}: {e}"));
        assert!(status.success(), "{clang} failed on {}", source.display());
    }
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
