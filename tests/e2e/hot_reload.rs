//! The plugins folder is followed while running: new components start
//! receiving events, replaced ones are swapped between batches (no event
//! lost or delivered twice), removed ones are unloaded with their maps kept,
//! and a broken new version leaves the running one in place.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{Tracer, another_build, child_opens, example_plugins, install, unique, wasmtrace};

fn opensnoop() -> Vec<u8> {
    std::fs::read(example_plugins().join("opensnoop.wasm")).unwrap()
}

/// A watched plugins folder with a kernel filter on `comm`.
fn watching(plugins: &Path, comm: &str) -> String {
    format!(
        r#"
watch = true
plugin_dir = "{}"
cache_dir = "{}/.cache"
[limits]
plugin_emits_per_interval = 1000000
[probe."file.open"]
comm = ["{comm}"]
"#,
        plugins.display(),
        plugins.display()
    )
}

#[test]
fn a_new_component_starts_receiving_events() {
    require_kernel!();
    let plugins = tempfile::tempdir().unwrap();
    let comm = unique("wt-new-");
    let mut tracer = Tracer::start(&watching(plugins.path(), &comm));
    install(plugins.path(), "opensnoop", &opensnoop());
    tracer.wait_for_stderr("plugin `opensnoop`: loaded");
    child_opens(&comm, Path::new("/dev/null"), 5);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(5),
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn a_replaced_component_is_swapped_without_loss_or_duplicates() {
    require_kernel!();
    const N: usize = 3000;
    let plugins = tempfile::tempdir().unwrap();
    install(plugins.path(), "opensnoop", &opensnoop());
    let comm = unique("wt-swap-");
    let mut tracer = Tracer::start(&watching(plugins.path(), &comm));

    let stream = crate::harness::steady_opens(&comm, N);
    std::thread::sleep(std::time::Duration::from_millis(200));
    install(plugins.path(), "opensnoop", &another_build(&opensnoop(), "v2"));
    tracer.wait_for_stderr("plugin `opensnoop`: new version swapped in");
    let pid = stream.join().unwrap();
    crate::harness::assert_each_open_once(&tracer.stop(), &comm, N, pid);
}

#[test]
fn a_removed_component_is_unloaded_and_its_maps_kept() {
    require_kernel!();
    let plugins = tempfile::tempdir().unwrap();
    install(plugins.path(), "opensnoop", &opensnoop());
    let comm = unique("wt-rm-");
    let mut tracer = Tracer::start(&watching(plugins.path(), &comm));
    child_opens(&comm, Path::new("/dev/null"), 4);
    std::thread::sleep(std::time::Duration::from_millis(100));
    std::fs::remove_file(plugins.path().join("opensnoop.wasm")).unwrap();
    tracer.wait_for_stderr("plugin `opensnoop` unloaded");
    child_opens(&comm, Path::new("/dev/null"), 6);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(4),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.probe("file.open"), (10, 0));
}

#[test]
fn a_broken_new_version_leaves_the_running_one() {
    require_kernel!();
    let plugins = tempfile::tempdir().unwrap();
    install(plugins.path(), "opensnoop", &opensnoop());
    let comm = unique("wt-bad-");
    let mut tracer = Tracer::start(&watching(plugins.path(), &comm));
    install(plugins.path(), "opensnoop", b"\0asm\x0d\0\x01\0garbage");
    tracer.wait_for_stderr("new version not loaded");
    child_opens(&comm, Path::new("/dev/null"), 3);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert!(
        out.stderr.contains("does not compile") && out.stderr.contains("the running version stays"),
        "{}",
        out.stderr
    );
    assert_eq!(out.counter("opensnoop", "opens", &[&comm]), Some(3));
}

/// Runs `wasmtrace run` briefly on one plugin; returns its stderr. (Plugins
/// load before probes attach, so this needs no root.)
fn load_once(config: &Path) -> String {
    let out = wasmtrace()
        .args(["run", "--duration", "100ms", "--config"])
        .arg(config)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_restart_takes_compiled_components_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wasmtrace.toml");
    std::fs::write(
        &config,
        format!(
            "cache_dir = \"cache\"\n[plugin.p]\npath = \"{}/opensnoop.wasm\"\n",
            example_plugins().display()
        ),
    )
    .unwrap();
    let first = load_once(&config);
    assert!(first.contains("plugin `p`: compiled in"), "{first}");
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache")).unwrap().collect();
    assert_eq!(cached.len(), 1);
    let second = load_once(&config);
    assert!(
        second.contains("plugin `p`: loaded from the compile cache in"),
        "{second}"
    );
}

#[test]
fn a_plugin_others_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("p.wasm");
    std::fs::write(&plugin, opensnoop()).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o666)).unwrap();
    let config = dir.path().join("wasmtrace.toml");
    std::fs::write(
        &config,
        format!("plugin_dir = \"{}\"\n[plugin.p]\n", dir.path().display()),
    )
    .unwrap();
    let err = load_once(&config);
    assert!(
        err.contains(&format!(
            "refusing plugin `p`: {} is writable by group or others (mode 0666): wasmtrace runs only code that its owner alone can change; fix it with `chmod go-w {}`",
            plugin.display(),
            plugin.display()
        )),
        "{err}"
    );
}

#[test]
fn a_new_component_gets_its_probe_attached_while_running() {
    require_kernel!();
    let plugins = tempfile::tempdir().unwrap();
    let comm = unique("wt-late-");
    // Only process.exit runs at first; opensnoop's file.open is attached when it arrives.
    let config = format!(
        "watch = true\nplugin_dir = \"{}\"\ncache_dir = \"{}/.cache\"\n[probe.\"process.exit\"]\ncomm = [\"{comm}\"]\n",
        plugins.path().display(),
        plugins.path().display()
    );
    let mut tracer = Tracer::start(&config);
    install(plugins.path(), "opensnoop", &opensnoop());
    tracer.wait_for_stderr("plugin `opensnoop`: loaded");
    child_opens(&comm, Path::new("/dev/null"), 6);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(6),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.probe("process.exit").0, 1, "the child's exit");
}

#[test]
fn a_probe_nobody_receives_any_more_is_switched_off_in_the_kernel() {
    require_kernel!();
    let plugins = tempfile::tempdir().unwrap();
    let comm = unique("wt-off-");
    // No [probe."file.open"]: only opensnoop wants that probe.
    let config = format!(
        "watch = true\nplugin_dir = \"{}\"\ncache_dir = \"{}/.cache\"\n[probe.\"process.exit\"]\ncomm = [\"{comm}\"]\n",
        plugins.path().display(),
        plugins.path().display()
    );
    let mut tracer = Tracer::start(&config);
    install(plugins.path(), "opensnoop", &opensnoop());
    tracer.wait_for_stderr("plugin `opensnoop`: loaded");
    child_opens(&comm, Path::new("/dev/null"), 3);
    std::thread::sleep(std::time::Duration::from_millis(100));
    std::fs::remove_file(plugins.path().join("opensnoop.wasm")).unwrap();
    tracer.wait_for_stderr("plugin `opensnoop` unloaded");
    child_opens(&comm, Path::new("/dev/null"), 20_000);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("opensnoop", "opens", &[&comm]),
        Some(3),
        "stderr:\n{}",
        out.stderr
    );
    // Decoded but received by nobody: at most what raced the switch-off (other
    // tests open files too), never the 20,000 opens made after it.
    let (decoded, _) = out.probe("file.open");
    let received = out.rows("opensnoop").count() as u64;
    assert!(
        decoded - received < 10_000,
        "{decoded} decoded, {received} received: the probe was not switched off"
    );
}

/// A new version whose `init` blocks in a host call nothing can interrupt
/// (a read of a FIFO nobody writes) is given up on after twice the wall
/// limit, and its thread left behind; past four such, no more loads start,
/// so reloading it again and again cannot use up threads.
#[test]
fn new_versions_stuck_in_init_are_given_up_on_and_counted() {
    require_kernel!();
    let plugins = tempfile::tempdir().unwrap();
    let fifo = crate::harness::mkfifo(plugins.path(), "fifo");
    // The first version's read of the FIFO is answered once: it starts.
    let misbehave = std::fs::read(crate::harness::test_plugins().join("misbehave.wasm")).unwrap();
    install(plugins.path(), "stuck", &misbehave);
    let answer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "go on").unwrap())
    };
    let mut tracer = Tracer::start(&format!(
        "watch = true\nplugin_dir = \"{dir}\"\n[limits]\nplugin_cpu_per_call = \"1s\"\nplugin_wall_per_call = \"1s\"\n\
         [probe.\"file.open\"]\ncomm = [\"{comm}\"]\n\
         [plugin.stuck.config]\nfail_in = \"init\"\nhow = \"fifo\"\npath = \"{fifo}\"\n\
         [plugin.stuck.grant]\nread_dirs = [\"{dir}\"]\n",
        dir = plugins.path().display(),
        comm = unique("wt-stk-"),
        fifo = fifo.display(),
    ));
    answer.join().unwrap();
    for _ in 0..4 {
        install(plugins.path(), "stuck", &misbehave);
        tracer.wait_for_stderr("new version not loaded: plugin `stuck` did not return from init within 3s");
    }
    install(plugins.path(), "stuck", &misbehave);
    tracer.wait_for_stderr(
        "new version not loaded: plugin `stuck` not loaded: 4 earlier loads are still blocked in a host call",
    );
    let out = tracer.stop();
    out.assert_clean_exit();
}
