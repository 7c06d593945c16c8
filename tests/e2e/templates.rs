//! `wasmtrace new-plugin` writes, for each language, a plugin that builds as
//! is with its real toolchain and counts events on a real probe.

use std::path::Path;
use std::process::Command;

use crate::harness::{Tracer, child_opens, kernel_available, unique, wasmtrace};

fn new_plugin_counts_opens(lang: &str) {
    let test = format!("new_plugin_{lang}");
    if !kernel_available(&test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("my_{lang}_plugin");
    let out = wasmtrace()
        .args(["new-plugin", "--lang", lang, &name, "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = dir.path().join(&name);
    let build = Command::new(root.join("build.sh"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{lang} template did not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let component = root.join(format!("{name}.wasm"));
    assert!(component.exists());

    let comm = unique("wt-tpl-");
    let config = format!(
        "[probe.\"file.open\"]\ncomm = [\"{comm}\"]\n[plugin.{name}]\npath = \"{}\"\n",
        component.display()
    );
    let tracer = Tracer::start(&config);
    child_opens(&comm, Path::new("/dev/null"), 9);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(
        out.counter(&name, "opens", &[&comm]),
        Some(9),
        "stderr:\n{}",
        out.stderr
    );
}

#[test]
fn new_plugin_rust() {
    new_plugin_counts_opens("rust");
}

#[test]
fn new_plugin_c() {
    new_plugin_counts_opens("c");
}

#[test]
fn new_plugin_python() {
    new_plugin_counts_opens("python");
}

#[test]
fn new_plugin_js() {
    new_plugin_counts_opens("js");
}

#[test]
fn new_plugin_go() {
    new_plugin_counts_opens("go");
}
