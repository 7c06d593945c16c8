//! Live rows, findings and log messages.

use crate::bindings::wasmtrace::plugin::{log as host_log, output};
use crate::{Level, Severity, Value};

/// Names the columns of this plugin's live rows (printed once as a header).
pub fn set_columns(names: &[&str]) {
    output::set_columns(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
}

/// A message for the operator, in the host's log.
pub fn log(level: Level, message: &str) {
    host_log::log(level, message);
}

/// One live row, values in column order: `Row::new().push(pid).push(comm).emit()`.
#[derive(Default)]
pub struct Row(Vec<Value>);

impl Row {
    pub fn new() -> Row {
        Row::default()
    }

    pub fn push(mut self, value: impl Into<Value>) -> Row {
        self.0.push(value.into());
        self
    }

    /// Shows the row; emitted while handling an event, it is about that
    /// event (JSON output adds its container).
    pub fn emit(self) {
        output::emit_row(&self.0, crate::event::current());
    }
}

/// A detection: `Finding::new(Severity::High, "rule", "message").field("pid", pid).emit()`.
pub struct Finding(output::Finding);

impl Finding {
    pub fn new(severity: Severity, rule: &str, message: impl Into<String>) -> Finding {
        Finding(output::Finding {
            severity,
            rule: rule.to_string(),
            message: message.into(),
            fields: Vec::new(),
            event: None,
        })
    }

    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Finding {
        self.0.fields.push((name.to_string(), value.into()));
        self
    }

    /// Reports it; emitted while handling an event, it is about that event
    /// (the host adds its container).
    pub fn emit(mut self) {
        self.0.event = crate::event::current();
        output::emit_finding(&self.0);
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.clone())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

macro_rules! value_from_ints {
    ($variant:ident, $wide:ty: $($int:ty),*) => {
        $(impl From<$int> for Value {
            fn from(n: $int) -> Value {
                Value::$variant(<$wide>::from(n))
            }
        })*
    };
}

value_from_ints!(Uint, u64: u8, u16, u32, u64);
value_from_ints!(Int, i64: i8, i16, i32, i64);
