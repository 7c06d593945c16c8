//! Ring-buffer records → typed WIT batches: the events of one probe, their
//! common fields as columns, their strings in one byte table, each command
//! name once. Built this way, a batch crosses into a plugin with a copy per
//! column and a store per body field, and no allocation in the guest per
//! string.

use std::collections::HashMap;

use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::catalog;
use crate::catalog::read::{DecodeError, TextTable};
use crate::containers::Containers;
use crate::escape;
use crate::stacks::{self, Space};
use crate::wit::{Batch, Body, Container, Headers};

/// The numbers a batch gives keys (command names, cgroups), each key
/// numbered once. Storms repeat the last key: it is found without hashing.
struct Numbering<K> {
    index: HashMap<K, u32>,
    last: Option<(K, u32)>,
}

impl<K: Copy + Eq + std::hash::Hash> Numbering<K> {
    fn new() -> Numbering<K> {
        Numbering {
            index: HashMap::new(),
            last: None,
        }
    }

    /// `key`'s number, made by `first` the first time the batch sees it.
    fn number(&mut self, key: K, first: impl FnOnce() -> u32) -> u32 {
        if let Some((_, n)) = self.last.filter(|(last, _)| *last == key) {
            return n;
        }
        let n = *self.index.entry(key).or_insert_with(first);
        self.last = Some((key, n));
        n
    }
}

/// One probe's batch being built.
struct Builder {
    headers: Headers,
    bodies: Vec<Body>,
    comms: Vec<String>,
    text: TextTable,
    /// Command names by their index in `comms`.
    comm_numbers: Numbering<[u8; abi::COMM_LEN]>,
    containers: Vec<Container>,
    /// Cgroups by their container's number in the batch (0: the host's).
    cgroup_numbers: Numbering<u64>,
}

impl Builder {
    fn push(&mut self, h: &abi::EventHeader, body: Body, stacks: (u32, u32), resolver: &mut Containers) {
        let comms = &mut self.comms;
        let comm = self.comm_numbers.number(h.comm, || {
            let mut name = String::new();
            escape::push_utf8_bytes(&mut name, abi::c_str(&h.comm));
            comms.push(name);
            comms.len() as u32 - 1
        });
        let containers = &mut self.containers;
        let container = self
            .cgroup_numbers
            .number(h.cgroup_id, || match resolver.lookup(h.cgroup_id) {
                Some(container) => {
                    containers.push(container.clone());
                    containers.len() as u32
                }
                None => 0,
            });
        let c = &mut self.headers;
        c.timestamp_ns.push(h.ts_boot_ns);
        c.cpu.push(h.cpu);
        c.pid.push(h.pid);
        c.tid.push(h.tid);
        c.ppid.push(h.ppid);
        c.uid.push(h.uid);
        c.gid.push(h.gid);
        c.comm.push(comm);
        c.cgroup_id.push(h.cgroup_id);
        c.container.push(container);
        c.kernel_stack.push(stacks.0);
        c.user_stack.push(stacks.1);
        self.bodies.push(body);
    }

    fn with_room(room: usize) -> Builder {
        Builder {
            headers: Headers {
                timestamp_ns: Vec::with_capacity(room),
                cpu: Vec::with_capacity(room),
                pid: Vec::with_capacity(room),
                tid: Vec::with_capacity(room),
                ppid: Vec::with_capacity(room),
                uid: Vec::with_capacity(room),
                gid: Vec::with_capacity(room),
                comm: Vec::with_capacity(room),
                cgroup_id: Vec::with_capacity(room),
                container: Vec::with_capacity(room),
                kernel_stack: Vec::with_capacity(room),
                user_stack: Vec::with_capacity(room),
            },
            bodies: Vec::with_capacity(room),
            comms: Vec::new(),
            text: TextTable::default(),
            comm_numbers: Numbering::new(),
            containers: Vec::new(),
            cgroup_numbers: Numbering::new(),
        }
    }

    /// The batch so far; the next one starts empty, with room for as many.
    fn take(&mut self) -> Batch {
        let taken = std::mem::replace(self, Builder::with_room(self.bodies.len()));
        Batch {
            headers: taken.headers,
            bodies: taken.bodies,
            comms: taken.comms,
            text: taken.text.into_bytes(),
            containers: taken.containers,
        }
    }
}

/// Turns records into per-probe batches.
pub struct Decoder {
    builders: Vec<Builder>,
    containers: Containers,
}

impl Default for Decoder {
    /// A decoder that attributes nothing to containers.
    fn default() -> Decoder {
        Decoder::new(Containers::none())
    }
}

impl Decoder {
    pub fn new(containers: Containers) -> Decoder {
        Decoder {
            builders: ProbeId::ALL.iter().map(|_| Builder::with_room(0)).collect(),
            containers,
        }
    }

    /// Every interval: containers that went quiet are forgotten.
    pub fn sweep(&mut self) {
        self.containers.sweep();
    }

    /// The resolver, for kernel filters that name containers.
    pub fn containers_mut(&mut self) -> &mut Containers {
        &mut self.containers
    }

    /// Decodes one record into its probe's batch; a record that does not
    /// decode leaves the batch as it was.
    pub fn push(&mut self, bytes: &[u8]) -> Result<ProbeId, DecodeError> {
        let h: abi::EventHeader = abi::read(bytes).ok_or(DecodeError::Short(bytes.len()))?;
        let probe = ProbeId::from_raw(h.probe).ok_or(DecodeError::UnknownProbe(h.probe))?;
        let builder = &mut self.builders[probe as usize];
        let mark = builder.text.mark();
        match (catalog::by_id(probe).decode)(&mut builder.text, probe, bytes) {
            Ok(body) => {
                builder.push(&h, body, stack_ids(&h, probe, bytes), &mut self.containers);
                Ok(probe)
            }
            Err(e) => {
                builder.text.rewind(mark);
                Err(e)
            }
        }
    }

    /// The events of `probe` decoded since the last take, if any.
    pub fn take(&mut self, probe: ProbeId) -> Option<Batch> {
        let builder = &mut self.builders[probe as usize];
        (!builder.bodies.is_empty()).then(|| builder.take())
    }
}

/// The ids of a record's kernel and user stacks (0: none), from the
/// trailer its header says follows it.
fn stack_ids(h: &abi::EventHeader, probe: ProbeId, bytes: &[u8]) -> (u32, u32) {
    let trailer = match h.stacks {
        0 => None,
        _ => bytes
            .get(abi::record_size(probe)..)
            .and_then(abi::read::<abi::StackTrailer>),
    };
    let Some(t) = trailer else {
        return (0, 0);
    };
    /// The frames filled, without the zero return address that ends some walks.
    fn frames(all: &[u64], bytes: u32) -> &[u64] {
        let filled = &all[..(bytes as usize / 8).min(all.len())];
        let end = filled.iter().rposition(|&a| a != 0).map_or(0, |i| i + 1);
        &filled[..end]
    }
    let table = stacks::table();
    (
        table.intern(Space::Kernel, frames(&t.kernel, t.kernel_bytes)),
        table.intern(Space::User(h.pid), frames(&t.user, t.user_bytes)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::read::{AF_INET, AF_INET6};
    use crate::wit::*;
    use std::mem::size_of;

    /// One record decoded alone: its one-event batch, and its body.
    #[derive(Debug, PartialEq)]
    struct One {
        batch: Batch,
        body: Body,
    }

    impl One {
        fn text(&self, t: Text) -> &str {
            std::str::from_utf8(&self.batch.text[t.start as usize..][..t.len as usize]).unwrap()
        }
    }

    fn decode(bytes: &[u8]) -> Result<(ProbeId, One), DecodeError> {
        let mut decoder = Decoder::default();
        let probe = decoder.push(bytes)?;
        let batch = decoder.take(probe).unwrap();
        assert_eq!(batch.len(), 1);
        let body = batch.bodies[0].clone();
        Ok((probe, One { batch, body }))
    }

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
            stacks: 0,
            comm: comm("cat"),
        }
    }

    /// A file.open record of `cat` opening `path` (fd 3).
    fn open_event(path: &[u8]) -> abi::FileOpenEvent {
        let mut e = abi::FileOpenEvent {
            h: head(ProbeId::FileOpen),
            ret: 3,
            dfd: -100,
            flags: 0,
            mode: 0,
            _pad: 0,
            path: [0; abi::PATH_LEN],
        };
        e.path[..path.len()].copy_from_slice(path);
        e
    }

    #[test]
    fn file_open() {
        let e = abi::FileOpenEvent {
            ret: -2,
            flags: 0o100,
            mode: 0o644,
            ..open_event(b"/etc/motd")
        };
        let (probe, ev) = decode(&as_bytes(&e)).unwrap();
        assert_eq!(probe, ProbeId::FileOpen);
        let h = &ev.batch.headers;
        assert_eq!(ev.batch.comms, ["cat"]);
        assert_eq!(
            (h.comm[0], h.pid[0], h.tid[0], h.ppid[0], h.uid[0], h.gid[0]),
            (0, 100, 101, 1, 1000, 1000)
        );
        assert_eq!(
            (h.timestamp_ns[0], h.cpu[0], h.cgroup_id[0], h.container[0]),
            (42, 1, 7, 0)
        );
        let Body::FileOpen(open) = ev.body else { panic!() };
        assert_eq!(ev.text(open.path), "/etc/motd");
        assert_eq!((open.flags, open.mode, open.dfd, open.ret), (0o100, 0o644, -100, -2));
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
        let Body::ProcessExec(x) = &ev.body else { panic!() };
        let argv: Vec<&str> = x.argv.iter().map(|&a| ev.text(a)).collect();
        assert_eq!(argv, ["ls", "-l", "/tmp"]);
        assert_eq!(ev.text(x.filename), "/bin/ls");
        assert_eq!(ev.text(x.caller_comm), "bash");
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
                parent_comm: Text { start: 0, len: 4 }
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
        let (_, ev) = decode(&as_bytes(&connect(ends(AF_INET6, v6, v6)))).unwrap();
        let Body::NetTcpConnect(c) = ev.body else { panic!() };
        assert_eq!(
            (c.ends.family, ev.text(c.ends.saddr), c.ends.sport, c.ends.dport),
            (IpFamily::Ipv6, "::1", 40000, 443)
        );
        assert!(c.established);
        let (_, ev) = decode(&as_bytes(&connect(ends(AF_INET, v4, v4)))).unwrap();
        let Body::NetTcpConnect(c) = ev.body else { panic!() };
        assert_eq!((c.ends.family, ev.text(c.ends.daddr)), (IpFamily::Ipv4, "10.0.0.7"));
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
                    proptest::prop_assert_eq!(event.batch.headers.timestamp_ns[0], u64::from_le_bytes(bytes[..8].try_into().unwrap()));
                    proptest::prop_assert!(std::str::from_utf8(&event.batch.text).is_ok());
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
        let (_, ev) = decode(&as_bytes(&open_event(b"/tmp/\xff\x1b\xc3"))).unwrap();
        // Controls are data here; text output escapes them when it prints.
        let Body::FileOpen(open) = ev.body else { panic!() };
        assert_eq!(ev.text(open.path), "/tmp/\\xff\x1b\\xc3");
    }

    /// Command names are sent once per batch; a record that does not decode
    /// leaves no trace in the batch (not even its strings).
    #[test]
    fn a_batch_holds_each_comm_once_and_nothing_of_a_bad_record() {
        let open = |name: &str, path: &[u8]| {
            let mut e = open_event(path);
            e.h.comm = comm(name);
            as_bytes(&e)
        };
        let mut bad = abi::NetTcpConnectEvent {
            h: head(ProbeId::NetTcpConnect),
            ends: abi::TcpEnds {
                family: 77,
                sport: 1,
                dport: 2,
                _pad: 0,
                saddr: [0; 16],
                daddr: [0; 16],
            },
            latency_ns: 0,
            established: 0,
            _pad: 0,
        };
        let mut decoder = Decoder::default();
        for (name, path) in [("cat", &b"/a"[..]), ("cat", b"/b"), ("ls", b"/c"), ("cat", b"/d")] {
            decoder.push(&open(name, path)).unwrap();
        }
        decoder.push(&as_bytes(&bad)).unwrap_err();
        bad.ends.family = AF_INET;
        let first = decoder.take(ProbeId::FileOpen).unwrap();
        assert_eq!(
            (first.comms, first.headers.comm),
            (vec!["cat".to_string(), "ls".into()], vec![0, 0, 1, 0])
        );
        assert_eq!(first.text, b"/a/b/c/d");
        decoder.push(&open("cat", b"/e")).unwrap();
        let batch = decoder.take(ProbeId::FileOpen).unwrap();
        assert_eq!(
            (batch.comms.as_slice(), batch.text.as_slice()),
            (&["cat".to_string()][..], &b"/e"[..])
        );
        assert_eq!(batch.headers.comm, [0]);
        assert!(decoder.take(ProbeId::FileOpen).is_none());
        decoder.push(&as_bytes(&bad)).unwrap();
        assert_eq!(decoder.take(ProbeId::NetTcpConnect).unwrap().text, b"0.0.0.00.0.0.0");
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
