//! The memory limit, as a limiter whose refusal is a typed error, so the
//! host can tell the user "out of memory" rather than a raw trap.

use wasmtime::ResourceLimiter;

#[derive(Debug, thiserror::Error)]
#[error("exceeded its memory limit of {} MiB", limit >> 20)]
pub struct MemoryLimitExceeded {
    limit: usize,
}

/// Elements a plugin's tables may hold; generous, as tables are small.
const TABLE_ELEMENTS: usize = 1 << 20;

pub struct MemoryLimit {
    pub bytes: usize,
    /// The largest size its memory grew to (a memory never shrinks).
    pub used: usize,
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.bytes {
            return Err(MemoryLimitExceeded { limit: self.bytes }.into());
        }
        self.used = self.used.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS)
    }
}
