//! The memory limit of a plugin as a whole: every linear memory and table of
//! every core instance inside its component counts against one budget, and
//! the number of instances, memories and tables is capped, so a component
//! cannot multiply the bound by splitting itself into many modules. A
//! refusal is a typed error, so the host can say "out of memory" rather
//! than show a raw trap.

use wasmtime::ResourceLimiter;

#[derive(Debug, thiserror::Error)]
#[error("exceeded its memory limit of {} MiB (all its memories and tables together)", limit >> 20)]
pub struct MemoryLimitExceeded {
    limit: usize,
}

/// Core instances one plugin may create. The shipped Python plugin, the
/// largest, has 14 (its runtime's modules, adapters and shims); Rust, C, Go
/// and JavaScript ones 3 or 4.
pub const MAX_INSTANCES: usize = 64;
/// Linear memories; every shipped plugin has 1 (its modules share it).
pub const MAX_MEMORIES: usize = 16;
/// Tables; every shipped plugin has 2.
pub const MAX_TABLES: usize = 64;
/// What a table element costs the host: a pointer.
const TABLE_ELEMENT_BYTES: usize = size_of::<usize>();

pub struct MemoryLimit {
    bytes: usize,
    /// Bytes of all its linear memories and tables now (they never shrink).
    used: usize,
}

impl MemoryLimit {
    pub fn new(bytes: usize) -> MemoryLimit {
        MemoryLimit { bytes, used: 0 }
    }

    pub fn used(&self) -> usize {
        self.used
    }

    /// Counts a memory or table growing from `current` to `desired` bytes
    /// against the whole budget.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let after = self.used.saturating_sub(current).saturating_add(desired);
        if after > self.bytes {
            return Err(MemoryLimitExceeded { limit: self.bytes }.into());
        }
        self.used = after;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut limit = MemoryLimit::new(10 << 20);
        // Four memories of 2 MiB each: 8 MiB in all.
        for _ in 0..4 {
            assert!(limit.memory_growing(0, 2 << 20, None).unwrap());
        }
        assert_eq!(limit.used(), 8 << 20);
        // A fifth would make 10 MiB: still within.
        assert!(limit.memory_growing(0, 2 << 20, None).unwrap());
        // A table of 1 element more is over.
        let err = limit.table_growing(0, 1, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<MemoryLimitExceeded>().unwrap().to_string(),
            "exceeded its memory limit of 10 MiB (all its memories and tables together)"
        );
        assert_eq!(limit.used(), 10 << 20, "a refused growth is not counted");
        // Growing one memory counts only what it adds.
        let mut limit = MemoryLimit::new(10 << 20);
        assert!(limit.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limit.memory_growing(4 << 20, 6 << 20, None).unwrap());
        assert_eq!(limit.used(), 6 << 20);
    }
}
