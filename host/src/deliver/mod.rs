//! Findings delivered to people's receivers (Alertmanager, a webhook,
//! syslog). The event path never waits for a receiver: each has a thread of
//! its own behind a bounded queue (and an optional spool file); a receiver
//! that is down or slow gets the same batch again with back-off, and what
//! does not fit is counted as dropped, reported and exported.

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
use crate::runtime::bindings::{Container, Finding};
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
            severity: crate::output::severity(f.severity).to_string(),
            rule: f.rule.clone(),
            message: f.message.clone(),
            fields: f
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), crate::output::json_value(v)))
                .chain(container.into_iter().flat_map(container_fields))
                .collect(),
            at_ms,
        }
    }

    pub fn time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.at_ms)
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
    /// sending it again would fail again, and hold up every finding behind it.
    Refused(String),
}

/// What happened to the findings offered to one receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub output: &'static str,
    pub delivered: u64,
    /// Past the queue (and the spool), or still undelivered when wasmtrace stopped.
    pub dropped: u64,
    /// Held in the spool file (delivered later, or by the next run).
    pub spooled: u64,
    pub failed_attempts: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed_attempts: AtomicU64,
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
            spool,
            counters,
            stopping,
            thread: Some(thread),
        })
    }

    /// Queues a finding without waiting: past the queue it goes to the spool
    /// file, past that it is dropped and counted.
    fn offer(&self, alert: Alert) {
        let Some(tx) = &self.tx else { return };
        let alert = match tx.try_send(alert) {
            Ok(()) => return,
            Err(TrySendError::Full(a) | TrySendError::Disconnected(a)) => a,
        };
        spill(self.spool.as_ref(), &self.counters, &alert);
    }

    fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            output: self.output,
            delivered: self.counters.delivered.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
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
        let mut retry = FIRST_RETRY;
        let mut deadline: Option<Instant> = None;
        let mut down_since: Option<Instant> = None;
        loop {
            if self.stopping.load(Ordering::Relaxed) && deadline.is_none() {
                deadline = Some(Instant::now() + EXIT_GRACE);
            }
            if batch.is_empty() && !self.next_batch(&mut batch, deadline.is_some()) {
                return;
            }
            match self.receiver.deliver(&batch) {
                Ok(()) => {
                    self.counters.delivered.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
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
                    self.counters.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(
                        "findings to {}: the receiver refused {} finding(s) ({reason}); they are dropped",
                        self.output,
                        batch.len()
                    );
                    batch.clear();
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
        for r in &self.receivers {
            r.offer(alert.clone());
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
