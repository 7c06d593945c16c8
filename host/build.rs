//! The host's tables from the WIT (wasmtrace-gen): each enum's cases in
//! wire order, and each probe's fields with their docs, so that neither is
//! written again beside the WIT.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=../wit");
    let wit = wasmtrace_gen::Wit::load(Path::new("../wit")).unwrap_or_else(|e| panic!("{e}"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("wit_enums.rs"), wasmtrace_gen::host::enums(&wit)).expect("write wit_enums.rs");
    std::fs::write(out.join("wit_fields.rs"), wasmtrace_gen::host::fields(&wit)).expect("write wit_fields.rs");
}
