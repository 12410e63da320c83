//! The layers of `src/`, read from the code: every `crate::` path a file names points at
//! a module on its own floor or below, and the modules of one floor do not import each
//! other in a circle. A new top-level module must be given a floor here. No file of
//! `src/` is over 700 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Floors from the bottom up. A module may use modules on its own floor or lower.
const FLOORS: &[(&str, &[&str])] = &[
    ("words both builds share", &["model", "error"]),
    ("storage", &["store", "files"]),
    ("protocol and fan-out", &["whatsapp", "realtime"]),
    ("configuration", &["config"]),
    ("the Cloud API stand-in", &["simulator"]),
    ("shared state, errors, the caller", &["context"]),
    (
        "services",
        &[
            "audit", "accounts", "outbound", "media", "uploads", "workflow", "jobs", "canned",
            "webhooks", "exports",
        ],
    ),
    ("HTTP adapters", &["http", "api"]),
    ("the browser app", &["ui", "app"]),
    ("wiring", &["server", "lib", "main"]),
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/store/mongo.rs` → `store`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let first = rel.components().next().expect("a path with a first part");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The top-level modules named by `crate::x…` and `crate::{x…, y…}` in `code`, comments
/// left out.
fn modules_named(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            // `$crate::` and `some_crate::` are other crates' paths.
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                found.extend(group_heads(group));
            } else {
                found.insert(ident(rest));
            }
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// The first identifier of each top-level item of a `{a::b, c, d::{e, f}}` group.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![ident(group.trim_start())];
    let mut depth = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(ident(group[i + 1..].trim_start())),
            _ => {}
        }
    }
    heads
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Module → the other modules its files name.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        let code = std::fs::read_to_string(&file).expect("a readable source file");
        let named = modules_named(&code);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(named.into_iter().filter(|m| *m != module));
    }
    graph
}

/// A file a reader can hold: past this, split it by concept (issue "One architecture step").
const MAX_LINES: usize = 700;

#[test]
fn no_source_file_is_over_700_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f)
                .expect("a readable file")
                .lines()
                .count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn every_module_of_src_has_a_floor() {
    let unplaced: Vec<String> = imports()
        .into_keys()
        .filter(|m| floor_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a floor in tests/it/layers.rs: {unplaced:?}"
    );
}

#[test]
fn no_module_imports_a_module_on_a_higher_floor() {
    let mut upward = Vec::new();
    for (module, uses) in imports() {
        let Some(floor) = floor_of(&module) else {
            continue;
        };
        for used in uses {
            match floor_of(&used) {
                Some(f) if f > floor => upward.push(format!(
                    "{module} ({}) -> {used} ({})",
                    FLOORS[floor].0, FLOORS[f].0
                )),
                _ => {}
            }
        }
    }
    assert!(upward.is_empty(), "arrows pointing up: {upward:#?}");
}

#[test]
fn the_modules_import_each_other_in_no_circle() {
    let graph = imports();
    // Depth-first search; a module met again while still on the path closes a circle.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        circles: &mut Vec<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| *p == m) {
            circles.push(format!("{} -> {m}", path[at..].join(" -> ")));
            return;
        }
        path.push(m);
        for next in graph.get(m).into_iter().flatten() {
            if graph.contains_key(next) {
                visit(next, graph, path, done, circles);
            }
        }
        path.pop();
        done.insert(m);
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "circles: {circles:#?}");
}

#[test]
fn crate_paths_are_read_from_uses_groups_and_expressions() {
    let code = "use crate::store::{DynStore, now_ms};\n\
                use crate::{model::Message, files::{self, DynFiles}, realtime};\n\
                let x = crate::jobs::start(s); // crate::ui is only a comment\n\
                serde_crate::x(); $crate::y();";
    let named: Vec<String> = modules_named(code).into_iter().collect();
    assert_eq!(named, ["files", "jobs", "model", "realtime", "store"]);
}
