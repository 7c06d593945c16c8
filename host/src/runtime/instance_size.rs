//! What the host holds for a component's instances beyond their memories
//! and tables (which the memory limit counts): each core instance's
//! context (a slot per function, global, table, memory and data segment of
//! its module) and its passive element segments' items, and each component
//! instance's state. A module may declare a million globals or ten million
//! element items, and a component may instantiate it 64 times: a 5 MiB
//! plugin made the host hold 1 GiB that no limit saw. So it is reckoned
//! from the component's bytes, before it is compiled, and bounded.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind, ComponentTypeRef, ElementKind,
    Encoding, Instance, Parser, Payload, TypeRef,
};

/// The most a plugin's instances may take, reckoned as below. The shipped
/// plugins need at most a few hundred KiB.
pub const MAX_BYTES: u64 = 32 << 20;

/// Bytes per item, as wasmtime 48 lays an instance out (rounded up): a
/// function reference is four words, an imported function three more, a
/// global 16 bytes (an imported one's link up to four words), a table or
/// memory up to four words, a data segment 12 bytes, an element segment's
/// item a 16-byte value, a module's fixed part a few hundred bytes, a
/// component instance's state a few words.
const FUNCTION: u64 = 32;
const IMPORTED_FUNCTION: u64 = 24;
const GLOBAL: u64 = 16;
const IMPORTED_GLOBAL: u64 = 32;
const TABLE_OR_MEMORY: u64 = 32;
const DATA_SEGMENT: u64 = 16;
const ELEMENT_SEGMENT: u64 = 32;
const ELEMENT: u64 = 16;
const FIXED: u64 = 512;
const COMPONENT_INSTANCE: u64 = 64;

/// What is open while the bytes are read: a core module, whose size grows
/// with its sections, or a component, with its module and component index
/// spaces (each item's size, or `None` where it comes from outside) and
/// what its instances take.
enum Frame {
    Module(u64),
    Component {
        modules: Vec<Option<u64>>,
        components: Vec<Option<u64>>,
        instances: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReckonError {
    #[error(transparent)]
    Parse(#[from] wasmparser::BinaryReaderError),
    /// What it holds cannot be told from the bytes: it depends on what it
    /// is given. No toolchain makes plugins like that.
    #[error(
        "it instantiates a component it is given (imported, or exported by an instance), so what its \
         instances take cannot be told before running it; wasmtrace does not run such components"
    )]
    GivenComponent,
}

/// The bytes the host would hold for every instance the component makes:
/// each module's size times the times it is instantiated, nested
/// components included.
pub fn reckon(bytes: &[u8]) -> Result<u64, ReckonError> {
    // A module from outside (imported, or an instance's export) is one
    // defined somewhere in these bytes: the largest, reckoned first.
    let (_, largest_module) = walk(bytes, FIXED)?;
    Ok(walk(bytes, largest_module)?.0)
}

/// One reading, with modules from outside reckoned at `outside_module`:
/// the total, and the largest module.
fn walk(bytes: &[u8], outside_module: u64) -> Result<(u64, u64), ReckonError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut largest_module = FIXED;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        if let Payload::Version { encoding, .. } = payload {
            stack.push(match encoding {
                Encoding::Module => Frame::Module(FIXED),
                Encoding::Component => Frame::Component {
                    modules: Vec::new(),
                    components: Vec::new(),
                    instances: 0,
                },
            });
            continue;
        }
        if let Payload::End(_) = payload {
            let size = match stack.pop().expect("an End closes what a Version opened") {
                Frame::Module(size) => {
                    largest_module = largest_module.max(size);
                    if let Some(Frame::Component { modules, .. }) = stack.last_mut() {
                        modules.push(Some(size));
                    }
                    size
                }
                Frame::Component { instances, .. } => {
                    if let Some(Frame::Component { components, .. }) = stack.last_mut() {
                        components.push(Some(instances));
                    }
                    instances
                }
            };
            if stack.is_empty() {
                return Ok((size, largest_module));
            }
            continue;
        }
        // An outer alias names an enclosing component's item: sized from
        // the stack before the current component takes it as a new index.
        if let Payload::ComponentAliasSection(s) = payload {
            for alias in s {
                let alias = alias?;
                let size = outer_size(&stack, &alias);
                let Some(Frame::Component {
                    modules, components, ..
                }) = stack.last_mut()
                else {
                    continue;
                };
                match alias {
                    ComponentAlias::Outer {
                        kind: ComponentOuterAliasKind::CoreModule,
                        ..
                    }
                    | ComponentAlias::InstanceExport {
                        kind: ComponentExternalKind::Module,
                        ..
                    } => modules.push(size),
                    ComponentAlias::Outer {
                        kind: ComponentOuterAliasKind::Component,
                        ..
                    }
                    | ComponentAlias::InstanceExport {
                        kind: ComponentExternalKind::Component,
                        ..
                    } => components.push(size),
                    _ => {}
                }
            }
            continue;
        }
        match (payload, stack.last_mut()) {
            (Payload::ImportSection(imports), Some(Frame::Module(size))) => {
                for import in imports.into_imports() {
                    *size = size.saturating_add(match import?.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => IMPORTED_FUNCTION + FUNCTION,
                        TypeRef::Global(_) | TypeRef::Tag(_) => IMPORTED_GLOBAL,
                        TypeRef::Table(_) | TypeRef::Memory(_) => TABLE_OR_MEMORY,
                    });
                }
            }
            (Payload::FunctionSection(s), Some(Frame::Module(size))) => add(size, s.count(), FUNCTION),
            (Payload::GlobalSection(s), Some(Frame::Module(size))) => add(size, s.count(), GLOBAL),
            (Payload::TagSection(s), Some(Frame::Module(size))) => add(size, s.count(), GLOBAL),
            (Payload::TableSection(s), Some(Frame::Module(size))) => add(size, s.count(), TABLE_OR_MEMORY),
            (Payload::MemorySection(s), Some(Frame::Module(size))) => add(size, s.count(), TABLE_OR_MEMORY),
            (Payload::DataSection(s), Some(Frame::Module(size))) => add(size, s.count(), DATA_SEGMENT),
            // Every instance copies its passive segments' items.
            (Payload::ElementSection(s), Some(Frame::Module(size))) => {
                for element in s {
                    let element = element?;
                    if let ElementKind::Passive = element.kind {
                        let items = match element.items {
                            wasmparser::ElementItems::Functions(r) => r.count(),
                            wasmparser::ElementItems::Expressions(_, r) => r.count(),
                        };
                        add(size, items, ELEMENT);
                    }
                    add(size, 1, ELEMENT_SEGMENT);
                }
            }
            (Payload::InstanceSection(s), Some(Frame::Component { modules, instances, .. })) => {
                for instance in s {
                    if let Instance::Instantiate { module_index, .. } = instance? {
                        let size = modules.get(module_index as usize).copied().flatten();
                        *instances = instances.saturating_add(size.unwrap_or(outside_module));
                    }
                }
            }
            (
                Payload::ComponentInstanceSection(s),
                Some(Frame::Component {
                    components, instances, ..
                }),
            ) => {
                for instance in s {
                    if let ComponentInstance::Instantiate { component_index, .. } = instance? {
                        let size = components.get(component_index as usize).copied().flatten();
                        let size = size.ok_or(ReckonError::GivenComponent)?;
                        *instances = instances.saturating_add(COMPONENT_INSTANCE).saturating_add(size);
                    }
                }
            }
            // An export is a new index of its sort, for the same item.
            (
                Payload::ComponentExportSection(s),
                Some(Frame::Component {
                    modules, components, ..
                }),
            ) => {
                for export in s {
                    let export = export?;
                    let same = |space: &Vec<Option<u64>>| space.get(export.index as usize).copied().flatten();
                    match export.kind {
                        ComponentExternalKind::Module => modules.push(same(modules)),
                        ComponentExternalKind::Component => components.push(same(components)),
                        _ => {}
                    }
                }
            }
            (
                Payload::ComponentImportSection(s),
                Some(Frame::Component {
                    modules, components, ..
                }),
            ) => {
                for import in s {
                    match import?.ty {
                        ComponentTypeRef::Module(_) => modules.push(None),
                        ComponentTypeRef::Component(_) => components.push(None),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok((0, largest_module))
}

/// The size of the enclosing component's module or component an outer
/// alias names, where it is known.
fn outer_size(stack: &[Frame], alias: &ComponentAlias) -> Option<u64> {
    let ComponentAlias::Outer { kind, count, index } = *alias else {
        return None;
    };
    let Frame::Component {
        modules, components, ..
    } = stack.get(stack.len().checked_sub(1 + count as usize)?)?
    else {
        return None;
    };
    match kind {
        ComponentOuterAliasKind::CoreModule => modules.get(index as usize).copied().flatten(),
        ComponentOuterAliasKind::Component => components.get(index as usize).copied().flatten(),
        _ => None,
    }
}

fn add(size: &mut u64, items: u32, each: u64) {
    *size = size.saturating_add(u64::from(items) * each);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals(n: usize) -> String {
        "(global (mut i64) (i64.const 0))".repeat(n)
    }

    #[test]
    fn each_module_counts_as_many_times_as_it_is_instantiated_nested_components_included() {
        let text = format!(
            "(component $top
               (core module $m {m})
               (component $c
                 (core module $n {n})
                 (core instance (instantiate $n))
                 (core instance (instantiate $n))
                 (alias outer $top $m (core module $outer))
                 (core instance (instantiate $outer)))
               (instance (instantiate $c))
               (instance (instantiate $c))
               (instance (instantiate $c))
               (core instance (instantiate $m)))",
            m = globals(1000),
            n = globals(2000)
        );
        let (m, n) = (FIXED + 1000 * GLOBAL, FIXED + 2000 * GLOBAL);
        assert_eq!(
            reckon(&wat::parse_str(text).unwrap()).unwrap(),
            m + 3 * (COMPONENT_INSTANCE + 2 * n + m)
        );
    }

    /// A module from outside counts as the largest in the whole plugin,
    /// even one defined after the component that instantiates it; a
    /// component from outside cannot be reckoned, and is refused.
    #[test]
    fn what_comes_from_outside_counts_as_the_largest_anywhere() {
        let text = format!(
            "(component
               (component $c
                 (import \"m\" (core module $m))
                 (core instance (instantiate $m))
                 (core instance (instantiate $m)))
               (core module $big {big})
               (instance (instantiate $c (with \"m\" (core module $big)))))",
            big = globals(1000)
        );
        let big = FIXED + 1000 * GLOBAL;
        assert_eq!(
            reckon(&wat::parse_str(text).unwrap()).unwrap(),
            COMPONENT_INSTANCE + 2 * big
        );

        let text = "(component
               (component $d
                 (import \"c\" (component $x))
                 (instance (instantiate $x)))
               (component $c)
               (instance (instantiate $d (with \"c\" (component $c)))))";
        assert!(matches!(
            reckon(&wat::parse_str(text).unwrap()),
            Err(ReckonError::GivenComponent)
        ));
    }

    #[test]
    fn passive_element_items_and_empty_components_count() {
        let items = "(ref.func 0) ".repeat(1000);
        let text =
            format!("(component (core module $m (func) (elem funcref {items})) (core instance (instantiate $m)))");
        let module = FIXED + FUNCTION + ELEMENT_SEGMENT + 1000 * ELEMENT;
        assert_eq!(reckon(&wat::parse_str(text).unwrap()).unwrap(), module);
        // A thousand instances of a component of nothing, a thousand times over.
        let text = format!(
            "(component (component $b (component $a) {a}) {b})",
            a = "(instance (instantiate $a))".repeat(1000),
            b = "(instance (instantiate $b))".repeat(1000),
        );
        let reckoned = reckon(&wat::parse_str(text).unwrap()).unwrap();
        assert_eq!(reckoned, 1000 * (COMPONENT_INSTANCE + 1000 * COMPONENT_INSTANCE));
        assert!(reckoned > MAX_BYTES);
    }

    #[test]
    fn a_module_exported_under_a_new_index_is_still_itself() {
        let text = format!(
            "(component
               (core module $small)
               (core module $big {big})
               (export $again \"again\" (core module $big))
               (core instance (instantiate $again)))",
            big = globals(1000)
        );
        assert_eq!(reckon(&wat::parse_str(text).unwrap()).unwrap(), FIXED + 1000 * GLOBAL);
    }
}
