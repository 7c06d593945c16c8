//! wasmtrace: eBPF probes streamed to sandboxed WebAssembly plugins.

pub mod catalog;
pub mod config;
pub mod maps;
pub mod names;
pub mod render;
pub mod runtime;
