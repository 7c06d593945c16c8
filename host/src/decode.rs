//! Ring-buffer records → typed WIT events.

use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::escape;
use crate::runtime::bindings::{
    Body, Event, FileLatency, FileOp, FileOpen, FileStat, FileSync, Header, IpFamily, KillCall, MemoryOomKill,
    MemorySwapin, NetTcpAccept, NetTcpConnect, NetTcpDrop, NetTcpLife, NetTcpRetransmit, NetTcpSynBacklog, ProcessExec,
    ProcessExit, ProcessFork, ProcessSleep, ProcessThread, SecurityCapable, SecuritySetuid, SetuidCall, ShellReadline,
    SignalKill, StatCall, SyncCall, SyscallEnter, TcpEnds, TcpState,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than an event header")]
    Short(usize),
    #[error("record has unknown probe id {0}")]
    UnknownProbe(u32),
    #[error("{probe:?} record of {len} bytes is truncated")]
    Truncated { probe: ProbeId, len: usize },
    #[error("{probe:?} record names an unknown call {call}")]
    UnknownCall { probe: ProbeId, call: u32 },
    #[error("{probe:?} record has an unknown address family {family}")]
    UnknownFamily { probe: ProbeId, family: u16 },
    #[error("{probe:?} record has an unknown TCP state {state}")]
    UnknownState { probe: ProbeId, state: u32 },
}

/// Invalid UTF-8 (a path is any bytes) stays visible as `\xNN`.
fn text(field: &[u8]) -> String {
    escape::utf8_bytes(abi::c_str(field))
}

fn header(h: &abi::EventHeader) -> Header {
    Header {
        timestamp_ns: h.ts_boot_ns,
        cpu: h.cpu,
        pid: h.pid,
        tid: h.tid,
        ppid: h.ppid,
        uid: h.uid,
        gid: h.gid,
        comm: text(&h.comm),
        cgroup_id: h.cgroup_id,
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

fn tcp_ends(probe: ProbeId, e: &abi::TcpEnds) -> Result<TcpEnds, DecodeError> {
    let (family, saddr, daddr) = match e.family {
        AF_INET => {
            let v4 = |a: &[u8; 16]| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string();
            (IpFamily::Ipv4, v4(&e.saddr), v4(&e.daddr))
        }
        AF_INET6 => {
            let v6 = |a: &[u8; 16]| std::net::Ipv6Addr::from(*a).to_string();
            (IpFamily::Ipv6, v6(&e.saddr), v6(&e.daddr))
        }
        family => return Err(DecodeError::UnknownFamily { probe, family }),
    };
    Ok(TcpEnds {
        family,
        saddr,
        sport: e.sport,
        daddr,
        dport: e.dport,
    })
}

/// Decodes one record. The probe id says which layout follows the header.
pub fn decode(bytes: &[u8]) -> Result<(ProbeId, Event), DecodeError> {
    let h: abi::EventHeader = abi::read(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    let probe = ProbeId::from_raw(h.probe).ok_or(DecodeError::UnknownProbe(h.probe))?;
    let truncated = || DecodeError::Truncated {
        probe,
        len: bytes.len(),
    };
    let body = match probe {
        ProbeId::ProcessExec => {
            let e: abi::ProcessExecEvent = abi::read(bytes).ok_or_else(truncated)?;
            let used = &e.argv[..(e.argv_len as usize).min(abi::ARGV_LEN)];
            Body::ProcessExec(ProcessExec {
                caller_comm: text(&e.caller_comm),
                filename: text(&e.filename),
                argv: used
                    .split(|&b| b == 0)
                    .take(e.argc as usize)
                    .map(escape::utf8_bytes)
                    .collect(),
                argv_truncated: e.truncated != 0,
                ret: e.ret,
            })
        }
        ProbeId::ProcessExit => {
            let e: abi::ProcessExitEvent = abi::read(bytes).ok_or_else(truncated)?;
            // The kernel's wait status: exit code in bits 8-15, signal in 0-6, core flag 7.
            Body::ProcessExit(ProcessExit {
                exit_code: (e.exit_code >> 8) & 0xff,
                signal: e.exit_code & 0x7f,
                core_dumped: e.exit_code & 0x80 != 0,
                lifetime_ns: e.lifetime_ns,
            })
        }
        ProbeId::FileOpen => {
            let e: abi::FileOpenEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::FileOpen(FileOpen {
                path: text(&e.path),
                flags: e.flags,
                mode: e.mode,
                dfd: e.dfd,
                ret: e.ret,
            })
        }
        ProbeId::SyscallEnter => {
            let e: abi::SyscallEnterEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::SyscallEnter(SyscallEnter { id: e.id as u32 })
        }
        ProbeId::SignalKill => {
            let e: abi::SignalKillEvent = abi::read(bytes).ok_or_else(truncated)?;
            let call = match e.call {
                0 => KillCall::Kill,
                1 => KillCall::Tkill,
                2 => KillCall::Tgkill,
                call => return Err(DecodeError::UnknownCall { probe, call }),
            };
            Body::SignalKill(SignalKill {
                call,
                target: e.target,
                signal: e.signal,
                ret: e.ret,
            })
        }
        ProbeId::ProcessSleep => {
            let e: abi::ProcessSleepEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::ProcessSleep(ProcessSleep {
                duration_ns: e.duration_ns,
                clock: e.clock,
                absolute: e.flags & 1 != 0,
                parent_comm: text(&e.parent_comm),
            })
        }
        ProbeId::FileSync => {
            let e: abi::FileSyncEvent = abi::read(bytes).ok_or_else(truncated)?;
            let call = match e.call {
                0 => SyncCall::Sync,
                1 => SyncCall::Syncfs,
                2 => SyncCall::Fsync,
                3 => SyncCall::Fdatasync,
                4 => SyncCall::SyncFileRange,
                5 => SyncCall::Msync,
                call => return Err(DecodeError::UnknownCall { probe, call }),
            };
            Body::FileSync(FileSync { call, fd: e.fd })
        }
        ProbeId::FileStat => {
            let e: abi::FileStatEvent = abi::read(bytes).ok_or_else(truncated)?;
            let call = match e.call {
                0 => StatCall::Stat,
                1 => StatCall::Lstat,
                2 => StatCall::Fstatat,
                3 => StatCall::Statx,
                4 => StatCall::Statfs,
                call => return Err(DecodeError::UnknownCall { probe, call }),
            };
            Body::FileStat(FileStat {
                call,
                path: text(&e.path),
                ret: e.ret,
            })
        }
        ProbeId::SecuritySetuid => {
            let e: abi::SecuritySetuidEvent = abi::read(bytes).ok_or_else(truncated)?;
            let call = match e.call {
                0 => SetuidCall::Setuid,
                1 => SetuidCall::Setfsuid,
                2 => SetuidCall::Setresuid,
                3 => SetuidCall::Setreuid,
                call => return Err(DecodeError::UnknownCall { probe, call }),
            };
            Body::SecuritySetuid(SecuritySetuid {
                call,
                caller_uid: e.caller_uid,
                uid: e.uid,
                euid: e.euid,
                suid: e.suid,
                ret: e.ret,
            })
        }
        ProbeId::ProcessFork => {
            let e: abi::ProcessForkEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::ProcessFork(ProcessFork { child_pid: e.child_pid })
        }
        ProbeId::SecurityCapable => {
            let e: abi::SecurityCapableEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::SecurityCapable(SecurityCapable { cap: e.cap, ret: e.ret })
        }
        ProbeId::MemoryOomKill => {
            let e: abi::MemoryOomKillEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::MemoryOomKill(MemoryOomKill {
                victim_pid: e.victim_pid,
                victim_comm: text(&e.victim_comm),
                victim_uid: e.victim_uid,
                total_vm_kb: e.total_vm_kb,
                anon_rss_kb: e.anon_rss_kb,
                file_rss_kb: e.file_rss_kb,
                shmem_rss_kb: e.shmem_rss_kb,
                oom_score_adj: e.oom_score_adj,
            })
        }
        ProbeId::NetTcpConnect => {
            let e: abi::NetTcpConnectEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::NetTcpConnect(NetTcpConnect {
                ends: tcp_ends(probe, &e.ends)?,
                established: e.established != 0,
                latency_ns: e.latency_ns,
            })
        }
        ProbeId::NetTcpLife => {
            let e: abi::NetTcpLifeEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::NetTcpLife(NetTcpLife {
                ends: tcp_ends(probe, &e.ends)?,
                duration_ns: e.duration_ns,
                rx_bytes: e.rx_bytes,
                tx_bytes: e.tx_bytes,
            })
        }
        ProbeId::NetTcpRetransmit => {
            let e: abi::NetTcpRetransmitEvent = abi::read(bytes).ok_or_else(truncated)?;
            const STATES: [TcpState; 12] = [
                TcpState::Established,
                TcpState::SynSent,
                TcpState::SynRecv,
                TcpState::FinWait1,
                TcpState::FinWait2,
                TcpState::TimeWait,
                TcpState::Close,
                TcpState::CloseWait,
                TcpState::LastAck,
                TcpState::Listen,
                TcpState::Closing,
                TcpState::NewSynRecv,
            ];
            let state = (e.state as usize)
                .checked_sub(1)
                .and_then(|i| STATES.get(i))
                .copied()
                .ok_or(DecodeError::UnknownState { probe, state: e.state })?;
            Body::NetTcpRetransmit(NetTcpRetransmit {
                ends: tcp_ends(probe, &e.ends)?,
                state,
            })
        }
        ProbeId::NetTcpAccept => {
            let e: abi::NetTcpBacklogEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::NetTcpAccept(NetTcpAccept {
                ends: tcp_ends(probe, &e.ends)?,
                backlog: e.backlog,
                max_backlog: e.max_backlog,
            })
        }
        ProbeId::NetTcpDrop => {
            let e: abi::NetTcpDropEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::NetTcpDrop(NetTcpDrop {
                ends: tcp_ends(probe, &e.ends)?,
                tcp_flags: e.tcp_flags,
                reason: e.reason,
            })
        }
        ProbeId::NetTcpSynBacklog => {
            let e: abi::NetTcpBacklogEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::NetTcpSynBacklog(NetTcpSynBacklog {
                ends: tcp_ends(probe, &e.ends)?,
                backlog: e.backlog,
                max_backlog: e.max_backlog,
            })
        }
        ProbeId::FileLatency => {
            let e: abi::FileLatencyEvent = abi::read(bytes).ok_or_else(truncated)?;
            let op = match e.op {
                0 => FileOp::Read,
                1 => FileOp::Write,
                2 => FileOp::Open,
                3 => FileOp::Fsync,
                call => return Err(DecodeError::UnknownCall { probe, call }),
            };
            Body::FileLatency(FileLatency {
                op,
                fs_type: text(&e.fs_type),
                latency_ns: e.latency_ns,
                fd: e.fd,
                ret: e.ret,
            })
        }
        ProbeId::MemorySwapin => {
            let e: abi::MemorySwapinEvent = abi::read(bytes).ok_or_else(truncated)?;
            // The kernel's dev_t: major in the top 12 bits, minor in the low 20.
            Body::MemorySwapin(MemorySwapin {
                pages: e.pages,
                device: format!("{}:{}", e.dev >> 20, e.dev & 0xfffff),
            })
        }
        ProbeId::ShellReadline => {
            let e: abi::ShellReadlineEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::ShellReadline(ShellReadline { line: text(&e.line) })
        }
        ProbeId::ProcessThread => {
            let e: abi::ProcessThreadEvent = abi::read(bytes).ok_or_else(truncated)?;
            Body::ProcessThread(ProcessThread {
                start_routine: e.start_routine,
            })
        }
    };
    Ok((
        probe,
        Event {
            header: header(&h),
            body,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    fn as_bytes<T: aya::Pod>(v: &T) -> Vec<u8> {
        // SAFETY: T is Pod: plain bytes with no padding holes.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    fn comm(s: &str) -> [u8; abi::COMM_LEN] {
        let mut c = [0; abi::COMM_LEN];
        c[..s.len()].copy_from_slice(s.as_bytes());
        c
    }

    fn head(probe: ProbeId) -> abi::EventHeader {
        abi::EventHeader {
            ts_boot_ns: 42,
            cgroup_id: 7,
            probe: probe as u32,
            cpu: 1,
            pid: 100,
            tid: 101,
            ppid: 1,
            uid: 1000,
            gid: 1000,
            _pad: 0,
            comm: comm("cat"),
        }
    }

    #[test]
    fn file_open() {
        let mut path = [0u8; abi::PATH_LEN];
        path[..9].copy_from_slice(b"/etc/motd");
        let e = abi::FileOpenEvent {
            h: head(ProbeId::FileOpen),
            ret: -2,
            dfd: -100,
            flags: 0o100,
            mode: 0o644,
            _pad: 0,
            path,
        };
        let (probe, ev) = decode(&as_bytes(&e)).unwrap();
        assert_eq!(probe, ProbeId::FileOpen);
        assert_eq!(ev.header.comm, "cat");
        assert_eq!(
            (ev.header.pid, ev.header.tid, ev.header.uid, ev.header.timestamp_ns),
            (100, 101, 1000, 42)
        );
        assert_eq!(
            ev.body,
            Body::FileOpen(FileOpen {
                path: "/etc/motd".into(),
                flags: 0o100,
                mode: 0o644,
                dfd: -100,
                ret: -2
            })
        );
    }

    #[test]
    fn process_exec_splits_argv() {
        let mut argv = [0u8; abi::ARGV_LEN];
        let raw = b"ls\0-l\0/tmp\0";
        argv[..raw.len()].copy_from_slice(raw);
        let mut filename = [0u8; abi::PATH_LEN];
        filename[..7].copy_from_slice(b"/bin/ls");
        let e = abi::ProcessExecEvent {
            h: head(ProbeId::ProcessExec),
            ret: 0,
            argc: 3,
            argv_len: raw.len() as u32,
            truncated: 1,
            caller_comm: comm("bash"),
            filename,
            argv,
        };
        let (_, ev) = decode(&as_bytes(&e)).unwrap();
        let Body::ProcessExec(x) = ev.body else { panic!() };
        assert_eq!(x.argv, ["ls", "-l", "/tmp"]);
        assert_eq!(x.filename, "/bin/ls");
        assert_eq!(x.caller_comm, "bash");
        assert!(x.argv_truncated);
    }

    #[test]
    fn process_exit_splits_wait_status() {
        let killed = abi::ProcessExitEvent {
            h: head(ProbeId::ProcessExit),
            lifetime_ns: 5,
            exit_code: 9 | 0x80,
            _pad: 0,
        };
        let Body::ProcessExit(x) = decode(&as_bytes(&killed)).unwrap().1.body else {
            panic!()
        };
        assert_eq!((x.exit_code, x.signal, x.core_dumped, x.lifetime_ns), (0, 9, true, 5));
        let exited = abi::ProcessExitEvent {
            h: head(ProbeId::ProcessExit),
            lifetime_ns: 5,
            exit_code: 3 << 8,
            _pad: 0,
        };
        let Body::ProcessExit(x) = decode(&as_bytes(&exited)).unwrap().1.body else {
            panic!()
        };
        assert_eq!((x.exit_code, x.signal, x.core_dumped), (3, 0, false));
    }

    #[test]
    fn calls_map_to_their_enums_and_unknown_ones_are_refused() {
        let kill = |call| abi::SignalKillEvent {
            h: head(ProbeId::SignalKill),
            target: -1,
            signal: 15,
            ret: 0,
            call,
        };
        assert_eq!(
            decode(&as_bytes(&kill(2))).unwrap().1.body,
            Body::SignalKill(SignalKill {
                call: KillCall::Tgkill,
                target: -1,
                signal: 15,
                ret: 0
            })
        );
        assert_eq!(
            decode(&as_bytes(&kill(3))).unwrap_err(),
            DecodeError::UnknownCall {
                probe: ProbeId::SignalKill,
                call: 3
            }
        );
        let sync = abi::FileSyncEvent {
            h: head(ProbeId::FileSync),
            call: 4,
            fd: 7,
        };
        assert_eq!(
            decode(&as_bytes(&sync)).unwrap().1.body,
            Body::FileSync(FileSync {
                call: SyncCall::SyncFileRange,
                fd: 7
            })
        );
        let sleep = abi::ProcessSleepEvent {
            h: head(ProbeId::ProcessSleep),
            duration_ns: 1_500_000_000,
            clock: 0,
            flags: 1,
            parent_comm: comm("bash"),
        };
        assert_eq!(
            decode(&as_bytes(&sleep)).unwrap().1.body,
            Body::ProcessSleep(ProcessSleep {
                duration_ns: 1_500_000_000,
                clock: 0,
                absolute: true,
                parent_comm: "bash".into()
            })
        );
    }

    #[test]
    fn tcp_ends_are_addresses_as_text() {
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[10, 0, 0, 7]);
        let ends = |family, saddr, daddr| abi::TcpEnds {
            family,
            sport: 40000,
            dport: 443,
            _pad: 0,
            saddr,
            daddr,
        };
        let connect = |e: abi::TcpEnds| abi::NetTcpConnectEvent {
            h: head(ProbeId::NetTcpConnect),
            ends: e,
            latency_ns: 9,
            established: 1,
            _pad: 0,
        };
        let Body::NetTcpConnect(c) = decode(&as_bytes(&connect(ends(AF_INET6, v6, v6)))).unwrap().1.body else {
            panic!()
        };
        assert_eq!(
            (c.ends.family, c.ends.saddr.as_str(), c.ends.sport, c.ends.dport),
            (IpFamily::Ipv6, "::1", 40000, 443)
        );
        assert!(c.established);
        let Body::NetTcpConnect(c) = decode(&as_bytes(&connect(ends(AF_INET, v4, v4)))).unwrap().1.body else {
            panic!()
        };
        assert_eq!((c.ends.family, c.ends.daddr.as_str()), (IpFamily::Ipv4, "10.0.0.7"));
        assert_eq!(
            decode(&as_bytes(&connect(ends(1, v4, v4)))).unwrap_err(),
            DecodeError::UnknownFamily {
                probe: ProbeId::NetTcpConnect,
                family: 1
            }
        );
    }

    #[test]
    fn syscall_enter() {
        let e = abi::SyscallEnterEvent {
            h: head(ProbeId::SyscallEnter),
            id: 257,
        };
        assert_eq!(
            decode(&as_bytes(&e)).unwrap().1.body,
            Body::SyscallEnter(SyscallEnter { id: 257 })
        );
    }

    proptest::proptest! {
        /// Any bytes under any probe id, at any length around the record's
        /// size: a decoded event or an error, never a panic.
        #[test]
        fn fuzz_decoder_any_record_decodes_or_errs(
            probe in 0..ProbeId::ALL.len() as u32 + 2,
            len_slack in -16i64..64,
            seed in proptest::collection::vec(proptest::num::u8::ANY, 1..64),
        ) {
            let size = ProbeId::ALL.get(probe as usize).map_or(64, |&id| abi::record_size(id));
            let len = (size as i64 + len_slack).max(0) as usize;
            let mut bytes: Vec<u8> = seed.iter().copied().cycle().take(len).collect();
            if bytes.len() >= 20 {
                bytes[16..20].copy_from_slice(&probe.to_le_bytes());
            }
            match decode(&bytes) {
                Ok((id, event)) => {
                    proptest::prop_assert_eq!(id as u32, probe);
                    proptest::prop_assert!(bytes.len() >= size);
                    proptest::prop_assert_eq!(event.header.timestamp_ns, u64::from_le_bytes(bytes[..8].try_into().unwrap()));
                }
                Err(DecodeError::Short(n) | DecodeError::Truncated { len: n, .. }) => {
                    proptest::prop_assert!(n < size);
                }
                Err(_) => {}
            }
        }
    }

    #[test]
    fn invalid_utf8_in_a_path_is_kept_as_escapes_and_controls_as_data() {
        let mut path = [0u8; abi::PATH_LEN];
        path[..8].copy_from_slice(b"/tmp/\xff\x1b\xc3");
        let e = abi::FileOpenEvent {
            h: head(ProbeId::FileOpen),
            ret: 3,
            dfd: -100,
            flags: 0,
            mode: 0,
            _pad: 0,
            path,
        };
        let (_, ev) = decode(&as_bytes(&e)).unwrap();
        // Controls are data here; text output escapes them when it prints.
        let Body::FileOpen(open) = ev.body else { panic!() };
        assert_eq!(open.path, "/tmp/\\xff\x1b\\xc3");
    }

    #[test]
    fn rejects_bad_records() {
        assert_eq!(decode(&[0; 10]), Err(DecodeError::Short(10)));
        let mut h = head(ProbeId::FileOpen);
        h.probe = 99;
        assert_eq!(decode(&as_bytes(&h)), Err(DecodeError::UnknownProbe(99)));
        let h = head(ProbeId::FileOpen);
        assert_eq!(
            decode(&as_bytes(&h)),
            Err(DecodeError::Truncated {
                probe: ProbeId::FileOpen,
                len: 64
            })
        );
    }
}
