//! wasmtrace: eBPF probes streamed to sandboxed WebAssembly plugins.
//!
//! An event's way through, and the module of each step:
//! - [`config`] reads the TOML file; [`catalog`] is the probes, a table per
//!   family: their hooks, their fields, and how each one's record becomes
//!   its WIT body ([`wit`] is the contract's Rust types).
//! - `probes` loads and attaches the eBPF programs of `wasmtrace_ebpf` and
//!   sets their filters in the kernel ([`tracefs`], `caps` and `swaps`
//!   help it, `uprobe_target` finds the host's files and `mount_namespaces`
//!   containers' copies, `whoami` names
//!   wasmtrace to leave it out, and `kernel_counts` reads what probes
//!   count in the kernel);
//!   [`recorder`] and [`recording`] keep their records for replay;
//!   `boot_clock` is the events' clock.
//! - [`decode`] turns ring-buffer records into WIT batches, [`containers`]
//!   naming their containers and [`escape`] keeping their text safe;
//!   `stacks` interns the stacks records carry and names their frames.
//! - [`pipeline`] runs a session: a source (the kernel or a recording), a
//!   worker per plugin, ticks, hot reloads (`watch`).
//! - `runtime` runs each plugin as a wasmtime component in its sandbox;
//!   `trust` checks whose its file is; `names` answers its lookups.
//! - `maps` holds what plugins count (`stacks::profile` writes stack
//!   counters as flame graphs and pprof); [`output`], `render`, `values` and
//!   [`rotate`] write text or JSON; `prometheus` serves metrics; [`deliver`] sends
//!   findings to receivers; [`top`] is the live view. The files a run
//!   writes (output, spool, recordings, compile cache) are opened by
//!   `safe_file`, which follows no link.
//! - [`listing`] and [`templates`] are `wasmtrace list` and `new-plugin`.
//!
//! docs/contributing.md groups these into four rooms (kernel, events,
//! plugins, outputs); the `house` test keeps uses between them one way.
//!
//! Public are the modules the binary and the end-to-end tests use; the
//! others are the crate's own.

mod boot_clock;
mod caps;
pub mod catalog;
pub mod config;
pub mod containers;
pub mod decode;
pub mod deliver;
mod elf_symbol;
pub mod escape;
#[cfg(test)]
mod house;
mod kernel_counts;
pub mod listing;
mod maps;
mod mount_namespaces;
mod names;
pub mod oci;
pub mod output;
pub mod pipeline;
mod probes;
mod prometheus;
pub mod recorder;
pub mod recording;
mod render;
pub mod rotate;
mod runtime;
mod safe_file;
pub mod stacks;
mod swaps;
pub mod templates;
pub mod top;
pub mod tracefs;
mod trust;
mod uprobe_target;
mod values;
mod watch;
mod whoami;
pub mod wit;
