//! Probes of TCP (`net.bpf.c`): connections made, accepted, ended, retransmitted
//! and dropped, and listen backlogs.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{DecodeError, record, tcp_ends};
use super::{Attach, Delivery, Hook, Probe, TCP_ENDS, field, optional_tp, tp};
use crate::wit::{
    Body, NetTcpAccept, NetTcpConnect, NetTcpDrop, NetTcpLife, NetTcpRetransmit, NetTcpSynBacklog, TcpState,
};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "net.tcp.connect",
        id: ProbeId::NetTcpConnect,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "an outgoing TCP connection (IPv4 or IPv6) was established or failed (as tcpconnect)",
        hooks: &[tp("net_tcp_connect_state", "sock", "inet_sock_set_state")],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field("established", "bool", "false when it was refused, reset or timed out"),
            field("latency-ns", "u64", "from the SYN to the answer"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpConnectEvent = record(probe, bytes)?;
            Ok(Body::NetTcpConnect(NetTcpConnect {
                ends: tcp_ends(t, probe, &e.ends)?,
                established: e.established != 0,
                latency_ns: e.latency_ns,
            }))
        },
        notes: "The header is the task that called connect(); filters apply to it. Sent when the handshake ends, once the local port is known (tcpconnect.bt printed at connect(), from a kprobe).",
    },
    Probe {
        name: "net.tcp.life",
        id: ProbeId::NetTcpLife,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP connection closed, with its duration and bytes (as tcplife)",
        hooks: &[tp("net_tcp_life_state", "sock", "inet_sock_set_state")],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field("duration-ns", "u64", "from the first SYN to the close"),
            field("rx-bytes", "u64", "bytes received (tcp_sock.bytes_received)"),
            field("tx-bytes", "u64", "bytes sent and acknowledged (tcp_sock.bytes_acked)"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpLifeEvent = record(probe, bytes)?;
            Ok(Body::NetTcpLife(NetTcpLife {
                ends: tcp_ends(t, probe, &e.ends)?,
                duration_ns: e.duration_ns,
                rx_bytes: e.rx_bytes,
                tx_bytes: e.tx_bytes,
            }))
        },
        notes: "The header is the task that called connect(), or else the one that closed the socket (close() or shutdown() first); filters apply to it. Connections opened before the probe, or reset without a close() by their owner, are not reported.",
    },
    Probe {
        name: "net.tcp.retransmit",
        id: ProbeId::NetTcpRetransmit,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP segment was retransmitted (as tcpretrans)",
        hooks: &[Hook {
            program: "net_tcp_retransmit",
            attach: Attach::BtfTracepoint {
                category: "tcp",
                name: "tcp_retransmit_skb",
            },
            required: true,
        }],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field(
                "state",
                "tcp-state",
                "the connection's TCP state (`syn-sent` for a SYN sent again)",
            ),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpRetransmitEvent = record(probe, bytes)?;
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
            Ok(Body::NetTcpRetransmit(NetTcpRetransmit {
                ends: tcp_ends(t, probe, &e.ends)?,
                state,
            }))
        },
        notes: "Retransmits run from timers: the header is whatever task the CPU was running, so pid and comm filters do not select connections here.",
    },
    Probe {
        name: "net.tcp.accept",
        id: ProbeId::NetTcpAccept,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP connection (IPv4 or IPv6) was accepted (as tcpaccept)",
        hooks: &[
            tp("net_tcp_accept4_exit", "syscalls", "sys_exit_accept4"),
            optional_tp("net_tcp_accept_exit", "syscalls", "sys_exit_accept"),
        ],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field(
                "backlog",
                "u32",
                "connections still waiting on the listener after this one",
            ),
            field("max-backlog", "u32", "the listener's listen() backlog"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpBacklogEvent = record(probe, bytes)?;
            Ok(Body::NetTcpAccept(NetTcpAccept {
                ends: tcp_ends(t, probe, &e.ends)?,
                backlog: e.backlog,
                max_backlog: e.max_backlog,
            }))
        },
        notes: "The header is the task that called accept(); one event when it returns, read from the new socket and the listening one (tcpaccept.bt used the inet_csk_accept kretprobe).",
    },
    Probe {
        name: "net.tcp.drop",
        id: ProbeId::NetTcpDrop,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "the kernel dropped a TCP packet (IPv4 or IPv6), with its reason (as tcpdrop)",
        hooks: &[tp("net_tcp_drop", "skb", "kfree_skb")],
        fields: &[
            field(
                "ends",
                "tcp-ends",
                "as in the packet: `saddr`/`sport` its source, `daddr`/`dport` its destination; `family`",
            ),
            field(
                "tcp-flags",
                "u8",
                "the packet's TCP flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10",
            ),
            field(
                "reason",
                "u32",
                "the kernel's drop reason (`names.drop-reason` names it: NO_SOCKET, TCP_LISTEN_OVERFLOW, ...); 0 before Linux 5.17",
            ),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpDropEvent = record(probe, bytes)?;
            Ok(Body::NetTcpDrop(NetTcpDrop {
                ends: tcp_ends(t, probe, &e.ends)?,
                tcp_flags: e.tcp_flags,
                reason: e.reason,
            }))
        },
        notes: "Drops happen in softirq: the header is whatever task the CPU was running, so pid and comm filters do not select packets. tcpdrop.bt used the tcp_drop kprobe, which newer kernels removed; every dropped skb passes kfree_skb.",
    },
    Probe {
        name: "net.tcp.syn-backlog",
        id: ProbeId::NetTcpSynBacklog,
        object: Object::Net,
        delivery: Delivery::Stream,
        setup: None,
        summary: "a TCP handshake completed on a listener, with the listener's backlog (as tcpsynbl)",
        hooks: &[tp("net_tcp_syn_backlog_state", "sock", "inet_sock_set_state")],
        fields: &[
            field("ends", "tcp-ends", TCP_ENDS),
            field("backlog", "u32", "connections already waiting on the listener"),
            field("max-backlog", "u32", "the listener's listen() backlog"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpBacklogEvent = record(probe, bytes)?;
            Ok(Body::NetTcpSynBacklog(NetTcpSynBacklog {
                ends: tcp_ends(t, probe, &e.ends)?,
                backlog: e.backlog,
                max_backlog: e.max_backlog,
            }))
        },
        notes: "Read from the new socket as it is created from the listener (a copy of it), where tcpsynbl.bt used the tcp_v4_syn_recv_sock kprobe. Handshakes complete in softirq: pid and comm filters do not select listeners.",
    },
];
