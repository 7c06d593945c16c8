//! The probe catalog: one row per probe, in a table per family (the probes
//! of one `.bpf.c` object): what it attaches to, any load-time setup, its
//! fields, and how its record becomes its WIT body. The loader, the
//! decoder, `wasmtrace list` and docs/probes.md all read it, so a probe is
//! its row in its family's file here, its `.bpf.c` program, its record in
//! events.h and its record in the WIT (docs/contributing.md).

mod file;
mod net;
mod process;
pub mod read;
mod syscall;
mod user;

use std::sync::LazyLock;

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::ProbeId;

use crate::wit::Body;
use read::{DecodeError, TextTable};

/// What a program attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// A tracepoint: category and name, as under /sys/kernel/tracing/events.
    Tracepoint { category: &'static str, name: &'static str },
    /// The same tracepoint, attached through BTF (`tp_btf`): the program
    /// gets the tracepoint's typed arguments directly. Needs kernel BTF.
    BtfTracepoint { category: &'static str, name: &'static str },
    /// A function of a user-space program or library (a uprobe; a uretprobe
    /// when `ret`, as the program's section says). `target` is a path, or a
    /// library's file name looked up in the usual library folders.
    Uprobe {
        target: &'static str,
        symbol: &'static str,
        ret: bool,
    },
}

/// A hook that one of a probe's programs attaches to.
#[derive(Debug)]
pub struct Hook {
    /// The program's function name in the `.bpf.c` file.
    pub program: &'static str,
    pub attach: Attach,
    /// A probe is available when all its required hooks exist; optional
    /// hooks (e.g. `open`, which arm64 lacks) are attached where they exist.
    pub required: bool,
}

impl std::fmt::Display for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attach::Tracepoint { category, name } => write!(f, "tracepoint:{category}/{name}"),
            Attach::BtfTracepoint { category, name } => write!(f, "tp_btf:{category}/{name}"),
            Attach::Uprobe { target, symbol, ret } => {
                write!(f, "{}:{target}:{symbol}", if *ret { "uretprobe" } else { "uprobe" })
            }
        }
    }
}

/// A field of a probe's event, for `wasmtrace list` and the docs.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

/// A probe's load-time work on its loaded object; a message on failure.
pub type Setup = fn(&mut aya::Ebpf) -> Result<(), String>;

/// Reads one of a probe's records into its WIT body, its strings into the
/// batch's text table.
pub type Decode = fn(&mut TextTable, ProbeId, &[u8]) -> Result<Body, DecodeError>;

/// How a probe's calls reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// An event per call, through the family's ring buffer.
    Stream,
    /// Counted in a kernel map; an event per key every interval
    /// (`kernel_counts`). A full map, not the ring, loses calls.
    KernelCounts,
}

#[derive(Debug)]
pub struct Probe {
    pub name: &'static str,
    pub id: ProbeId,
    pub object: Object,
    pub delivery: Delivery,
    /// Work before the probe's programs attach, beyond setting its filter
    /// (e.g. memory.swapin's list of swap partitions).
    pub setup: Option<Setup>,
    pub summary: &'static str,
    pub hooks: &'static [Hook],
    pub fields: &'static [Field],
    /// The record (events.h) to the WIT body (plugin.wit).
    pub decode: Decode,
    /// What to know about when this probe sees an event and how its filters apply.
    pub notes: &'static str,
}

const fn tp(program: &'static str, category: &'static str, name: &'static str) -> Hook {
    Hook {
        program,
        attach: Attach::Tracepoint { category, name },
        required: true,
    }
}

const fn optional_tp(program: &'static str, category: &'static str, name: &'static str) -> Hook {
    Hook {
        program,
        attach: Attach::Tracepoint { category, name },
        required: false,
    }
}

const fn uprobe(program: &'static str, target: &'static str, symbol: &'static str, ret: bool) -> Hook {
    Hook {
        program,
        attach: Attach::Uprobe { target, symbol, ret },
        required: true,
    }
}

const fn field(name: &'static str, ty: &'static str, doc: &'static str) -> Field {
    Field { name, ty, doc }
}

/// Fields of the header that every event carries.
pub const HEADER_FIELDS: &[Field] = &[
    field("timestamp-ns", "u64", "nanoseconds since boot (CLOCK_BOOTTIME)"),
    field("cpu", "u32", "CPU the event happened on"),
    field("pid", "u32", "process id (thread-group id)"),
    field("tid", "u32", "thread id"),
    field("ppid", "u32", "parent's process id"),
    field("uid", "u32", "user id"),
    field("gid", "u32", "group id"),
    field("comm", "string", "command name, at most 15 bytes (sent once per batch)"),
    field("cgroup-id", "u64", "id of the task's cgroup (v2)"),
    field(
        "container",
        "option<container>",
        "the container it ran in; none for a process of the host",
    ),
];

/// Every family's table.
const FAMILIES: &[&[Probe]] = &[
    process::PROBES,
    file::PROBES,
    syscall::PROBES,
    net::PROBES,
    user::PROBES,
];

/// Every probe, in id order.
pub fn all() -> &'static [&'static Probe] {
    static ALL: LazyLock<Vec<&'static Probe>> = LazyLock::new(|| {
        let mut all: Vec<&'static Probe> = FAMILIES.iter().flat_map(|family| family.iter()).collect();
        all.sort_by_key(|p| p.id as usize);
        all
    });
    &ALL
}

/// What a `tcp-ends` field holds.
const TCP_ENDS: &str =
    "`family` (`ipv4`, `ipv6`), `saddr` and `sport` (local), `daddr` and `dport` (remote); addresses as text";

/// The probe with this name.
pub fn find(name: &str) -> Option<&'static Probe> {
    all().iter().copied().find(|p| p.name == name)
}

/// The probe for this id.
pub fn by_id(id: ProbeId) -> &'static Probe {
    all()[id as usize]
}

/// The catalog name closest to a misspelt one, for "did you mean".
pub fn suggest(name: &str) -> Option<&'static str> {
    all()
        .iter()
        .map(|p| (strsim::levenshtein(name, p.name), p.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// One row per probe of events.h's list (so `by_id` indexes), each in
    /// the table of the family whose object holds its programs.
    #[test]
    fn the_rows_follow_the_probe_list() {
        let ids: Vec<ProbeId> = all().iter().map(|p| p.id).collect();
        assert_eq!(ids, ProbeId::ALL);
        for family in FAMILIES {
            assert!(
                family.iter().all(|p| p.object == family[0].object),
                "{:?}",
                family[0].object
            );
        }
    }

    /// The catalog's fields are the WIT's: the same names and types in the
    /// same order; and the cases of the WIT's `body` are the probes, in id
    /// order (the SDKs that read a body by its case number rely on it).
    #[test]
    fn the_fields_are_the_wits() {
        use wit_parser::{Resolve, Type, TypeDefKind};

        fn type_name(resolve: &Resolve, ty: &Type) -> String {
            let id = match ty {
                Type::Bool => return "bool".into(),
                Type::U8 => return "u8".into(),
                Type::U16 => return "u16".into(),
                Type::U32 => return "u32".into(),
                Type::U64 => return "u64".into(),
                Type::S32 => return "s32".into(),
                Type::S64 => return "s64".into(),
                Type::String => return "string".into(),
                Type::Id(id) => *id,
                other => panic!("a field of type {other:?}"),
            };
            let def = &resolve.types[id];
            match (&def.name, &def.kind) {
                (Some(name), _) => name.clone(),
                (None, TypeDefKind::List(item)) => format!("list<{}>", type_name(resolve, item)),
                (None, TypeDefKind::Option(item)) => format!("option<{}>", type_name(resolve, item)),
                (None, kind) => panic!("an anonymous {kind:?}"),
            }
        }

        let mut resolve = Resolve::default();
        resolve
            .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit"))
            .unwrap();
        let (_, events) = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some("events"))
            .unwrap();
        let record = |name: &str| -> Vec<(String, String)> {
            let TypeDefKind::Record(r) = &resolve.types[events.types[name]].kind else {
                panic!("{name} is not a record");
            };
            r.fields
                .iter()
                .map(|f| (f.name.clone(), type_name(&resolve, &f.ty)))
                .collect()
        };
        let TypeDefKind::Variant(body) = &resolve.types[events.types["body"]].kind else {
            panic!("body is not a variant");
        };
        let cases: Vec<String> = body.cases.iter().map(|c| c.name.clone()).collect();
        let probes: Vec<String> = all().iter().map(|p| p.name.replace('.', "-")).collect();
        assert_eq!(cases, probes);
        for (case, probe) in body.cases.iter().zip(all()) {
            let Some(ty) = &case.ty else {
                panic!("{} carries no record", case.name)
            };
            let ours: Vec<(String, String)> = probe
                .fields
                .iter()
                .map(|f| (f.name.to_string(), f.ty.to_string()))
                .collect();
            assert_eq!(ours, record(&type_name(&resolve, ty)), "{}", probe.name);
        }
        let header: Vec<&str> = HEADER_FIELDS.iter().map(|f| f.name).collect();
        let wit: Vec<String> = record("headers").into_iter().map(|(name, _)| name).collect();
        assert_eq!(header, wit);
    }

    #[test]
    fn every_probe_has_a_required_hook() {
        for p in all() {
            assert!(p.hooks.iter().any(|h| h.required), "{}", p.name);
        }
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(suggest("file.opne"), Some("file.open"));
        assert_eq!(suggest("proces.exec"), Some("process.exec"));
        assert_eq!(suggest("net.tcp.conect"), Some("net.tcp.connect"));
        assert_eq!(suggest("gpu.kernel.launch"), None);
    }
}
