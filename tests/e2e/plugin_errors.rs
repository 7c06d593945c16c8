//! Broken plugins are refused with a one-line cause; a plugin that fails
//! while running is stopped and the others go on.

use std::path::Path;

use std::time::Duration;

use crate::harness::{Tracer, child_opens, example_plugins, output_within, test_plugins, unique, wasmtrace};

/// Runs wasmtrace on a config that loads one plugin from `path`; returns its stderr.
fn run_with_plugin(path: &Path, extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wasmtrace.toml");
    std::fs::write(
        &config,
        format!("[plugin.broken]\npath = \"{}\"\n{extra}", path.display()),
    )
    .unwrap();
    let out = output_within(
        wasmtrace().args(["run", "--duration", "1s", "--config"]).arg(&config),
        Duration::from_secs(60),
    );
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn missing_plugin_file() {
    let err = run_with_plugin(Path::new("/nonexistent/x.wasm"), "");
    assert!(
        err.contains("error: plugin `broken`: /nonexistent/x.wasm does not exist; build the plugins"),
        "{err}"
    );
}

#[test]
fn not_webassembly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wasm");
    std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
    let err = run_with_plugin(&path, "");
    assert!(
        err.contains(&format!(
            "plugin `broken`: {} is not a WebAssembly file",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn core_module_is_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    // The smallest valid core module: magic and version 1.
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let err = run_with_plugin(&path, "");
    assert!(
        err.contains("is a core WebAssembly module, not a component: build it for wasm32-wasip2"),
        "{err}"
    );
}

#[test]
fn component_of_another_world() {
    // A component that imports nothing and exports nothing: valid, but not a plugin.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wasm");
    std::fs::write(&path, b"\0asm\x0d\0\x01\0").unwrap();
    let err = run_with_plugin(&path, "");
    assert!(
        err.contains("does not fit wasmtrace's plugin interface (wasmtrace:plugin@0.2.0)"),
        "{err}"
    );
}

/// A plugin built for the previous contract is told so, with both versions,
/// rather than given a linker's complaint about a missing import.
#[test]
fn plugin_of_an_older_wit_names_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let wit = dir.path().join("old.wit");
    std::fs::write(
        &wit,
        "package wasmtrace:plugin@0.1.0;\n\
         interface log {\n  enum level { debug, info, warn, error }\n  log: func(level: level, message: string);\n}\n\
         world plugin {\n  import log;\n  export on-tick: func();\n}\n",
    )
    .unwrap();
    // wasm-tools builds a real component of that world (its functions do nothing).
    let core = dir.path().join("core.wasm");
    let path = dir.path().join("old.wasm");
    for args in [
        vec!["component", "embed", "--dummy", "-w", "plugin", "-o"],
        vec!["component", "new"],
    ] {
        let mut cmd = std::process::Command::new("wasm-tools");
        cmd.args(&args);
        match args[1] {
            "embed" => cmd.arg(&core).arg(&wit),
            _ => cmd.arg(&core).arg("-o").arg(&path),
        };
        let out = cmd.output().expect("wasm-tools (scripts/install-deps installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let err = run_with_plugin(&path, "");
    assert!(
        err.contains(
            "was built for wasmtrace:plugin@0.1.0, and this wasmtrace implements wasmtrace:plugin@0.2.0: rebuild it"
        ),
        "{err}"
    );
}

#[test]
fn trap_in_init_says_why() {
    let err = run_with_plugin(
        &test_plugins().join("misbehave.wasm"),
        "[plugin.broken.config]\nfail_in = \"init\"\n",
    );
    assert!(
        err.contains("error: plugin `broken` failed in init: trapped:")
            && err.contains("misbehave: failing on purpose"),
        "{err}"
    );
}

#[test]
fn init_rejection_says_why() {
    let err = run_with_plugin(
        &test_plugins().join("misbehave.wasm"),
        "[plugin.broken.config]\nfail_in = \"init\"\nhow = \"reject\"\n",
    );
    assert!(
        err.contains("error: plugin `broken` refused to start: misbehave: config says no"),
        "{err}"
    );
}

/// The reason is the plugin's own text: its line breaks and escape
/// sequences are shown escaped, and start no line of wasmtrace's.
#[test]
fn init_rejection_cannot_forge_lines() {
    let err = run_with_plugin(
        &test_plugins().join("misbehave.wasm"),
        "[plugin.broken.config]\nfail_in = \"init\"\nhow = \"reject\"\n\
         why = \"no\\nwasmtrace: error: forged\\r\\u001b[2J\"\n",
    );
    assert!(
        err.contains("error: plugin `broken` refused to start: no\\nwasmtrace: error: forged\\r\\x1b[2J"),
        "{err}"
    );
    assert!(!err.lines().any(|l| l.starts_with("wasmtrace: error: forged")), "{err}");
}

#[test]
fn a_failing_plugin_stops_alone_and_keeps_its_maps() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"").unwrap();
    let comm = unique("wt-fail-");
    let config = format!(
        r#"
plugin_dir = "{examples}"
[probe."file.open"]
comm = ["{comm}"]
[plugin.opensnoop]
[plugin.misbehave]
path = "{tests}/misbehave.wasm"
[plugin.misbehave.config]
fail_in = "events"
"#,
        examples = example_plugins().display(),
        tests = test_plugins().display(),
    );
    let tracer = Tracer::start(&config);
    child_opens(&comm, &path, 4);
    // A second burst, after the failure, still reaches the healthy plugin.
    std::thread::sleep(std::time::Duration::from_millis(100));
    child_opens(&comm, &path, 6);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(10),
        "stderr:\n{}",
        out.stderr
    );
    let failed: Vec<_> = out.of_type("plugin-failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["plugin"], "misbehave");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("failed in on-events: trapped:")
    );
    assert!(
        out.stderr.contains("its maps are kept, other plugins go on"),
        "{}",
        out.stderr
    );
}

/// A plugin that fails after using more than its per-call CPU limit over
/// many calls restarts: the limit counts one call's CPU time, and the
/// restart (on the plugin's own thread, which has run for seconds) is a
/// new call. It used to fail its restarts as "does not fit the interface".
#[test]
fn a_plugin_whose_thread_has_run_for_seconds_restarts() {
    require_kernel!();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"").unwrap();
    let comm = unique("wt-cpu-");
    // ~0.15 ms of CPU per event: 40,000 events are ~6 s on its thread,
    // more than the 2 s one call may use, spread over many calls.
    let config = format!(
        "[probe.\"file.open\"]\ncomm = [\"{comm}\"]\n[plugin.busy]\npath = \"{}/misbehave.wasm\"\n\
         [plugin.busy.config]\nfail_in = \"events\"\nafter = 40000\nspin = 300000\n",
        test_plugins().display()
    );
    let mut tracer = Tracer::start(&config);
    child_opens(&comm, &path, 40_001);
    tracer.wait_for_stderr("plugin `busy` restarted after failure 1");
    let out = tracer.stop();
    out.assert_clean_exit();
    assert!(!out.stderr.contains("does not fit"), "{}", out.stderr);
    assert_eq!(out.plugin("busy")["failures"], 1, "{}", out.stderr);
    assert_eq!(out.plugin("busy")["state"], "running");
}

#[test]
fn a_go_panic_says_why() {
    let err = run_with_plugin(
        &crate::harness::go_test_plugins().join("echo_go.wasm"),
        "[plugin.broken.config]\npanic = \"echo_go: failing on purpose\"\n",
    );
    assert!(
        err.contains("error: plugin `broken` failed in init: trapped: panic: echo_go: failing on purpose"),
        "{err}"
    );
}

#[test]
fn a_go_plugins_config_error_says_why() {
    let err = run_with_plugin(
        &example_plugins().join("secretwatch.wasm"),
        "[plugin.broken.config]\npaths = [\"shadow\"]\n",
    );
    assert!(
        err.contains(
            "error: plugin `broken` refused to start: config key `paths`: \"shadow\" is not an absolute path pattern"
        ),
        "{err}"
    );
}

/// The misbehave test plugin (3 core instances, 1 memory, 2 tables of its
/// own) with `extra` more core instances inside its component, each with a
/// memory of `pages` 64 KiB pages (or none): a real plugin that also
/// multiplies what the host holds for it.
fn plugin_with_instances(extra: usize, pages: Option<u32>) -> Vec<u8> {
    plugin_with_module(extra, &pages.map(|p| format!("(memory {p})")).unwrap_or_default())
}

/// Like `plugin_with_instances`, each instance of a module of `fields`.
fn plugin_with_module(extra: usize, fields: &str) -> Vec<u8> {
    let plugin = std::fs::read(test_plugins().join("misbehave.wasm")).unwrap();
    let text = wasmprinter::print_bytes(&plugin).unwrap();
    // Defined last, so that no index of the plugin's own moves.
    let end = text.rfind("  (@producers").unwrap_or(text.rfind(')').unwrap());
    let mut hostile = String::from(&text[..end]);
    hostile += &format!("  (core module $hog {fields})\n");
    for _ in 0..extra {
        hostile += "  (core instance (instantiate $hog))\n";
    }
    hostile += &text[end..];
    wat::parse_str(&hostile).unwrap()
}

/// Runs it, rejecting its config in `init` (so that getting that far shows it was instantiated).
fn run_with_component(bytes: &[u8], limits: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hog.wasm");
    std::fs::write(&path, bytes).unwrap();
    run_with_plugin(
        &path,
        &format!("{limits}[plugin.broken.config]\nfail_in = \"init\"\nhow = \"reject\"\n"),
    )
}

/// The memory limit holds for the plugin as a whole: twelve memories of
/// 16 MiB beside its own, each under a 64 MiB limit, are 192 MiB together
/// and refused.
#[test]
fn memories_are_bounded_together() {
    let limit = "[limits]\nplugin_memory_mib = 64\n";
    let err = run_with_component(&plugin_with_instances(12, Some(256)), limit);
    assert!(
        err.contains(
            "error: plugin `broken` failed in instantiate: exceeded its memory limit of 64 MiB (all its memories and tables together)"
        ),
        "{err}"
    );
    // Three of them (48 MiB, and the plugin's own) fit: it gets as far as `init`.
    let err = run_with_component(&plugin_with_instances(3, Some(256)), limit);
    assert!(err.contains("refused to start: misbehave: config says no"), "{err}");
}

/// Instances (and so memories and tables) are counted: a component cannot
/// multiply what the host holds for it by instantiating a module many times.
#[test]
fn core_instances_are_capped() {
    let err = run_with_component(&plugin_with_instances(62, None), "");
    assert!(
        err.contains(
            "error: plugin `broken` failed in instantiate: exceeded a limit of its sandbox (resource limit exceeded: \
             instance count too high at 65): at most 64 core instances, 16 memories and 64 tables"
        ),
        "{err}"
    );
    let err = run_with_component(&plugin_with_instances(16, Some(1)), "");
    assert!(
        err.contains("(resource limit exceeded: memory count too high at 17)"),
        "{err}"
    );
    let err = run_with_component(&plugin_with_instances(61, None), "");
    assert!(err.contains("refused to start: misbehave: config says no"), "{err}");
}

/// What the host holds for instances beyond their memories and tables (a
/// slot per function and global, copies of element segments) is bounded
/// too: 61 instances of a module of 999,000 globals (a 5 MiB plugin) would
/// make it hold 929 MiB.
#[test]
fn instance_contexts_are_bounded() {
    let globals = |n: usize| "(global (mut i64) (i64.const 0))".repeat(n);
    let err = run_with_component(&plugin_with_module(61, &globals(999_000)), "");
    assert!(
        err.contains("would make the host hold 929 MiB for its instances' contexts")
            && err.contains("beyond the 32 MiB a plugin may"),
        "{err}"
    );
    // 61 of 30,000 (29 MiB) fit: it gets as far as `init`.
    let err = run_with_component(&plugin_with_module(61, &globals(30_000)), "");
    assert!(err.contains("refused to start: misbehave: config says no"), "{err}");
    // Every instance copies a passive element segment's items: 400,000 of
    // them in under 1 MiB of bytes would be 372 MiB.
    let elements = format!("(func) (elem func {})", "0 ".repeat(400_000));
    let err = run_with_component(&plugin_with_module(61, &elements), "");
    assert!(err.contains("would make the host hold 372 MiB"), "{err}");
}

/// `init` is bounded in wall-clock time too: a sleep on granted clocks ends
/// at the limit and the plugin is refused, instead of start-up hanging.
#[test]
fn a_sleep_in_init_is_stopped_at_the_wall_clock_limit() {
    let err = run_with_plugin(
        &test_plugins().join("misbehave.wasm"),
        "[limits]\nplugin_cpu_per_call = \"1s\"\nplugin_wall_per_call = \"1s\"\n\
         [plugin.broken.config]\nfail_in = \"init\"\nhow = \"sleep\"\n[plugin.broken.grant]\nclocks = true\n",
    );
    assert!(
        err.contains(
            "error: plugin `broken` failed in init: did not return within its 1s of wall-clock time for one call"
        ),
        "{err}"
    );
}

/// A host call no limit inside wasmtime can interrupt (a read of a FIFO
/// nobody writes to) does not hang start-up: the plugin is refused once
/// instantiate and init have had their wall-clock time.
#[test]
fn init_stuck_in_a_host_call_does_not_hang_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = crate::harness::mkfifo(dir.path(), "fifo");
    let err = run_with_plugin(
        &test_plugins().join("misbehave.wasm"),
        &format!(
            "[limits]\nplugin_cpu_per_call = \"1s\"\nplugin_wall_per_call = \"1s\"\n\
             [plugin.broken.config]\nfail_in = \"init\"\nhow = \"fifo\"\npath = \"{}\"\n\
             [plugin.broken.grant]\nread_dirs = [\"{}\"]\n",
            fifo.display(),
            dir.path().display()
        ),
    );
    assert!(
        err.contains("error: plugin `broken` did not return from init within 3s (blocked in a host call?)"),
        "{err}"
    );
}
