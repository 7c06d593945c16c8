//! Host bindings generated from wit/: the contract's types and traits.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host functions may trap the guest (a bad map key is a plugin bug).
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

// Every type of the events interface: each probe's record, its enums, `Body`.
pub use self::wasmtrace::plugin::events::*;
pub use self::wasmtrace::plugin::log::Level;
pub use self::wasmtrace::plugin::output::{Finding, Severity};
pub use self::wasmtrace::plugin::types::{ConfigValue, Value};

/// A WIT enum as the eBPF programs write it: a case's value is its position
/// in the WIT (wit_enums.h is generated from the same cases).
pub trait WitEnum: Copy + 'static {
    const CASES: &'static [Self];
}

include!(concat!(env!("OUT_DIR"), "/wit_enums.rs"));

impl Batch {
    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}
