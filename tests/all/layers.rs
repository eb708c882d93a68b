//! The crate's layers import downwards only: no two modules of `src/` need each other, and no
//! two files inside one module do. A circle means neither side can be read, tested or replaced
//! alone (docs/architecture.md, "Layers").
//!
//! Read from the source: `crate::` paths between top-level modules, and `super::` or
//! `crate::module::` paths between the files (or folders) inside one module. Comments are
//! skipped, and so is each file's `#[cfg(test)]` tail: unit tests may reach anywhere. A module's
//! own `mod.rs` is its face (re-exports, the trait its files implement), not one of its files,
//! so paths through it are not counted between files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges of an import graph: from a node to the nodes it imports, each with the files that do.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

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

/// The code of a file without comments and without its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a source file is readable");
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names that follow `prefix` in `code` as paths: `prefix::name`, and each first name of a
/// group `prefix::{a, b::c, ...}`.
fn names_after(code: &str, prefix: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    let pattern = format!("{prefix}::");
    let mut rest = code;
    while let Some(at) = rest.find(&pattern) {
        // `super::` inside `super::super::` is not a sibling; a longer word ending in the
        // prefix (`xcrate::`) is not the prefix.
        let before = rest[..at].chars().last();
        rest = &rest[at + pattern.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(ident(group[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            names.push(ident(group[start..end].trim()));
        } else {
            names.push(ident(rest));
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

/// The position of the brace that closes a group whose opening brace came just before `s`.
fn matching_brace(s: &str) -> usize {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// The import graphs of `src`: between its top-level modules, and between the files of each.
fn graphs(src: &Path) -> (Graph, BTreeMap<String, Graph>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules = Graph::new();
    let mut inside = BTreeMap::<String, Graph>::new();
    for path in &files {
        let parts: Vec<String> = path
            .strip_prefix(src)
            .expect("under src/")
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        let module = parts[0].clone();
        if module == "lib" || module == "main" {
            continue;
        }
        let shown = parts.join("/");
        let code = code(path);
        let add = |graph: &mut Graph, from: &str, to: String| {
            if from != to {
                let edge = graph.entry(from.to_string()).or_default();
                edge.entry(to).or_default().insert(shown.clone());
            }
        };
        for name in names_after(&code, "crate") {
            add(&mut modules, &module, name);
        }
        // Between the files of a module: a file (or folder) directly inside it, not its face.
        let unit = match parts.len() {
            2 if parts[1] != "mod" => parts[1].clone(),
            3.. => parts[1].clone(),
            _ => continue,
        };
        let graph = inside.entry(module.clone()).or_default();
        let siblings = |name: &String| {
            let dir = src.join(&module);
            dir.join(format!("{name}.rs")).is_file() || dir.join(name).is_dir()
        };
        let mut targets = Vec::new();
        if parts.len() == 2 {
            targets.extend(names_after(&code, "super").into_iter().filter(siblings));
        }
        targets.extend(
            names_after(&code, &format!("crate::{module}"))
                .into_iter()
                .filter(siblings),
        );
        for name in targets {
            add(graph, &unit, name);
        }
    }
    (modules, inside)
}

/// The circles of `graph` (its strongly connected parts of more than one node), each sorted.
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|e| e.keys()))
        .collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|&n| (n, reach(n))).collect();
    let mut found = BTreeSet::new();
    for &n in &nodes {
        let circle: Vec<String> = nodes
            .iter()
            .filter(|&&m| reaches[n].contains(m) && reaches[m].contains(n))
            .map(|m| m.to_string())
            .collect();
        if circle.len() > 1 {
            found.insert(circle);
        }
    }
    found.into_iter().collect()
}

/// A circle's edges, with the files that make them, for the failure message.
fn describe(graph: &Graph, circle: &[String]) -> String {
    let mut lines = vec![format!("circle: {}", circle.join(" <-> "))];
    for a in circle {
        for b in circle {
            if let Some(files) = graph.get(a).and_then(|e| e.get(b)) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                lines.push(format!("  {a} -> {b}: {}", files.join(", ")));
            }
        }
    }
    lines.join("\n")
}

#[test]
fn no_two_modules_and_no_two_files_of_a_module_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (modules, inside) = graphs(&src);
    let mut problems: Vec<String> = circles(&modules)
        .iter()
        .map(|c| describe(&modules, c))
        .collect();
    for (module, graph) in &inside {
        for circle in circles(graph) {
            problems.push(format!("inside {module}: {}", describe(graph, &circle)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_finds_paths_and_circles() {
    // The reader itself, on code written for it: a test of a checker that could pass by
    // finding nothing.
    let code = "use crate::{a::X, b, c::{D, E}};\nfn f() { crate::d::g(); super::e::h(); }";
    assert_eq!(names_after(code, "crate"), ["a", "b", "c", "d"]);
    assert_eq!(names_after(code, "super"), ["e"]);
    assert!(names_after("use xcrate::z;", "crate").is_empty());
    let mut graph = Graph::new();
    for (a, b) in [("p", "q"), ("q", "r"), ("r", "p"), ("r", "s")] {
        graph
            .entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
    }
    assert_eq!(circles(&graph), [vec!["p", "q", "r"]]);
    graph.get_mut("r").unwrap().remove("p");
    assert!(circles(&graph).is_empty());
}
