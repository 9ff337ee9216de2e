//! The layers stay one-way: every `crate::` path in `src/` that leaves its top-level module
//! must point at a module of a lower layer in the table of docs/ARCHITECTURE.md ("Layers"),
//! as Cargo would enforce between crates. A new top-level module must be placed in the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The layer table: module name → layer number.
fn layer_table() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/ARCHITECTURE.md"))
        .expect("docs/ARCHITECTURE.md");
    let section = doc
        .split("\n## Layers\n")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has a \"## Layers\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut table = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| 3 | `config` | ... |` → ["", "3", "`config`", ..., ""]
        if cells.len() < 4 {
            continue;
        }
        let Ok(layer) = cells[1].parse::<u32>() else {
            continue;
        };
        for name in cells[2].split(',') {
            let name = name.trim().trim_matches('`');
            assert!(
                !name.is_empty(),
                "empty module name in layer {layer}: {line}"
            );
            let before = table.insert(name.to_string(), layer);
            assert!(
                before.is_none(),
                "{name} is listed twice in the layer table"
            );
        }
    }
    assert!(!table.is_empty(), "the layer table has no rows");
    table
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file below `src/`: `a/b.rs` and `a/b/mod.rs` → `[a, b]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The text with `//` and `/* */` comments removed (doc comments included: their
/// examples import through `redline::`, as users do).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut depth = 0usize;
    while !rest.is_empty() {
        if depth > 0 {
            if let Some(r) = rest.strip_prefix("*/") {
                depth -= 1;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("/*") {
                depth += 1;
                rest = r;
            } else {
                let c = rest.chars().next().unwrap_or(' ');
                rest = &rest[c.len_utf8()..];
            }
            continue;
        }
        if let Some(r) = rest.strip_prefix("/*") {
            depth += 1;
            rest = r;
        } else if rest.starts_with("//") {
            rest = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if rest.starts_with('"') {
            // A string literal is kept whole, so `"http://…"` is not taken for a comment.
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifiers right after `crate::`, including each first segment of a
/// `crate::{a, b::c}` group.
fn crate_roots(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].chars().next_back().is_some_and(is_ident) {
            continue; // `redline_crate::` or similar
        }
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut level = 0usize;
            let mut item = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        at_start = true;
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if level == 0 && at_start {
                    if is_ident(c) {
                        item.push(c);
                    } else if !item.is_empty() {
                        out.push(std::mem::take(&mut item));
                        at_start = false;
                    }
                }
            }
            if at_start && !item.is_empty() {
                out.push(item);
            }
        } else {
            let name: String = after.chars().take_while(|c| is_ident(*c)).collect();
            out.push(name);
        }
    }
    out
}

/// Identifiers reached through `super::` chains long enough to leave a file at `depth`.
fn super_roots(code: &str, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        if rest[..i].chars().next_back().is_some_and(is_ident) {
            rest = &rest[i + 7..];
            continue;
        }
        let mut chain = &rest[i..];
        let mut n = 0;
        while let Some(r) = chain.strip_prefix("super::") {
            n += 1;
            chain = r;
        }
        if n >= depth {
            out.push(chain.chars().take_while(|c| is_ident(*c)).collect());
        }
        rest = chain;
    }
    out
}

#[test]
fn top_level_modules_import_only_lower_layers() {
    let table = layer_table();
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut modules = BTreeSet::new();
    let mut violations = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("below src");
        let path = module_path(rel);
        let top = path[0].clone();
        if top == "lib" || top == "main" {
            continue; // the crate root and the CLI may use every module
        }
        modules.insert(top.clone());
        let Some(&own) = table.get(&top) else {
            continue; // reported below
        };
        let code = strip_comments(&std::fs::read_to_string(file).expect("read source"));
        let mut roots = crate_roots(&code);
        roots.extend(super_roots(&code, path.len()));
        for target in roots {
            if target == top {
                continue;
            }
            let Some(&theirs) = table.get(&target) else {
                continue; // not a module (`crate::install_crypto_provider`)
            };
            if theirs >= own {
                violations.insert(format!(
                    "src/{}: {top} (layer {own}) imports {target} (layer {theirs})",
                    rel.display()
                ));
            }
        }
    }
    let unplaced: Vec<&String> = modules.iter().filter(|m| !table.contains_key(*m)).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules missing from the layer table of docs/ARCHITECTURE.md: {unplaced:?}"
    );
    let stale: Vec<&String> = table.keys().filter(|m| !modules.contains(*m)).collect();
    assert!(
        stale.is_empty(),
        "the layer table names modules src/ does not have: {stale:?}"
    );
    assert!(
        violations.is_empty(),
        "imports that break the layer table of docs/ARCHITECTURE.md (a module may import \
         only modules of lower layers):\n{}",
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_scanner_sees_the_forms_imports_take() {
    let code = strip_comments(
        "use crate::{store::Labels, config::{self, Config}};\n\
         // use crate::http;\n\
         /* crate::service */\n\
         let u = \"http://x\"; let t = crate::timefmt::now_ms();\n\
         use super::super::rules::Rule;\n",
    );
    assert_eq!(crate_roots(&code), ["store", "config", "timefmt"]);
    assert_eq!(super_roots(&code, 2), ["rules"]);
    assert!(super_roots(&code, 3).is_empty());
    assert_eq!(
        module_path(Path::new("alerting/notify/mod.rs")),
        ["alerting", "notify"]
    );
}
