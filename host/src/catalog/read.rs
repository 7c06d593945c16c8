//! Reading a probe's record into WIT values: what every family's `decode`
//! uses. Strings go into the batch's text table, escaped where they are not
//! UTF-8.

use std::fmt::Write as _;

use wasmtrace_ebpf::abi::{self, ProbeId};

use crate::escape;
use crate::wit::{IpFamily, TcpEnds, Text, WitEnum};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than an event header")]
    Short(usize),
    #[error("record has unknown probe id {0}")]
    UnknownProbe(u32),
    #[error("{probe:?} record of {len} bytes is truncated")]
    Truncated { probe: ProbeId, len: usize },
    #[error("{probe:?} record names an unknown call {call}")]
    UnknownCall { probe: ProbeId, call: u32 },
    #[error("{probe:?} record has an unknown address family {family}")]
    UnknownFamily { probe: ProbeId, family: u16 },
    #[error("{probe:?} record has an unknown TCP state {state}")]
    UnknownState { probe: ProbeId, state: u32 },
}

/// The strings of a batch being built, back to back.
#[derive(Default)]
pub struct TextTable(String);

impl TextTable {
    /// Where the table ends now, to `rewind` to.
    pub fn mark(&self) -> usize {
        self.0.len()
    }

    /// Drops what was added since `mark` (a record that failed to decode).
    pub fn rewind(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }

    fn span(&self, start: usize) -> Text {
        Text {
            start: start as u32,
            len: (self.0.len() - start) as u32,
        }
    }

    /// Kernel bytes up to the first NUL; invalid UTF-8 (a path is any
    /// bytes) stays visible as `\xNN`.
    pub fn c_str(&mut self, field: &[u8]) -> Text {
        self.bytes(abi::c_str(field))
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> Text {
        let start = self.0.len();
        escape::push_utf8_bytes(&mut self.0, bytes);
        self.span(start)
    }

    pub fn display(&mut self, value: impl std::fmt::Display) -> Text {
        let start = self.0.len();
        let _ = write!(self.0, "{value}");
        self.span(start)
    }
}

/// A probe's record from the front of its bytes.
pub fn record<T: aya::Pod>(probe: ProbeId, bytes: &[u8]) -> Result<T, DecodeError> {
    abi::read(bytes).ok_or(DecodeError::Truncated {
        probe,
        len: bytes.len(),
    })
}

/// The WIT enum case at position `value`, as the eBPF program wrote it
/// (wit_enums.h).
pub fn wit_enum<T: WitEnum>(probe: ProbeId, value: u32) -> Result<T, DecodeError> {
    T::CASES
        .get(value as usize)
        .copied()
        .ok_or(DecodeError::UnknownCall { probe, call: value })
}

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// A record's `tcp_ends`: its family, its addresses as text, its ports.
pub fn tcp_ends(t: &mut TextTable, probe: ProbeId, e: &abi::TcpEnds) -> Result<TcpEnds, DecodeError> {
    let (family, saddr, daddr) = match e.family {
        AF_INET => {
            let v4 = |a: &[u8; 16]| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            (IpFamily::Ipv4, t.display(v4(&e.saddr)), t.display(v4(&e.daddr)))
        }
        AF_INET6 => {
            let v6 = |a: &[u8; 16]| std::net::Ipv6Addr::from(*a);
            (IpFamily::Ipv6, t.display(v6(&e.saddr)), t.display(v6(&e.daddr)))
        }
        family => return Err(DecodeError::UnknownFamily { probe, family }),
    };
    Ok(TcpEnds {
        family,
        saddr,
        sport: e.sport,
        daddr,
        dport: e.dport,
    })
}
