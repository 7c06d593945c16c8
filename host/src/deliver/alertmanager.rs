//! Findings as Alertmanager alerts (`POST /api/v2/alerts`): the rule is the
//! `alertname`, with `severity`, `plugin`, `host` and the fields the config
//! names as labels; the message and the other fields are annotations.
//! `endsAt` lies `resolve_after` ahead, so an alert that stops recurring
//! resolves, and one that recurs stays firing.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::{Alert, Failure, Receiver, http};
use crate::config;

pub struct Alertmanager {
    endpoint: String,
    config: config::Alertmanager,
    host: String,
    agent: ureq::Agent,
}

impl Alertmanager {
    pub fn new(config: &config::Alertmanager) -> Alertmanager {
        Alertmanager {
            endpoint: format!("{}/api/v2/alerts", config.url),
            config: config.clone(),
            host: super::hostname(),
            agent: http::agent(),
        }
    }

    fn alert(&self, a: &Alert) -> Value {
        let mut labels = Map::new();
        let mut annotations = Map::new();
        labels.insert("alertname".into(), json!(a.rule));
        labels.insert("severity".into(), json!(a.severity));
        labels.insert("plugin".into(), json!(a.plugin));
        labels.insert("host".into(), json!(self.host));
        annotations.insert("summary".into(), json!(a.message));
        for (name, value) in &a.fields {
            let text = json!(Alert::field_text(value));
            if self.config.labels.contains(name) {
                labels.insert(label_name(name), text);
            } else {
                annotations.insert(label_name(name), text);
            }
        }
        let ends = SystemTime::now().max(a.time()) + self.config.resolve_after;
        let mut alert = json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": humantime::format_rfc3339_millis(a.time()).to_string(),
            "endsAt": humantime::format_rfc3339_millis(ends).to_string(),
        });
        if let Some(url) = &self.config.generator_url {
            alert["generatorURL"] = json!(url);
        }
        alert
    }
}

/// Alertmanager's label names are `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

impl Receiver for Alertmanager {
    fn deliver(&mut self, batch: &[Alert]) -> Result<(), Failure> {
        let alerts: Vec<Value> = batch.iter().map(|a| self.alert(a)).collect();
        http::post_json(&self.agent, &self.endpoint, &[], &Value::Array(alerts))
    }
}
