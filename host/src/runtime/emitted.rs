//! What a plugin produced during one call (rows, findings, logs), kept
//! until the output renders it after the call, and what it holds on the
//! host meanwhile, which the emit budget counts.

use crate::wit::{Container, Finding, Level, Value};

/// What a plugin produced during one call, for the output to render after
/// it. Rows and findings about an event carry its container.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Columns(Vec<String>),
    Row(Vec<Value>, Option<Container>),
    Finding(Finding, Option<Container>),
    Log(Level, String),
}

/// Host bytes a value takes: the value itself and its text.
fn value_size(v: &Value) -> u64 {
    let text = match v {
        Value::Text(s) => s.len(),
        _ => 0,
    };
    (size_of::<Value>() + text) as u64
}

impl Emitted {
    /// Bytes it holds on the host until it is written: its text, and each
    /// part's own size, so that a list of empty parts is not free.
    pub(super) fn size(&self) -> u64 {
        let string = |s: &String| (size_of::<String>() + s.len()) as u64;
        match self {
            Emitted::Columns(names) => names.iter().map(string).sum(),
            Emitted::Row(values, _) => values.iter().map(value_size).sum(),
            Emitted::Finding(f, _) => {
                string(&f.rule)
                    + string(&f.message)
                    + f.fields.iter().map(|(k, v)| string(k) + value_size(v)).sum::<u64>()
            }
            Emitted::Log(_, message) => string(message),
        }
    }
}
