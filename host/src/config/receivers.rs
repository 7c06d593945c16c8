//! Where findings are sent besides the output: `[output.alertmanager]`,
//! `[output.webhook]` and `[output.syslog]`, each with its own bounded
//! queue (and optional spool file) for when the receiver is down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::bounded::{duration_within, mib_within, within};
use super::{Invalid, Secret};

/// Findings waiting for one receiver, in memory, then in a spool file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub findings: usize,
    /// The findings in memory hold at most about this much text: plugins
    /// choose their size, and a count alone would let large ones take
    /// gigabytes while the receiver is down.
    pub memory_bytes: u64,
    pub spool: Option<Spool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spool {
    pub path: PathBuf,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alertmanager {
    /// Base URL, e.g. `http://alertmanager:9093`; alerts go to `/api/v2/alerts`.
    pub url: String,
    /// Finding fields that become alert labels; the others are annotations.
    pub labels: Vec<String>,
    /// `endsAt` is this long after a finding: one that stops recurring resolves.
    pub resolve_after: Duration,
    pub generator_url: Option<String>,
    pub queue: Queue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub headers: Vec<(String, HeaderValue)>,
    pub queue: Queue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Literal(String),
    Secret(Secret),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub address: SyslogAddress,
    /// RFC 5424 facility number (e.g. 16 for local0).
    pub facility: u8,
    pub app_name: String,
    pub queue: Queue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddress {
    Unix(PathBuf),
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

/// Every receiver the config names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receivers {
    pub alertmanager: Option<Alertmanager>,
    pub webhook: Option<Webhook>,
    pub syslog: Option<Syslog>,
}

pub const DEFAULT_QUEUE: u32 = 10_000;
const DEFAULT_QUEUE_MIB: u64 = 32;
const DEFAULT_SPOOL_MIB: u64 = 64;
const DEFAULT_RESOLVE_AFTER: Duration = Duration::from_secs(300);
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    findings: Option<Spanned<u32>>,
    memory_mib: Option<Spanned<u32>>,
    spool_file: Option<String>,
    spool_mib: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlertmanager {
    url: Spanned<String>,
    #[serde(default)]
    labels: Vec<String>,
    resolve_after: Option<Spanned<String>>,
    generator_url: Option<String>,
    #[serde(default)]
    queue: RawQueue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    url: Spanned<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Header name → environment variable holding its value (a token).
    #[serde(default)]
    headers_env: BTreeMap<String, String>,
    #[serde(default)]
    queue: RawQueue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSyslog {
    address: Option<Spanned<String>>,
    facility: Option<Spanned<String>>,
    app_name: Option<String>,
    #[serde(default)]
    queue: RawQueue,
}

fn queue(base: &Path, raw: &RawQueue) -> Result<Queue, Invalid> {
    let findings = within(&raw.findings, "queue.findings", 1..=10_000_000, DEFAULT_QUEUE)?;
    let memory_bytes = mib_within(&raw.memory_mib, "queue.memory_mib", 65_536, DEFAULT_QUEUE_MIB << 20)?;
    let max_bytes = mib_within(&raw.spool_mib, "queue.spool_mib", 1 << 20, DEFAULT_SPOOL_MIB << 20)?;
    Ok(Queue {
        findings: findings as usize,
        memory_bytes,
        spool: raw.spool_file.as_ref().map(|f| Spool {
            path: base.join(f),
            max_bytes,
        }),
    })
}

fn http_url(url: &Spanned<String>, example: &str) -> Result<String, Invalid> {
    let ok = url
        .get_ref()
        .parse::<axum::http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
    if !ok {
        return Err((
            url.span(),
            format!(
                "url must be an http:// or https:// URL, e.g. \"{example}\", not `{}`",
                url.get_ref()
            ),
        ));
    }
    Ok(url.get_ref().trim_end_matches('/').to_string())
}

pub(super) fn alertmanager(base: &Path, raw: &RawAlertmanager) -> Result<Alertmanager, Invalid> {
    let resolve_after = duration_within(
        &raw.resolve_after,
        Duration::from_secs(1)..=Duration::from_secs(7 * 24 * 3600),
        DEFAULT_RESOLVE_AFTER,
        |s, _| format!("resolve_after must be a duration from 1s to 7days, e.g. \"5m\", not `{s}`"),
    )?;
    Ok(Alertmanager {
        url: http_url(&raw.url, "http://127.0.0.1:9093")?,
        labels: raw.labels.clone(),
        resolve_after,
        generator_url: raw.generator_url.clone(),
        queue: queue(base, &raw.queue)?,
    })
}

pub(super) fn webhook(base: &Path, raw: &RawWebhook) -> Result<Webhook, Invalid> {
    let literal = raw
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), HeaderValue::Literal(v.clone())));
    let secret = raw
        .headers_env
        .iter()
        .map(|(k, env)| (k.clone(), HeaderValue::Secret(Secret::Env(env.clone()))));
    Ok(Webhook {
        url: http_url(&raw.url, "https://hooks.example.com/wasmtrace")?,
        headers: literal.chain(secret).collect(),
        queue: queue(base, &raw.queue)?,
    })
}

pub(super) fn syslog(base: &Path, raw: &RawSyslog) -> Result<Syslog, Invalid> {
    let address = match &raw.address {
        None => SyslogAddress::Unix("/dev/log".into()),
        Some(a) => {
            let bad = || {
                (
                    a.span(),
                    format!(
                        "address must be \"unix:/dev/log\", \"udp:HOST:PORT\" or \"tcp:HOST:PORT\" (an IP address), not `{}`",
                        a.get_ref()
                    ),
                )
            };
            match a.get_ref().split_once(':') {
                Some(("unix", path)) if !path.is_empty() => SyslogAddress::Unix(path.into()),
                Some(("udp", addr)) => SyslogAddress::Udp(addr.parse().map_err(|_| bad())?),
                Some(("tcp", addr)) => SyslogAddress::Tcp(addr.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
    };
    let facility = match &raw.facility {
        None => 16,
        Some(f) => FACILITIES.iter().position(|n| n == f.get_ref()).ok_or_else(|| {
            (
                f.span(),
                format!(
                    "unknown facility `{}`: use one of {}",
                    f.get_ref(),
                    FACILITIES.join(", ")
                ),
            )
        })? as u8,
    };
    Ok(Syslog {
        address,
        facility,
        app_name: raw.app_name.clone().unwrap_or_else(|| "wasmtrace".into()),
        queue: queue(base, &raw.queue)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_bytes(text: &str) -> Result<u64, String> {
        let raw: RawQueue = toml::from_str(text).unwrap();
        queue(Path::new("/etc"), &raw)
            .map(|q| q.memory_bytes)
            .map_err(|(_, e)| e)
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_by_default_and_as_set() {
        assert_eq!(memory_bytes(""), Ok(32 << 20));
        assert_eq!(memory_bytes("memory_mib = 4"), Ok(4 << 20));
        assert_eq!(
            memory_bytes("memory_mib = 0"),
            Err("queue.memory_mib must be from 1 to 65536, not 0".to_string())
        );
    }
}
