//! Everything wasmtrace derives from its WIT (wit/plugin.wit), written once:
//! the C enums the eBPF programs write (`c`), the host's tables of fields
//! and enum cases (`host`), and the SDKs' records and enums (`go`, `rust_sdk`).
//! Build scripts call it for what is built; `cargo xtask` for what is
//! committed (docs/contributing.md).

pub mod c;
pub mod go;
pub mod host;
pub mod rust_sdk;

use std::path::Path;

use wit_parser::{Docs, Interface, Resolve, Type, TypeDefKind, TypeId};

/// The WIT's `events` interface: the probes' records and their enums.
pub struct Wit {
    pub resolve: Resolve,
    events: wit_parser::InterfaceId,
}

/// A WIT enum, its cases in order: a case's position is its value on the
/// wire, in the records the eBPF programs write and in the canonical ABI.
pub struct Enum {
    pub name: String,
    pub docs: Docs,
    pub cases: Vec<Case>,
}

pub struct Case {
    pub name: String,
    /// How the tools print it: the case's name with `_` for `-`, unless its
    /// docs begin "Printed as `NAME`." (strace's `newfstatat`, the kernel's
    /// `SYN_SENT`).
    pub printed: String,
}

/// A probe's body: its case of the `body` variant and the record it carries.
pub struct BodyCase {
    /// The probe's name, as its record's docs begin: "`process.exec`: ...".
    pub probe: String,
    /// The probe's name with `-` for `.`: `process-exec`.
    pub case: String,
    pub record: String,
}

/// A record's field for the docs: its name, its type as the WIT writes it, its docs.
pub struct Field {
    pub name: String,
    pub ty: String,
    pub doc: String,
}

impl Wit {
    /// Reads the WIT package in `dir`.
    pub fn load(dir: &Path) -> Result<Wit, String> {
        let mut resolve = Resolve::default();
        resolve
            .push_dir(dir)
            .map_err(|e| format!("reading the WIT in {}: {e:#}", dir.display()))?;
        let events = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some("events"))
            .map(|(id, _)| id)
            .ok_or("the WIT has no `events` interface")?;
        Ok(Wit { resolve, events })
    }

    fn events(&self) -> &Interface {
        &self.resolve.interfaces[self.events]
    }

    /// The events interface's type of this name.
    pub fn type_id(&self, name: &str) -> TypeId {
        *self
            .events()
            .types
            .get(name)
            .unwrap_or_else(|| panic!("the WIT's events interface has no type `{name}`"))
    }

    /// The events interface's enums, in the order the WIT declares them.
    pub fn enums(&self) -> Vec<Enum> {
        self.events()
            .types
            .values()
            .filter_map(|&id| {
                let def = &self.resolve.types[id];
                let TypeDefKind::Enum(e) = &def.kind else {
                    return None;
                };
                let cases = e
                    .cases
                    .iter()
                    .map(|c| Case {
                        name: c.name.clone(),
                        printed: printed_as(&c.docs).unwrap_or_else(|| c.name.replace('-', "_")),
                    })
                    .collect();
                Some(Enum {
                    name: def.name.clone()?,
                    docs: def.docs.clone(),
                    cases,
                })
            })
            .collect()
    }

    /// The cases of `body`, one per probe in id order, with their records.
    pub fn body(&self) -> Vec<BodyCase> {
        let TypeDefKind::Variant(body) = &self.resolve.types[self.type_id("body")].kind else {
            panic!("the WIT's `body` is not a variant");
        };
        body.cases
            .iter()
            .map(|case| {
                let Some(Type::Id(id)) = case.ty else {
                    panic!("the body case `{}` carries no record", case.name)
                };
                let def = &self.resolve.types[id];
                let probe = def
                    .docs
                    .contents
                    .as_deref()
                    .and_then(|d| d.strip_prefix('`')?.split_once("`:"))
                    .map(|(probe, _)| probe.to_string())
                    .unwrap_or_else(|| {
                        panic!(
                            "the docs of `{}` do not begin with its probe: \"`a.b`: ...\"",
                            case.name
                        )
                    });
                BodyCase {
                    probe,
                    case: case.name.clone(),
                    record: def.name.clone().expect("a named record"),
                }
            })
            .collect()
    }

    /// A record's fields, with their types and docs.
    pub fn record(&self, name: &str) -> &wit_parser::Record {
        match &self.resolve.types[self.type_id(name)].kind {
            TypeDefKind::Record(r) => r,
            _ => panic!("the WIT's `{name}` is not a record"),
        }
    }

    /// A record's fields as the docs show them.
    pub fn fields(&self, record: &str) -> Vec<Field> {
        self.record(record)
            .fields
            .iter()
            .map(|f| Field {
                name: f.name.clone(),
                ty: self.type_name(&f.ty),
                doc: one_line(&f.docs),
            })
            .collect()
    }

    /// A type as the WIT writes it: `u32`, `text`, `list<text>`, `kill-call`.
    pub fn type_name(&self, ty: &Type) -> String {
        let id = match ty {
            Type::Bool => return "bool".into(),
            Type::U8 => return "u8".into(),
            Type::U16 => return "u16".into(),
            Type::U32 => return "u32".into(),
            Type::U64 => return "u64".into(),
            Type::S32 => return "s32".into(),
            Type::S64 => return "s64".into(),
            Type::String => return "string".into(),
            Type::Id(id) => *id,
            other => panic!("no WIT name for a field of type {other:?}"),
        };
        let def = &self.resolve.types[id];
        match (&def.name, &def.kind) {
            (Some(name), _) => name.clone(),
            (None, TypeDefKind::List(item)) => format!("list<{}>", self.type_name(item)),
            (None, TypeDefKind::Option(item)) => format!("option<{}>", self.type_name(item)),
            (None, kind) => panic!("no WIT name for an anonymous {kind:?}"),
        }
    }
}

/// The name a case's docs give it: "Printed as `NAME`." on their first line.
fn printed_as(docs: &Docs) -> Option<String> {
    let first = docs.contents.as_deref()?.lines().next()?;
    let rest = first.trim().strip_prefix("Printed as `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// Docs on one line, for a table cell or a generated comment.
pub fn one_line(docs: &Docs) -> String {
    docs.contents
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A WIT name in Rust's and wasmtime's type case: `fin-wait1` is `FinWait1`.
pub fn upper_camel(wit: &str) -> String {
    wit.split('-')
        .map(|part| part[..1].to_uppercase() + &part[1..])
        .collect()
}

/// A WIT name in C's constant case: `sync-file-range` is `SYNC_FILE_RANGE`.
pub fn shouty(wit: &str) -> String {
    wit.replace('-', "_").to_uppercase()
}
