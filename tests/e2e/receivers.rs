//! Findings reach people's receivers: a real Alertmanager (labels, grouping,
//! a silence), a webhook receiver that goes down and comes back (nothing
//! lost with a spool file; an exact drop count without), and a real rsyslog
//! (RFC 5424 with structured data). The findings come from real probes:
//! shellspawn sees a fake service start shells.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::harness::{Daemon, Finished, Tracer, example_plugins, free_port, http, http_get, unique};

const RULE: &str = "shell-from-network-service";

/// A fake network service: a copy of bash under the service's name.
struct Service {
    program: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    fn new(name: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join(name);
        std::fs::copy("/bin/bash", &program).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Service { program, _dir: dir }
    }

    /// Starts `n` shells, one after another: `n` findings.
    fn spawn_shells(&self, n: usize) {
        for _ in 0..n {
            let status = Command::new(&self.program)
                .args(["-c", "/bin/sh -c 'exit 0'"])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

/// wasmtrace running shellspawn for these services, with `receivers` added to `[output]`.
fn shellspawn_config(services: &[&str], receivers: &str) -> String {
    let services: Vec<String> = services.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "plugin_dir = \"{}\"\n[probe.\"process.exec\"]\ncomm = [\"sh\"]\n[plugin.shellspawn]\n\
         [plugin.shellspawn.config]\nservices = [{}]\n{receivers}",
        example_plugins().display(),
        services.join(", ")
    )
}

/// Polls until `done` holds, for up to 60 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn delivery(out: &Finished, output: &str) -> Json {
    out.of_type("delivery")
        .find(|l| l["output"] == output)
        .cloned()
        .unwrap_or_else(|| panic!("no delivery line for {output}; stderr:\n{}", out.stderr))
}

struct Alertmanager {
    _daemon: Daemon,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nowhere\n  group_by: [alertname, service]\nreceivers:\n  - name: nowhere\n",
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running prometheus-alertmanager (scripts/install-deps installs it)");
        let am = Alertmanager {
            _daemon: Daemon(child),
            port,
            _dir: dir,
        };
        wait_until("Alertmanager to answer", || am.get("/-/ready").is_some());
        am
    }

    fn get(&self, path: &str) -> Option<Json> {
        let body = http_get(self.port, path).ok()?;
        serde_json::from_str(&body)
            .ok()
            .or_else(|| (!body.is_empty()).then_some(Json::Null))
    }

    /// The alerts of our rule, by their `service` label.
    fn alerts(&self) -> Vec<Json> {
        let all = self.get("/api/v2/alerts").unwrap_or(Json::Null);
        all.as_array()
            .map(|a| a.iter().filter(|x| x["labels"]["alertname"] == RULE).cloned().collect())
            .unwrap_or_default()
    }
}

#[test]
fn findings_reach_alertmanager_with_labels_grouping_and_silences() {
    require_kernel!();
    let am = Alertmanager::start();
    let (web, db) = (unique("wt-web"), unique("wt-db"));
    let receivers = format!(
        "[output.alertmanager]\nurl = \"http://127.0.0.1:{}\"\nlabels = [\"service\", \"shell\"]\nresolve_after = \"10m\"\n\
         generator_url = \"https://wasmtrace.example/rules\"\n",
        am.port
    );
    let tracer = Tracer::start(&shellspawn_config(&[&web, &db], &receivers));
    Service::new(&web).spawn_shells(2);
    Service::new(&db).spawn_shells(1);
    wait_until("both services' alerts in Alertmanager", || am.alerts().len() == 2);

    let alerts = am.alerts();
    let of = |service: &str| {
        alerts
            .iter()
            .find(|a| a["labels"]["service"] == service)
            .unwrap()
            .clone()
    };
    let alert = of(&web);
    for (label, value) in [("severity", "high"), ("plugin", "shellspawn"), ("shell", "sh")] {
        assert_eq!(alert["labels"][label], value, "{alert}");
    }
    assert!(
        alert["labels"]["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{alert}"
    );
    assert_eq!(
        alert["annotations"]["summary"],
        format!("{web} started a shell: /bin/sh -c exit 0").as_str()
    );
    assert!(
        alert["annotations"]["pid"]
            .as_str()
            .is_some_and(|p| p.parse::<u32>().is_ok()),
        "{alert}"
    );
    assert_eq!(alert["generatorURL"], "https://wasmtrace.example/rules");
    assert_eq!(alert["status"]["state"], "active");
    // endsAt lies resolve_after ahead: the alert resolves once it stops recurring.
    let ends = humantime::parse_rfc3339(alert["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(500) && ahead <= Duration::from_secs(600),
        "{ahead:?}"
    );

    // Grouped as the route says: one group per service.
    let groups = am.get("/api/v2/alerts/groups").unwrap();
    let grouped: BTreeSet<String> = groups
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["labels"]["alertname"] == RULE)
        .map(|g| g["labels"]["service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(grouped, BTreeSet::from([web.clone(), db.clone()]));

    // A silence on one service suppresses its alert and leaves the other active.
    let now = std::time::SystemTime::now();
    let silence = json!({
        "matchers": [{"name": "service", "value": db, "isRegex": false, "isEqual": true}],
        "startsAt": humantime::format_rfc3339(now).to_string(),
        "endsAt": humantime::format_rfc3339(now + Duration::from_secs(3600)).to_string(),
        "createdBy": "wasmtrace e2e", "comment": "maintenance",
    });
    let (status, body) = http(am.port, "POST", "/api/v2/silences", &silence.to_string()).unwrap();
    assert_eq!(status.split_whitespace().nth(1), Some("200"), "{status}: {body}");
    wait_until("the silence to apply", || {
        am.alerts()
            .iter()
            .any(|a| a["labels"]["service"] == db.as_str() && a["status"]["state"] == "suppressed")
    });
    let alerts = am.alerts();
    assert_eq!(of(&web)["status"]["state"], "active", "{alerts:?}");

    let out = tracer.stop();
    out.assert_clean_exit();
    assert_eq!(out.findings(RULE).count(), 3);
    let sent = delivery(&out, "alertmanager");
    assert_eq!(
        (sent["delivered"].as_u64(), sent["dropped"].as_u64()),
        (Some(3), Some(0)),
        "{sent}"
    );
}

/// A webhook receiver the test can take down and bring back on the same port.
struct Hook {
    port: u16,
    /// Every finding received, the number in each request, and the
    /// Authorization header of each request.
    received: Arc<Mutex<Vec<Json>>>,
    sizes: Arc<Mutex<Vec<usize>>>,
    tokens: Arc<Mutex<BTreeSet<String>>>,
    /// The status line it answers with.
    answer: Arc<Mutex<&'static str>>,
    serving: Option<(Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Hook {
    fn new() -> Hook {
        let mut hook = Hook {
            port: port_below_ephemeral(),
            received: Arc::default(),
            sizes: Arc::default(),
            tokens: Arc::default(),
            answer: Arc::new(Mutex::new("200 OK")),
            serving: None,
        };
        hook.up();
        hook
    }

    fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let on = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (received, sizes, tokens, answer, serving) = (
            self.received.clone(),
            self.sizes.clone(),
            self.tokens.clone(),
            self.answer.clone(),
            on.clone(),
        );
        let thread = std::thread::spawn(move || {
            while serving.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &received, &sizes, &tokens, &answer, &serving),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        self.serving = Some((on, thread));
    }

    /// Closes the port: deliveries are refused until `up`.
    fn down(&mut self) {
        if let Some((on, thread)) = self.serving.take() {
            on.store(false, std::sync::atomic::Ordering::Relaxed);
            thread.join().unwrap();
        }
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// A free port below the kernel's ephemeral range (32768 and up by default):
/// while the hook is down, no outgoing connection can take it as its own.
fn port_below_ephemeral() -> u16 {
    // Tests in this process start their search apart from each other's.
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start =
        20_000 + (std::process::id() % 5_000) as u16 + NEXT.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
    (start..32_000)
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port below 32000")
}

/// Answers HTTP/1.1 POSTs on one connection until the client closes it or the hook goes down.
fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Json>>,
    sizes: &Mutex<Vec<usize>>,
    tokens: &Mutex<BTreeSet<String>>,
    answer: &Mutex<&'static str>,
    on: &std::sync::atomic::AtomicBool,
) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while on.load(std::sync::atomic::Ordering::Relaxed) {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                continue;
            }
            Err(_) => return,
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(": ").unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap(),
                "authorization" => {
                    tokens.lock().unwrap().insert(value.to_string());
                }
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let batch: Json = serde_json::from_slice(&body).unwrap();
        let batch = batch.as_array().unwrap();
        sizes.lock().unwrap().push(batch.len());
        received.lock().unwrap().extend(batch.iter().cloned());
        let status = *answer.lock().unwrap();
        write!(writer, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").unwrap();
    }
}

/// Runs the webhook scenario: findings while the receiver is up, while it
/// is down, and after it is back; returns the run's output and the hook.
fn webhook_down_and_up(queue: &str) -> (Finished, Hook, usize) {
    let mut hook = Hook::new();
    let service = unique("wt-hook");
    let receivers = format!(
        "[output.webhook]\nurl = \"http://127.0.0.1:{}/findings\"\nheaders = {{ \"X-Source\" = \"e2e\" }}\n\
         headers_env = {{ Authorization = \"WT_HOOK_AUTH\" }}\nqueue = {queue}\n",
        hook.port
    );
    let config = shellspawn_config(&[&service], &receivers);
    let tracer = Tracer::with(&config).env("WT_HOOK_AUTH", "Bearer t0ken").start();
    let spawner = Service::new(&service);
    spawner.spawn_shells(5);
    wait_until("the first findings at the receiver", || hook.count() == 5);
    hook.down();
    spawner.spawn_shells(30);
    // Long enough for deliveries to fail and be retried.
    std::thread::sleep(Duration::from_secs(3));
    hook.up();
    let mut last = 0;
    wait_until("deliveries to resume and settle", || {
        let now = hook.count();
        let settled = now > 5 && now == last;
        last = now;
        settled
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    hook.down();
    (out, hook, 35)
}

/// Each finding arrived at most once: their pids are distinct.
fn pids(hook: &Hook) -> BTreeSet<u64> {
    let received = hook.received.lock().unwrap();
    let pids: BTreeSet<u64> = received.iter().map(|f| f["fields"]["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), received.len(), "a finding arrived twice");
    pids
}

#[test]
fn a_webhook_that_goes_down_loses_nothing_with_a_spool_file() {
    require_kernel!();
    let spool = tempfile::tempdir().unwrap();
    let queue = format!(
        "{{ findings = 4, spool_file = \"{}\" }}",
        spool.path().join("hook.spool").display()
    );
    let (out, hook, made) = webhook_down_and_up(&queue);
    assert_eq!(out.findings(RULE).count(), made);
    assert_eq!(pids(&hook).len(), made, "every finding arrived once");
    let sent = delivery(&out, "webhook");
    assert_eq!(sent["delivered"], made, "{sent}");
    assert_eq!(
        (sent["dropped"].as_u64(), sent["spooled"].as_u64()),
        (Some(0), Some(0)),
        "{sent}"
    );
    assert!(sent["failed_attempts"].as_u64().unwrap() >= 1, "{sent}");
    assert_eq!(
        *hook.tokens.lock().unwrap(),
        BTreeSet::from(["Bearer t0ken".to_string()])
    );
    let first = &hook.received.lock().unwrap()[0];
    assert_eq!(
        (first["plugin"].as_str(), first["rule"].as_str()),
        (Some("shellspawn"), Some(RULE))
    );
    assert!(
        out.stderr.contains("findings to webhook: cannot deliver"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("findings to webhook: delivering again"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_webhook_that_goes_down_without_a_spool_counts_exactly_what_it_dropped() {
    require_kernel!();
    let (out, hook, made) = webhook_down_and_up("{ findings = 4 }");
    let arrived = pids(&hook).len() as u64;
    let sent = delivery(&out, "webhook");
    let dropped = sent["dropped"].as_u64().unwrap();
    assert_eq!(sent["delivered"], arrived, "{sent}");
    assert!(dropped > 0, "30 findings while down do not fit a queue of 4: {sent}");
    assert_eq!(
        arrived + dropped,
        made as u64,
        "every finding arrived or is counted as dropped: {sent}"
    );
    assert!(out.stderr.contains("dropped, its queue was full"), "{}", out.stderr);
}

/// A receiver that refuses every finding (HTTP 400): a refused batch is
/// sent again in halves, down to single findings, so that one finding it
/// cannot take costs no other; each finding is sent alone once, refused,
/// and then dropped and counted, not retried.
#[test]
fn findings_the_webhook_refuses_even_alone_are_dropped_and_counted_not_retried() {
    require_kernel!();
    let mut hook = Hook::new();
    *hook.answer.lock().unwrap() = "400 Bad Request";
    let service = unique("wt-bad");
    let receivers = format!("[output.webhook]\nurl = \"http://127.0.0.1:{}/\"\n", hook.port);
    let tracer = Tracer::start(&shellspawn_config(&[&service], &receivers));
    Service::new(&service).spawn_shells(3);
    let alone = |hook: &Hook| hook.sizes.lock().unwrap().iter().filter(|&&n| n == 1).count();
    wait_until("each finding sent alone", || alone(&hook) == 3);
    std::thread::sleep(Duration::from_secs(2));
    let out = tracer.stop();
    out.assert_clean_exit();
    hook.down();
    assert_eq!(alone(&hook), 3, "each finding was sent alone once");
    let sent: BTreeSet<u64> = hook
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|f| f["fields"]["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(sent.len(), 3);
    let stats = delivery(&out, "webhook");
    assert_eq!(
        (stats["delivered"].as_u64(), stats["dropped"].as_u64()),
        (Some(0), Some(3)),
        "{stats}"
    );
    assert!(out.stderr.contains("findings refused by webhook: "), "{}", out.stderr);
    assert!(out.stderr.contains("400 Bad Request"), "{}", out.stderr);
}

/// rsyslogd on loopback TCP and UDP ports, writing what it parsed to a file.
struct Rsyslog {
    _daemon: Daemon,
    tcp: u16,
    udp: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rsyslog {
    fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let (tcp, udp) = (free_port(), free_port());
        let file = dir.path().join("messages.log");
        let config = dir.path().join("rsyslog.conf");
        std::fs::write(
            &config,
            format!(
                "global(workDirectory=\"{dir}\")\nmodule(load=\"imtcp\")\nmodule(load=\"imudp\")\n\
                 input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\")\n\
                 *.* action(type=\"omfile\" file=\"{file}\" template=\"RSYSLOG_SyslogProtocol23Format\")\n",
                dir = dir.path().display(),
                file = file.display()
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&config)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running rsyslogd (scripts/install-deps installs rsyslog)");
        let rsyslog = Rsyslog {
            _daemon: Daemon(child),
            tcp,
            udp,
            file,
            _dir: dir,
        };
        wait_until("rsyslogd to listen", || TcpStream::connect(("127.0.0.1", tcp)).is_ok());
        rsyslog
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(RULE))
            .map(str::to_string)
            .collect()
    }
}

fn syslog_run(rsyslog: &Rsyslog, address: &str, n: usize) -> (String, Finished) {
    let service = unique("wt-log");
    let receivers = format!("[output.syslog]\naddress = \"{address}\"\nfacility = \"local3\"\n");
    let tracer = Tracer::start(&shellspawn_config(&[&service], &receivers));
    Service::new(&service).spawn_shells(n);
    wait_until("rsyslog to write the findings", || {
        rsyslog.lines().iter().filter(|l| l.contains(&service)).count() == n
    });
    let out = tracer.stop();
    out.assert_clean_exit();
    (service, out)
}

#[test]
fn findings_reach_rsyslog_as_rfc5424_with_structured_data_over_tcp_and_udp() {
    require_kernel!();
    let rsyslog = Rsyslog::start();
    for (address, n) in [
        (format!("tcp:127.0.0.1:{}", rsyslog.tcp), 3),
        (format!("udp:127.0.0.1:{}", rsyslog.udp), 2),
    ] {
        let (service, out) = syslog_run(&rsyslog, &address, n);
        let lines: Vec<String> = rsyslog.lines().into_iter().filter(|l| l.contains(&service)).collect();
        // local3 (19) * 8 + err (3): as rsyslog parsed and re-wrote it.
        let line = &lines[0];
        assert!(line.starts_with("<155>1 "), "{line}");
        let fields: Vec<&str> = line.splitn(8, ' ').collect();
        assert_eq!(
            (fields[3], fields[5]),
            ("wasmtrace", RULE),
            "app name and msgid: {line}"
        );
        assert!(
            line.contains(&format!(
                "[wasmtrace@32473 plugin=\"shellspawn\" severity=\"high\" rule=\"{RULE}\" service=\"{service}\" shell=\"sh\" pid=\""
            )),
            "structured data: {line}"
        );
        assert!(
            line.ends_with(&format!("{service} started a shell: /bin/sh -c exit 0")),
            "{line}"
        );
        assert_eq!(delivery(&out, "syslog")["delivered"], n, "{address}");
    }
}

/// Receivers are checked at start: a missing secret is named.
#[test]
fn a_missing_webhook_secret_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[output.webhook]\nurl = \"http://127.0.0.1:9/\"\nheaders_env = { Authorization = \"WT_UNSET_HOOK_TOKEN\" }\n[plugin.x]\npath = \"/nonexistent.wasm\"\n",
    )
    .unwrap();
    let out = crate::harness::wasmtrace()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("WT_UNSET_HOOK_TOKEN"), "{err}");
}
