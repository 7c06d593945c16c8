//! A finding's parts as the outputs and receivers write them: its
//! severity's name, its field values as text or JSON.

use serde_json::{Value as Json, json};

use crate::wit::{Severity, Value};

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

pub fn text_value(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
    }
}

pub fn json_value(v: &Value) -> Json {
    match v {
        Value::Text(s) => json!(s),
        Value::Int(n) => json!(n),
        Value::Uint(n) => json!(n),
        Value::Float(f) => json!(f),
        Value::Boolean(b) => json!(b),
    }
}
