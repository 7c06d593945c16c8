//! Probes of TCP (`net.bpf.c`): connections made, accepted, ended, retransmitted
//! and dropped, and listen backlogs.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{DecodeError, record, tcp_ends};
use super::{Delivery, Probe, StackSupport, btf_tp, optional_tp, tp};

/// Why a TCP state change's event carries no user stack.
const SOFTIRQ: &str = "TCP's state changes, retransmits and drops happen in softirq and timers, on whatever task the CPU was running, whose user stack is not the connection's";
use crate::wit::{
    Body, NetTcpAccept, NetTcpConnect, NetTcpDrop, NetTcpLife, NetTcpRetransmit, NetTcpSynBacklog, TcpState, WitEnum,
};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "net.tcp.connect",
        id: ProbeId::NetTcpConnect,
        object: Object::Net,
        delivery: Delivery::Stream,
        stacks: StackSupport::KernelOnly(SOFTIRQ),
        setup: None,
        summary: "an outgoing TCP connection (IPv4 or IPv6) was established or failed (as tcpconnect)",
        hooks: &[tp("net_tcp_connect_state", "sock", "inet_sock_set_state")],
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
        stacks: StackSupport::KernelOnly(SOFTIRQ),
        setup: None,
        summary: "a TCP connection closed, with its duration and bytes (as tcplife)",
        hooks: &[tp("net_tcp_life_state", "sock", "inet_sock_set_state")],
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
        stacks: StackSupport::KernelOnly(SOFTIRQ),
        setup: None,
        summary: "a TCP segment was retransmitted (as tcpretrans)",
        hooks: &[btf_tp("net_tcp_retransmit", "tcp", "tcp_retransmit_skb")],
        decode: |t, probe, bytes| {
            let e: abi::NetTcpRetransmitEvent = record(probe, bytes)?;
            let state = (e.state as usize)
                .checked_sub(1)
                .and_then(|i| TcpState::CASES.get(i))
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
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a TCP connection (IPv4 or IPv6) was accepted (as tcpaccept)",
        hooks: &[
            tp("net_tcp_accept4_exit", "syscalls", "sys_exit_accept4"),
            optional_tp("net_tcp_accept_exit", "syscalls", "sys_exit_accept"),
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
        stacks: StackSupport::KernelOnly(SOFTIRQ),
        setup: None,
        summary: "the kernel dropped a TCP packet (IPv4 or IPv6), with its reason (as tcpdrop)",
        hooks: &[tp("net_tcp_drop", "skb", "kfree_skb")],
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
        stacks: StackSupport::KernelOnly(SOFTIRQ),
        setup: None,
        summary: "a TCP handshake completed on a listener, with the listener's backlog (as tcpsynbl)",
        hooks: &[tp("net_tcp_syn_backlog_state", "sock", "inet_sock_set_state")],
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
