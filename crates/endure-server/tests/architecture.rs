//! Checks of the code's shape that the compiler does not make:
//!
//! - inside every crate of the workspace, `use crate::…` / `super::…` references between
//!   sibling modules never close a cycle (imports point one way; ARCHITECTURE.md draws the
//!   layers). A reference from a module to its own ancestor or descendant is not an edge: a
//!   folder's `mod.rs` declares and re-exports its children, and children use its items. Unit
//!   tests (from a file's `#[cfg(test)]` on) are not part of the layering: a test of a lower
//!   module may drive it through upper ones.
//! - in this crate, only `clock.rs` reads the time, only `ids.rs` makes ids, and only `error.rs`
//!   makes gRPC statuses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// A reference from one module to another, with where it was seen.
struct Edge {
    from: Module,
    to: Module,
    at: String,
}

fn workspace_crates() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .expect("the workspace's crates directory")
        .filter_map(|e| e.ok().map(|e| e.path().join("src")))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("a source directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module a file defines: `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs`, `main.rs` the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("a file under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths following `prefix` (`crate::` or `super::`) on a line: `a::b::C` gives
/// `[a, b, C]`; a braced group `{a::x, b}` gives one path per item.
fn paths_after(line: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find(prefix) {
        let before_ok = rest[..i].chars().last().is_none_or(|c| !is_ident_char(c) && c != ':');
        let after = &rest[i + prefix.len()..];
        rest = after;
        if !before_ok {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                out.push(segments(item.trim()));
            }
        } else {
            out.push(segments(after));
        }
    }
    out
}

fn segments(text: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut rest = text;
    loop {
        let len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        segs.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(r) if !r.starts_with('{') => rest = r,
            _ => break,
        }
    }
    segs
}

/// The longest prefix of `path` (under `base`) that names a module of the crate.
fn resolve(modules: &BTreeSet<Module>, base: &Module, path: &[String]) -> Module {
    let mut best = base.clone();
    let mut m = base.clone();
    for seg in path {
        m.push(seg.clone());
        if modules.contains(&m) {
            best = m.clone();
        } else {
            break;
        }
    }
    best
}

fn edges_of_crate(src: &Path) -> Vec<Edge> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges = Vec::new();
    for file in &files {
        let from = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let is_folder_root =
            file.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        // `super` of a plain file `a/b.rs` is `a`; of `a/b/mod.rs` also `a` (the module is `a::b`).
        let parent: Module = if is_folder_root || from.is_empty() {
            from.iter().take(from.len().saturating_sub(1)).cloned().collect()
        } else {
            from[..from.len() - 1].to_vec()
        };
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            let at = format!("{}:{}", file.display(), n + 1);
            for path in paths_after(line, "crate::") {
                let to = resolve(&modules, &Vec::new(), &path);
                edges.push(Edge { from: from.clone(), to, at: at.clone() });
            }
            for path in paths_after(line, "super::") {
                let to = resolve(&modules, &parent, &path);
                edges.push(Edge { from: from.clone(), to, at: at.clone() });
            }
        }
    }
    edges
}

/// The edge between the two siblings under the common ancestor of `from` and `to`; none when one
/// contains the other.
fn sibling_edge(from: &Module, to: &Module) -> Option<(Module, String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..common].to_vec(), from[common].clone(), to[common].clone()))
}

/// Every cycle among siblings, as `parent: a -> b -> … -> a` with the lines of its edges.
fn cycles(edges: &[Edge]) -> Vec<String> {
    let mut graph: BTreeMap<Module, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
    for e in edges {
        if let Some((parent, a, b)) = sibling_edge(&e.from, &e.to) {
            graph.entry(parent).or_default().entry(a).or_default().entry(b).or_insert_with(|| e.at.clone());
        }
    }
    let mut found = Vec::new();
    for (parent, g) in &graph {
        // Depth-first search for a back edge; report the cycle it closes.
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            n: &'a str,
            g: &'a BTreeMap<String, BTreeMap<String, String>>,
            state: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
            found: &mut Vec<Vec<String>>,
        ) {
            state.insert(n, 1);
            stack.push(n);
            for next in g.get(n).into_iter().flat_map(|m| m.keys()) {
                match state.get(next.as_str()) {
                    Some(1) => {
                        let start = stack.iter().position(|s| *s == next).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                        cycle.push(next.clone());
                        found.push(cycle);
                    }
                    Some(_) => {}
                    None => visit(next, g, state, stack, found),
                }
            }
            stack.pop();
            state.insert(n, 2);
        }
        let mut raw = Vec::new();
        for n in g.keys() {
            if !state.contains_key(n.as_str()) {
                visit(n, g, &mut state, &mut Vec::new(), &mut raw);
            }
        }
        for cycle in raw {
            let lines: Vec<String> =
                cycle.windows(2).map(|w| format!("    {} -> {}: {}", w[0], w[1], g[&w[0]][&w[1]])).collect();
            found.push(format!("in `{}`: {}\n{}", parent.join("::"), cycle.join(" -> "), lines.join("\n")));
        }
    }
    found
}

#[test]
fn imports_between_modules_point_one_way_in_every_crate() {
    let mut problems = Vec::new();
    for src in workspace_crates() {
        problems.extend(cycles(&edges_of_crate(&src)).into_iter().map(|c| format!("{}: {c}", src.display())));
    }
    assert!(problems.is_empty(), "import cycles between modules:\n{}", problems.join("\n"));
}

#[test]
fn the_cycle_check_sees_cycles() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    let edge = |from: &str, to: &str| Edge { from: m(from), to: m(to), at: format!("{from}.rs") };
    // Parent and child references are not edges; a cycle through siblings of a folder is found.
    let ok = [edge("a", "a::b"), edge("a::b", "a"), edge("x", "a::b"), edge("a::b", "c")];
    assert!(cycles(&ok).is_empty());
    let bad = [edge("a::b", "a::c::d"), edge("a::c", "a::e"), edge("a::e::f", "a::b")];
    let found = cycles(&bad);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("in `a`: b -> c -> e -> b"), "{}", found[0]);
    assert_eq!(paths_after("use crate::{a::b, c};", "crate::"), vec![vec!["a", "b"], vec!["c"]]);
    assert_eq!(paths_after("x(crate::a::B::new())", "crate::"), vec![vec!["a", "B", "new"]]);
    assert!(paths_after("endure_crate::a", "crate::").is_empty());
}

/// Lines of this crate's sources, outside `except`, that contain one of `needles`.
fn uses_outside(except: &str, needles: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with(except)) {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_clock_reads_the_time() {
    let found = uses_outside(
        "clock.rs",
        &["SystemTime::now", "Instant::now", "Utc::now", "Local::now", ".elapsed()"],
    );
    assert!(found.is_empty(), "time read outside clock.rs (use crate::clock):\n{}", found.join("\n"));
}

#[test]
fn only_ids_rs_makes_ids() {
    let found = uses_outside("ids.rs", &["new_v4", "new_v7", "Uuid::now_v7", "rand::"]);
    assert!(found.is_empty(), "an id made outside ids.rs (use crate::ids::Ids):\n{}", found.join("\n"));
}

#[test]
fn only_error_rs_makes_grpc_statuses() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("error.rs")) {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let mut rest = code;
            while let Some(i) = rest.find("Status::") {
                let after = &rest[i + "Status::".len()..];
                let name: String = after.chars().take_while(|c| is_ident_char(*c)).collect();
                let is_call = after[name.len()..].starts_with('(');
                let before = rest[..i].chars().last();
                // `tonic::Status::x(` or `Status::x(`, but not an enum's `WorkflowExecutionStatus::`.
                if is_call && name != "from" && before.is_none_or(|c| !is_ident_char(c)) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
                rest = after;
            }
        }
    }
    assert!(
        found.is_empty(),
        "gRPC status made outside error.rs (return an ApiError):\n{}",
        found.join("\n")
    );
}
