//! Probes of user-space functions (`user.bpf.c`, uprobes): bash's readline,
//! libc's pthread_create and name lookups, OpenSSL's reads, writes and handshakes.

use wasmtrace_ebpf::Object;
use wasmtrace_ebpf::abi::{self, ProbeId};

use super::read::{record, wit_enum};
use super::{Delivery, Probe, StackSupport, btf_tp, uprobe};
use crate::wit::{Body, NetDns, NetTls, ProcessThread, ShellReadline};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "shell.readline",
        id: ProbeId::ShellReadline,
        object: Object::User,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "bash read a command line (as bashreadline)",
        hooks: &[uprobe("shell_readline", "/bin/bash", "readline", true)],
        decode: |t, probe, bytes| {
            let e: abi::ShellReadlineEvent = record(probe, bytes)?;
            Ok(Body::ShellReadline(ShellReadline { line: t.c_str(&e.line) }))
        },
        notes: "A uretprobe on /bin/bash's readline(): shells with readline linked in (Debian's, Ubuntu's, Fedora's bash) are seen; other shells or another bash binary are not.",
    },
    Probe {
        name: "process.thread",
        id: ProbeId::ProcessThread,
        object: Object::User,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a thread is being created with pthread_create (as threadsnoop)",
        hooks: &[uprobe("process_thread", LIBC, "pthread_create", false)],
        decode: |_, probe, bytes| {
            let e: abi::ProcessThreadEvent = record(probe, bytes)?;
            Ok(Body::ProcessThread(ProcessThread {
                start_routine: e.start_routine,
            }))
        },
        notes: "A uprobe on glibc's pthread_create (in libc.so.6 since glibc 2.34). Threads made without it (Go, raw clone) are not seen; `process.fork` sees every new task.",
    },
    Probe {
        name: "net.dns",
        id: ProbeId::NetDns,
        object: Object::User,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a process looked a host name up through libc, with the lookup's latency and result (as gethostlatency)",
        hooks: &[
            uprobe("dns_getaddrinfo", LIBC, "getaddrinfo", false),
            uprobe("dns_getaddrinfo_ret", LIBC, "getaddrinfo", true),
            uprobe("dns_gethostbyname", LIBC, "gethostbyname", false),
            uprobe("dns_gethostbyname_ret", LIBC, "gethostbyname", true),
            uprobe("dns_gethostbyname2", LIBC, "gethostbyname2", false),
            uprobe("dns_gethostbyname2_ret", LIBC, "gethostbyname2", true),
            btf_tp("dns_exit", "sched", "sched_process_exit"),
        ],
        decode: |t, probe, bytes| {
            let e: abi::NetDnsEvent = record(probe, bytes)?;
            Ok(Body::NetDns(NetDns {
                host: t.c_str(&e.host),
                call: wit_enum(probe, e.call)?,
                latency_ns: e.latency_ns,
                error: e.error,
            }))
        },
        notes: "Uprobes on glibc's libc.so.6: programs that resolve names without it (Go's own resolver, musl-linked programs, resolvers that speak DNS themselves) are not seen. A container's libc is a file of its image: wasmtrace attaches to it too, as the container's processes see it, at start and on each tick for new containers.",
    },
    Probe {
        name: "net.tls",
        id: ProbeId::NetTls,
        object: Object::User,
        delivery: Delivery::Stream,
        stacks: StackSupport::OnRequest,
        setup: None,
        summary: "a process read, wrote or shook hands through OpenSSL, with the call's latency and size (as sslsnoop)",
        hooks: &[
            uprobe("tls_read", LIBSSL, "SSL_read", false),
            uprobe("tls_read_ret", LIBSSL, "SSL_read", true),
            uprobe("tls_write", LIBSSL, "SSL_write", false),
            uprobe("tls_write_ret", LIBSSL, "SSL_write", true),
            uprobe("tls_read_ex", LIBSSL, "SSL_read_ex", false),
            uprobe("tls_read_ex_ret", LIBSSL, "SSL_read_ex", true),
            uprobe("tls_write_ex", LIBSSL, "SSL_write_ex", false),
            uprobe("tls_write_ex_ret", LIBSSL, "SSL_write_ex", true),
            uprobe("tls_do_handshake", LIBSSL, "SSL_do_handshake", false),
            uprobe("tls_do_handshake_ret", LIBSSL, "SSL_do_handshake", true),
            btf_tp("tls_exit", "sched", "sched_process_exit"),
        ],
        decode: |_, probe, bytes| {
            let e: abi::NetTlsEvent = record(probe, bytes)?;
            Ok(Body::NetTls(NetTls {
                call: wit_enum(probe, e.call)?,
                latency_ns: e.latency_ns,
                bytes: e.bytes,
                requested: e.requested,
                ret: e.ret,
            }))
        },
        notes: "Uprobes on OpenSSL 3's libssl.so.3, and on containers' own copies as for net.dns: programs with TLS of their own (Go's crypto/tls, rustls, GnuTLS, BoringSSL linked in) are not seen. The data is never read: it is the plaintext TLS protects (passwords, tokens), and sizes and times answer what sslsnoop answers. Each call costs a uprobe trap and return (microseconds): on a busy TLS server, filter on pids, comms or containers.",
    },
];

/// glibc, and OpenSSL 3's TLS library, by file name: looked up where the
/// dynamic linker looks.
const LIBC: &str = "libc.so.6";
const LIBSSL: &str = "libssl.so.3";
