//! What the host holds for a component's core instances beyond their
//! memories and tables (which the memory limit counts): each instance's
//! context, a slot per function, global, table and memory of its module.
//! A module may declare up to a million globals, and a component may
//! instantiate it 64 times: a 5 MiB plugin made the host hold 1 GiB that
//! no limit saw. So it is reckoned from the component's bytes, before any
//! instance exists, and bounded.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind, ComponentTypeRef, Encoding,
    Instance, Parser, Payload, TypeRef,
};

use super::limits::MAX_INSTANCES;

/// The most a plugin's instance contexts may take, reckoned as below. The
/// shipped plugins need at most a few hundred KiB.
pub const MAX_BYTES: u64 = 32 << 20;

/// Bytes per slot, as wasmtime lays a context out (rounded up): a function
/// reference is four words, an imported function three more, a global 16
/// bytes (an imported one's link up to four words), a table or memory up
/// to four words, a module's fixed part a few hundred.
const FUNCTION: u64 = 32;
const IMPORTED_FUNCTION: u64 = 24;
const GLOBAL: u64 = 16;
const IMPORTED_GLOBAL: u64 = 32;
const TABLE_OR_MEMORY: u64 = 32;
const FIXED: u64 = 512;

/// What is open while the bytes are read: a core module, whose context
/// size grows with its sections, or a component, with its module and
/// component index spaces (each item's size, or `None` where it comes from
/// outside and is reckoned as large as can be) and what its instances take.
enum Frame {
    Module(u64),
    Component {
        modules: Vec<Option<u64>>,
        components: Vec<Option<u64>>,
        instances: u64,
    },
}

/// The bytes the host would hold for the contexts of every core instance
/// the component makes: each module's slots times the times it is
/// instantiated, nested components included.
pub fn reckon(bytes: &[u8]) -> Result<u64, wasmparser::BinaryReaderError> {
    let mut stack: Vec<Frame> = Vec::new();
    // What an item from outside is reckoned at.
    let mut largest_module = FIXED;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        let unknown_component = largest_module.saturating_mul(MAX_INSTANCES as u64);
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
                return Ok(size);
            }
            continue;
        }
        // Outer aliases name an enclosing component's items: read them first.
        let outer: Vec<Option<u64>> = match &payload {
            Payload::ComponentAliasSection(s) => s
                .clone()
                .into_iter()
                .map(|alias| {
                    Ok(match alias? {
                        ComponentAlias::Outer { kind, count, index } => {
                            let at = stack.len().checked_sub(1 + count as usize).map(|i| &stack[i]);
                            match (kind, at) {
                                (ComponentOuterAliasKind::CoreModule, Some(Frame::Component { modules, .. })) => {
                                    Some(modules.get(index as usize).copied().flatten().unwrap_or(largest_module))
                                }
                                (ComponentOuterAliasKind::Component, Some(Frame::Component { components, .. })) => {
                                    Some(
                                        components
                                            .get(index as usize)
                                            .copied()
                                            .flatten()
                                            .unwrap_or(unknown_component),
                                    )
                                }
                                _ => None,
                            }
                        }
                        _ => None,
                    })
                })
                .collect::<Result<_, wasmparser::BinaryReaderError>>()?,
            _ => Vec::new(),
        };
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
            (Payload::InstanceSection(s), Some(Frame::Component { modules, instances, .. })) => {
                for instance in s {
                    if let Instance::Instantiate { module_index, .. } = instance? {
                        let size = modules.get(module_index as usize).copied().flatten();
                        *instances = instances.saturating_add(size.unwrap_or(largest_module));
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
                        *instances = instances.saturating_add(size.unwrap_or(unknown_component));
                    }
                }
            }
            (
                Payload::ComponentAliasSection(s),
                Some(Frame::Component {
                    modules, components, ..
                }),
            ) => {
                for (alias, outer) in s.into_iter().zip(outer) {
                    match alias? {
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::CoreModule,
                            ..
                        }
                        | ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Module,
                            ..
                        } => modules.push(outer),
                        ComponentAlias::Outer {
                            kind: ComponentOuterAliasKind::Component,
                            ..
                        }
                        | ComponentAlias::InstanceExport {
                            kind: ComponentExternalKind::Component,
                            ..
                        } => components.push(outer),
                        _ => {}
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
    Ok(0)
}

fn add(size: &mut u64, slots: u32, each: u64) {
    *size = size.saturating_add(u64::from(slots) * each);
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
        assert_eq!(reckon(&wat::parse_str(text).unwrap()).unwrap(), m + 3 * (2 * n + m));
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
