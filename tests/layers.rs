//! The source tree shows the layers: no library module imports one of its importers.
//!
//! A module is a file (`src/run/pipeline.rs` is `run::pipeline`; a `mod.rs` is its folder's
//! module). An import is any `crate::a::b` path in the file's code (comments and the
//! `#[cfg(test)]` module left out), resolved to the longest known module, and `super::x` to the
//! sibling `x`. The binary (`src/main.rs`, `src/cli/`) is not part of the library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn modules(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            modules(&p, root, out);
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        let name = parts.join("::");
        if name == "main" || name == "lib" || parts[0] == "cli" {
            continue;
        }
        out.insert(name, std::fs::read_to_string(&p).unwrap());
    }
}

/// The file's code: no `#[cfg(test)]` module, no comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path following `prefix` in `text`, as its `::`-separated identifiers.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        out.push(
            rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    out
}

#[test]
fn no_library_module_imports_one_of_its_importers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&root, &root, &mut files);
    let known: BTreeSet<&String> = files.keys().collect();
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in &files {
        let code = code(text);
        let mut deps = BTreeSet::new();
        for parts in paths_after(&code, "crate::") {
            if let Some(n) = (1..=parts.len())
                .rev()
                .find(|&n| known.contains(&parts[..n].join("::")))
            {
                deps.insert(parts[..n].join("::"));
            }
        }
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        for parts in paths_after(&code, "super::") {
            let Some(first) = parts.first() else { continue };
            let sibling = if parent.is_empty() {
                first.clone()
            } else {
                format!("{parent}::{first}")
            };
            if known.contains(&sibling) {
                deps.insert(sibling);
            }
        }
        deps.remove(m);
        graph.insert(m, deps);
    }
    assert!(
        graph.len() > 40,
        "the library's modules were found: {graph:?}"
    );
    let mut mutual = Vec::new();
    for (a, deps) in &graph {
        for b in deps {
            if a < &b.as_str() && graph.get(b.as_str()).is_some_and(|d| d.contains(*a)) {
                mutual.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(
        mutual.is_empty(),
        "modules importing each other: {mutual:?}"
    );
}
