//! What a plugin may hand the host per interval and per string: the emit
//! budget (rows, findings, column headers and logs, by count and bytes) and
//! the cut of over-long strings.

use super::emitted::Emitted;
use crate::wit::{Finding, Value};

/// Rows, findings, headers and logs a plugin may still emit this interval.
#[derive(Debug, Clone)]
pub struct EmitBudget {
    per_interval: (u32, u64),
    items_left: u32,
    bytes_left: u64,
    /// What was refused this interval.
    pub refused: u64,
}

impl EmitBudget {
    pub fn new(items: u32, bytes: u64) -> EmitBudget {
        EmitBudget {
            per_interval: (items, bytes),
            items_left: items,
            bytes_left: bytes,
            refused: 0,
        }
    }

    /// Takes room for `item`, or counts it refused.
    pub fn take(&mut self, item: &Emitted) -> bool {
        let bytes = item.size();
        if self.items_left == 0 || self.bytes_left < bytes {
            self.refused += 1;
            return false;
        }
        self.items_left -= 1;
        self.bytes_left -= bytes;
        true
    }

    /// Starts a new interval; returns what was refused in the last one.
    pub fn refill(&mut self) -> u64 {
        (self.items_left, self.bytes_left) = self.per_interval;
        std::mem::take(&mut self.refused)
    }
}

/// Cuts strings a plugin hands the host to at most `limit` bytes, marking
/// the cut so that nobody mistakes it for the whole.
#[derive(Debug, Clone, Copy)]
pub struct StringBound {
    pub limit: usize,
}

impl StringBound {
    pub fn cut(self, mut s: String) -> String {
        if s.len() <= self.limit {
            return s;
        }
        let mark = format!("…[cut from {} bytes]", s.len());
        let mut end = self.limit.saturating_sub(mark.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(&mark);
        s
    }

    pub fn cut_all(self, strings: Vec<String>) -> Vec<String> {
        strings.into_iter().map(|s| self.cut(s)).collect()
    }

    pub fn cut_value(self, v: Value) -> Value {
        match v {
            Value::Text(s) => Value::Text(self.cut(s)),
            other => other,
        }
    }

    pub fn cut_finding(self, f: Finding) -> Finding {
        Finding {
            severity: f.severity,
            rule: self.cut(f.rule),
            message: self.cut(f.message),
            fields: f
                .fields
                .into_iter()
                .map(|(k, v)| (self.cut(k), self.cut_value(v)))
                .collect(),
            event: f.event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_cut_visibly_within_the_limit() {
        let bound = StringBound { limit: 64 };
        assert_eq!(bound.cut("short".into()), "short");
        let cut = bound.cut("é".repeat(1000));
        assert!(cut.len() <= 64, "{}", cut.len());
        assert!(
            cut.starts_with("ééé") && cut.ends_with("…[cut from 2000 bytes]"),
            "{cut}"
        );
    }

    #[test]
    fn the_budget_counts_items_and_bytes() {
        let s = size_of::<String>() as u64;
        let mut budget = EmitBudget::new(3, 3 * s + 10);
        let log = |s: &str| Emitted::Log(crate::wit::Level::Info, s.into());
        assert!(budget.take(&log("12345")));
        assert!(
            !budget.take(&log(&"1".repeat(2 * s as usize + 6))),
            "over the bytes left"
        );
        assert!(budget.take(&Emitted::Columns(vec!["A".into()])));
        assert!(budget.take(&log("")));
        assert!(!budget.take(&log("")), "over the items");
        assert_eq!(budget.refill(), 2);
        assert!(budget.take(&log("1234567")));
    }

    /// What a plugin's output holds on the host counts each part, empty or
    /// not: a row of 100,000 empty cells is 100,000 values to keep.
    /// The sizes docs/sandbox.md states and tests/e2e/quotas.rs counts with.
    #[test]
    fn a_string_and_a_value_are_24_bytes() {
        assert_eq!((size_of::<String>(), size_of::<Value>()), (24, 24));
    }

    #[test]
    fn empty_parts_are_not_free() {
        let mut budget = EmitBudget::new(10, 1 << 20);
        let row = Emitted::Row(vec![Value::Text(String::new()); 100_000], None);
        assert_eq!(row.size(), 100_000 * size_of::<Value>() as u64);
        assert!(!budget.take(&row), "2.4 MB of values in a 1 MiB budget");
    }
}
