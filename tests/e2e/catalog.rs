//! `wasmtrace list` and the generated docs.

use crate::harness::{kernel_available, repo, wasmtrace};

#[test]
fn docs_probes_md_is_generated_from_the_catalog() {
    let out = wasmtrace().args(["list", "--markdown"]).output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(repo().join("docs/probes.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/probes.md is stale: regenerate it with `wasmtrace list --markdown > docs/probes.md`"
    );
}

#[test]
fn list_shows_every_probe_available_here() {
    if !kernel_available("list_shows_every_probe_available_here") {
        return;
    }
    let out = wasmtrace().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for probe in ["process.exec", "process.exit", "file.open", "syscall.enter"] {
        let block = text
            .split("\n\n")
            .find(|b| b.starts_with(&format!("{probe}:")))
            .unwrap_or_else(|| panic!("{probe} missing:\n{text}"));
        assert!(block.contains("\n  available: yes\n"), "{block}");
    }
}
