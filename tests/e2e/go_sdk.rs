//! The Go SDK's ABI glue (records.go, generated from the WIT by `cargo
//! xtask`, and the hand-written lift.go), checked against the host for every
//! event variant: a recording holding records of every probe replays into
//! the Rust echo plugin and its Go twin, which must emit the same findings,
//! field for field. A WIT change the Go SDK misses fails here.

use std::path::Path;

use wasmtrace::containers::Containers;
use wasmtrace::decode::Decoder;
use wasmtrace::recording::{Header, Summary, Writer};
use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::harness::{Finished, go_test_plugins, test_plugins, wasmtrace};

/// Records of each probe in the recording.
const PER_PROBE: usize = 6;

/// xorshift64*: reproducible bytes without a dependency.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A record of `len` bytes whose 16-bit units are a third each zero,
    /// small (the values of enums and address families) and anything (so
    /// strings hold control characters and invalid UTF-8).
    fn record(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 1);
        while out.len() < len {
            let r = self.next();
            let unit = match r % 3 {
                0 => 0,
                1 => (r >> 8) % 13,
                _ => r >> 16,
            } as u16;
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Writes a complete recording with `per_probe` records of each of `probes`:
/// random records, kept when the host decodes them (an unknown enum value
/// is not).
fn recording(path: &Path, probes: &[ProbeId], per_probe: usize) {
    let mut writer = Writer::create(path, &Header::new(probes.iter().copied())).unwrap();
    let mut summary = Summary::default();
    let mut bytes = Bytes(0x9e37_79b9_7f4a_7c15);
    let mut decoder = Decoder::new(Containers::none());
    for &probe in probes {
        let mut kept = 0;
        for _ in 0..per_probe.max(100_000) {
            let mut record = bytes.record(abi::record_size(probe));
            let at = std::mem::offset_of!(abi::EventHeader, probe);
            record[at..at + 4].copy_from_slice(&(probe as u32).to_le_bytes());
            let decoded = decoder.push(&record).is_ok();
            decoder.take(probe);
            if decoded {
                writer.event(&record).unwrap();
                kept += 1;
                if kept == per_probe {
                    break;
                }
            }
        }
        assert_eq!(kept, per_probe, "too few decodable {probe:?} records were found");
        let name = wasmtrace::catalog::by_id(probe).name.to_string();
        summary.events.insert(name.clone(), per_probe as u64);
        summary.lost.insert(name, 0);
    }
    writer.finish(&summary).unwrap();
}

/// Replays `recording` into the given test plugins (name, folder, config
/// table), each taking every probe.
fn replay(dir: &Path, recording: &Path, plugins: &[(&str, &Path, &str)]) -> Finished {
    let probes: Vec<String> = ProbeId::ALL
        .iter()
        .map(|&p| format!("{:?}", wasmtrace::catalog::by_id(p).name))
        .collect();
    let mut config = format!("cache_dir = \"{}\"\n", dir.join("cache").display());
    for (name, folder, table) in plugins {
        config += &format!(
            "[plugin.{name}]\npath = \"{}/{name}.wasm\"\nprobes = [{}]\n[plugin.{name}.config]\n{table}\n",
            folder.display(),
            probes.join(", ")
        );
    }
    let path = dir.join("replay.toml");
    std::fs::write(&path, config).unwrap();
    Finished::of(
        wasmtrace()
            .args(["replay", "--output", "json", "--config"])
            .arg(&path)
            .arg(recording)
            .output()
            .unwrap(),
    )
}

/// The findings of one plugin, without the plugin's name.
fn findings(out: &Finished, plugin: &str) -> Vec<serde_json::Value> {
    out.of_type("finding")
        .filter(|f| f["plugin"] == plugin)
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("plugin");
            f
        })
        .collect()
}

#[test]
fn the_go_sdk_reads_every_event_variant_as_the_rust_sdk_does() {
    let dir = tempfile::tempdir().unwrap();
    let every = dir.path().join("every.wtr");
    recording(&every, &ProbeId::ALL, PER_PROBE);
    let extras = format!("extras = true\nsyscall = {}", libc::SYS_openat);
    let out = replay(
        dir.path(),
        &every,
        &[("echo", test_plugins(), ""), ("echo_go", go_test_plugins(), &extras)],
    );
    out.assert_clean_exit();

    let rust = findings(&out, "echo");
    assert_eq!(rust.len(), ProbeId::ALL.len() * PER_PROBE, "stderr:\n{}", out.stderr);
    let go = findings(&out, "echo_go");
    assert_eq!(go.len(), rust.len(), "stderr:\n{}", out.stderr);
    for (go, rust) in go.iter().zip(&rust) {
        assert_eq!(go, rust);
    }

    // The rest of the SDK: a row per event with the host's names, and the
    // three kinds of map, per probe.
    let rows: Vec<&serde_json::Value> = out.rows("echo_go").collect();
    assert_eq!(rows.len(), rust.len());
    for (row, finding) in rows.iter().zip(&rust) {
        let expected = serde_json::json!({"PROBE": finding["rule"], "PID": finding["fields"]["pid"],
            "SYSCALL": "openat", "ERRNO": "ENOENT", "USER": "root"});
        assert_eq!(**row, expected);
    }
    for probe in ProbeId::ALL {
        let probe = wasmtrace::catalog::by_id(probe).name;
        let pids: Vec<&serde_json::Value> = rust
            .iter()
            .filter(|f| f["rule"] == probe)
            .map(|f| &f["fields"]["pid"])
            .collect();
        assert_eq!(out.counter("echo_go", "events", &[probe]), Some(PER_PROBE as u64));
        let histogram = out.entry("echo_go", "pids", &[probe]).unwrap();
        assert_eq!(histogram["count"], PER_PROBE, "{histogram}");
        let gauge = out.entry("echo_go", "last_pid", &[probe]).unwrap();
        assert_eq!(&gauge["value"], *pids.last().unwrap(), "{gauge}");
    }
    let logged = format!("echo_go: {} events so far", rust.len());
    assert!(out.stderr.contains(&logged), "{}", out.stderr);
}

/// Large batches make the host call the plugin's allocator for megabytes,
/// and Go's collector runs inside it: it must not call out of the plugin
/// (the adapter's clock answers from memory then).
#[test]
fn a_go_plugin_takes_a_storm_of_large_batches() {
    const N: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let storm = dir.path().join("storm.wtr");
    recording(&storm, &[ProbeId::FileOpen], N);
    let out = replay(dir.path(), &storm, &[("echo_go", go_test_plugins(), "")]);
    out.assert_clean_exit();
    let stats = out.plugin("echo_go");
    assert_eq!(
        (stats["failures"].as_u64(), stats["missed"].as_u64()),
        (Some(0), Some(0)),
        "{stats}\n{}",
        out.stderr
    );
    assert_eq!(
        stats["events"].as_u64().unwrap() + stats["dropped"].as_u64().unwrap(),
        N as u64,
        "{stats}"
    );
}
