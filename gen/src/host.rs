//! The host's tables from the WIT, included by the host at build time: each
//! enum's cases in wire order, and each probe's fields with their docs.

use std::fmt::Write;

use crate::{Wit, upper_camel};

/// `impl WitEnum for KillCall { const CASES: &[Self] = &[Self::Kill, ...]; }`
/// for every enum, in wasmtime's bindgen names.
pub fn enums(wit: &Wit) -> String {
    let mut out = String::new();
    for e in wit.enums() {
        let cases: Vec<String> = e
            .cases
            .iter()
            .map(|c| format!("Self::{}", upper_camel(&c.name)))
            .collect();
        let _ = writeln!(
            out,
            "impl WitEnum for {} {{\n    const CASES: &'static [Self] = &[{}];\n}}",
            upper_camel(&e.name),
            cases.join(", ")
        );
    }
    out
}

/// `BODY_FIELDS`: each body case's name and its record's fields, in probe id order.
pub fn fields(wit: &Wit) -> String {
    let mut out = String::from("pub const BODY_FIELDS: &[(&str, &[Field])] = &[\n");
    for body in wit.body() {
        let _ = writeln!(out, "    ({:?}, &[", body.case);
        for f in wit.fields(&body.record) {
            let _ = writeln!(
                out,
                "        Field {{ name: {:?}, ty: {:?}, doc: {:?} }},",
                f.name, f.ty, f.doc
            );
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    let headers: Vec<String> = wit.fields("headers").iter().map(|f| format!("{:?}", f.name)).collect();
    let _ = writeln!(
        out,
        "/// The header's fields, as the WIT's `headers` has them.\n#[cfg(test)]\npub const HEADER_NAMES: &[&str] = &[{}];",
        headers.join(", ")
    );
    out
}
