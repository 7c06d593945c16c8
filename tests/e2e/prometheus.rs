//! Outputs other than stdout: a real Prometheus server scrapes wasmtrace and
//! answers queries on its maps; JSON lines go to a file.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::harness::{Daemon, Tracer, child_opens, example_plugins, free_port, http_get, unique};

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    _daemon: Daemon,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes wasmtrace on `target_port` every second, over plain HTTP.
    fn start(target_port: u16) -> Prometheus {
        Prometheus::with_jobs(&format!(
            "  - job_name: wasmtrace\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n"
        ))
    }

    /// Runs with these `scrape_configs` entries, each scraping every second.
    fn with_jobs(jobs: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}"),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running prometheus (Debian package `prometheus`; scripts/install-deps installs it)");
        Prometheus {
            _daemon: Daemon(child),
            port,
            _dir: dir,
        }
    }

    /// An instant query's first series (its labels and value), once `accept` takes it.
    fn wait_for_series(&self, query: &str, accept: impl Fn(&Json) -> bool) -> Json {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(body) = http_get(self.port, &format!("/api/v1/query?query={}", percent_encode(query))) {
                let series = serde_json::from_str::<Json>(&body)
                    .ok()
                    .map(|j| j["data"]["result"][0].clone());
                if let Some(series) = series.filter(|s| !s.is_null() && accept(s)) {
                    return series;
                }
                last = body;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("Prometheus never answered {query} as expected; last answer: {last}");
    }

    /// The scrape target of `job`, as Prometheus reports it (health, lastError).
    fn target(&self, job: &str) -> Json {
        let body = http_get(self.port, "/api/v1/targets").unwrap();
        let targets: Json = serde_json::from_str(&body).unwrap();
        targets["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["labels"]["job"] == job)
            .cloned()
            .unwrap_or_else(|| panic!("no target for job {job}: {body}"))
    }

    /// Polls an instant query until `accept` takes its first sample's value.
    fn wait_for(&self, query: &str, accept: impl Fn(f64) -> bool) -> f64 {
        let value = |s: &Json| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
        let series = self.wait_for_series(query, |s| value(s).is_some_and(&accept));
        value(&series).unwrap()
    }
}

#[test]
fn prometheus_scrapes_counters_histograms_and_losses_and_json_goes_to_a_file() {
    require_kernel!();
    const N: usize = 23;
    let comm = unique("wt-prom-");
    let port = free_port();
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("events.jsonl");
    let tracer = Tracer::start(&format!(
        r#"
plugin_dir = "{}"
[output]
prometheus = "127.0.0.1:{port}"
interval = "200ms"
format = "json"
file = "{}"
[probe."file.open"]
comm = ["{comm}"]
[probe."process.exit"]
comm = ["{comm}"]
[plugin.opensnoop]
[plugin.lifetime]
"#,
        example_plugins().display(),
        out_file.display()
    ));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, b"x").unwrap();
    child_opens(&comm, &target, N);

    let prometheus = Prometheus::start(port);
    let opens = format!("wasmtrace_opensnoop_opens_total{{comm=\"{comm}\"}}");
    assert_eq!(prometheus.wait_for(&opens, |v| v == N as f64), N as f64);
    // The child's one exit, as a histogram Prometheus can take quantiles of.
    assert_eq!(
        prometheus.wait_for("wasmtrace_lifetime_lifetime_us_count", |v| v >= 1.0),
        1.0
    );
    let median = prometheus.wait_for(
        "histogram_quantile(0.5, wasmtrace_lifetime_lifetime_us_bucket)",
        f64::is_finite,
    );
    assert_eq!(
        prometheus.wait_for("wasmtrace_probe_events_total{probe=\"file.open\"}", |v| v >= N as f64),
        N as f64
    );
    assert_eq!(
        prometheus.wait_for("wasmtrace_probe_lost_total{probe=\"file.open\"}", |v| v >= 0.0),
        0.0
    );
    drop(prometheus);
    let out = tracer.stop();
    out.assert_clean_exit();
    assert!(out.lines.is_empty(), "the file is the output, not stdout");

    let written = std::fs::read_to_string(&out_file).unwrap();
    let lines: Vec<Json> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rows = lines
        .iter()
        .filter(|l| l["type"] == "row" && l["fields"]["COMM"] == comm.as_str())
        .count();
    assert_eq!(rows, N, "{written}");
    // The median Prometheus took is its interpolation within the one bucket
    // that holds the exit: bucket [m, 2m) exports `le` 2m - 1 after m - 1.
    let hist = lines
        .iter()
        .find(|l| l["type"] == "map" && l["plugin"] == "lifetime" && l["name"] == "lifetime_us")
        .unwrap_or_else(|| panic!("no lifetime_us map in {written}"));
    let buckets = hist["entries"][0]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 1, "{hist}");
    let m = buckets[0]["min"].as_u64().unwrap() as f64;
    assert_eq!(median, (m - 1.0) + m / 2.0, "{hist}");
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "probe" && l["probe"] == "file.open" && l["events"] == N),
        "{written}"
    );
}

/// The metrics endpoint closed like an exporter's: TLS and basic auth. The
/// real Prometheus scrapes it with the CA and credentials; a job without
/// credentials is refused. A path written to confuse (quotes, backslashes,
/// line breaks, terminal escapes, invalid UTF-8) comes back through
/// Prometheus as the very label value it was.
#[test]
fn prometheus_scrapes_over_tls_with_credentials_and_a_scrape_without_them_is_refused() {
    require_kernel!();
    const N: usize = 7;
    let secrets = tempfile::tempdir().unwrap();
    let (cert, key) = crate::harness::certificate(secrets.path());
    let password = secrets.path().join("password");
    std::fs::write(&password, "s3cret pass\n").unwrap();
    let comm = unique("wt-tls-");
    let port = free_port();
    let tracer = Tracer::start(&format!(
        r#"
plugin_dir = "{}"
[output]
prometheus = "127.0.0.1:{port}"
[output.prometheus_tls]
cert_file = "{}"
key_file = "{}"
[output.prometheus_auth]
username = "prom"
password_file = "{}"
[probe."file.open"]
comm = ["{comm}"]
[plugin.tally]
"#,
        example_plugins().display(),
        cert.display(),
        key.display(),
        password.display()
    ));
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir
        .path()
        .join(OsStr::from_bytes(b"a\"b\\c\nd\x1b]0;PWNED\x07e\rf\xff"));
    std::fs::write(&hostile, b"x").unwrap();
    child_opens(&comm, &hostile, N);

    let tls = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n",
        cert.display()
    );
    let prometheus = Prometheus::with_jobs(&format!(
        "  - job_name: closed\n{tls}    basic_auth:\n      username: prom\n      password_file: {}\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n\
         \x20 - job_name: anonymous\n{tls}    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n",
        password.display()
    ));
    let series = prometheus.wait_for_series(&format!("wasmtrace_tally_events_total{{comm=\"{comm}\"}}"), |s| {
        s["value"][1].as_str().and_then(|v| v.parse().ok()) == Some(N)
    });
    let expected = format!("{}/a\"b\\c\nd\x1b]0;PWNED\x07e\rf\\xff", dir.path().display());
    assert_eq!(
        series["metric"]["key"],
        expected.as_str(),
        "the label value, as Prometheus stored it"
    );
    assert_eq!(series["metric"]["job"], "closed");
    assert_eq!(prometheus.wait_for("up{job=\"anonymous\"}", |v| v == 0.0), 0.0);
    let refused = prometheus.target("anonymous");
    assert!(
        refused["lastError"].as_str().unwrap().contains("401"),
        "a scrape without credentials is refused: {refused}"
    );
    // Plain HTTP gets no metrics from the TLS port.
    let plain = http_get(port, "/metrics").unwrap_or_default();
    assert!(!plain.contains("wasmtrace_"), "{plain}");
    drop(prometheus);
    tracer.stop().assert_clean_exit();
}

/// A slowloris against the real endpoint while the real Prometheus scrapes
/// it: 100 connections that send half a request and stay. Prometheus still
/// scrapes within seconds (each new connection takes the place of the one
/// that has gone longest without a request in progress; its scrape shows
/// the evictions, so it was taken during the attack), and the half-open
/// connections that are left are closed after the idle timeout (10 s).
#[test]
fn prometheus_scrapes_through_a_slowloris_and_the_half_open_connections_are_closed() {
    require_kernel!();
    let comm = unique("wt-slow-");
    let port = free_port();
    let tracer = Tracer::start(&format!(
        r#"
plugin_dir = "{}"
[output]
prometheus = "127.0.0.1:{port}"
[probe."file.open"]
comm = ["{comm}"]
[plugin.tally]
"#,
        example_plugins().display()
    ));
    let prometheus = Prometheus::start(port);
    assert_eq!(prometheus.wait_for("up{job=\"wasmtrace\"}", |v| v == 1.0), 1.0);

    let opened = Instant::now();
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let evicted = prometheus.wait_for("wasmtrace_endpoint_closed_total{reason=\"evicted\"}", |v| v >= 84.0);
    let scraped_in = opened.elapsed();
    assert!(
        scraped_in < Duration::from_secs(10),
        "Prometheus scraped through the attack only after {scraped_in:?}"
    );

    let closed = |slow: &mut [TcpStream]| {
        let mut buf = [0u8; 64];
        let mut closed = 0;
        for s in slow.iter_mut() {
            match s.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                _ => closed += 1,
            }
        }
        closed
    };
    while closed(&mut slow) < 100 && opened.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let all_closed = opened.elapsed();
    assert_eq!(
        closed(&mut slow),
        100,
        "half-open connections left after {all_closed:?}"
    );
    assert!(all_closed >= Duration::from_secs(10), "{all_closed:?}");
    let idle = prometheus.wait_for("wasmtrace_endpoint_closed_total{reason=\"idle\"}", |v| v >= 15.0);
    assert_eq!(
        prometheus.wait_for("up{job=\"wasmtrace\"}", |v| v == 1.0),
        1.0,
        "still scraped"
    );
    eprintln!(
        "100 half-sent requests: Prometheus scraped {scraped_in:?} after they opened, with {evicted} connections \
         evicted; every half-open one was closed {all_closed:?} after they opened ({idle} for the idle timeout)"
    );
    drop(prometheus);
    tracer.stop().assert_clean_exit();
}
