//! Loads the eBPF objects for the probes in use, sets their kernel-side
//! filters, attaches them, and reads their ring buffers and drop counters.

use std::collections::BTreeMap;
use std::path::Path;

use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, COMM_LEN, ProbeId};

use crate::catalog::{self, Probe};
use crate::config::ProbeFilter;
use crate::tracefs;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "loading eBPF probes needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN for tracefs): \
         run `sudo wasmtrace run ...`"
    )]
    NotRoot,
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    #[error(
        "probe `{probe}` is not available on this kernel: tracepoint {hook} does not exist. \
         {hint}Remove the probe from the config, or run on a kernel that has it"
    )]
    Unavailable {
        probe: &'static str,
        hook: String,
        hint: &'static str,
    },
    #[error("cannot load {object} into the kernel: {reason}")]
    Load { object: &'static str, reason: String },
    #[error("probe `{probe}`: cannot attach program {program} to tracepoint {hook}: {reason}")]
    Attach {
        probe: &'static str,
        program: &'static str,
        hook: String,
        reason: String,
    },
}

/// Whether a probe can run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// These required tracepoints are missing.
    Missing(Vec<String>),
    /// tracefs could not be read, so nobody knows.
    Unknown(String),
}

pub fn availability(probe: &Probe, events_dir: &Path) -> Availability {
    let missing: Vec<String> = probe
        .hooks
        .iter()
        .filter(|h| h.required && !tracefs::has_tracepoint(events_dir, h.category, h.name))
        .map(|h| format!("{}/{}", h.category, h.name))
        .collect();
    if missing.is_empty() {
        Availability::Available
    } else {
        Availability::Missing(missing)
    }
}

/// One loaded object and the probes attached from it.
struct Family {
    ring: RingBuf<MapData>,
    drops: PerCpuArray<MapData, u64>,
    probes: Vec<ProbeId>,
    /// Keeps the programs and their links alive.
    _ebpf: Ebpf,
}

/// The probes running in the kernel.
pub struct Probes {
    families: Vec<Family>,
}

impl Probes {
    /// Loads and attaches `wanted` probes with their filters. Events of the
    /// process `exclude_tgid` (wasmtrace itself) are dropped in the kernel.
    pub fn attach(
        wanted: &BTreeMap<ProbeId, ProbeFilter>,
        ring_buffer_bytes: u32,
        exclude_tgid: u32,
    ) -> Result<Probes, ProbeError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(ProbeError::NotRoot);
        }
        let events_dir = tracefs::events_dir()?;
        for &id in wanted.keys() {
            let probe = catalog::by_id(id);
            if let Availability::Missing(hooks) = availability(probe, &events_dir) {
                return Err(ProbeError::Unavailable {
                    probe: probe.name,
                    hook: hooks.join(", "),
                    hint: hint(probe),
                });
            }
        }
        let mut by_object: BTreeMap<Object, Vec<ProbeId>> = BTreeMap::new();
        for &id in wanted.keys() {
            by_object.entry(catalog::by_id(id).object).or_default().push(id);
        }
        let families = by_object
            .into_iter()
            .map(|(object, probes)| load_family(object, probes, wanted, ring_buffer_bytes, exclude_tgid, &events_dir))
            .collect::<Result<_, _>>()?;
        Ok(Probes { families })
    }

    /// Passes up to `max` records from each ring buffer to `f`; returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        for family in &mut self.families {
            for _ in 0..max {
                let Some(item) = family.ring.next() else { break };
                f(&item);
                n += 1;
            }
        }
        n
    }

    /// Events each probe dropped in the kernel because its ring buffer was full.
    pub fn lost(&self) -> Vec<(ProbeId, u64)> {
        self.families
            .iter()
            .flat_map(|f| {
                f.probes
                    .iter()
                    .map(move |&id| (id, f.drops.get(&(id as u32), 0).map(|v| v.iter().sum()).unwrap_or(0)))
            })
            .collect()
    }

    pub fn probes(&self) -> impl Iterator<Item = ProbeId> + '_ {
        self.families.iter().flat_map(|f| f.probes.iter().copied())
    }
}

fn hint(probe: &Probe) -> &'static str {
    match probe.hooks[0].category {
        "syscalls" => "Syscall tracepoints need CONFIG_FTRACE_SYSCALLS. ",
        _ => "",
    }
}

fn kernel_filter(filter: &ProbeFilter, exclude_tgid: u32) -> abi::Filter {
    let mut f = abi::Filter {
        enabled: 1,
        exclude_tgid,
        ..Default::default()
    };
    f.n_pids = filter.pids.len() as u32;
    f.pids[..filter.pids.len()].copy_from_slice(&filter.pids);
    f.n_uids = filter.uids.len() as u32;
    f.uids[..filter.uids.len()].copy_from_slice(&filter.uids);
    f.n_comms = filter.comms.len() as u32;
    for (slot, comm) in f.comms.iter_mut().zip(&filter.comms) {
        let bytes = &comm.as_bytes()[..comm.len().min(COMM_LEN - 1)];
        slot[..bytes.len()].copy_from_slice(bytes);
    }
    f
}

fn load_family(
    object: Object,
    probes: Vec<ProbeId>,
    wanted: &BTreeMap<ProbeId, ProbeFilter>,
    ring_buffer_bytes: u32,
    exclude_tgid: u32,
    events_dir: &Path,
) -> Result<Family, ProbeError> {
    let load_error = |reason: String| ProbeError::Load {
        object: object.name(),
        reason,
    };
    let mut ebpf = EbpfLoader::new()
        .map_max_entries("events", ring_buffer_bytes)
        .load(object.bytes())
        .map_err(|e| load_error(format!("{e:#}")))?;

    // Filters first: a probe whose filter is unset emits nothing.
    {
        let mut filters: Array<_, abi::Filter> = ebpf
            .map_mut("filters")
            .ok_or_else(|| load_error("no `filters` map".into()))?
            .try_into()
            .map_err(|e| load_error(format!("`filters` map: {e}")))?;
        for &id in &probes {
            filters
                .set(id as u32, kernel_filter(&wanted[&id], exclude_tgid), 0)
                .map_err(|e| load_error(format!("setting filter: {e}")))?;
        }
    }

    for &id in &probes {
        let probe = catalog::by_id(id);
        for hook in probe.hooks {
            if !hook.required && !tracefs::has_tracepoint(events_dir, hook.category, hook.name) {
                continue;
            }
            let attach_error = |reason: String| ProbeError::Attach {
                probe: probe.name,
                program: hook.program,
                hook: format!("{}/{}", hook.category, hook.name),
                reason,
            };
            let program: &mut TracePoint = ebpf
                .program_mut(hook.program)
                .ok_or_else(|| attach_error(format!("{} has no such program", object.name())))?
                .try_into()
                .map_err(|e| attach_error(format!("{e}")))?;
            program.load().map_err(|e| attach_error(verifier_message(&e)))?;
            program
                .attach(hook.category, hook.name)
                .map_err(|e| attach_error(format!("{e:#}")))?;
        }
    }

    let ring = RingBuf::try_from(
        ebpf.take_map("events")
            .ok_or_else(|| load_error("no `events` map".into()))?,
    )
    .map_err(|e| load_error(format!("`events` map: {e}")))?;
    let drops = PerCpuArray::try_from(
        ebpf.take_map("drops")
            .ok_or_else(|| load_error("no `drops` map".into()))?,
    )
    .map_err(|e| load_error(format!("`drops` map: {e}")))?;
    Ok(Family {
        ring,
        drops,
        probes,
        _ebpf: ebpf,
    })
}

/// The verifier's last lines say why it refused a program.
fn verifier_message(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            format!(
                "{io_error}; verifier: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        }
        other => format!("{other:#}"),
    }
}
