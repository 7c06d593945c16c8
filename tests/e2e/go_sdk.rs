//! The Go SDK's ABI glue (records.go, generated below from the WIT, and the
//! hand-written lift.go), checked against the host for every
//! event variant: a recording holding records of every probe replays into
//! the Rust echo plugin and its Go twin, which must emit the same findings,
//! field for field. A WIT change the Go SDK misses fails here.

use std::path::Path;
use std::process::Command;

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

/// sdk/go/records.go is generated from the WIT: each probe's record as a
/// Go type, and the code that reads it from a batch. Regenerate it with
/// `WASMTRACE_BLESS=1 cargo test --release --test e2e go_sdk::records`.
#[test]
fn records_go_is_generated_from_the_wit() {
    let path = crate::harness::repo().join("sdk/go/records.go");
    let generated = gofmt(&go_records());
    if std::env::var("WASMTRACE_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "sdk/go/records.go is stale: regenerate it with \
         `WASMTRACE_BLESS=1 cargo test --release --test e2e go_sdk::records`"
    );
}

fn gofmt(source: &str) -> String {
    use std::io::Write;
    let goroot = Command::new("go").args(["env", "GOROOT"]).output().unwrap();
    let gofmt = Path::new(String::from_utf8(goroot.stdout).unwrap().trim()).join("bin/gofmt");
    let mut child = Command::new(gofmt)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(source.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gofmt refused the generated code:\n{source}");
    String::from_utf8(out.stdout).unwrap()
}

/// A WIT name in Go: `net-tcp-connect` is `NetTCPConnect`, `victim-uid` `VictimUID`.
fn go_name(wit: &str) -> String {
    const INITIALISMS: [&str; 7] = ["tcp", "ip", "id", "uid", "euid", "suid", "vm"];
    wit.split('-')
        .map(|part| match INITIALISMS.contains(&part) {
            true => part.to_uppercase(),
            false => part[..1].to_uppercase() + &part[1..],
        })
        .collect()
}

/// A Go name with a lower-case start: `NetTCPConnect` is `netTCPConnect`, `TCPEnds` `tcpEnds`.
fn lower_first(name: &str) -> String {
    let run = name.chars().take_while(char::is_ascii_uppercase).count();
    // An initialism's letters, but not the next word's capital.
    let lower = if run > 1 && run < name.len() {
        run - 1
    } else {
        run.max(1)
    };
    name[..lower].to_lowercase() + &name[lower..]
}

/// WIT docs as a Go comment; a type's starts with its name, as Go's do.
fn go_comment(out: &mut String, indent: &str, docs: &wit_parser::Docs, name: Option<&str>) {
    for (i, line) in docs.contents.iter().flat_map(|d| d.lines()).enumerate() {
        let line = line.replace('`', "");
        let line = match (i, name) {
            (0, Some(name)) => format!("{name} is {}{}", line[..1].to_lowercase(), &line[1..]),
            _ => line,
        };
        *out += &format!("{indent}// {line}\n");
    }
}

/// The Go SDK's records and their reading, from wit/plugin.wit.
fn go_records() -> String {
    use wit_parser::{Resolve, Type, TypeDefKind};
    let mut resolve = Resolve::default();
    resolve.push_dir(crate::harness::repo().join("wit")).unwrap();
    let (_, events) = resolve
        .interfaces
        .iter()
        .find(|(_, i)| i.name.as_deref() == Some("events"))
        .unwrap();
    // A field's Go type, and how the cursor reads it.
    let field = |ty: &Type| -> (String, String) {
        let scalar = |go: &str, read: &str| (go.to_string(), format!("c.{read}()"));
        match ty {
            Type::Bool => scalar("bool", "bool"),
            Type::U8 => scalar("uint8", "u8"),
            Type::U16 => scalar("uint16", "u16"),
            Type::U32 => scalar("uint32", "u32"),
            Type::S32 => scalar("int32", "s32"),
            Type::U64 => scalar("uint64", "u64"),
            Type::S64 => scalar("int64", "s64"),
            Type::Id(id) => {
                let def = &resolve.types[*id];
                match (&def.name, &def.kind) {
                    (Some(name), _) if name == "text" => scalar("Text", "text"),
                    (None, TypeDefKind::List(Type::Id(item)))
                        if resolve.types[*item].name.as_deref() == Some("text") =>
                    {
                        scalar("[]Text", "texts")
                    }
                    (Some(name), TypeDefKind::Enum(_)) => (go_name(name), format!("{}(c.u8())", go_name(name))),
                    (Some(name), TypeDefKind::Record(_)) => {
                        (go_name(name), format!("c.{}()", lower_first(&go_name(name))))
                    }
                    other => panic!("the Go SDK reads no field of type {other:?}"),
                }
            }
            other => panic!("the Go SDK reads no field of type {other:?}"),
        }
    };
    let TypeDefKind::Variant(body) = &resolve.types[events.types["body"]].kind else {
        panic!("body is not a variant");
    };
    let mut types = String::new();
    let mut readers = String::new();
    // A record as a Go type; returns the Go expression that reads it, and
    // the records its fields are.
    let record = |name: &str, out: &mut String| -> (String, Vec<String>) {
        let def = &resolve.types[events.types[name]];
        let TypeDefKind::Record(r) = &def.kind else {
            panic!("{name} is not a record")
        };
        go_comment(out, "", &def.docs, Some(&go_name(name)));
        *out += &format!("type {} struct {{\n", go_name(name));
        let mut reads = Vec::new();
        let mut nested = Vec::new();
        for f in &r.fields {
            go_comment(out, "\t", &f.docs, None);
            let (go, read) = field(&f.ty);
            *out += &format!("\t{} {go}\n", go_name(&f.name));
            reads.push(format!("{}: {read}", go_name(&f.name)));
            if let Type::Id(id) = f.ty
                && matches!(resolve.types[id].kind, TypeDefKind::Record(_))
                && resolve.types[id].name.as_deref() != Some("text")
            {
                nested.push(resolve.types[id].name.clone().unwrap());
            }
        }
        *out += "}\n\n";
        (format!("{}{{{}}}", go_name(name), reads.join(", ")), nested)
    };
    let mut nested = Vec::new();
    let mut cases = String::new();
    let mut scratch = String::new();
    let mut probes = String::new();
    for (i, (case, probe)) in body.cases.iter().zip(wasmtrace::catalog::all()).enumerate() {
        let Some(Type::Id(id)) = case.ty else {
            panic!("{} carries no record", case.name)
        };
        let name = resolve.types[id].name.clone().unwrap();
        let go = go_name(&name);
        let (value, inner) = record(&name, &mut types);
        nested.extend(inner);
        scratch += &format!("\t{} {go}\n", lower_first(&go));
        probes += &format!("func (*{go}) Probe() string {{ return {:?} }}\n", probe.name);
        cases += &format!(
            "\tcase {i}:\n\t\tb := &bodies.{}\n\t\t*b = {value}\n\t\treturn b\n",
            lower_first(&go)
        );
    }
    nested.sort();
    nested.dedup();
    for name in nested {
        let (value, _) = record(&name, &mut types);
        let def = &resolve.types[events.types[name.as_str()]];
        let TypeDefKind::Record(r) = &def.kind else {
            unreachable!()
        };
        let align = r.fields.iter().map(|f| field_align(&resolve, &f.ty)).max().unwrap();
        readers += &format!(
            "// {lower} reads a {name} record: aligned to {align}, and as long as a multiple of {align}.\n\
             func (c *cursor) {lower}() {go} {{\n\tc.align({align})\n\tv := {value}\n\tc.align({align})\n\treturn v\n}}\n\n",
            lower = lower_first(&go_name(&name)),
            go = go_name(&name),
        );
    }
    format!(
        "// Code generated from wit/plugin.wit by the test go_sdk::records_go_is_generated_from_the_wit. DO NOT EDIT.\n\n\
         package wasmtrace\n\n{types}{probes}\n{readers}\
         // One record per probe, reused from event to event.\nvar bodies struct {{\n{scratch}}}\n\n\
         // liftBody reads the body at addr: its case (a byte), then its record at offset 8.\n\
         func liftBody(addr uint32) Body {{\n\tc := cursor(addr + 8)\n\tswitch u8At(addr) {{\n{cases}\t}}\n\treturn nil\n}}\n"
    )
}

/// A field's alignment in the canonical ABI.
fn field_align(resolve: &wit_parser::Resolve, ty: &wit_parser::Type) -> u32 {
    use wit_parser::{Type, TypeDefKind};
    match ty {
        Type::Bool | Type::U8 => 1,
        Type::U16 => 2,
        Type::U32 | Type::S32 => 4,
        Type::U64 | Type::S64 => 8,
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::Enum(_) => 1,
            TypeDefKind::Record(r) => r.fields.iter().map(|f| field_align(resolve, &f.ty)).max().unwrap_or(1),
            TypeDefKind::List(_) => 4,
            TypeDefKind::Type(t) => field_align(resolve, t),
            other => panic!("no alignment for {other:?}"),
        },
        other => panic!("no alignment for {other:?}"),
    }
}
