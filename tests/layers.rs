//! The shape of the code (DESIGN §12), kept true by a test: every top-level module of `src/`
//! belongs to a layer and imports only from its own layer or below, and no import circle
//! spans more than three files. Imports are read from the source text: `use crate::...`
//! (grouped forms included), inline `crate::a::b` paths and `super::` paths; comments and
//! string literals are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may import from its own layer and the ones before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "atomic",
            "cancel",
            "env_vars",
            "error",
            "interrupt",
            "output",
            "suggest",
            "sync",
        ],
    ),
    (
        "pure parts",
        &[
            "approval", "call", "compare", "config", "fanout", "log", "mcp", "model", "schema",
            "settings", "stats", "tools", "trace",
        ],
    ),
    (
        "file formats, engine, project",
        &["project", "script", "worker"],
    ),
    ("runtime", &["eval", "runtime", "shadow"]),
    ("faces", &["cli", "repl", "report", "watch"]),
];

/// Longest import circle allowed, in files.
const MAX_CIRCLE: usize = 3;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// Every `.rs` file under `src/`, relative to it.
fn files() -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(&src(), &src(), &mut out);
    out.sort();
    out
}

/// The module path of a file: `runtime/seam.rs` → `[runtime, seam]`, `cli/mod.rs` → `[cli]`.
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        parts.pop();
    }
    parts
}

/// The source without comments and string literals (so paths in docs and messages are not
/// taken for imports).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal like '"' would open a string above; skip simple ones whole.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\"'") || rest.starts_with("\\\"'") {
                    for _ in 0..rest.find('\'').unwrap_or(0) + 1 {
                        chars.next();
                    }
                }
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out
}

/// Module paths a file's code refers to: `crate::a::b` and `super::x` paths, with grouped
/// `use` trees expanded one level (`use crate::{a::b, c}`).
fn references(code: &str, me: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (start, prefix) in code
        .match_indices("crate::")
        .map(|(i, _)| (i, "crate"))
        .chain(code.match_indices("super::").map(|(i, _)| (i, "super")))
    {
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let base: Vec<String> = if prefix == "crate" {
            Vec::new()
        } else {
            // The parent module (`a/mod.rs` is module `a`, so its `super` is the crate root).
            me[..me.len().saturating_sub(1)].to_vec()
        };
        let rest = &code[start + prefix.len() + 2..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let path = path_words(item.trim());
                if !path.is_empty() {
                    out.push(base.iter().cloned().chain(path).collect());
                }
            }
        } else {
            let path = path_words(rest);
            if !path.is_empty() {
                out.push(base.into_iter().chain(path).collect());
            }
        }
    }
    out
}

/// The leading `a::b::c` words of `text` (stopping at a group, a glob or anything else).
fn path_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        words.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    words
}

/// The file defining the longest prefix of `path` that is a module, if any.
fn file_for(path: &[String], modules: &BTreeMap<Vec<String>, PathBuf>) -> Option<PathBuf> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n].to_vec()).cloned())
}

struct Graph {
    /// File → files it imports.
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    /// (file, top-level module it imports) pairs.
    top: Vec<(PathBuf, String)>,
}

fn graph() -> Graph {
    let files = files();
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(f), f.clone()))
        .filter(|(m, _)| !m.is_empty())
        .collect();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let mut top = Vec::new();
    for file in &files {
        // Unit-test files (`tests.rs`, `*_tests.rs`) may reach anywhere.
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem == "tests" || stem.ends_with("_tests") {
            continue;
        }
        let me = module_of(file);
        let text = std::fs::read_to_string(src().join(file)).unwrap();
        // Unit tests (`#[cfg(test)] mod tests { ... }` at the end) may reach anywhere.
        let text = text.split("#[cfg(test)]").next().unwrap_or(&text);
        for path in references(&code_of(text), &me) {
            if let Some(first) = path.first() {
                top.push((file.clone(), first.clone()));
            }
            if let Some(target) = file_for(&path, &modules)
                && &target != file
            {
                edges.entry(file.clone()).or_default().insert(target);
            }
        }
    }
    Graph { edges, top }
}

#[test]
fn every_module_has_a_layer() {
    let mut missing = BTreeSet::new();
    for file in files() {
        if let Some(first) = module_of(&file).first()
            && layer_of(first).is_none()
        {
            missing.insert(first.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a layer in tests/layers.rs: {missing:?}"
    );
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let g = graph();
    let mut wrong = Vec::new();
    for (file, target) in &g.top {
        let Some(mine) = module_of(file).first().and_then(|m| layer_of(m)) else {
            continue;
        };
        if let Some(theirs) = layer_of(target)
            && theirs > mine
        {
            wrong.push(format!(
                "{} ({}) imports `{target}` ({})",
                file.display(),
                LAYERS[mine].0,
                LAYERS[theirs].0
            ));
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports from a higher layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_circle_spans_more_than_three_files() {
    let g = graph();
    let big: Vec<Vec<PathBuf>> = strongly_connected(&g.edges)
        .into_iter()
        .filter(|c| c.len() > MAX_CIRCLE)
        .collect();
    assert!(
        big.is_empty(),
        "import circles of more than {MAX_CIRCLE} files:\n{}",
        big.iter()
            .map(|c| c
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" ↔ "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    // The reader itself: grouped, nested and inline paths; comments and strings ignored.
    let code = code_of(
        "use crate::{call::CallCtx, model};\n// crate::cli::x\nlet s = \"crate::repl\";\nfoo(crate::trace::Kind::Neural);\n",
    );
    let refs = references(&code, &["script".into()]);
    let firsts: Vec<&str> = refs.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(firsts, vec!["call", "model", "trace"]);
    // And the circle finder finds a circle of four.
    let p = |s: &str| PathBuf::from(s);
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("d", "e")] {
        edges.entry(p(a)).or_default().insert(p(b));
    }
    let sizes: Vec<usize> = strongly_connected(&edges).iter().map(Vec::len).collect();
    assert!(sizes.contains(&4), "{sizes:?}");
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.edges.get(v) {
            for w in next {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            s.out.push(comp);
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}
