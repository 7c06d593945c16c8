//! The TCP tools on IPv4 and IPv6 loopback: tcpconnect and tcplife (checked
//! against libbpf-tools' tcplife, which uses the same tracepoint), and
//! tcpretrans on a SYN that a full accept queue dropped.

use serde_json::Value as Json;

use crate::harness::{Original, Tracer, example_plugins, unique};

/// Runs a Python workload under the command name `comm`, which fills the
/// dict `out`; returns its pid and `out`.
fn python(comm: &str, body: &str) -> (u32, Json) {
    let printed = crate::harness::python(
        comm,
        &format!("out = {{'pid': os.getpid()}}\n{body}\nprint(json.dumps(out))"),
    );
    let out: Json = serde_json::from_str(&printed).unwrap();
    (out["pid"].as_u64().unwrap() as u32, out)
}

/// For each family: a connection that sends 5000 bytes one way and 3000 the
/// other, then a connect to the closed port, which is refused.
const CONNECTIONS: &str = r#"
for name, family, host in [("v4", socket.AF_INET, "127.0.0.1"), ("v6", socket.AF_INET6, "::1")]:
    listener = socket.socket(family)
    listener.bind((host, 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.socket(family)
    client.connect((host, port))
    server, _ = listener.accept()
    client.sendall(b"x" * 5000)
    got = 0
    while got < 5000:
        got += len(server.recv(65536))
    server.sendall(b"y" * 3000)
    got = 0
    while got < 3000:
        got += len(client.recv(65536))
    out[name] = {"port": port, "client": client.getsockname()[1]}
    client.close()
    time.sleep(0.05)
    server.close()
    listener.close()
    refused = socket.socket(family)
    refused.bind((host, 0))
    out[name]["refused"] = refused.getsockname()[1]
    try:
        refused.connect((host, port))
    except ConnectionRefusedError:
        pass
    refused.close()
"#;

#[test]
fn tcpconnect_and_tcplife_on_ipv4_and_ipv6_agree_with_libbpf_tools_tcplife() {
    require_kernel!();
    let comm = unique("wt-tcp-");
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[probe.\"net.tcp.connect\"]\ncomm = [\"{comm}\"]\n[probe.\"net.tcp.life\"]\ncomm = [\"{comm}\"]\n[plugin.tcpconnect]\n[plugin.tcplife]\n",
        example_plugins().display()
    ));
    let original = Original::libbpf_tool("/usr/sbin/tcplife", &[]);
    let (pid, ports) = python(&comm, CONNECTIONS);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = tracer.stop();
    let libbpf = original.stop();
    out.assert_clean_exit();

    let (pid, comm) = (pid.to_string(), comm.as_str());
    let mut connects = Vec::new();
    let mut lives = Vec::new();
    for (name, host) in [("v4", "127.0.0.1"), ("v6", "::1")] {
        let p = |k: &str| ports[name][k].to_string();
        let (port, client, refused) = (p("port"), p("client"), p("refused"));
        connects.push(vec![
            pid.clone(),
            comm.into(),
            host.into(),
            client.clone(),
            host.into(),
            port.clone(),
            "ok".into(),
        ]);
        connects.push(vec![
            pid.clone(),
            comm.into(),
            host.into(),
            refused.clone(),
            host.into(),
            port.clone(),
            "failed".into(),
        ]);
        // PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB: the client's end, the server's, the refused one.
        let life = |l: &str, r: &str, tx: &str, rx: &str| {
            vec![
                pid.clone(),
                comm.into(),
                host.into(),
                l.into(),
                host.into(),
                r.into(),
                tx.into(),
                rx.into(),
            ]
        };
        lives.push(life(&client, &port, "4", "2"));
        lives.push(life(&port, &client, "2", "4"));
        lives.push(life(&refused, &port, "0", "0"));
    }
    let got = out.columns(
        "tcpconnect",
        &["PID", "COMM", "SADDR", "SPORT", "DADDR", "DPORT", "RESULT"],
    );
    assert_eq!(got, connects, "stderr:\n{}", out.stderr);
    let mut got = out.columns(
        "tcplife",
        &["PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB"],
    );
    got.sort();
    lives.sort();
    assert_eq!(got, lives, "stderr:\n{}", out.stderr);

    // libbpf-tools tcplife: PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS,
    // with KB as decimals; the same connections, ends and pid.
    let mut theirs: Vec<Vec<String>> = libbpf
        .iter()
        .filter(|l| l.get(1).is_some_and(|c| c == comm))
        .map(|l| l[..6].to_vec())
        .collect();
    theirs.sort();
    let mut ours: Vec<Vec<String>> = lives.iter().map(|l| l[..6].to_vec()).collect();
    ours.sort();
    assert_eq!(theirs, ours, "libbpf-tools tcplife said: {libbpf:?}");
}

#[test]
fn tcpretrans_shows_a_syn_sent_again_after_a_full_accept_queue_dropped_it() {
    require_kernel!();
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[plugin.tcpretrans]\n",
        example_plugins().display()
    ));
    // A listener with a backlog of 0 queues one connection; the SYN of the
    // next is dropped, and its sender tries again after a second.
    let (_, ports) = python(
        &unique("wt-rtx-"),
        r#"
for name, family, host in [("v4", socket.AF_INET, "127.0.0.1"), ("v6", socket.AF_INET6, "::1")]:
    listener = socket.socket(family)
    listener.bind((host, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    first = socket.socket(family)
    first.connect((host, port))
    second = socket.socket(family)
    second.setblocking(False)
    second.connect_ex((host, port))
    out[name] = {"port": port, "second": second.getsockname()[1]}
    time.sleep(1.6)
    for s in (second, first, listener):
        s.close()
"#,
    );
    let out = tracer.stop();
    out.assert_clean_exit();
    for (name, host) in [("v4", "127.0.0.1"), ("v6", "::1")] {
        let local = format!("{host}:{}", ports[name]["second"]);
        let remote = format!("{host}:{}", ports[name]["port"]);
        let retransmits = out.columns("tcpretrans", &["LADDR:LPORT", "RADDR:RPORT", "STATE"]);
        let ours: Vec<_> = retransmits.iter().filter(|r| r[0] == local).collect();
        assert_eq!(
            ours,
            [&vec![local.clone(), remote, "SYN_SENT".to_string()]],
            "{name}: all retransmits {retransmits:?}\nstderr:\n{}",
            out.stderr
        );
    }
}

#[test]
fn tcpaccept_shows_each_accepted_connection_with_the_backlog() {
    require_kernel!();
    let comm = unique("wt-acc-");
    let tracer = Tracer::tool("tcpaccept", "net.tcp.accept", &comm);
    // Two clients wait on a listener with a backlog of 8; it accepts both.
    let (pid, ports) = python(
        &comm,
        r#"
for name, family, host in [("v4", socket.AF_INET, "127.0.0.1"), ("v6", socket.AF_INET6, "::1")]:
    listener = socket.socket(family)
    listener.bind((host, 0))
    listener.listen(8)
    clients = [socket.socket(family) for _ in range(2)]
    for c in clients:
        c.connect(listener.getsockname()[:2])
    time.sleep(0.05)
    accepted = [listener.accept()[0] for _ in clients]
    out[name] = {"port": listener.getsockname()[1], "clients": [c.getsockname()[1] for c in clients]}
    for s in accepted + clients + [listener]:
        s.close()
"#,
    );
    let out = tracer.stop();
    out.assert_clean_exit();
    let (pid, comm) = (pid.to_string(), comm.as_str());
    let mut expected = Vec::new();
    for (name, host) in [("v4", "127.0.0.1"), ("v6", "::1")] {
        let port = ports[name]["port"].to_string();
        for (i, client) in ports[name]["clients"].as_array().unwrap().iter().enumerate() {
            let waiting = format!("{}/8", 1 - i);
            expected.push(vec![
                pid.clone(),
                comm.to_string(),
                host.to_string(),
                client.to_string(),
                host.to_string(),
                port.clone(),
                waiting,
            ]);
        }
    }
    let got = out.columns("tcpaccept", &["PID", "COMM", "RADDR", "RPORT", "LADDR", "LPORT", "BL"]);
    assert_eq!(got, expected, "stderr:\n{}", out.stderr);
}

#[test]
fn tcpdrop_shows_a_syn_to_a_closed_port_with_its_reason() {
    require_kernel!();
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[plugin.tcpdrop]\n",
        example_plugins().display()
    ));
    // A port that was just listened on and closed: the SYN finds no socket.
    let (_, ports) = python(
        &unique("wt-drop-"),
        r#"
for name, family, host in [("v4", socket.AF_INET, "127.0.0.1"), ("v6", socket.AF_INET6, "::1")]:
    closed = socket.socket(family)
    closed.bind((host, 0))
    port = closed.getsockname()[1]
    closed.close()
    client = socket.socket(family)
    client.bind((host, 0))
    out[name] = {"port": port, "client": client.getsockname()[1]}
    try:
        client.connect((host, port))
    except ConnectionRefusedError:
        pass
    client.close()
"#,
    );
    let out = tracer.stop();
    out.assert_clean_exit();
    let drops = out.columns("tcpdrop", &["SADDR:SPORT", "DADDR:DPORT", "FLAGS", "REASON"]);
    for (name, host) in [("v4", "127.0.0.1"), ("v6", "::1")] {
        let from = format!("{host}:{}", ports[name]["client"]);
        let to = format!("{host}:{}", ports[name]["port"]);
        let ours: Vec<_> = drops.iter().filter(|d| d[0] == from).cloned().collect();
        assert_eq!(
            ours,
            [vec![from.clone(), to, "S".to_string(), "NO_SOCKET".to_string()]],
            "{name}: all drops {drops:?}\nstderr:\n{}",
            out.stderr
        );
    }
    assert!(out.counter("tcpdrop", "drops", &["NO_SOCKET"]).unwrap() >= 2);
}

#[test]
fn tcpsynbl_histograms_the_backlog_each_handshake_found() {
    require_kernel!();
    let tracer = Tracer::start(&format!(
        "plugin_dir = \"{}\"\n[plugin.tcpsynbl]\n",
        example_plugins().display()
    ));
    // Three clients wait, unaccepted, on a listener with a backlog of 7 (a
    // number no other test uses): they find 0, 1 and 2 already waiting.
    python(
        &unique("wt-synbl-"),
        r#"
for family, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
    listener = socket.socket(family)
    listener.bind((host, 0))
    listener.listen(7)
    clients = [socket.socket(family) for _ in range(3)]
    for c in clients:
        c.connect(listener.getsockname()[:2])
        time.sleep(0.02)
    for s in clients + [listener]:
        s.close()
"#,
    );
    let out = tracer.stop();
    out.assert_clean_exit();
    let backlog = out
        .entry("tcpsynbl", "backlog", &["7"])
        .expect("a histogram for backlog 7");
    // 0, 1, 2 for each family: buckets [0], [1], [2, 4).
    assert_eq!(
        (backlog["count"].as_u64(), backlog["sum"].as_u64()),
        (Some(6), Some(6)),
        "{backlog}"
    );
    assert_eq!(
        backlog["buckets"],
        serde_json::json!([{"min": 0, "count": 2}, {"min": 1, "count": 2}, {"min": 2, "count": 2}])
    );
    assert_eq!(out.counter("tcpsynbl", "full", &["7"]), None);
}
