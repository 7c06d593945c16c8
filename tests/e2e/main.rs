//! End-to-end tests: the real `wasmtrace` binary, real kernel probes, and
//! real plugin components built from their sources.

#[macro_use]
mod harness;

mod bench;
mod block;
mod catalog;
mod config_errors;
mod containers;
mod cpu;
mod deploy;
mod dns_tls;
mod file_open;
mod file_unlink;
mod go_sdk;
mod hostile_data;
mod hot_reload;
mod install_deps;
mod languages;
mod losses;
mod namespaces;
mod net;
mod plugin_errors;
mod privileges;
mod process_exec;
mod process_exit;
mod profile;
mod prometheus;
mod quotas;
mod receivers;
mod record_replay;
mod registry;
mod sandbox;
mod sched;
mod soak;
mod syscalls;
mod templates;
mod tools;
mod top;
mod user_probes;
