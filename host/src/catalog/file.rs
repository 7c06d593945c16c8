//! Probes of files (`file.bpf.c`): open, stat, sync, unlink, and the latency of
//! file-system operations.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{record, wit_enum};
use super::{Delivery, Probe, StackSupport, optional_tp, tp};
use crate::wit::{Body, FileLatency, FileOpen, FileStat, FileSync, FileUnlink};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "file.open",
        id: ProbeId::FileOpen,
        object: Object::File,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a file was opened (open, openat or openat2 returned)",
        hooks: &[
            tp("file_openat_exit", "syscalls", "sys_exit_openat"),
            optional_tp("file_open_exit", "syscalls", "sys_exit_open"),
            optional_tp("file_openat2_exit", "syscalls", "sys_exit_openat2"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileOpenEvent = record(probe, bytes)?;
            Ok(Body::FileOpen(FileOpen {
                path: t.c_str(&e.path),
                flags: e.flags,
                mode: e.mode,
                dfd: e.dfd,
                ret: e.ret,
            }))
        },
        notes: "One event per open, sent when it returns; the arguments are read from the registers saved at syscall entry.",
    },
    Probe {
        name: "file.sync",
        id: ProbeId::FileSync,
        object: Object::File,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "data was flushed with sync, syncfs, fsync, fdatasync, sync_file_range or msync (as syncsnoop)",
        hooks: &[
            tp("file_fsync_enter", "syscalls", "sys_enter_fsync"),
            optional_tp("file_sync_enter", "syscalls", "sys_enter_sync"),
            optional_tp("file_syncfs_enter", "syscalls", "sys_enter_syncfs"),
            optional_tp("file_fdatasync_enter", "syscalls", "sys_enter_fdatasync"),
            optional_tp("file_sync_file_range_enter", "syscalls", "sys_enter_sync_file_range"),
            optional_tp("file_msync_enter", "syscalls", "sys_enter_msync"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::FileSyncEvent = record(probe, bytes)?;
            let call = wit_enum(probe, e.call)?;
            Ok(Body::FileSync(FileSync { call, fd: e.fd }))
        },
        notes: "Sent when the call is entered, as syncsnoop.bt does.",
    },
    Probe {
        name: "file.stat",
        id: ProbeId::FileStat,
        object: Object::File,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a file's status was read with stat, lstat, fstatat, statx or statfs (as statsnoop)",
        hooks: &[
            tp("file_statx_exit", "syscalls", "sys_exit_statx"),
            optional_tp("file_stat_exit", "syscalls", "sys_exit_newstat"),
            optional_tp("file_lstat_exit", "syscalls", "sys_exit_newlstat"),
            optional_tp("file_fstatat_exit", "syscalls", "sys_exit_newfstatat"),
            optional_tp("file_statfs_exit", "syscalls", "sys_exit_statfs"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileStatEvent = record(probe, bytes)?;
            let call = wit_enum(probe, e.call)?;
            Ok(Body::FileStat(FileStat {
                call,
                path: t.c_str(&e.path),
                ret: e.ret,
            }))
        },
        notes: "One event when the call returns; the arguments are read from the registers saved at syscall entry. glibc's stat() uses fstatat or statx, which statsnoop.bt does not trace.",
    },
    Probe {
        name: "file.latency",
        id: ProbeId::FileLatency,
        object: Object::File,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a read, write, open or fsync returned, with its latency and file system (as xfsdist, ext4dist, ...)",
        hooks: &[
            tp("file_read_latency_enter", "syscalls", "sys_enter_read"),
            tp("file_read_latency_exit", "syscalls", "sys_exit_read"),
            tp("file_write_latency_enter", "syscalls", "sys_enter_write"),
            tp("file_write_latency_exit", "syscalls", "sys_exit_write"),
            tp("file_openat_latency_enter", "syscalls", "sys_enter_openat"),
            tp("file_openat_latency_exit", "syscalls", "sys_exit_openat"),
            tp("file_fsync_latency_enter", "syscalls", "sys_enter_fsync"),
            tp("file_fsync_latency_exit", "syscalls", "sys_exit_fsync"),
            optional_tp("file_pread64_latency_enter", "syscalls", "sys_enter_pread64"),
            optional_tp("file_pread64_latency_exit", "syscalls", "sys_exit_pread64"),
            optional_tp("file_pwrite64_latency_enter", "syscalls", "sys_enter_pwrite64"),
            optional_tp("file_pwrite64_latency_exit", "syscalls", "sys_exit_pwrite64"),
            optional_tp("file_fdatasync_latency_enter", "syscalls", "sys_enter_fdatasync"),
            optional_tp("file_fdatasync_latency_exit", "syscalls", "sys_exit_fdatasync"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileLatencyEvent = record(probe, bytes)?;
            let op = wit_enum(probe, e.op)?;
            Ok(Body::FileLatency(FileLatency {
                op,
                fs_type: t.c_str(&e.fs_type),
                latency_ns: e.latency_ns,
                fd: e.fd,
                ret: e.ret,
            }))
        },
        notes: "Timed at the syscall boundary for every file system (xfsdist.bt timed XFS's own functions with kprobes): it includes the VFS and page cache, and sockets and pipes show with their pseudo file systems (`sockfs`, `pipefs`). Every read and write on the machine passes here: filter by pid, uid or comm.",
    },
    Probe {
        name: "file.unlink",
        id: ProbeId::FileUnlink,
        object: Object::File,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a file or a folder was removed (unlink, unlinkat or rmdir returned)",
        hooks: &[
            tp("file_unlinkat_exit", "syscalls", "sys_exit_unlinkat"),
            optional_tp("file_unlink_exit", "syscalls", "sys_exit_unlink"),
            optional_tp("file_rmdir_exit", "syscalls", "sys_exit_rmdir"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::FileUnlinkEvent = record(probe, bytes)?;
            Ok(Body::FileUnlink(FileUnlink {
                path: t.c_str(&e.path),
                dfd: e.dfd,
                flags: e.flags,
                ret: e.ret,
            }))
        },
        notes: "The arguments are read from the registers saved at syscall entry; arm64 has only unlinkat.",
    },
];
