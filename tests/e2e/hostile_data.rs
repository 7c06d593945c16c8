//! Event and plugin data written to confuse a terminal: a process whose name
//! holds an escape sequence opens a path that would retitle the terminal,
//! clear it, turn it red and forge a line; plugins print rows, findings and
//! logs of the same. Text output shows all of it escaped, one line per item.
//! And a process passes file descriptors far past its fd table, where the
//! kernel holds other data: probes read no file there.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

use crate::harness::{Tracer, child_opens, example_plugins, fork_child, fs_type, test_plugins, unique};

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
    require_kernel!();
    const N: usize = 3;
    let comm = format!("{}\x1b[7m", unique("wt-e"));
    let tracer = Tracer::with(&format!(
        "plugin_dir = \"{}\"\n[probe.\"file.open\"]\ncomm = [\"{}\"]\n[plugin.opensnoop]\n[plugin.tally]\n",
        example_plugins().display(),
        toml_string(&comm)
    ))
    .text()
    .start();
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
    require_kernel!();
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
    let mut tracer = Tracer::with(&config).text().start();
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

/// file.latency resolves the fd a process passed to its call; fds past the
/// end of its table (up to i32::MAX) must not be read as files, so only the
/// calls on the one file it opened are reported.
#[test]
fn fds_past_the_fd_table_name_no_file() {
    require_kernel!();
    let comm = unique("wt-fdt-");
    let dir = tempfile::tempdir().unwrap();
    let tracer = Tracer::start(&format!(
        "[probe.\"file.latency\"]\ncomm = [\"{comm}\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"file.latency\"]\n",
        test_plugins().display()
    ));
    let path = CString::new(dir.path().join("f").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: raw syscalls only; fsync on a closed fd fails with EBADF, and
    // on an open one (inherited pipes, sockets) returns at once.
    let pid = fork_child(&comm, || unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600);
        libc::fsync(fd);
        // Past the table's end (64 fds, more if the parent had more open)
        // lie the next kernel objects and, further on, any other memory.
        for bad in (0..8192).chain([1 << 20, 1 << 30, i32::MAX]) {
            if libc::fcntl(bad, libc::F_GETFD) == -1 {
                libc::fsync(bad);
            }
        }
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    let calls: Vec<(String, i64, i64, String)> = out
        .findings("file.latency")
        .map(|f| {
            assert_eq!(f["pid"], pid, "{f}");
            (
                f["op"].as_str().unwrap().to_string(),
                f["fd"].as_i64().unwrap(),
                f["ret"].as_i64().unwrap(),
                f["fs_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let fs = fs_type(dir.path());
    let fd = calls.first().map_or(-1, |c| c.1);
    assert!(fd >= 0, "{calls:?}; stderr:\n{}", out.stderr);
    assert_eq!(
        calls,
        [
            ("open".to_string(), fd, fd, fs.clone()),
            ("fsync".to_string(), fd, 0, fs)
        ],
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.probe("file.latency"), (2, 0));
}
