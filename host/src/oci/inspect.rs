//! What a plugin asks for, shown before anyone runs it: the interfaces its
//! component imports (and the grant each needs to do anything), and the
//! probes its `init` subscribes to, run in the sandbox with nothing granted.

use std::path::Path;

use crate::config::{Limits, PluginSpec};
use crate::maps::MapRegistry;
use crate::runtime::Runtime;

/// What an import of a plugin reaches, and what lets it through.
pub fn reach(import: &str) -> &'static str {
    let interface = import.split('@').next().unwrap_or(import);
    let package = interface.split('/').next().unwrap_or(interface);
    match package {
        "wasmtrace:plugin" => "wasmtrace's host interface (maps, findings, names, logs)",
        "wasi:filesystem" => "files: none unless [plugin.NAME.grant] read_dirs lists folders (read-only)",
        "wasi:clocks" => "clocks: frozen at 0 unless [plugin.NAME.grant] clocks = true",
        "wasi:sockets" => "network: never (wasmtrace grants no sockets)",
        "wasi:random" => "random numbers",
        "wasi:io" => "streams (of what else is granted)",
        "wasi:cli" if interface == "wasi:cli/environment" => {
            "environment: none unless [plugin.NAME.grant] env names variables"
        }
        "wasi:cli" => "standard streams and exit (stdout and stderr go to the log, bounded)",
        // The world's own types (`config`, `batch`), imported by name.
        name if !name.contains(':') => "a type of wasmtrace's plugin world",
        _ => "not provided by wasmtrace: the plugin will not link",
    }
}

/// The probes `init` asks for, run as `wasmtrace run` would with nothing
/// granted and the default limits; `cache_dir` keeps the compiled code.
pub fn probes_asked(path: &Path, name: &str, cache_dir: &Path) -> anyhow::Result<Vec<&'static str>> {
    let runtime = Runtime::new(cache_dir).map_err(|e| anyhow::anyhow!("starting the WebAssembly runtime: {e:#}"))?;
    let spec = PluginSpec {
        name: name.to_string(),
        path: path.to_path_buf(),
        image: None,
        probes: None,
        config: Vec::new(),
        grants: Default::default(),
    };
    let limits = Limits::default().plugin;
    let component = runtime.compile(name, path)?;
    let maps = MapRegistry::default().for_plugin(name, limits.map_quota());
    let plugin = runtime.instantiate(&spec, &component, maps, &limits)?;
    Ok(plugin.probes.iter().map(|&id| crate::catalog::by_id(id).name).collect())
}
