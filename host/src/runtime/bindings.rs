//! Host bindings generated from wit/: the contract's types and traits.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host functions may trap the guest (a bad map key is a plugin bug).
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

pub use self::wasmtrace::plugin::events::{
    Body, Container, FileLatency, FileOp, FileOpen, FileStat, FileSync, Headers, IpFamily, KillCall, MemoryOomKill,
    MemorySwapin, NetTcpAccept, NetTcpConnect, NetTcpDrop, NetTcpLife, NetTcpRetransmit, NetTcpSynBacklog, Pod,
    ProcessExec, ProcessExit, ProcessFork, ProcessSleep, ProcessThread, Runtime, SecurityCapable, SecuritySetuid,
    SetuidCall, ShellReadline, SignalKill, StatCall, SyncCall, SyscallEnter, TcpEnds, TcpState, Text,
};
pub use self::wasmtrace::plugin::log::Level;
pub use self::wasmtrace::plugin::output::{Finding, Severity};
pub use self::wasmtrace::plugin::types::{ConfigValue, Value};

impl Batch {
    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}
