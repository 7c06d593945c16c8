//! Findings POSTed as a JSON array to a URL (falcosidekick-style receivers,
//! chat bridges), with the headers the config sets.

use serde_json::{Value, json};

use super::{Alert, Failure, Receiver, http};
use crate::config::{self, HeaderValue};

pub struct Webhook {
    url: String,
    headers: Vec<(String, String)>,
    host: String,
    agent: ureq::Agent,
}

impl Webhook {
    /// Reads the headers' secrets now, so a missing one is named at start.
    pub fn new(config: &config::Webhook) -> anyhow::Result<Webhook> {
        let headers = config
            .headers
            .iter()
            .map(|(name, value)| match value {
                HeaderValue::Literal(v) => Ok((name.clone(), v.clone())),
                HeaderValue::Secret(secret) => Ok((name.clone(), secret.read()?)),
            })
            .collect::<Result<_, config::SecretError>>()?;
        Ok(Webhook {
            url: config.url.clone(),
            headers,
            host: super::hostname(),
            agent: http::agent(),
        })
    }
}

impl Receiver for Webhook {
    fn deliver(&mut self, batch: &[Alert]) -> Result<(), Failure> {
        let findings: Vec<Value> = batch
            .iter()
            .map(|a| {
                let fields: serde_json::Map<String, Value> = a.fields.iter().cloned().collect();
                json!({
                    "time": humantime::format_rfc3339_millis(a.time()).to_string(),
                    "host": self.host, "plugin": a.plugin, "severity": a.severity,
                    "rule": a.rule, "message": a.message, "fields": fields,
                })
            })
            .collect();
        http::post_json(&self.agent, &self.url, &self.headers, &Value::Array(findings))
    }
}
