//! The crate's files import one another in one direction only: no file
//! imports one that imports it back, however indirectly, and the engine
//! (`src/engine/`) imports nothing of its users (only the loom facade and
//! the small helpers in `src/util/`). docs/design.md ("Layers")
//! draws the order this test keeps.
//!
//! It reads `src/` as text: every `crate::…` and `super::…` path outside
//! comments, unit-test modules and loom models names the longest module it
//! reaches, and that is an edge from the file to the module's file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module path, as its segments (`["scope", "set"]`; `[]` is the crate).
type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/scope/set.rs` → `scope::set`; `src/scope/mod.rs` → `scope`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file
        .strip_prefix(src)
        .expect("under src/")
        .with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The text that counts: line comments removed, and everything from a
/// unit-test module (`#[cfg(all(test` … `mod tests`) to the end of the file.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    if let Some(at) = code.find("#[cfg(all(test") {
        if code[at..].contains("mod tests") {
            code.truncate(at);
        }
    }
    code
}

/// Every `crate::a::b…` / `super::…` path in `code`, as segments, with
/// `use x::{a, b::c}` groups expanded one level.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::"]
            .into_iter()
            .find(|kw| bytes[i..].starts_with(kw.as_bytes()))
            .filter(|_| i == 0 || !is_ident(bytes[i - 1]));
        let Some(_) = starts else {
            i += 1;
            continue;
        };
        // Read `seg::seg::…` up to the first non-path character.
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if start == j {
                break;
            }
            segments.push(code[start..j].to_string());
            if bytes[j..].starts_with(b"::") {
                j += 2;
            } else {
                break;
            }
        }
        if bytes.get(j) == Some(&b'{') {
            // A group: one path per top-level item.
            let end = code[j..].find('}').map_or(bytes.len(), |e| j + e);
            for item in code[j + 1..end].split(',') {
                let mut path = segments.clone();
                path.extend(
                    item.trim()
                        .split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| {
                            !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
                        }),
                );
                out.push(path);
            }
            i = end;
        } else {
            out.push(segments);
            i = j.max(i + 1);
        }
    }
    out
}

/// The longest module `path` reaches from `from`, if it names one.
fn resolve(modules: &BTreeSet<Module>, from: &Module, path: &[String]) -> Option<Module> {
    let mut base: Module;
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &rest[1..];
        }
        Some("super") => {
            base = from[..from.len().saturating_sub(1)].to_vec();
            rest = &rest[1..];
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut best = None;
    for take in 0..=rest.len() {
        let mut candidate = base.clone();
        candidate.extend(rest[..take].iter().cloned());
        if modules.contains(&candidate) {
            best = Some(candidate);
        }
    }
    best
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "lib".to_string()
    } else {
        module.join("/")
    }
}

/// File-level import edges of the crate: module → modules it names.
fn edges() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        if from.last().is_some_and(|m| m == "loom_tests") {
            continue;
        }
        let code = code_of(&fs::read_to_string(file).expect("read a source file"));
        for path in paths_in(&code) {
            if let Some(to) = resolve(&modules, &from, &path) {
                // The crate root and a file's own ancestors (their `mod`
                // lines and re-exports) are not imports.
                if to != from && !from.starts_with(&to) {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    edges
}

/// Strongly connected components with more than one module: the circles.
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    // Reachability by depth-first search from each node; two modules are in
    // one circle when each reaches the other. (Few files: no need for Tarjan.)
    let reach = |start: &Module| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(m) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let nodes: BTreeSet<Module> = edges
        .iter()
        .flat_map(|(from, tos)| std::iter::once(from.clone()).chain(tos.iter().cloned()))
        .collect();
    let reaches: BTreeMap<Module, BTreeSet<Module>> =
        nodes.iter().map(|n| (n.clone(), reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(n) || !reaches[n].contains(n) {
            continue;
        }
        let circle: Vec<Module> = nodes
            .iter()
            .filter(|m| reaches[n].contains(*m) && reaches[*m].contains(n))
            .cloned()
            .collect();
        done.extend(circle.iter().cloned());
        out.push(circle.iter().map(name).collect());
    }
    out
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let edges = edges();
    assert!(
        edges.len() > 20,
        "the scan found too few importing files ({}): is it reading src/?",
        edges.len()
    );
    let found = circles(&edges);
    assert!(found.is_empty(), "import circles between files: {found:?}");
}

#[test]
fn the_engine_imports_nothing_of_its_users() {
    let edges = edges();
    for (from, tos) in &edges {
        if from.first().is_some_and(|m| m == "engine") {
            for to in tos {
                let allowed = to
                    .first()
                    .is_some_and(|m| m == "engine" || m == "loom" || m == "util");
                assert!(allowed, "{} imports {}", name(from), name(to));
            }
        }
    }
    assert!(
        edges
            .keys()
            .any(|m| m.first().is_some_and(|s| s == "engine"))
    );
}

/// The scan itself: a circle planted in text is found, a comment is not
/// an import, and a `use` group counts each of its items.
#[test]
fn the_scan_sees_paths_and_groups_but_not_comments() {
    let code = code_of("use super::{a::B, c};\n// use crate::d;\nfn f() { crate::e::f(); }\n");
    let paths = paths_in(&code);
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(shown, ["super::a::B", "super::c", "crate::e::f"]);
    let m = |s: &str| -> Module { s.split('/').map(String::from).collect() };
    let mut edges = BTreeMap::new();
    edges.insert(m("x/a"), BTreeSet::from([m("x/b")]));
    edges.insert(m("x/b"), BTreeSet::from([m("x/c")]));
    edges.insert(m("x/c"), BTreeSet::from([m("x/a")]));
    assert_eq!(circles(&edges), [vec!["x/a", "x/b", "x/c"]]);
}
