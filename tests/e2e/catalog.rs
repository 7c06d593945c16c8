//! `wasmtrace list`.

use crate::harness::wasmtrace;

/// Every probe of the catalog is available on this kernel; where one is not
/// (a kernel without its hook), `list` says why, and CI, whose kernel has
/// them all, fails.
#[test]
fn list_shows_every_probe_available_here() {
    require_kernel!();
    let out = wasmtrace().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for probe in wasmtrace::catalog::all() {
        let block = text
            .split("\n\n")
            .find(|b| b.starts_with(&format!("{}:", probe.name)))
            .unwrap_or_else(|| panic!("{} missing:\n{text}", probe.name));
        if block.contains("\n  available: yes\n") {
            continue;
        }
        assert!(block.contains("\n  available: NO: missing "), "{block}");
        assert!(
            std::env::var("WASMTRACE_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "this kernel lacks a hook of {}:\n{block}",
            probe.name
        );
        eprintln!("SKIPPED {}: this kernel lacks its hook:\n{block}", probe.name);
    }
}
