//! Loads the eBPF objects for the probes in use, sets their kernel-side
//! filters, attaches them, and reads their ring buffers and drop counters.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::uprobe::{UProbeAttachLocation, UProbeScope};
use aya::programs::{BtfTracePoint, PerfEvent, TracePoint, UProbe};
use aya::util::online_cpus;
use aya::{Btf, Ebpf, EbpfLoader};
use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, COMM_LEN, ProbeId};

use crate::catalog::{self, Attach, Delivery, Probe, StackSupport};
use crate::config::{DEFAULT_FREQUENCY, ProbeFilter, Scope, Stacks};
use crate::kernel_counts::KernelCounts;
use crate::mount_namespaces::MountNamespaces;
use crate::{elf_symbol, tracefs, uprobe_target};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "loading eBPF probes needs {missing}, which wasmtrace does not have: run it as root, or grant \
         the capabilities (e.g. `setpriv --inh-caps=+bpf,+perfmon,+dac_read_search \
         --ambient-caps=+bpf,+perfmon,+dac_read_search wasmtrace run ...`; in Kubernetes, \
         securityContext.capabilities.add: [BPF, PERFMON, DAC_READ_SEARCH])"
    )]
    Privileges { missing: String },
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    #[error(
        "probe `{probe}` is not available here: it needs {hook}, which this system lacks. \
         {hint}Remove the probe from the config, or run where it is available"
    )]
    Unavailable {
        probe: &'static str,
        hook: String,
        hint: &'static str,
    },
    #[error("cannot load {object} into the kernel: {reason}")]
    Load { object: &'static str, reason: String },
    #[error("cannot move the kernel's counts on to a new interval: {0}")]
    Counts(aya::maps::MapError),
    #[error("probe `{probe}`: cannot attach program {program} to {hook}: {reason}")]
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
    /// These required hooks are missing (tracepoints this kernel lacks,
    /// programs or libraries not installed).
    Missing(Vec<String>),
    /// tracefs could not be read, so nobody knows.
    Unknown(String),
}

pub fn availability(probe: &Probe, events_dir: &Path) -> Availability {
    let mut missing: Vec<String> = Vec::new();
    let mut looked_up: Vec<&str> = Vec::new();
    for hook in probe.hooks.iter().filter(|h| h.required) {
        let why = match hook.attach {
            // Each file looked up once (a probe hooks several of its
            // functions), and said once, with where it was looked for.
            Attach::Uprobe { target, .. } if looked_up.contains(&target) => continue,
            Attach::Uprobe { target, .. } => {
                looked_up.push(target);
                match uprobe_target::find(target) {
                    Ok(_) => continue,
                    Err(e) => format!("uprobes on {target} ({e})"),
                }
            }
            attach if hook_exists(attach, events_dir) => continue,
            attach => attach.to_string(),
        };
        if !missing.contains(&why) {
            missing.push(why);
        }
    }
    if missing.is_empty() {
        Availability::Available
    } else {
        Availability::Missing(missing)
    }
}

/// One loaded object and the probes attached from it.
struct Family {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    /// What its probes count in the kernel, if it has such probes.
    counts: Option<KernelCounts>,
    drops: PerCpuArray<MapData, u64>,
    probes: Vec<ProbeId>,
}

/// The probes running in the kernel.
pub struct Probes {
    families: BTreeMap<Object, Family>,
    events_dir: PathBuf,
    ring_buffer_bytes: u32,
    exclude_tgid: u32,
    /// The files each uprobe program is attached to, by identity.
    uprobe_files: UprobeFiles,
    /// The mount namespaces looked into for other copies of those files.
    namespaces: MountNamespaces,
    /// The copies attached for each cgroup's processes.
    copies_per_cgroup: HashMap<String, BTreeSet<uprobe_target::FileId>>,
    /// The cgroups told that a cap stopped their copies (said once each).
    capped_said: BTreeSet<String>,
}

/// Files a uprobe program is attached to at most: the host's and its
/// containers' copies.
const MAX_UPROBE_FILES: usize = 256;
/// Copies attached for one cgroup's processes at most (a container has one
/// libc and one libssl, or a few).
const MAX_COPIES_PER_CGROUP: usize = 4;
/// Cgroups whose copies are counted at once; past it, the counts start over.
const MAX_CGROUPS_FOLLOWED: usize = 4096;

/// A process's cgroup (v2), as /proc/PID/cgroup names it.
fn cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|text| text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

type UprobeFiles = BTreeMap<&'static str, BTreeSet<uprobe_target::FileId>>;

impl Probes {
    /// Loads and attaches `wanted` probes with their filters. wasmtrace's
    /// own events are dropped in the kernel.
    pub fn attach(wanted: &BTreeMap<ProbeId, ProbeFilter>, ring_buffer_bytes: u32) -> Result<Probes, ProbeError> {
        let uprobes: Vec<&str> = wanted
            .keys()
            .map(|&id| catalog::by_id(id))
            .filter(|p| p.hooks.iter().any(|h| matches!(h.attach, Attach::Uprobe { .. })))
            .map(|p| p.name)
            .collect();
        let missing = crate::caps::missing_for_probes(!uprobes.is_empty());
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|&c| match c {
                    crate::caps::Cap::SysAdmin => format!("{} (for the uprobes of {})", c.name(), uprobes.join(", ")),
                    c => c.name().to_string(),
                })
                .collect();
            return Err(ProbeError::Privileges {
                missing: names.join(" and "),
            });
        }
        let events_dir = tracefs::events_dir()?;
        // Check them all first, so that nothing is attached when one is missing.
        for &id in wanted.keys() {
            check_available(catalog::by_id(id), &events_dir)?;
        }
        let mut probes = Probes {
            families: BTreeMap::new(),
            events_dir,
            ring_buffer_bytes,
            exclude_tgid: crate::whoami::traced_tgid(),
            uprobe_files: UprobeFiles::new(),
            namespaces: MountNamespaces::default(),
            copies_per_cgroup: HashMap::new(),
            capped_said: BTreeSet::new(),
        };
        let mut uprobes = false;
        for (&id, filter) in wanted {
            uprobes |= probes.add(id, filter)?;
        }
        // Containers' copies of the uprobes' files, once for all the probes.
        if uprobes {
            probes.follow_library_copies();
        }
        Ok(probes)
    }

    /// Attaches a probe if it is not attached yet (loading its object if
    /// need be), with this filter. Used at start and when a hot-loaded
    /// plugin asks for a probe.
    pub fn ensure(&mut self, id: ProbeId, filter: &ProbeFilter) -> Result<(), ProbeError> {
        if self.add(id, filter)? {
            // Every namespace again, for this probe's files.
            self.namespaces = MountNamespaces::default();
            self.follow_library_copies();
        }
        Ok(())
    }

    /// Attaches a probe if it is not attached yet; true when it attached
    /// one with uprobes, whose files containers may have copies of.
    fn add(&mut self, id: ProbeId, filter: &ProbeFilter) -> Result<bool, ProbeError> {
        let probe = catalog::by_id(id);
        if self.families.get(&probe.object).is_some_and(|f| f.probes.contains(&id)) {
            return Ok(false);
        }
        check_available(probe, &self.events_dir)?;
        let family = match self.families.entry(probe.object) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(load_object(probe.object, self.ring_buffer_bytes)?)
            }
        };
        attach_probe(
            family,
            probe,
            kernel_filter(probe, filter, self.exclude_tgid),
            &self.events_dir,
            &mut self.uprobe_files,
            filter.frequency.unwrap_or(DEFAULT_FREQUENCY),
        )?;
        family.probes.push(id);
        Ok(probe.hooks.iter().any(|h| matches!(h.attach, Attach::Uprobe { .. })))
    }

    /// Attaches the uprobes to the other copies of their files that the
    /// processes of new mount namespaces (containers) see: a uprobe is set
    /// on a file, and a container's libc is its own. Called at start and
    /// on every tick; a copy that cannot be read or attached is said once.
    pub fn follow_library_copies(&mut self) {
        if self.uprobe_files.is_empty() {
            return;
        }
        // The uprobe hooks attached: (family, probe, program, target, symbol).
        let hooks: Vec<(Object, &'static Probe, &'static str, &'static str, &'static str)> = self
            .families
            .iter()
            .flat_map(|(&object, family)| family.probes.iter().map(move |&id| (object, catalog::by_id(id))))
            .flat_map(|(object, probe)| {
                probe.hooks.iter().filter_map(move |hook| match hook.attach {
                    Attach::Uprobe { target, symbol, .. } => Some((object, probe, hook.program, target, symbol)),
                    _ => None,
                })
            })
            .collect();
        for pid in self.namespaces.new_ones() {
            let cgroup = cgroup_of(pid);
            // Each target once per namespace: a probe has several hooks on one library.
            let mut found: HashMap<&str, Option<LibraryCopy>> = HashMap::new();
            for &(object, probe, program, target, symbol) in &hooks {
                let copy = found.entry(target).or_insert_with(|| {
                    let programs: Vec<&str> = hooks.iter().filter(|h| h.3 == target).map(|h| h.2).collect();
                    LibraryCopy::of(pid, target, &programs, &self.uprobe_files)
                });
                let Some(copy) = copy else {
                    continue;
                };
                let files = self.uprobe_files.entry(program).or_default();
                if files.contains(&copy.id) {
                    continue;
                }
                // Each copy is a perf event and a link per program. A cgroup
                // (a container, a user's session) gets a few, so that no
                // tenant can use up the rest's; all of them, a bound.
                if self.copies_per_cgroup.len() > MAX_CGROUPS_FOLLOWED {
                    self.copies_per_cgroup.clear();
                }
                let ours = self.copies_per_cgroup.entry(cgroup.clone()).or_default();
                let capped = if !ours.contains(&copy.id) && ours.len() >= MAX_COPIES_PER_CGROUP {
                    Some(format!(
                        "its cgroup {cgroup} has {MAX_COPIES_PER_CGROUP} copies traced already"
                    ))
                } else if files.len() >= MAX_UPROBE_FILES {
                    Some(format!("{MAX_UPROBE_FILES} copies are traced already"))
                } else {
                    None
                };
                if let Some(why) = capped {
                    if self.capped_said.insert(cgroup.clone()) {
                        tracing::warn!(
                            "probe {}: {target} as process {pid} sees it (a container's own copy) is not traced: {why}",
                            probe.name
                        );
                    }
                    continue;
                }
                let Some(family) = self.families.get_mut(&object) else {
                    continue;
                };
                let attached = elf_symbol::file_offset(&copy.bytes, symbol)
                    .map_err(|e| e.to_string())
                    .and_then(|offset| {
                        let at = UProbeAttachLocation::AbsoluteOffset(offset);
                        attach_uprobe(&mut family.ebpf, program, at, &copy.file)
                    });
                match attached {
                    Ok(()) => {
                        files.insert(copy.id);
                        ours.insert(copy.id);
                        tracing::info!(
                            "probe {}: {target} as process {pid} sees it (a container's own copy) is traced too",
                            probe.name
                        );
                    }
                    Err(e) => tracing::warn!(
                        "probe {}: {target} as process {pid} sees it (a container's own copy) is not traced: {e}",
                        probe.name
                    ),
                }
            }
        }
    }

    /// Turns an attached probe's events on or off in the kernel (through its
    /// filter), so a probe nobody receives any more costs nothing.
    pub fn set_enabled(&mut self, id: ProbeId, filter: &ProbeFilter, enabled: bool) -> Result<(), ProbeError> {
        let probe = catalog::by_id(id);
        let Some(family) = self.families.get_mut(&probe.object).filter(|f| f.probes.contains(&id)) else {
            return Ok(());
        };
        let mut kernel = kernel_filter(probe, filter, self.exclude_tgid);
        kernel.enabled = u32::from(enabled);
        set_filter(family, probe, kernel)
    }

    /// Points a probe's container filter at these cgroups (the named
    /// containers' as they are now, each with its depth below the root),
    /// keeping the rest of its filter.
    pub fn set_cgroups(&mut self, id: ProbeId, cgroups: &[(u64, u32)]) -> Result<(), ProbeError> {
        let probe = catalog::by_id(id);
        let Some(family) = self.families.get_mut(&probe.object).filter(|f| f.probes.contains(&id)) else {
            return Ok(());
        };
        let mut kernel = get_filter(family, probe)?;
        let n = cgroups.len().min(abi::CGROUPS_MAX);
        if n < cgroups.len() {
            tracing::warn!(
                "probe {}: its `container` filter matches {} containers; the kernel follows the first {n}",
                probe.name,
                cgroups.len()
            );
        }
        kernel.n_cgroups = n as u32;
        kernel.cgroups = [0; abi::CGROUPS_MAX];
        kernel.cgroup_levels = [0; abi::CGROUPS_MAX];
        for (i, &(cgroup, level)) in cgroups[..n].iter().enumerate() {
            (kernel.cgroups[i], kernel.cgroup_levels[i]) = (cgroup, level);
        }
        set_filter(family, probe, kernel)
    }

    /// Passes up to `max` records from each ring buffer to `f`, and those of
    /// retired kernel counts once they are readable; returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        for family in self.families.values_mut() {
            if let Some(counts) = &mut family.counts {
                n += counts.drain(&mut f);
            }
            for _ in 0..max {
                let Some(item) = family.ring.next() else { break };
                f(&item);
                n += 1;
            }
        }
        n
    }

    /// Retires what the probes counted in the kernel so far; returns when
    /// `drain` passes it on, or `None` when no probe counts in the kernel.
    pub fn retire_counts(&mut self) -> Result<Option<Instant>, ProbeError> {
        let mut readable_at = None;
        for family in self.families.values_mut() {
            let counting = family
                .probes
                .iter()
                .any(|&id| catalog::by_id(id).delivery == Delivery::KernelCounts);
            if let Some(counts) = family.counts.as_mut().filter(|_| counting) {
                let at = counts.retire().map_err(ProbeError::Counts)?;
                readable_at = readable_at.max(Some(at));
            }
        }
        Ok(readable_at)
    }

    /// Events each probe dropped in the kernel because its ring buffer was full.
    pub fn lost(&self) -> Vec<(ProbeId, u64)> {
        self.families
            .values()
            .flat_map(|f| {
                f.probes
                    .iter()
                    .map(move |&id| (id, f.drops.get(&(id as u32), 0).map(|v| v.iter().sum()).unwrap_or(0)))
            })
            .collect()
    }

    /// Calls of each probe's programs that the kernel skipped: a tracepoint
    /// program does not run when its hook fires on a CPU where another eBPF
    /// program is running (an interrupt in the middle of one), and the
    /// kernel counts each skip (`recursion_misses`). Each may have been an
    /// event, or a call the program would have filtered out.
    pub fn skipped(&self) -> Vec<(ProbeId, u64)> {
        self.families
            .values()
            .flat_map(|f| {
                f.probes.iter().map(move |&id| {
                    let programs = catalog::by_id(id)
                        .hooks
                        .iter()
                        .filter_map(|h| f.ebpf.program(h.program));
                    let skipped = programs
                        .filter_map(|p| p.fd().ok())
                        .map(|fd| recursion_misses(fd.as_fd()))
                        .sum();
                    (id, skipped)
                })
            })
            .collect()
    }

    /// Each loaded family's ring buffer, to wait on for readiness.
    pub fn rings(&self) -> impl Iterator<Item = (Object, &RingBuf<MapData>)> + '_ {
        self.families.iter().map(|(&object, f)| (object, &f.ring))
    }

    pub fn probes(&self) -> impl Iterator<Item = ProbeId> + '_ {
        self.families.values().flat_map(|f| f.probes.iter().copied())
    }
}

/// A loaded program's `recursion_misses` (kernel 5.12 and later; 0 before,
/// or when the kernel will not say).
fn recursion_misses(program: std::os::fd::BorrowedFd<'_>) -> u64 {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct InfoByFd {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    // SAFETY: bpf_prog_info is a plain C struct of integers: all zeroes is a valid value.
    let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut attr = InfoByFd {
        bpf_fd: program.as_raw_fd() as u32,
        info_len: size_of_val(&info) as u32,
        info: (&raw mut info) as u64,
    };
    // SAFETY: BPF_OBJ_GET_INFO_BY_FD writes at most `info_len` bytes to `info`.
    let ok = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &raw mut attr,
            size_of::<InfoByFd>() as libc::c_uint,
        )
    } == 0;
    if ok { info.recursion_misses } else { 0 }
}

fn check_available(probe: &'static Probe, events_dir: &Path) -> Result<(), ProbeError> {
    match availability(probe, events_dir) {
        Availability::Missing(hooks) => Err(ProbeError::Unavailable {
            probe: probe.name,
            hook: hooks.join(", "),
            hint: hint(probe),
        }),
        _ => Ok(()),
    }
}

fn hint(probe: &Probe) -> &'static str {
    match probe.hooks[0].attach {
        Attach::Tracepoint {
            category: "syscalls", ..
        } => "Syscall tracepoints need CONFIG_FTRACE_SYSCALLS. ",
        Attach::Uprobe { .. } => {
            "Install the program or library it probes on the host (wasmtrace in a container looks \
             in the host's filesystem: WASMTRACE_HOST_ROOT, else /proc/1/root, which needs \
             CAP_SYS_PTRACE). "
        }
        Attach::BtfTracepoint { .. } => "BTF tracepoints need a kernel with BTF (/sys/kernel/btf/vmlinux). ",
        Attach::CpuClock => "Sampling needs perf events (CONFIG_PERF_EVENTS) and CAP_PERFMON. ",
        Attach::Tracepoint { .. } => "",
    }
}

fn hook_exists(attach: Attach, events_dir: &Path) -> bool {
    match attach {
        Attach::Tracepoint { category, name } => tracefs::has_tracepoint(events_dir, category, name),
        Attach::BtfTracepoint { category, name } => {
            Path::new(KERNEL_BTF).exists() && tracefs::has_tracepoint(events_dir, category, name)
        }
        Attach::Uprobe { target, .. } => uprobe_target::find(target).is_ok(),
        // Every Linux with eBPF has perf events; a refusal is said when attaching.
        Attach::CpuClock => true,
    }
}

/// The running kernel's BTF, which CO-RE and BTF tracepoints need.
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

fn kernel_filter(probe: &Probe, filter: &ProbeFilter, exclude_tgid: u32) -> abi::Filter {
    let stacks = match (filter.stacks, probe.stacks) {
        (_, StackSupport::Never(_)) => Stacks::None,
        (Some(asked), StackSupport::KernelOnly(_)) if asked.user() => Stacks::Kernel,
        (Some(asked), _) => asked,
        (None, StackSupport::OnRequest | StackSupport::KernelOnly(_)) => Stacks::None,
        (None, StackSupport::ByDefault) => Stacks::Both,
    };
    let mut f = abi::Filter {
        enabled: 1,
        exclude_tgid,
        scope: match filter.scope {
            Scope::Any => abi::SCOPE_ANY,
            Scope::Host => abi::SCOPE_HOST,
            Scope::Containers => abi::SCOPE_CONTAINERS,
            // Which cgroups follows once they are resolved (set_cgroups); none until then.
            Scope::Named(_) => abi::SCOPE_CGROUPS,
        },
        stacks: if stacks.kernel() { abi::STACK_KERNEL } else { 0 } | if stacks.user() { abi::STACK_USER } else { 0 },
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

fn load_object(object: Object, ring_buffer_bytes: u32) -> Result<Family, ProbeError> {
    let load_error = |reason: String| ProbeError::Load {
        object: object.name(),
        reason,
    };
    let mut ebpf = EbpfLoader::new()
        .map_max_entries("events", ring_buffer_bytes)
        .load(object.bytes())
        .map_err(|e| load_error(format!("{e:#}")))?;
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
    let counts = KernelCounts::take(&mut ebpf).map_err(|e| load_error(format!("counting maps: {e}")))?;
    Ok(Family {
        ebpf,
        ring,
        counts,
        drops,
        probes: Vec::new(),
    })
}

/// Sets the probe's filter, then attaches its programs: a probe whose
/// filter is unset emits nothing, so no unfiltered event gets out.
fn attach_probe(
    family: &mut Family,
    probe: &'static Probe,
    filter: abi::Filter,
    events_dir: &Path,
    uprobe_files: &mut UprobeFiles,
    frequency: u32,
) -> Result<(), ProbeError> {
    let object = probe.object.name();
    let load_error = |reason: String| ProbeError::Load { object, reason };
    set_filter(family, probe, filter)?;
    if let Some(setup) = probe.setup {
        setup(&mut family.ebpf).map_err(load_error)?;
    }

    for hook in probe.hooks {
        if !hook.required && !hook_exists(hook.attach, events_dir) {
            continue;
        }
        let attach_error = |reason: String| ProbeError::Attach {
            probe: probe.name,
            program: hook.program,
            hook: hook.attach.to_string(),
            reason,
        };
        let program = family
            .ebpf
            .program_mut(hook.program)
            .ok_or_else(|| attach_error(format!("{object} has no such program")))?;
        match hook.attach {
            Attach::Tracepoint { category, name } => {
                let program: &mut TracePoint = program.try_into().map_err(|e| attach_error(format!("{e}")))?;
                program.load().map_err(|e| attach_error(verifier_message(&e)))?;
                program
                    .attach(category, name)
                    .map_err(|e| attach_error(format!("{e:#}")))?;
            }
            Attach::BtfTracepoint { name, .. } => {
                let btf = Btf::from_sys_fs().map_err(|e| attach_error(format!("reading {KERNEL_BTF}: {e}")))?;
                let program: &mut BtfTracePoint = program.try_into().map_err(|e| attach_error(format!("{e}")))?;
                program
                    .load(name, &btf)
                    .map_err(|e| attach_error(verifier_message(&e)))?;
                program.attach().map_err(|e| attach_error(format!("{e:#}")))?;
            }
            Attach::Uprobe { target, symbol, .. } => {
                let target = uprobe_target::find(target).map_err(attach_error)?;
                let program: &mut UProbe = program.try_into().map_err(|e| attach_error(format!("{e}")))?;
                program.load().map_err(|e| attach_error(verifier_message(&e)))?;
                let at = UProbeAttachLocation::Symbol(symbol);
                attach_uprobe(&mut family.ebpf, hook.program, at, &target).map_err(attach_error)?;
                if let Some(id) = target.id() {
                    uprobe_files.entry(hook.program).or_default().insert(id);
                }
            }
            Attach::CpuClock => {
                let program: &mut PerfEvent = program.try_into().map_err(|e| attach_error(format!("{e}")))?;
                program.load().map_err(|e| attach_error(verifier_message(&e)))?;
                let cpus = online_cpus().map_err(|(path, e)| attach_error(format!("reading {path}: {e}")))?;
                for cpu in cpus {
                    program
                        .attach(
                            PerfEventConfig::Software(SoftwareEvent::CpuClock),
                            PerfEventScope::AllProcessesOneCpu { cpu },
                            SamplePolicy::Frequency(u64::from(frequency)),
                            false,
                        )
                        .map_err(|e| attach_error(format!("CPU {cpu}: {e:#}")))?;
                }
            }
        }
    }
    Ok(())
}

/// A container's copy of a library: found in its root, its identity, and
/// its bytes, read once to find symbols in.
struct LibraryCopy {
    file: uprobe_target::Target,
    id: uprobe_target::FileId,
    bytes: Vec<u8>,
}

impl LibraryCopy {
    /// The copy of `target` process `pid` sees, unless every program that
    /// hooks it is attached to that file already (the host's own, most
    /// often): then it is not read again.
    fn of(pid: u32, target: &str, programs: &[&str], known: &UprobeFiles) -> Option<LibraryCopy> {
        let file = uprobe_target::find_for_process(pid, target).ok()?;
        let id = file.id()?;
        if programs
            .iter()
            .all(|p| known.get(p).is_some_and(|files| files.contains(&id)))
        {
            return None;
        }
        match file.read_bounded() {
            Ok(bytes) => Some(LibraryCopy { file, id, bytes }),
            Err(e) => {
                tracing::warn!("{target} as process {pid} sees it (a container's own copy) is not traced: {e}");
                None
            }
        }
    }
}

/// Attaches a loaded uprobe program to this place in this file (a symbol,
/// or an offset wasmtrace found itself in a container's copy), for every
/// process.
fn attach_uprobe(
    ebpf: &mut Ebpf,
    program: &str,
    at: UProbeAttachLocation<'_>,
    file: &uprobe_target::Target,
) -> Result<(), String> {
    let program: &mut UProbe = ebpf
        .program_mut(program)
        .ok_or("no such program")?
        .try_into()
        .map_err(|e| format!("{e}"))?;
    program
        .attach(at, file.path(), UProbeScope::AllProcesses)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

fn filters<'a>(
    family: &'a mut Family,
    probe: &'static Probe,
) -> Result<Array<&'a mut MapData, abi::Filter>, ProbeError> {
    let load_error = |reason: String| ProbeError::Load {
        object: probe.object.name(),
        reason,
    };
    family
        .ebpf
        .map_mut("filters")
        .ok_or_else(|| load_error("no `filters` map".into()))?
        .try_into()
        .map_err(|e| load_error(format!("`filters` map: {e}")))
}

fn set_filter(family: &mut Family, probe: &'static Probe, filter: abi::Filter) -> Result<(), ProbeError> {
    filters(family, probe)?
        .set(probe.id as u32, filter, 0)
        .map_err(|e| ProbeError::Load {
            object: probe.object.name(),
            reason: format!("setting filter: {e}"),
        })
}

fn get_filter(family: &mut Family, probe: &'static Probe) -> Result<abi::Filter, ProbeError> {
    filters(family, probe)?
        .get(&(probe.id as u32), 0)
        .map_err(|e| ProbeError::Load {
            object: probe.object.name(),
            reason: format!("reading filter: {e}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracefs events folder holding only the given tracepoints.
    fn events_dir(tracepoints: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for tp in tracepoints {
            let tp_dir = dir.path().join(tp);
            std::fs::create_dir_all(&tp_dir).unwrap();
            std::fs::write(tp_dir.join("id"), "1\n").unwrap();
        }
        dir
    }

    #[test]
    fn a_probe_needs_its_required_hooks_only() {
        let open = catalog::find("file.open").unwrap();
        let dir = events_dir(&["syscalls/sys_exit_openat"]);
        assert_eq!(
            availability(open, dir.path()),
            Availability::Available,
            "open/openat2 are optional"
        );
        let dir = events_dir(&["syscalls/sys_exit_open"]);
        assert_eq!(
            availability(open, dir.path()),
            Availability::Missing(vec!["tracepoint:syscalls/sys_exit_openat".into()])
        );
    }

    #[test]
    fn a_uprobe_needs_the_program_or_library_it_probes() {
        let dir = events_dir(&[]);
        let probe = |target| Probe {
            name: "test.uprobe",
            id: ProbeId::ShellReadline,
            object: Object::User,
            delivery: catalog::Delivery::Stream,
            stacks: StackSupport::OnRequest,
            setup: None,
            decode: catalog::by_id(ProbeId::ShellReadline).decode,
            summary: "",
            hooks: Box::leak(Box::new([catalog::Hook {
                program: "shell_readline",
                attach: Attach::Uprobe {
                    target,
                    symbol: "readline",
                    ret: true,
                },
                required: true,
            }])),
            notes: "",
        };
        assert_eq!(availability(&probe("libc.so.6"), dir.path()), Availability::Available);
        let missing = probe("/nonexistent/bash");
        assert_eq!(
            availability(&missing, dir.path()),
            Availability::Missing(vec![
                "uprobes on /nonexistent/bash (/nonexistent/bash not found)".into()
            ])
        );
        let err = check_available(Box::leak(Box::new(missing)), dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("Install the program or library it probes"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_hook_is_explained() {
        let dir = events_dir(&[]);
        let err = check_available(catalog::find("file.open").unwrap(), dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "probe `file.open` is not available here: it needs tracepoint:syscalls/sys_exit_openat, \
             which this system lacks. Syscall tracepoints need CONFIG_FTRACE_SYSCALLS. \
             Remove the probe from the config, or run where it is available"
        );
    }
}
