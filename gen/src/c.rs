//! The WIT's enums in C, for the eBPF programs: a record's enum field holds
//! the case's position in the WIT, which is what the host and every SDK
//! read.

use std::fmt::Write;

use crate::{Wit, one_line, shouty};

/// `wit_enums.h`: `enum wit_kill_call { WIT_KILL_CALL_KILL = 0, ... }`.
/// Prefixed with `wit_`, as they are WIT positions, not the kernel's values
/// (the kernel's TCP_ESTABLISHED is 1, `tcp-state`'s `established` 0).
pub fn enums(wit: &Wit) -> String {
    let mut out = String::from(
        "/* Generated from wit/plugin.wit by wasmtrace-gen at build time. */\n\
         #pragma once\n",
    );
    for e in wit.enums() {
        let name = e.name.replace('-', "_");
        let docs = one_line(&e.docs);
        if !docs.is_empty() {
            let _ = write!(out, "\n/* {docs} */");
        }
        let _ = write!(out, "\nenum wit_{name} {{\n");
        for (i, case) in e.cases.iter().enumerate() {
            let _ = writeln!(out, "\tWIT_{}_{} = {i},", shouty(&e.name), shouty(&case.name));
        }
        out.push_str("};\n");
    }
    out
}
