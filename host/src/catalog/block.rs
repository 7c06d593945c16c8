//! Probes of the block layer (`block.bpf.c`): completed requests, and the
//! flusher's writeback passes.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{record, wit_enum};
use super::{Delivery, Probe, StackSupport, btf_tp, tp};
use crate::wit::{BlockIo, BlockWriteback, Body};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "block.io",
        id: ProbeId::BlockIo,
        object: Object::Block,
        delivery: Delivery::Stream,
        stacks: StackSupport::Never(
            "its event is made when the request completes, in an interrupt, not on the submitter's stack",
        ),
        setup: None,
        summary: "a block device completed a request: disk, operation, sector, size, queue and service times (as biosnoop)",
        hooks: &[
            btf_tp("block_rq_insert", "block", "block_rq_insert"),
            btf_tp("block_rq_issue", "block", "block_rq_issue"),
            btf_tp("block_rq_merge", "block", "block_rq_merge"),
            btf_tp("block_rq_complete", "block", "block_rq_complete"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::BlockIoEvent = record(probe, bytes)?;
            let flag = |bit: u32| e.flags & bit != 0;
            Ok(Body::BlockIo(BlockIo {
                disk: t.c_str(&e.disk),
                major: e.major,
                minor: e.minor,
                op: wit_enum(probe, e.op)?,
                sync: flag(abi::raw::BLOCK_SYNC),
                meta: flag(abi::raw::BLOCK_META),
                fua: flag(abi::raw::BLOCK_FUA),
                preflush: flag(abi::raw::BLOCK_PREFLUSH),
                readahead: flag(abi::raw::BLOCK_READAHEAD),
                sector: e.sector,
                bytes: e.bytes,
                queued_ns: e.queued_ns,
                service_ns: e.service_ns,
                error: errno(e.status),
            }))
        },
        notes: "Needs Linux 5.11 or later (the block tracepoints' arguments changed there). Filters apply to the task that submitted the request, taken when it was inserted or issued: I/O written back for a process, or dispatched from a queue by a kernel worker after its submitter was seen, keeps the attribution it had then. At most 16,384 requests are followed in flight at once: past that, a request is counted as lost.",
    },
    Probe {
        name: "block.writeback",
        id: ProbeId::BlockWriteback,
        object: Object::Block,
        delivery: Delivery::Stream,
        stacks: StackSupport::Never("its event is made when the flusher's pass ends, not where the writes were made"),
        setup: None,
        summary: "the kernel's flusher wrote back a device's dirty pages: device, pages, time, reason (as writeback.bt)",
        hooks: &[
            tp("writeback_start", "writeback", "writeback_start"),
            tp("writeback_written", "writeback", "writeback_written"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::BlockWritebackEvent = record(probe, bytes)?;
            Ok(Body::BlockWriteback(BlockWriteback {
                device: t.c_str(&e.device),
                // The kernel's dev_t: the major in the high 12 bits.
                sb_major: e.sb_dev >> 20,
                sb_minor: e.sb_dev & 0xfffff,
                pages: e.pages,
                latency_ns: e.latency_ns,
                reason: wit_enum(probe, e.reason)?,
                sync_all: e.sync_all != 0,
                background: e.background != 0,
            }))
        },
        notes: "The header is the flusher (a kernel worker), not the process that dirtied the pages: filters on comm, pids or containers pass none of it. One event per pass: a sync makes one per file system, a background flush one per slice of its work.",
    },
];

/// The error a block status becomes for the submitter (the kernel's
/// blk_status_to_errno, from its table `blk_errors`), negated; an unknown status is -EIO, as there.
fn errno(status: u32) -> i32 {
    let errno = match status {
        0 => 0,
        1 => libc::EOPNOTSUPP,
        2 => libc::ETIMEDOUT,
        3 => libc::ENOSPC,
        4 => libc::ENOLINK,
        5 => libc::EREMOTEIO,
        6 => libc::EBADE,
        7 => libc::ENODATA,
        8 => libc::EILSEQ,
        9 => libc::ENOMEM,
        11 => libc::EREMCHG,
        12 => libc::EAGAIN,
        13 => libc::EBUSY,
        14 => libc::ETOOMANYREFS,
        15 => libc::EOVERFLOW,
        16 => libc::ENODEV,
        _ => libc::EIO,
    };
    -errno
}

#[cfg(test)]
mod tests {
    use super::errno;

    #[test]
    fn a_block_status_is_the_errno_the_submitter_sees() {
        assert_eq!(errno(0), 0);
        assert_eq!(errno(10), -libc::EIO);
        assert_eq!(errno(2), -libc::ETIMEDOUT);
        assert_eq!(errno(200), -libc::EIO);
    }
}
