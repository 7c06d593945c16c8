//! Event and plugin data written to confuse a terminal: a process whose name
//! holds an escape sequence opens a path that would retitle the terminal,
//! clear it, turn it red and forge a line; plugins print rows, findings and
//! logs of the same. Text output shows all of it escaped, one line per item.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::harness::{Tracer, child_opens, example_plugins, kernel_available, test_plugins, unique};

/// The attack from issue 9, with an invalid UTF-8 byte at the end.
const HOSTILE: &[u8] = b"\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\r\nFAKE: root login\xff";
/// How text output shows it.
const SHOWN: &str = "\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mred\\r\\nFAKE: root login\\xff";

/// No control character but line ends, and no line forged.
fn assert_inert(what: &str, text: &str) {
    let raw: Vec<char> = text.chars().filter(|&c| c.is_control() && c != '\n').collect();
    assert!(raw.is_empty(), "{what} holds raw control characters {raw:?}:\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("FAKE")),
        "{what} holds a forged line:\n{text}"
    );
}

/// TOML's spelling of a string with control characters.
fn toml_string(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[test]
fn text_output_escapes_hostile_paths_and_command_names_in_rows_and_maps() {
    if !kernel_available("text_output_escapes_hostile_paths_and_command_names_in_rows_and_maps") {
        return;
    }
    const N: usize = 3;
    let comm = format!("{}\x1b[7m", unique("wt-e"));
    let tracer = Tracer::start_text(&format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\ncomm = [\"{}\"]\n[plugin.opensnoop]\n[plugin.tally]\n",
        example_plugins().display(),
        toml_string(&comm)
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OsStr::from_bytes(HOSTILE));
    std::fs::write(&path, b"x").unwrap();
    child_opens(&comm, &path, N);
    let (status, stdout, stderr) = tracer.stop_raw();
    assert!(status.success(), "{stderr}");
    assert_inert("stdout", &stdout);
    assert_inert("stderr", &stderr);
    let shown_comm = comm.replace('\x1b', "\\x1b");
    let shown_path = format!("{}/{SHOWN}", dir.path().display());
    let rows = stdout
        .lines()
        .filter(|l| l.starts_with("opensnoop: ") && l.contains(&shown_comm) && l.ends_with(&shown_path))
        .count();
    assert_eq!(rows, N, "one row per open, each on one line:\n{stdout}");
    assert!(
        stdout.contains(&format!("@events[{shown_comm}, {shown_path}]: {N}")),
        "the map key, escaped:\n{stdout}"
    );
}

#[test]
fn plugins_cannot_print_raw_control_characters_in_rows_findings_or_logs() {
    if !kernel_available("plugins_cannot_print_raw_control_characters_in_rows_findings_or_logs") {
        return;
    }
    let text = toml_string(&String::from_utf8_lossy(HOSTILE).replace('\u{fffd}', ""));
    let mut config = format!(
        "[output]\ninterval = \"200ms\"\n[probe.\"file.open\"]\ncomm = [\"{}\"]\n",
        unique("wt-none-")
    );
    for what in ["rows", "findings", "logs"] {
        config += &format!(
            "[plugin.{what}]\npath = \"{}/flood.wasm\"\n[plugin.{what}.config]\nflood = \"{what}\"\nper_call = 1\ntext = \"{text}\"\n",
            test_plugins().display()
        );
    }
    let mut tracer = Tracer::start_text(&config);
    tracer.wait_for_stderr("PWNED");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, stdout, stderr) = tracer.stop_raw();
    assert!(status.success(), "{stderr}");
    assert_inert("stdout", &stdout);
    assert_inert("stderr", &stderr);
    let shown = SHOWN.trim_end_matches("\\xff");
    assert!(
        stdout.lines().any(|l| l.starts_with("rows: ") && l.ends_with(shown)),
        "a row, escaped:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("[HIGH] findings/flood: {shown}"))),
        "a finding, escaped:\n{stdout}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(shown) && l.ends_with("plugin=\"logs\"")),
        "a log line, escaped:\n{stderr}"
    );
}
