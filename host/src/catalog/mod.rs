//! The probe catalog: one row per probe, in a table per family (the probes
//! of one `.bpf.c` object): what it attaches to, any load-time setup, its
//! fields, and how its record becomes its WIT body. The loader, the
//! decoder, `wasmtrace list` and docs/probes.md all read it, so a probe is
//! its row in its family's file here, its `.bpf.c` program, its record in
//! events.h and its record in the WIT (docs/contributing.md).

mod block;
mod cpu;
mod file;
mod net;
mod process;
pub mod read;
mod sched;
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
    /// A software cpu-clock perf event on every online CPU, sampling at the
    /// probe's frequency.
    CpuClock,
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
            Attach::CpuClock => write!(f, "perf_event:cpu-clock"),
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

/// Which stacks a probe's events can carry (`stacks` in its `[probe]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackSupport {
    /// None, and why: the event is not made on the stack of its task.
    Never(&'static str),
    /// The kernel's only, and why not the user's: the event is made in
    /// softirq or timer context, on whatever task the CPU was running.
    KernelOnly(&'static str),
    /// Those the table asks for; none unless it does.
    OnRequest,
    /// Kernel and user stacks unless the table says otherwise (sampling).
    ByDefault,
}

impl StackSupport {
    /// What `wasmtrace list` and docs/probes.md say of a probe's stacks.
    pub fn describe(self) -> String {
        match self {
            StackSupport::Never(why) => format!("none ({why})"),
            StackSupport::KernelOnly(why) => {
                format!("the kernel's when its table asks (`stacks = \"kernel\"`), not the user's ({why}); none by default")
            }
            StackSupport::OnRequest => {
                "kernel, user or both when its table asks (`stacks = \"kernel\" | \"user\" | \"both\"`); none by default".into()
            }
            StackSupport::ByDefault => "kernel and user, unless its table sets `stacks`".into(),
        }
    }
}

#[derive(Debug)]
pub struct Probe {
    pub name: &'static str,
    pub id: ProbeId,
    pub object: Object,
    pub delivery: Delivery,
    pub stacks: StackSupport,
    /// Work before the probe's programs attach, beyond setting its filter
    /// (e.g. memory.swapin's list of swap partitions).
    pub setup: Option<Setup>,
    pub summary: &'static str,
    pub hooks: &'static [Hook],
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

const fn btf_tp(program: &'static str, category: &'static str, name: &'static str) -> Hook {
    Hook {
        program,
        attach: Attach::BtfTracepoint { category, name },
        required: true,
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

// `BODY_FIELDS`: each probe's fields and their docs, from its WIT record.
include!(concat!(env!("OUT_DIR"), "/wit_fields.rs"));

impl Probe {
    /// Its event's fields, beyond the header, as its WIT record has them.
    pub fn fields(&self) -> &'static [Field] {
        BODY_FIELDS[self.id as usize].1
    }
}

/// Fields of the header that every event carries.
pub const HEADER_FIELDS: &[Field] = &[
    field("timestamp-ns", "u64", "Nanoseconds since boot (CLOCK_BOOTTIME)."),
    field("cpu", "u32", "CPU the event happened on."),
    field("pid", "u32", "Process id (thread-group id)."),
    field("tid", "u32", "Thread id."),
    field("ppid", "u32", "Parent's process id."),
    field("uid", "u32", "User id."),
    field("gid", "u32", "Group id."),
    field(
        "comm",
        "string",
        "Command name, at most 15 bytes (sent once per batch).",
    ),
    field("cgroup-id", "u64", "Id of the task's cgroup (v2)."),
    field(
        "container",
        "option<container>",
        "The container it ran in; none for a process of the host.",
    ),
    field(
        "kernel-stack",
        "u32",
        "The kernel stack's id when the probe carries stacks (0: none): `stacks.frames` names it, `maps.stack-counter` counts by it.",
    ),
    field(
        "user-stack",
        "u32",
        "The user stack's id, as `kernel-stack` (ids are per process).",
    ),
];

/// Every family's table.
const FAMILIES: &[&[Probe]] = &[
    process::PROBES,
    file::PROBES,
    syscall::PROBES,
    net::PROBES,
    user::PROBES,
    sched::PROBES,
    block::PROBES,
    cpu::PROBES,
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

    /// The cases of the WIT's `body` are the probes, in id order: the
    /// fields of a probe are its case's (and the SDKs that read a body by its
    /// case number rely on the order).
    #[test]
    fn the_wits_body_cases_are_the_probes() {
        let cases: Vec<&str> = BODY_FIELDS.iter().map(|(case, _)| *case).collect();
        let probes: Vec<String> = all().iter().map(|p| p.name.replace('.', "-")).collect();
        assert_eq!(cases, probes);
        let header: Vec<&str> = HEADER_FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(header, HEADER_NAMES);
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
