//! Outputs other than stdout: a real Prometheus server scrapes wasmtrace and
//! answers queries on its maps; JSON lines go to a file.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::harness::{Tracer, child_opens, example_plugins, kernel_available, unique};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET over HTTP/1.0; the body.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wasmtrace\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n"
            ),
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
        Prometheus { child, port, _dir: dir }
    }

    /// Polls an instant query until `accept` takes its first sample's value.
    fn wait_for(&self, query: &str, accept: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(body) = http_get(self.port, &format!("/api/v1/query?query={}", percent_encode(query))) {
                let value = serde_json::from_str::<Json>(&body).ok().and_then(|j| {
                    j["data"]["result"][0]["value"][1]
                        .as_str()
                        .and_then(|v| v.parse::<f64>().ok())
                });
                if let Some(v) = value.filter(|&v| accept(v)) {
                    return v;
                }
                last = body;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("Prometheus never answered {query} as expected; last answer: {last}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_counters_histograms_and_losses_and_json_goes_to_a_file() {
    if !kernel_available("prometheus_scrapes_counters_histograms_and_losses_and_json_goes_to_a_file") {
        return;
    }
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
    assert!(median > 0.0, "median lifetime {median}");
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
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "probe" && l["probe"] == "file.open" && l["events"] == N),
        "{written}"
    );
}
