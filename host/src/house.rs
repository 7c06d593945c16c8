//! The house stays free of cycles: no module uses, through others, a module
//! that uses it. A module and the modules inside it (a family's table and
//! its catalog) are one room and may use each other; between rooms the
//! uses go one way, so a change's place is clear. Read from the sources'
//! `crate::`, `super::` and `self::` paths, tests left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of the crate (`a::b`, the crate root as ``), by its file.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Tests may reach anywhere.
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            found.insert(parts.join("::"), code);
        }
    }
    found
}

/// Every path a `use` tree names, braces expanded: `crate::{a, b::C}` is
/// `crate::a` and `crate::b::C`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        Some(open) if tree.ends_with('}') => {
            let head = format!("{prefix}{}", &tree[..open]);
            let inner = &tree[open + 1..tree.len() - 1];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&head, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&head, &inner[start..], out);
        }
        _ if !tree.is_empty() => out.push(format!("{prefix}{}", tree.split(" as ").next().unwrap().trim())),
        _ => {}
    }
}

/// The paths `code` names: its `use` trees, expanded, and every other
/// word that is a path.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in code.split(';') {
        let statement: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(tree) = statement.split("use ").nth(1).filter(|_| statement.contains("use ")) {
            expand("", tree, &mut found);
        }
    }
    found.extend(
        code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map(str::to_string),
    );
    found
}

/// The modules `code` (of module `me`) names by path.
fn uses(me: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for word in paths(code) {
        if !(word.starts_with("crate::") || word.starts_with("super::") || word.starts_with("self::")) {
            continue;
        }
        let mut path: Vec<&str> = if me.is_empty() {
            Vec::new()
        } else {
            me.split("::").collect()
        };
        let mut rest = word.split("::").filter(|s| !s.is_empty()).peekable();
        match rest.next() {
            Some("crate") => path.clear(),
            Some("super") => {
                path.pop();
                while rest.peek() == Some(&"super") {
                    rest.next();
                    path.pop();
                }
            }
            _ => {}
        }
        // The longest known module the path goes through.
        let mut target = Some(path.join("::")).filter(|m| known.contains(m));
        for part in rest {
            path.push(part);
            let name = path.join("::");
            if known.contains(&name) {
                target = Some(name);
            }
        }
        used.extend(target);
    }
    used
}

/// Whether one is the other or inside it.
fn same_room(a: &str, b: &str) -> bool {
    let inside =
        |inner: &str, outer: &str| outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"));
    inside(a, b) || inside(b, a)
}

#[test]
fn no_module_uses_itself_through_others() {
    let modules = modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(me, code)| {
            let used = uses(me, code, &known)
                .into_iter()
                .filter(|m| !same_room(me, m))
                .collect();
            (me.as_str(), used)
        })
        .collect();
    // Depth-first search for a way back to the start, from every module.
    let mut cycles = Vec::new();
    for &start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.to_string()])];
        let mut seen = BTreeSet::new();
        while let Some((at, way)) = stack.pop() {
            for next in graph.get(at.as_str()).into_iter().flatten() {
                if same_room(next, start) {
                    cycles.push(format!("{} -> {next}", way.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = way.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that use themselves through others:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn paths_are_read_as_modules() {
    let known: BTreeSet<String> = [
        "catalog",
        "catalog::read",
        "runtime",
        "runtime::quota",
        "runtime::state",
    ]
    .map(String::from)
    .into();
    let used = |me: &str, code: &str| uses(me, code, &known).into_iter().collect::<Vec<_>>();
    assert_eq!(
        used("decode", "use crate::catalog::read::{DecodeError};"),
        ["catalog::read"]
    );
    assert_eq!(
        used("runtime::state", "use super::quota::EmitBudget;"),
        ["runtime::quota"]
    );
    assert_eq!(used("catalog::net", "use super::{Probe};"), ["catalog"]);
    assert_eq!(
        used("probes", "use crate::{catalog::read as r, runtime::{quota::X, state}};"),
        ["catalog::read", "runtime::quota", "runtime::state"]
    );
    assert!(same_room("catalog::net", "catalog") && !same_room("catalog", "decode"));
}
