//! Probes counted in the kernel (`syscall.count`): their program adds to a
//! per-CPU hash map instead of streaming an event per call. The host retires
//! the generation being counted every interval and, once no program can
//! still be adding to it, reads each of its entries as one record (summed
//! over the CPUs) and deletes it. The records then take the streamed
//! events' way: decoding, recording, plugins.

use std::time::{Duration, Instant};

use aya::Ebpf;
use aya::maps::{Array, MapData, MapError, PerCpuHashMap};
use wasmtrace_ebpf::abi::{self, SyscallCountEvent, SyscallCountKey};

/// How long after retiring a generation its entries are read. A program
/// that read the old generation is done with it within microseconds (an eBPF
/// program runs to its end unless the kernel preempts it, which only fully
/// preemptible kernels do); this leaves a margin of thousands.
const GRACE: Duration = Duration::from_millis(50);

pub struct KernelCounts {
    entries: PerCpuHashMap<MapData, SyscallCountKey, SyscallCountEvent>,
    generation: Array<MapData, u32>,
    current: u32,
    /// When the retired generations may be read; `None` when none is waiting.
    readable_at: Option<Instant>,
}

impl KernelCounts {
    /// The counting maps of a loaded object, when it has them.
    pub fn take(ebpf: &mut Ebpf) -> Result<Option<KernelCounts>, MapError> {
        let (Some(entries), Some(generation)) = (
            ebpf.take_map("syscall_counts"),
            ebpf.take_map("syscall_count_generation"),
        ) else {
            return Ok(None);
        };
        Ok(Some(KernelCounts {
            entries: entries.try_into()?,
            generation: generation.try_into()?,
            current: 0,
            readable_at: None,
        }))
    }

    /// Moves counting on to a new generation; returns when the calls
    /// counted so far can be read (`drain` passes them on from then).
    pub fn retire(&mut self) -> Result<Instant, MapError> {
        self.current = self.current.wrapping_add(1);
        self.generation.set(0, self.current, 0)?;
        let at = Instant::now() + GRACE;
        self.readable_at = Some(at);
        Ok(at)
    }

    /// Once the retired generations are readable, passes each of their
    /// entries to `f` as a record and deletes it; returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        if self.readable_at.is_none_or(|at| Instant::now() < at) {
            return 0;
        }
        self.readable_at = None;
        // Keys first: deleting while walking would make the walk restart.
        let retired: Vec<SyscallCountKey> = (self.entries.keys())
            .filter_map(Result::ok)
            .filter(|k| k.generation != self.current)
            .collect();
        let read_at = crate::boot_clock::now_ns();
        let mut n = 0;
        for key in retired {
            let Ok(per_cpu) = self.entries.get(&key, 0) else {
                continue;
            };
            let _ = self.entries.remove(&key);
            if let Some(record) = summed(per_cpu.iter(), read_at) {
                f(abi::bytes_of(&record));
                n += 1;
            }
        }
        n
    }
}

/// One record of an entry's per-CPU values: the header of the CPU that
/// counted first (stamped with when the counts were read) and the sum of the
/// counts. `None` if no CPU counted anything.
fn summed<'a>(per_cpu: impl Iterator<Item = &'a SyscallCountEvent>, read_at: u64) -> Option<SyscallCountEvent> {
    let counted: Vec<&SyscallCountEvent> = per_cpu.filter(|v| v.count > 0).collect();
    let first = counted.iter().min_by_key(|v| v.h.ts_boot_ns)?;
    let mut record = **first;
    record.count = counted.iter().map(|v| v.count).sum();
    record.h.ts_boot_ns = read_at;
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(ts: u64, cpu: u32, count: u64) -> SyscallCountEvent {
        let mut v = SyscallCountEvent::default();
        v.h.ts_boot_ns = ts;
        v.h.cpu = cpu;
        v.id = 39;
        v.count = count;
        v
    }

    #[test]
    fn an_entry_is_its_cpus_counts_summed_under_the_first_header() {
        let cpus = [counted(0, 0, 0), counted(20, 1, 5), counted(10, 2, 7)];
        let record = summed(cpus.iter(), 99).unwrap();
        assert_eq!(
            (record.count, record.h.cpu, record.h.ts_boot_ns, record.id),
            (12, 2, 99, 39)
        );
    }

    #[test]
    fn an_entry_no_cpu_counted_in_is_no_record() {
        assert!(summed([counted(5, 0, 0)].iter(), 99).is_none());
    }
}
