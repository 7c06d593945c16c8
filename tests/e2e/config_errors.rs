//! The CLI reports config mistakes with file, line and key, and exits 1.

use crate::harness::wasmtrace;

fn check(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).unwrap();
    let out = wasmtrace().arg("check").arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(path.to_str().unwrap(), "FILE");
    (out.status.success(), stderr)
}

#[test]
fn unknown_probe() {
    let (ok, err) = check("[plugin.x]\n\n[probe.\"file.opne\"]\ncomm = [\"cat\"]\n");
    assert!(!ok);
    assert!(
        err.starts_with("wasmtrace: error: FILE:3:8: unknown probe `file.opne` (did you mean `file.open`?); `wasmtrace list` shows the catalog"),
        "{err}"
    );
}

#[test]
fn bad_type() {
    let (ok, err) = check("[probe.\"file.open\"]\nuid = \"root\"\n");
    assert!(!ok);
    assert!(
        err.starts_with("wasmtrace: error: FILE:2:7: invalid type: string \"root\", expected a sequence"),
        "{err}"
    );
    assert!(err.contains("uid = \"root\""), "the offending line is shown: {err}");
}

#[test]
fn unknown_key() {
    let (ok, err) = check("[plugin.opensnoop]\nprobe = [\"file.open\"]\n");
    assert!(!ok);
    assert!(
        err.starts_with(
            "wasmtrace: error: FILE:2:1: unknown field `probe`, expected one of `path`, `image`, `key`, `refresh`, `probes`, `config`"
        ),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let out = wasmtrace()
        .args(["check", "--config", "/nonexistent/wasmtrace.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("wasmtrace: error: cannot read config /nonexistent/wasmtrace.toml: No such file"),
        "{err}"
    );
}

#[test]
fn shipped_default_config_is_valid() {
    let out = wasmtrace()
        .arg("check")
        .arg("--config")
        .arg(crate::harness::repo().join("wasmtrace.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("ok (0 probe filter(s), 4 plugin(s))\n"));
}

/// Each error names its cause once: `{:#}` prints a cause that is also a
/// thiserror `source` twice, so messages that quote their cause keep it out
/// of the chain.
#[test]
fn causes_are_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let not_utf8 = dir.path().join("latin1.toml");
    std::fs::write(&not_utf8, b"# caf\xe9\n").unwrap();
    for (config, cause) in [
        (dir.path().to_path_buf(), "Is a directory"),
        (not_utf8, "stream did not contain valid UTF-8"),
    ] {
        let out = wasmtrace().arg("check").arg("--config").arg(&config).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches(cause).count(), 1, "{err}");
        assert!(err.starts_with("wasmtrace: error: cannot read config"), "{err}");
    }
    let (ok, err) = check(
        "[output]\nprometheus = \"127.0.0.1:0\"\n[output.prometheus_auth]\nbearer_token_env = \"WT_UNSET_TOKEN\"\n",
    );
    assert!(
        ok,
        "`check` validates the config only; the secret is read when the endpoint starts: {err}"
    );
}

/// A config line holding terminal escapes is quoted with them escaped.
#[test]
fn quoted_lines_are_escaped_for_the_terminal() {
    let (ok, err) = check("[output]\nformat = \"\x1b]0;PWNED\x07\x1b[2J\"\n");
    assert!(!ok);
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(err.contains("\\x1b]0;PWNED\\x07\\x1b[2J"), "{err}");
}
