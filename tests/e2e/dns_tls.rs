//! net.dns and net.tls (uprobes on libc and libssl) and their tools
//! (gethostlatency, sslsnoop, ssllatency): lookups and TLS sessions a
//! Python process makes through those very libraries, checked against what
//! the process itself saw, and beside the bpftrace originals.

use std::path::Path;

use serde_json::Value as Json;

use crate::harness::{Original, Tracer, python, test_plugins, unique};

fn echo(probe: &str, comm: &str) -> Tracer {
    Tracer::start(&format!(
        "[probe.\"{probe}\"]\ncomm = [\"{comm}\"]\n[plugin.echo]\npath = \"{}/echo.wasm\"\nprobes = [\"{probe}\"]\n",
        test_plugins().display()
    ))
}

/// Lookups through libc: getaddrinfo (by Python's socket module, as most
/// programs call it), and gethostbyname and gethostbyname2 (by ctypes).
/// Only names /etc/hosts or the numbers themselves answer, so no DNS server
/// is asked. Prints the pid and what gethostbyname2 returned.
const LOOKUPS: &str = r#"
for host in ["localhost", "127.0.0.1", "::1"]:
    socket.getaddrinfo(host, 80)
try:
    socket.getaddrinfo("localhost", "no-such-service")
except socket.gaierror:
    pass
libc = ctypes.CDLL(None)
libc.gethostbyname.restype = ctypes.c_void_p
libc.gethostbyname2.restype = ctypes.c_void_p
libc.gethostbyname(b"localhost")
found = libc.gethostbyname2(b"localhost", socket.AF_INET6) is not None
print(json.dumps({"pid": os.getpid(), "gethostbyname2": found}))
"#;

#[test]
fn each_libc_lookup_is_one_event_with_its_host_latency_and_result() {
    require_kernel!();
    let comm = unique("wt-dns-");
    let tracer = echo("net.dns", &comm);
    let said: Json = serde_json::from_str(&python(&comm, LOOKUPS)).unwrap();
    let out = tracer.stop();
    out.assert_clean_exit();
    let seen: Vec<(String, String, i64)> = out
        .findings("net.dns")
        .map(|e| {
            assert_eq!(e["pid"], said["pid"], "{e}");
            let latency = e["latency_ns"].as_u64().unwrap();
            assert!(latency > 0 && latency < 10_000_000_000, "{e}");
            (
                e["call"].as_str().unwrap().into(),
                e["host"].as_str().unwrap().into(),
                e["error"].as_i64().unwrap(),
            )
        })
        .collect();
    let v6 = if said["gethostbyname2"] == true { 0 } else { -1 };
    let expected: Vec<(String, String, i64)> = [
        ("getaddrinfo", "localhost", 0),
        ("getaddrinfo", "127.0.0.1", 0),
        ("getaddrinfo", "::1", 0),
        // EAI_SERVICE: the service is unknown.
        ("getaddrinfo", "localhost", -8),
        ("gethostbyname", "localhost", 0),
        ("gethostbyname2", "localhost", v6),
    ]
    .into_iter()
    .map(|(c, h, e)| (c.into(), h.into(), e))
    .collect();
    assert_eq!(seen, expected);
}

#[test]
fn gethostlatency_agrees_with_gethostlatency_bt() {
    require_kernel!();
    let comm = unique("wt-ghl-");
    let tracer = Tracer::tool("gethostlatency", "net.dns", &comm);
    let bpftrace = Original::bpftrace("/usr/sbin/gethostlatency.bt");
    let said: Json = serde_json::from_str(&python(&comm, LOOKUPS)).unwrap();
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let ours = out.columns("gethostlatency", &["PID", "COMM", "HOST"]);
    // gethostlatency.bt: TIME PID COMM LATms HOST.
    let theirs: Vec<Vec<String>> = bt
        .iter()
        .filter(|l| l.get(2) == Some(&comm))
        .map(|l| vec![l[1].clone(), l[2].clone(), l[4].clone()])
        .collect();
    assert_eq!(ours.len(), 6, "{ours:?}");
    let pid = said["pid"].as_u64().unwrap().to_string();
    assert!(ours.iter().all(|r| r[0] == pid), "{ours:?}");
    assert_eq!(ours, theirs);
    assert_eq!(out.counter("gethostlatency", "lookups", &["localhost", "-8"]), Some(1));
}

/// A TLS session within one Python process (named `comm`): a server thread
/// and a client, over loopback, with a throwaway certificate. The client
/// writes `BYTES`, the server reads them all and answers `ok`. Prints the pid.
fn tls_session(comm: &str, dir: &Path) -> u32 {
    let (cert, key) = crate::harness::certificate(dir);
    let body = format!(
        r#"
import ssl
BYTES = {BYTES}
server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server.load_cert_chain({cert:?}, {key:?})
client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client.load_verify_locations({cert:?})
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
def serve():
    conn, _ = listener.accept()
    tls = server.wrap_socket(conn, server_side=True)
    got = 0
    while got < BYTES:
        got += len(tls.recv(65536))
    tls.sendall(b"ok")
    tls.close()
thread = threading.Thread(target=serve)
thread.start()
tls = client.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname="localhost")
tls.sendall(b"x" * BYTES)
assert tls.recv(2) == b"ok"
tls.close()
thread.join()
print(os.getpid())
"#,
        cert = cert.to_str().unwrap(),
        key = key.to_str().unwrap(),
    );
    python(comm, &body).trim().parse().unwrap()
}

const BYTES: u64 = 100_000;

/// The bytes of the calls named `calls` that succeeded, as the echo plugin
/// printed them.
fn moved(events: &[&Json], calls: &[&str]) -> u64 {
    events
        .iter()
        .filter(|e| calls.iter().any(|c| e["call"] == *c))
        .map(|e| e["bytes"].as_u64().unwrap())
        .sum()
}

#[test]
fn each_tls_call_is_one_event_with_its_size_and_result() {
    require_kernel!();
    let comm = unique("wt-tls-");
    let dir = tempfile::tempdir().unwrap();
    let tracer = echo("net.tls", &comm);
    let pid = tls_session(&comm, dir.path());
    let out = tracer.stop();
    out.assert_clean_exit();
    let events: Vec<&Json> = out.findings("net.tls").collect();
    assert!(events.iter().all(|e| e["pid"] == pid), "{events:?}");
    // Both ends shook hands once, and succeeded.
    let handshakes: Vec<_> = events.iter().filter(|e| e["call"] == "SSL_do_handshake").collect();
    assert_eq!(handshakes.len(), 2, "{events:?}");
    assert!(
        handshakes.iter().all(|e| e["ret"] == 1 && e["bytes"] == 0),
        "{handshakes:?}"
    );
    // Every byte each end wrote, the other read: the payload and `ok`.
    assert_eq!(moved(&events, &["SSL_write", "SSL_write_ex"]), BYTES + 2);
    assert_eq!(moved(&events, &["SSL_read", "SSL_read_ex"]), BYTES + 2);
    for e in &events {
        assert!(e["bytes"].as_u64() <= e["requested"].as_u64(), "{e}");
    }
}

/// sslsnoop.bt's lines for `comm`: TIME(us) TID COMM LAT(us) RET FUNC.
fn sslsnoop_bt_lines(bt: &[Vec<String>], comm: &str) -> Vec<(String, String)> {
    bt.iter()
        .filter(|l| l.get(2).is_some_and(|c| c == comm))
        .map(|l| (l[5].clone(), l[4].clone()))
        .collect()
}

#[test]
fn sslsnoop_agrees_with_sslsnoop_bt() {
    require_kernel!();
    let comm = unique("wt-ssn-");
    let dir = tempfile::tempdir().unwrap();
    let tracer = Tracer::tool("sslsnoop", "net.tls", &comm);
    let bpftrace = Original::bpftrace("/usr/sbin/sslsnoop.bt");
    tls_session(&comm, dir.path());
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    // sslsnoop.bt probes SSL_read, SSL_write and SSL_do_handshake, not the
    // `_ex` forms Python calls: their handshakes, and any plain calls, agree.
    let ours: Vec<(String, String)> = out
        .columns("sslsnoop", &["FUNC", "RET"])
        .into_iter()
        .filter(|r| ["SSL_do_handshake", "SSL_read", "SSL_write"].contains(&r[0].as_str()))
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(
        ours.iter().filter(|(f, _)| f == "SSL_do_handshake").count(),
        2,
        "{ours:?}"
    );
    assert_eq!(ours, sslsnoop_bt_lines(&bt, &comm));
    assert_eq!(
        out.counter("sslsnoop", "bytes", &[&comm, "SSL_write_ex"]),
        Some(BYTES + 2)
    );
}

/// The calls ssllatency.bt's `@stat[FUNC]: count N, ...` lines count, all
/// functions together: bpftrace 0.17 prints a uretprobe's stored `func` as
/// an address there.
fn ssllatency_bt_count(bt: &[Vec<String>]) -> u64 {
    bt.iter()
        .filter(|l| l.first().is_some_and(|w| w.starts_with("@stat[")))
        .filter_map(|l| l.get(2)?.trim_end_matches(',').parse::<u64>().ok())
        .sum()
}

#[test]
fn ssllatency_agrees_with_ssllatency_bt() {
    require_kernel!();
    let comm = unique("wt-ssl-");
    let dir = tempfile::tempdir().unwrap();
    let tracer = Tracer::tool("ssllatency", "net.tls", &comm);
    let bpftrace = Original::bpftrace("/usr/sbin/ssllatency.bt");
    tls_session(&comm, dir.path());
    let out = tracer.stop();
    let bt = bpftrace.stop();
    out.assert_clean_exit();
    let count = |map: &str, func: &str| {
        out.entry("ssllatency", map, &[func])
            .map_or(0, |h| h["count"].as_u64().unwrap())
    };
    assert_eq!(count("usecs", "SSL_do_handshake"), 2);
    assert_eq!(count("failed_usecs", "SSL_do_handshake"), 0);
    assert!(count("usecs", "SSL_write_ex") >= 2);
    // ssllatency.bt counts every process's calls (it has no filter), and of
    // Python's only the handshakes (not the `_ex` forms): the two of this
    // session among them.
    let theirs = ssllatency_bt_count(&bt);
    assert!(theirs >= 2, "ssllatency.bt counted {theirs} calls:\n{bt:?}");
}

#[test]
fn a_missing_library_is_named_with_the_folders_it_was_looked_for_in() {
    require_kernel!();
    // A host root whose dynamic linker looks in /opt/ssl first, and which has no libssl.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/ld.so.conf"), "/opt/ssl\n").unwrap();
    let recording = root.path().join("tls.rec");
    let out = crate::harness::wasmtrace()
        .args(["record", "-p", "net.tls", "-d", "1s"])
        .arg(&recording)
        .env("WASMTRACE_HOST_ROOT", root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("probe `net.tls` is not available here")
            && stderr.contains("uprobes on libssl.so.3 (libssl.so.3 is in none of the folders the dynamic linker searches (/opt/ssl, /lib/")
            && stderr.contains(&format!("WASMTRACE_HOST_ROOT={}", root.path().display())),
        "{stderr}"
    );
}
