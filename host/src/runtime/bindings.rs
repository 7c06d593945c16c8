//! Host bindings generated from wit/: the contract's types and traits.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host functions may trap the guest (a bad map key is a plugin bug).
    imports: { default: trappable },
    additional_derives: [PartialEq],
});

pub use self::wasmtrace::plugin::events::{
    Body, FileLatency, FileOp, FileOpen, FileStat, FileSync, Header, IpFamily, KillCall, MemoryOomKill, MemorySwapin,
    NetTcpAccept, NetTcpConnect, NetTcpDrop, NetTcpLife, NetTcpRetransmit, NetTcpSynBacklog, ProcessExec, ProcessExit,
    ProcessFork, ProcessSleep, ProcessThread, SecurityCapable, SecuritySetuid, SetuidCall, ShellReadline, SignalKill,
    StatCall, SyncCall, SyscallEnter, TcpEnds, TcpState,
};
pub use self::wasmtrace::plugin::log::Level;
pub use self::wasmtrace::plugin::output::{Finding, Severity};
pub use self::wasmtrace::plugin::types::{ConfigValue, Value};
