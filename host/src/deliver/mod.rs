//! Findings delivered to people's receivers (Alertmanager, a webhook,
//! syslog). The event path never waits for a receiver: each has a thread of
//! its own behind a queue bounded in findings and in bytes (and an optional
//! spool file); a receiver that is down or slow gets the same batch again
//! with back-off, a batch it refuses is split until only the findings it
//! refuses alone are left out, and what does not fit is counted as dropped,
//! reported and exported.

mod alertmanager;
mod http;
mod spool;
mod syslog;
mod webhook;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver as Queue, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::{self, Receivers};
use crate::wit::{Container, Finding};
use spool::SpoolFile;

/// A finding as receivers get it: owned, timed, and able to be spooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub plugin: String,
    pub severity: String,
    pub rule: String,
    pub message: String,
    /// In the plugin's order.
    pub fields: Vec<(String, serde_json::Value)>,
    /// When the finding was made, in milliseconds since the epoch.
    pub at_ms: u64,
}

impl Alert {
    /// The finding, with its container (if any) as fields receivers can
    /// label by: `container`, `container_id`, `image`, and under Kubernetes
    /// `namespace` and `pod`.
    pub fn new(plugin: &str, f: &Finding, container: Option<&Container>) -> Alert {
        let at_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Alert {
            plugin: plugin.to_string(),
            severity: crate::values::severity(f.severity).to_string(),
            rule: f.rule.clone(),
            message: f.message.clone(),
            fields: f
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), crate::values::json_value(v)))
                .chain(container.into_iter().flat_map(container_fields))
                .collect(),
            at_ms,
        }
    }

    pub fn time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.at_ms)
    }

    /// Roughly the memory it holds, for the queue's bound in bytes: its text
    /// (field values are text or scalars, as `output::json_value` makes them).
    fn bytes(&self) -> u64 {
        let text = self.plugin.len() + self.severity.len() + self.rule.len() + self.message.len();
        let fields: usize = self
            .fields
            .iter()
            .map(|(name, value)| {
                size_of::<(String, serde_json::Value)>() + name.len() + value.as_str().map_or(0, str::len)
            })
            .sum();
        (size_of::<Alert>() + text + fields) as u64
    }

    /// A field's value as text (strings without quotes).
    pub fn field_text(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

fn container_fields(c: &Container) -> Vec<(String, serde_json::Value)> {
    let mut fields = vec![
        // Under Kubernetes the name is already the pod's container's.
        ("container".to_string(), c.name.clone().into()),
        ("container_id".to_string(), c.id.clone().into()),
        ("image".to_string(), c.image.clone().into()),
    ];
    if let Some(pod) = &c.pod {
        fields.push(("namespace".into(), pod.namespace.clone().into()));
        fields.push(("pod".into(), pod.name.clone().into()));
    }
    fields
}

/// One kind of receiver: sends a batch, or says why it could not.
pub trait Receiver: Send {
    fn deliver(&mut self, batch: &[Alert]) -> Result<(), Failure>;
}

/// Why a batch was not delivered.
#[derive(Debug)]
pub enum Failure {
    /// Down, unreachable, overloaded: the same batch is tried again later.
    Transient(String),
    /// The receiver refused this batch (an HTTP 4xx other than 408 and 429):
    /// sending it again would fail again, and hold up every finding behind
    /// it. It is sent again in halves, so that one finding the receiver
    /// cannot take (too large, or a payload its firewall blocks) costs no
    /// other.
    Refused(String),
}

/// What happened to the findings offered to one receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub output: &'static str,
    pub delivered: u64,
    /// Past the queue (and the spool), refused, or still undelivered when wasmtrace stopped.
    pub dropped: u64,
    /// Of `dropped`: findings the receiver refused even when sent alone.
    pub refused: u64,
    /// Held in the spool file (delivered later, or by the next run).
    pub spooled: u64,
    pub failed_attempts: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
    failed_attempts: AtomicU64,
    /// `Alert::bytes` of the findings in the queue.
    queued_bytes: AtomicU64,
}

/// Batches are at most this many findings.
const MAX_BATCH: usize = 500;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
/// How long a stopping run keeps trying to deliver what is queued.
pub const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A receiver's queue and the thread that empties it.
struct Delivery {
    output: &'static str,
    tx: Option<SyncSender<Alert>>,
    max_queued_bytes: u64,
    spool: Option<Arc<Mutex<SpoolFile>>>,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Delivery {
    fn start(
        output: &'static str,
        receiver: Box<dyn Receiver>,
        queue: &config::Queue,
    ) -> Result<Delivery, std::io::Error> {
        let (tx, rx) = sync_channel(queue.findings);
        let spool = queue
            .spool
            .as_ref()
            .map(|s| SpoolFile::open(&s.path, s.max_bytes).map(|f| Arc::new(Mutex::new(f))))
            .transpose()?;
        let counters = Arc::<Counters>::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            output,
            receiver,
            rx,
            spool: spool.clone(),
            counters: counters.clone(),
            stopping: stopping.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("deliver-{output}"))
            .spawn(move || worker.run())?;
        Ok(Delivery {
            output,
            tx: Some(tx),
            max_queued_bytes: queue.memory_bytes,
            spool,
            counters,
            stopping,
            thread: Some(thread),
        })
    }

    /// Queues a finding (of `bytes`, its `Alert::bytes`) without waiting:
    /// past the queue's findings or bytes it goes to the spool file, past
    /// that it is dropped and counted.
    fn offer(&self, alert: Alert, bytes: u64) {
        let Some(tx) = &self.tx else { return };
        let queued = &self.counters.queued_bytes;
        // Reserved first, so that concurrent offers cannot overshoot together.
        let alert = if queued.fetch_add(bytes, Ordering::Relaxed) + bytes > self.max_queued_bytes {
            queued.fetch_sub(bytes, Ordering::Relaxed);
            alert
        } else {
            match tx.try_send(alert) {
                Ok(()) => return,
                Err(TrySendError::Full(a) | TrySendError::Disconnected(a)) => {
                    queued.fetch_sub(bytes, Ordering::Relaxed);
                    a
                }
            }
        };
        spill(self.spool.as_ref(), &self.counters, &alert);
    }

    fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            output: self.output,
            delivered: self.counters.delivered.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            spooled: self.spool.as_ref().map_or(0, |s| s.lock().expect("spool lock").len()),
            failed_attempts: self.counters.failed_attempts.load(Ordering::Relaxed),
        }
    }

    /// Delivers what is queued, for up to `EXIT_GRACE`; what is left goes to
    /// the spool file if there is one, else counts as dropped.
    fn finish(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    output: &'static str,
    receiver: Box<dyn Receiver>,
    rx: Queue<Alert>,
    spool: Option<Arc<Mutex<SpoolFile>>>,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self) {
        let mut batch: Vec<Alert> = Vec::new();
        // How the batch is cut for sending, its front chunk last: one chunk,
        // halved each time the receiver refuses it, down to single findings.
        let mut chunks: Vec<usize> = Vec::new();
        let mut refused = Refusals::default();
        let mut retry = FIRST_RETRY;
        let mut deadline: Option<Instant> = None;
        let mut down_since: Option<Instant> = None;
        loop {
            if self.stopping.load(Ordering::Relaxed) && deadline.is_none() {
                deadline = Some(Instant::now() + EXIT_GRACE);
            }
            if batch.is_empty() {
                refused.report(self.output);
                if !self.next_batch(&mut batch, deadline.is_some()) {
                    return;
                }
                chunks = vec![batch.len()];
            }
            let n = *chunks.last().expect("the chunks cover the batch");
            match self.receiver.deliver(&batch[..n]) {
                Ok(()) => {
                    chunks.pop();
                    batch.drain(..n);
                    self.counters.delivered.fetch_add(n as u64, Ordering::Relaxed);
                    retry = FIRST_RETRY;
                    if let Some(since) = down_since.take() {
                        tracing::info!(
                            "findings to {}: delivering again after {:.0?}",
                            self.output,
                            since.elapsed()
                        );
                    }
                }
                Err(Failure::Refused(reason)) => {
                    self.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    chunks.pop();
                    if n == 1 {
                        batch.remove(0);
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        self.counters.refused.fetch_add(1, Ordering::Relaxed);
                        refused.add(reason);
                    } else {
                        chunks.push(n - n / 2);
                        chunks.push(n / 2);
                    }
                }
                Err(Failure::Transient(reason)) => {
                    self.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    if down_since.is_none() {
                        down_since = Some(Instant::now());
                        tracing::warn!(
                            "findings to {}: cannot deliver ({reason}); retrying with back-off, findings wait in \
                             its queue",
                            self.output
                        );
                    }
                    let until = Instant::now() + retry;
                    retry = (retry * 2).min(MAX_RETRY);
                    if deadline.is_some_and(|d| until >= d) || !self.wait_until(until, deadline) {
                        refused.report(self.output);
                        self.give_up(batch);
                        return;
                    }
                }
            }
        }
    }

    /// Fills `batch` from the queue (waiting for the first), else from the
    /// spool; false when stopping and nothing is left.
    fn next_batch(&mut self, batch: &mut Vec<Alert>, stopping: bool) -> bool {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(first) => {
                    batch.push(first);
                    batch.extend(self.rx.try_iter().take(MAX_BATCH - 1));
                    let bytes: u64 = batch.iter().map(Alert::bytes).sum();
                    self.counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                    return true;
                }
                Err(RecvTimeoutError::Timeout) if !stopping && !self.stopping.load(Ordering::Relaxed) => {}
                Err(_) => {}
            }
            if let Some(spool) = &self.spool {
                batch.extend(spool.lock().expect("spool lock").take(MAX_BATCH));
                if !batch.is_empty() {
                    return true;
                }
            }
            if stopping || self.stopping.load(Ordering::Relaxed) {
                return false;
            }
        }
    }

    /// Sleeps until `until`; false if the exit deadline comes first.
    fn wait_until(&self, until: Instant, deadline: Option<Instant>) -> bool {
        while Instant::now() < until {
            if self.stopping.load(Ordering::Relaxed) && deadline.is_none() {
                // Stopping: one more try now rather than after the back-off.
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        deadline.is_none_or(|d| Instant::now() < d)
    }

    /// At exit, with the receiver still failing: the batch in hand and the
    /// queue go to the spool if there is one, else count as dropped.
    fn give_up(self, batch: Vec<Alert>) {
        let left: Vec<Alert> = batch.into_iter().chain(self.rx.try_iter()).collect();
        let dropped = left
            .iter()
            .filter(|alert| !spill(self.spool.as_ref(), &self.counters, alert))
            .count();
        tracing::warn!(
            "findings to {}: the receiver is still failing at exit; {} finding(s) {}",
            self.output,
            left.len(),
            if self.spool.is_some() && dropped == 0 {
                "kept in the spool file for the next run"
            } else {
                "not delivered (counted as dropped)"
            }
        );
    }
}

/// The findings of one batch that the receiver refused even alone, for one
/// report per batch rather than one line per finding.
#[derive(Default)]
struct Refusals {
    count: u64,
    /// The receiver's answer to the first.
    first: Option<String>,
}

impl Refusals {
    fn add(&mut self, reason: String) {
        self.count += 1;
        self.first.get_or_insert(reason);
    }

    /// Logs them, if any, and starts over.
    fn report(&mut self, output: &str) {
        if let Some(first) = self.first.take() {
            tracing::error!(
                "findings refused by {output}: {} ({first}); each was sent alone and refused, so they are dropped \
                 (the others were delivered). The receiver's log says why it refuses them",
                self.count
            );
        }
        self.count = 0;
    }
}

/// A finding that found no room in the queue: into the spool file if there
/// is one with room, else counted as dropped. Whether it was kept.
fn spill(spool: Option<&Arc<Mutex<SpoolFile>>>, counters: &Counters, alert: &Alert) -> bool {
    let kept = spool.is_some_and(|s| s.lock().expect("spool lock").push(alert));
    if !kept {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
    kept
}

/// This machine's name, as receivers label findings with it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "localhost".into(), |h| h.trim().to_string())
}

/// Every configured receiver.
#[derive(Default)]
pub struct Deliveries {
    receivers: Vec<Delivery>,
}

impl Deliveries {
    /// Starts a delivery thread per receiver in the config. Secrets (webhook
    /// headers from the environment) are read here, so a missing one stops
    /// the start with its name.
    pub fn start(config: &Receivers) -> anyhow::Result<Deliveries> {
        use anyhow::Context;
        let mut receivers = Vec::new();
        if let Some(c) = &config.alertmanager {
            let r = alertmanager::Alertmanager::new(c);
            receivers.push(Delivery::start("alertmanager", Box::new(r), &c.queue).context("[output.alertmanager]")?);
        }
        if let Some(c) = &config.webhook {
            let r = webhook::Webhook::new(c).context("[output.webhook]")?;
            receivers.push(Delivery::start("webhook", Box::new(r), &c.queue).context("[output.webhook]")?);
        }
        if let Some(c) = &config.syslog {
            let r = syslog::Syslog::new(c);
            receivers.push(Delivery::start("syslog", Box::new(r), &c.queue).context("[output.syslog]")?);
        }
        Ok(Deliveries { receivers })
    }

    pub fn offer(&self, plugin: &str, finding: &Finding, container: Option<&Container>) {
        if self.receivers.is_empty() {
            return;
        }
        let alert = Alert::new(plugin, finding, container);
        let bytes = alert.bytes();
        for r in &self.receivers {
            r.offer(alert.clone(), bytes);
        }
    }

    pub fn stats(&self) -> Vec<DeliveryStats> {
        self.receivers.iter().map(Delivery::stats).collect()
    }

    /// Delivers what is left (up to `EXIT_GRACE`) and stops the threads.
    pub fn finish(&mut self) -> Vec<DeliveryStats> {
        for r in &self.receivers {
            r.stopping.store(true, Ordering::Relaxed);
        }
        for r in &mut self.receivers {
            r.finish();
        }
        self.stats()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    use super::*;

    const POISON: &str = "poison";

    fn alert(message: &str) -> Alert {
        Alert {
            plugin: "p".into(),
            severity: "high".into(),
            rule: "r".into(),
            message: message.into(),
            fields: vec![("n".into(), 1.into())],
            at_ms: 0,
        }
    }

    /// What a test receiver answered, and the messages of the findings it was sent.
    type Requests = Arc<Mutex<Vec<(u16, Vec<String>)>>>;

    /// A webhook receiver on 127.0.0.1 that answers 413 to a request whose
    /// body holds `POISON`, as a receiver does to a finding it cannot take,
    /// and 200 to the others.
    struct Receiving {
        url: String,
        requests: Requests,
        on: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Receiving {
        fn start() -> Receiving {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/findings", listener.local_addr().unwrap());
            listener.set_nonblocking(true).unwrap();
            let requests = Requests::default();
            let on = Arc::new(AtomicBool::new(true));
            let (log, serving) = (requests.clone(), on.clone());
            let thread = std::thread::spawn(move || {
                while serving.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => answer(stream, &log),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
            Receiving {
                url,
                requests,
                on,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Receiving {
        fn drop(&mut self) {
            self.on.store(false, Ordering::Relaxed);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Answers the requests on one connection until the client closes it.
    fn answer(stream: TcpStream, requests: &Mutex<Vec<(u16, Vec<String>)>>) {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            // The request line, then headers up to a blank line.
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(": ")
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let findings: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let messages: Vec<String> = findings
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["message"].as_str().unwrap().to_string())
                .collect();
            let poisoned = messages.iter().any(|m| m.contains(POISON));
            requests
                .lock()
                .unwrap()
                .push((if poisoned { 413 } else { 200 }, messages));
            let status = if poisoned {
                "413 Payload Too Large\r\nContent-Length: 8\r\n\r\npoisoned"
            } else {
                "200 OK\r\nContent-Length: 0\r\n\r\n"
            };
            write!(writer, "HTTP/1.1 {status}").unwrap();
        }
    }

    /// A worker that finds `alerts` queued, as one batch, and stops once
    /// they are delivered or dropped; its counters.
    fn deliver_queued(receiver: Box<dyn Receiver>, alerts: &[Alert]) -> Arc<Counters> {
        let (tx, rx) = sync_channel(alerts.len());
        let counters = Arc::<Counters>::default();
        for alert in alerts {
            counters.queued_bytes.fetch_add(alert.bytes(), Ordering::Relaxed);
            tx.send(alert.clone()).unwrap();
        }
        drop(tx);
        Worker {
            output: "webhook",
            receiver,
            rx,
            spool: None,
            counters: counters.clone(),
            stopping: Arc::new(AtomicBool::new(true)),
        }
        .run();
        counters
    }

    /// Nine good findings and one the receiver refuses, in one batch: the
    /// batch is halved until the poisoned one is alone, so the nine arrive
    /// (each once, in order) and only it is dropped, counted as refused.
    #[test]
    fn a_refused_batch_is_split_until_only_the_finding_refused_alone_is_dropped() {
        let server = Receiving::start();
        let config = config::Webhook {
            url: server.url.clone(),
            headers: Vec::new(),
            queue: config::Queue {
                findings: 16,
                memory_bytes: 1 << 20,
                spool: None,
            },
        };
        let webhook = webhook::Webhook::new(&config).unwrap();
        let alerts: Vec<Alert> = (0..10)
            .map(|i| match i {
                6 => alert(&format!("finding {i} {POISON}")),
                _ => alert(&format!("finding {i}")),
            })
            .collect();
        let counters = deliver_queued(Box::new(webhook), &alerts);
        let requests = server.requests.lock().unwrap().clone();
        let shape: Vec<(u16, usize)> = requests.iter().map(|(status, sent)| (*status, sent.len())).collect();
        assert_eq!(
            shape,
            [(413, 10), (200, 5), (413, 5), (413, 2), (200, 1), (413, 1), (200, 3)]
        );
        assert_eq!(requests[5].1, [alerts[6].message.clone()]);
        let arrived: Vec<&String> = requests
            .iter()
            .filter(|(status, _)| *status == 200)
            .flat_map(|(_, sent)| sent)
            .collect();
        let good: Vec<&String> = alerts
            .iter()
            .map(|a| &a.message)
            .filter(|m| !m.contains(POISON))
            .collect();
        assert_eq!(arrived, good);
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(
            (
                count(&counters.delivered),
                count(&counters.dropped),
                count(&counters.refused),
                count(&counters.failed_attempts)
            ),
            (9, 1, 1, 4)
        );
        assert_eq!(count(&counters.queued_bytes), 0);
    }

    /// Holds each delivery until the test lets it go, saying when one starts.
    struct Held {
        started: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
    }

    impl Receiver for Held {
        fn deliver(&mut self, _batch: &[Alert]) -> Result<(), Failure> {
            let _ = self.started.send(());
            let _ = self.release.recv();
            Ok(())
        }
    }

    /// Findings of a size a plugin chooses cannot fill memory while the
    /// receiver is slow: past the queue's bytes they are dropped and counted
    /// although the queue has room for more findings.
    #[test]
    fn the_queue_is_bounded_in_bytes_as_well_as_in_findings() {
        let one = alert("finding").bytes();
        let (started, on_start) = mpsc::channel();
        let (release, on_release) = mpsc::channel();
        let queue = config::Queue {
            findings: 1000,
            memory_bytes: 3 * one + one / 2,
            spool: None,
        };
        let held = Held {
            started,
            release: on_release,
        };
        let mut delivery = Delivery::start("webhook", Box::new(held), &queue).unwrap();
        delivery.offer(alert("finding"), one);
        // Out of the queue, in a delivery that waits.
        on_start.recv().unwrap();
        for _ in 0..10 {
            delivery.offer(alert("finding"), one);
        }
        assert_eq!(delivery.stats().dropped, 7);
        drop(release);
        delivery.finish();
        let stats = delivery.stats();
        assert_eq!((stats.delivered, stats.dropped, stats.refused), (4, 7, 0));
    }
}
