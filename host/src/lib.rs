//! wasmtrace: eBPF probes streamed to sandboxed WebAssembly plugins.

pub mod bench;
pub mod caps;
pub mod catalog;
pub mod config;
pub mod containers;
pub mod decode;
pub mod deliver;
pub mod escape;
pub mod listing;
pub mod maps;
pub mod names;
pub mod output;
pub mod pipeline;
pub mod probes;
pub mod prometheus;
pub mod recorder;
pub mod recording;
pub mod render;
pub mod rotate;
pub mod runtime;
pub mod swaps;
pub mod templates;
pub mod top;
pub mod tracefs;
pub mod trust;
pub mod watch;
