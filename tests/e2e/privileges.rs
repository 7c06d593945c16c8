//! Least privilege, as a DaemonSet should run: wasmtrace traces as an
//! ordinary uid holding just the capabilities tracepoints need (CAP_BPF,
//! CAP_PERFMON, and CAP_DAC_READ_SEARCH to read tracefs), and names the
//! ones it lacks.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{Tracer, child_opens, example_plugins, unique, wasmtrace};

const NOBODY: u32 = 65534;
const CAPS: &str = "+bpf,+perfmon,+dac_read_search";

/// A folder uid 65534 can read, holding a copy of the wasmtrace binary
/// (the build folder may be closed to it), the config and the plugin, and a
/// compile cache it owns.
fn readable_by_nobody() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(wasmtrace().get_program(), dir.path().join("wasmtrace")).unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(example_plugins().join("tally.wasm"), plugins.join("tally.wasm")).unwrap();
    std::fs::set_permissions(plugins.join("tally.wasm"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::os::unix::fs::chown(&cache, Some(NOBODY), Some(NOBODY)).unwrap();
    dir
}

/// The `Uid:` and `CapEff:` lines of a process.
fn uid_and_caps(pid: u32) -> (String, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    (field("Uid:"), u64::from_str_radix(&field("CapEff:"), 16).unwrap())
}

#[test]
fn a_non_root_uid_with_bpf_perfmon_and_dac_read_search_traces_exactly() {
    require_kernel!();
    let dir = readable_by_nobody();
    let comm = unique("wt-caps-");
    let config = format!(
        "plugin_dir = \"{0}/plugins\"\ncache_dir = \"{0}/cache\"\n[probe.\"file.open\"]\ncomm = [\"{comm}\"]\n[plugin.tally]\n",
        dir.path().display()
    );
    let (uid, gid) = (format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"));
    let (inh, amb) = (format!("--inh-caps={CAPS}"), format!("--ambient-caps={CAPS}"));
    let path = dir.path().to_path_buf();
    let exe = path.join("wasmtrace");
    let command = [
        "setpriv",
        &uid,
        &gid,
        "--clear-groups",
        &inh,
        &amb,
        exe.to_str().unwrap(),
    ];
    let tracer = Tracer::with(&config).dir(dir).wrapped(&command).start();
    let (uid_line, caps) = uid_and_caps(tracer.pid());
    assert!(
        uid_line.split_whitespace().all(|u| u == "65534"),
        "runs as uid 65534: {uid_line}"
    );
    // CAP_DAC_READ_SEARCH (2), CAP_PERFMON (38), CAP_BPF (39): nothing else.
    assert_eq!(
        caps,
        (1 << 2) | (1 << 38) | (1 << 39),
        "effective capabilities {caps:#x}"
    );
    let target = path.join("target");
    std::fs::write(&target, b"x").unwrap();
    child_opens(&comm, &target, 77);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter("tally", "events", &[&comm, target.to_str().unwrap()]),
        Some(77)
    );
}

#[test]
fn without_the_capabilities_it_names_the_missing_ones() {
    require_kernel!();
    let dir = readable_by_nobody();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = \"{0}/plugins\"\ncache_dir = \"{0}/cache\"\n[plugin.tally]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(dir.path().join("wasmtrace"))
        .args(["run", "--config"])
        .arg(Path::new(&config))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loading eBPF probes needs CAP_BPF and CAP_PERFMON"),
        "{err}"
    );
    assert!(err.contains("--ambient-caps=+bpf,+perfmon,+dac_read_search"), "{err}");

    // A uprobe needs CAP_SYS_ADMIN too, and the message says for which probe.
    let uprobe = dir.path().join("u.toml");
    std::fs::write(&uprobe, "[probe.\"shell.readline\"]\ncomm = [\"nobody-runs-it\"]\n").unwrap();
    std::fs::set_permissions(&uprobe, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .args([&format!("--inh-caps={CAPS}"), &format!("--ambient-caps={CAPS}")])
        .arg(dir.path().join("wasmtrace"))
        .args(["run", "--config"])
        .arg(&uprobe)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("needs CAP_SYS_ADMIN (for the uprobes of shell.readline)"),
        "{err}"
    );
}
