//! The Rust SDK's enum names (sdk/rust/src/enums.rs): wit-bindgen makes the
//! types; this adds `name()`, as the tools print each case.

use std::fmt::Write;

use crate::{Wit, upper_camel};

pub fn enums(wit: &Wit) -> String {
    let mut out = String::from(
        "//! Generated from wit/plugin.wit by `cargo xtask`. DO NOT EDIT.\n//! Each enum's cases by the names the tools print.\n\nuse crate::*;\n",
    );
    for e in wit.enums() {
        let ty = upper_camel(&e.name);
        let _ = write!(
            out,
            "\nimpl {ty} {{\n    /// The case as the tools print it.\n    pub fn name(self) -> &'static str {{\n        match self {{\n"
        );
        for case in &e.cases {
            let _ = writeln!(
                out,
                "            {ty}::{} => {:?},",
                upper_camel(&case.name),
                case.printed
            );
        }
        out.push_str("        }\n    }\n}\n");
    }
    out
}
