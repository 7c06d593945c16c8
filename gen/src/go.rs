//! The Go SDK's generated files: records.go (each probe's record as a Go
//! type, the code that reads it from a batch, and the batch's offsets) and
//! enums.go. Unformatted: `cargo xtask` runs gofmt on them.

use std::collections::HashSet;
use std::fmt::Write;

use wit_parser::{Docs, SizeAlign, Type, TypeDefKind};

use crate::Wit;

const HEADER: &str = "// Code generated from wit/plugin.wit by `cargo xtask`. DO NOT EDIT.\n\npackage wasmtrace\n\n";

/// Records whose field offsets the hand-written lifting code (plugin.go,
/// lift.go) uses: the batch, its columns of headers, and a container.
const OFFSETS_OF: &[&str] = &["batch", "headers", "container", "pod"];

/// A WIT name in Go: `net-tcp-connect` is `NetTCPConnect`, `victim-uid` `VictimUID`.
pub fn go_name(wit: &str) -> String {
    const INITIALISMS: &[(&str, &str)] = &[
        ("tcp", "TCP"),
        ("ip", "IP"),
        ("id", "ID"),
        ("uid", "UID"),
        ("euid", "EUID"),
        ("suid", "SUID"),
        ("vm", "VM"),
        ("ipv4", "IPv4"),
        ("ipv6", "IPv6"),
        ("cpu", "CPU"),
        ("gid", "GID"),
    ];
    wit.split('-')
        .map(|part| match INITIALISMS.iter().find(|(w, _)| *w == part) {
            Some((_, go)) => go.to_string(),
            None => part[..1].to_uppercase() + &part[1..],
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
fn comment(out: &mut String, indent: &str, docs: &Docs, name: Option<&str>) {
    for (i, line) in docs.contents.iter().flat_map(|d| d.lines()).enumerate() {
        let line = line.replace('`', "");
        let line = match (i, name) {
            // "IPv4 or IPv6." keeps its initialism's capital.
            (0, Some(name)) if line[1..].starts_with(|c: char| c.is_ascii_uppercase()) => format!("{name} is {line}"),
            (0, Some(name)) => format!("{name} is {}{}", line[..1].to_lowercase(), &line[1..]),
            _ => line,
        };
        let _ = writeln!(out, "{indent}// {line}");
    }
}

/// enums.go: each enum of the events interface as a Go type, its cases as
/// constants, and String() as the tools print them.
pub fn enums(wit: &Wit) -> String {
    let mut out = String::from(HEADER);
    let mut taken = HashSet::new();
    for e in wit.enums() {
        let ty = go_name(&e.name);
        comment(&mut out, "", &e.docs, Some(&ty));
        let _ = writeln!(out, "type {ty} uint8\n\nconst (");
        let last_word = e.name.rsplit('-').next().unwrap_or(&e.name);
        for (i, case) in e.cases.iter().enumerate() {
            // Go's constants share the package: the second `fsync` is `FsyncOp`.
            let mut name = go_name(&case.name);
            if !taken.insert(name.clone()) {
                name += &go_name(last_word);
                taken.insert(name.clone());
            }
            match i {
                0 => _ = writeln!(out, "\t{name} {ty} = iota"),
                _ => _ = writeln!(out, "\t{name}"),
            }
        }
        let printed: Vec<String> = e.cases.iter().map(|c| format!("{:?}", c.printed)).collect();
        let _ = writeln!(
            out,
            ")\n\n// String is its name as the tools print it.\nfunc (v {ty}) String() string {{ return enumName(v, {}) }}\n",
            printed.join(", ")
        );
    }
    out
}

/// records.go: the probes' records and their reading, and the offsets the
/// hand-written lifting code uses.
pub fn records(wit: &Wit) -> String {
    let resolve = &wit.resolve;
    let mut sizes = SizeAlign::default();
    sizes.fill(resolve);
    let align = |ty: &Type| sizes.align(ty).align_wasm32();
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
    let mut types = String::new();
    // A record as a Go type; returns the Go expression that reads it, and
    // the records its fields are.
    let record = |name: &str, out: &mut String| -> (String, Vec<String>) {
        let def = &resolve.types[wit.type_id(name)];
        comment(out, "", &def.docs, Some(&go_name(name)));
        let _ = writeln!(out, "type {} struct {{", go_name(name));
        let mut reads = Vec::new();
        let mut nested = Vec::new();
        for f in &wit.record(name).fields {
            comment(out, "\t", &f.docs, None);
            let (go, read) = field(&f.ty);
            let _ = writeln!(out, "\t{} {go}", go_name(&f.name));
            reads.push(format!("{}: {read}", go_name(&f.name)));
            if let Type::Id(id) = f.ty
                && matches!(resolve.types[id].kind, TypeDefKind::Record(_))
                && resolve.types[id].name.as_deref() != Some("text")
            {
                nested.push(resolve.types[id].name.clone().unwrap());
            }
        }
        out.push_str("}\n\n");
        (format!("{}{{{}}}", go_name(name), reads.join(", ")), nested)
    };
    let body_ty = Type::Id(wit.type_id("body"));
    let TypeDefKind::Variant(body) = &resolve.types[wit.type_id("body")].kind else {
        unreachable!("Wit::body checked it")
    };
    let payload = sizes
        .payload_offset(body.tag(), body.cases.iter().map(|c| c.ty.as_ref()))
        .size_wasm32();
    let mut nested = Vec::new();
    let mut cases = String::new();
    let mut scratch = String::new();
    let mut probes = String::new();
    for (i, case) in wit.body().iter().enumerate() {
        let go = go_name(&case.record);
        let (value, inner) = record(&case.record, &mut types);
        nested.extend(inner);
        let _ = writeln!(scratch, "\t{} {go}", lower_first(&go));
        let _ = writeln!(probes, "func (*{go}) Probe() string {{ return {:?} }}", case.probe);
        let _ = write!(
            cases,
            "\tcase {i}:\n\t\tb := &bodies.{}\n\t\t*b = {value}\n\t\treturn b\n",
            lower_first(&go)
        );
    }
    nested.sort();
    nested.dedup();
    let mut readers = String::new();
    for name in nested {
        let (value, _) = record(&name, &mut types);
        let align = align(&Type::Id(wit.type_id(&name)));
        let _ = write!(
            readers,
            "// {lower} reads a {name} record: aligned to {align}, and as long as a multiple of {align}.\n\
             func (c *cursor) {lower}() {go} {{\n\tc.align({align})\n\tv := {value}\n\tc.align({align})\n\treturn v\n}}\n\n",
            lower = lower_first(&go_name(&name)),
            go = go_name(&name),
        );
    }
    let mut offsets = format!(
        "// A body is the variant's case (a byte), then its record at bodyPayload.\nconst (\n\tbodySize = {}\n\tbodyPayload = {payload}\n)\n\n",
        sizes.size(&body_ty).size_wasm32()
    );
    for name in OFFSETS_OF {
        offsets += &record_offsets(wit, &sizes, name);
    }
    format!(
        "{HEADER}{types}{probes}\n{readers}\
         // One record per probe, reused from event to event.\nvar bodies struct {{\n{scratch}}}\n\n\
         // liftBody reads the body at addr: its case (a byte), then its record.\n\
         func liftBody(addr uint32) Body {{\n\tc := cursor(addr + bodyPayload)\n\tswitch u8At(addr) {{\n{cases}\t}}\n\treturn nil\n}}\n\n\
         {offsets}"
    )
}

/// A record's size and its fields' offsets in the canonical ABI, as Go
/// constants: `containerSize`, `containerImage`; an option's value at `containerPodValue`.
fn record_offsets(wit: &Wit, sizes: &SizeAlign, name: &str) -> String {
    let record = wit.record(name);
    let prefix = lower_first(&go_name(name));
    let size = sizes.size(&Type::Id(wit.type_id(name))).size_wasm32();
    let mut out = format!("// Where a {name} record's fields are.\nconst (\n\t{prefix}Size = {size}\n");
    for (offset, f) in sizes
        .field_offsets(record.fields.iter().map(|f| &f.ty))
        .into_iter()
        .zip(&record.fields)
    {
        let at = offset.0.size_wasm32();
        let _ = writeln!(out, "\t{prefix}{} = {at}", go_name(&f.name));
        if let Type::Id(id) = f.ty
            && let TypeDefKind::Option(inner) = &wit.resolve.types[id].kind
        {
            let value = sizes.payload_offset(wit_parser::Int::U8, [Some(inner)]).size_wasm32();
            let _ = writeln!(out, "\t{prefix}{}Value = {}", go_name(&f.name), at + value);
        }
    }
    out.push_str(")\n\n");
    out
}
