//! The shape of the code (DESIGN §12), kept true by a test: every top-level module of `src/`
//! belongs to a layer and imports only from its own layer or below, and no import circle
//! spans more than three files. Imports are read from the source text: paths from `crate::`,
//! `self::`, `super::` and from a child module of the file (`use writer::...` in `log.rs`), in
//! `use` trees at any depth and inline; comments and (raw) string literals are skipped.

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
            "id",
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
    ("faces", &["cli", "repl", "report", "session", "watch"]),
];

/// Longest import circle allowed, in files.
const MAX_CIRCLE: usize = 3;

/// Circles over [`MAX_CIRCLE`] files tolerated for now. Empty since issue 32 broke the last
/// ({approval, config, tools}, 9 files); a circle that must be tolerated again goes here, and
/// the test fails once it breaks, so the list only shrinks.
const KNOWN_FILE_CIRCLES: &[&[&str]] = &[];

/// Circles between top-level modules tolerated for now, under the same rule. Empty since
/// issue 32 broke {approval, config, model, tools} and {eval, runtime}.
const KNOWN_MODULE_CIRCLES: &[&[&str]] = &[];

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
pub(crate) fn code_of(text: &str) -> String {
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
            // A raw string `r"..."`, `r#"..."#` (or `br...`): its quotes end only with as many `#`s.
            'r' if !out.ends_with(|p: char| p.is_ascii_alphanumeric() || p == '_')
                || (out.ends_with('b')
                    && !out[..out.len() - 1]
                        .ends_with(|p: char| p.is_ascii_alphanumeric() || p == '_')) =>
            {
                let hashes = chars.clone().take_while(|&c| c == '#').count();
                if chars.clone().nth(hashes) != Some('"') {
                    out.push('r');
                    continue;
                }
                for _ in 0..=hashes {
                    chars.next();
                }
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let mut seen = String::new();
                for c in chars.by_ref() {
                    seen.push(c);
                    if seen.ends_with(&close) {
                        break;
                    }
                }
                out.push_str("\"\"");
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

/// Absolute module paths a file's code refers to. A path starts at `crate::`, `self::`,
/// `super::` (repeated: `super::super::x`) or at a child module of the file (`writer::X` in
/// `log.rs`, which declares `mod writer;`); `use` trees are expanded at any depth
/// (`use crate::{a::{b, c}, d}`, `use super::{self, x}`). A path's group is read once, so a
/// name inside it is never taken for a path of its own.
fn references(code: &str, me: &[String], children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let word_end = ident_end(code, i);
        if word_end == i {
            i += code[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let preceded = i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':');
        let word = &code[i..word_end];
        let rooted =
            word == "crate" || word == "self" || word == "super" || children.contains(word);
        if preceded || !rooted || !code[word_end..].starts_with("::") {
            i = word_end;
            continue;
        }
        let (paths, end) = use_tree(code, i);
        for path in paths {
            if let Some(path) = absolute(&path, me) {
                out.push(path);
            }
        }
        i = end.max(word_end);
    }
    out
}

/// `path` (as written in module `me`) from the crate root: `crate`, `self` and `super` words
/// resolved; any other first word is a child module of `me`.
fn absolute(path: &[String], me: &[String]) -> Option<Vec<String>> {
    let mut base = me.to_vec();
    let mut words = path.iter().peekable();
    match words.peek().map(|w| w.as_str()) {
        Some("crate") => {
            base.clear();
            words.next();
        }
        Some("self") => {
            words.next();
        }
        _ => {}
    }
    while words.peek().is_some_and(|w| *w == "super") {
        base.pop()?;
        words.next();
    }
    base.extend(words.cloned());
    (!base.is_empty()).then_some(base)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where the identifier starting at `at` ends (`at` itself when none starts there).
fn ident_end(code: &str, at: usize) -> usize {
    let bytes = code.as_bytes();
    if at > 0 && is_ident(bytes[at - 1]) {
        return at;
    }
    let mut end = at;
    while end < bytes.len() && is_ident(bytes[end]) {
        end += 1;
    }
    end
}

fn skip_space(code: &str, mut at: usize) -> usize {
    while code[at..].starts_with(|c: char| c.is_whitespace()) {
        at += 1;
    }
    at
}

/// The paths of the `use` tree (or plain path) starting at `at`, and where it ends: words
/// joined by `::`, then a `{...}` group of trees, a glob or nothing. A group's `self` stands
/// for the path before it.
fn use_tree(code: &str, at: usize) -> (Vec<Vec<String>>, usize) {
    let mut words = Vec::new();
    let mut at = skip_space(code, at);
    loop {
        let end = ident_end(code, at);
        if end == at {
            break;
        }
        words.push(code[at..end].to_string());
        at = end;
        let next = skip_space(code, at);
        if !code[next..].starts_with("::") {
            break;
        }
        at = skip_space(code, next + 2);
        if code[at..].starts_with('{') {
            let mut paths = Vec::new();
            at += 1;
            loop {
                at = skip_space(code, at);
                if code[at..].starts_with('}') || at >= code.len() {
                    return (paths, (at + 1).min(code.len()));
                }
                let (inner, end) = use_tree(code, at);
                for p in inner {
                    let tail = if p.first().is_some_and(|w| w == "self") {
                        &p[1..]
                    } else {
                        &p[..]
                    };
                    paths.push(words.iter().cloned().chain(tail.iter().cloned()).collect());
                }
                // Past the item and its separator (a glob or anything unread: one character).
                at = if end == at {
                    at + code[at..].chars().next().map_or(1, char::len_utf8)
                } else {
                    skip_space(code, end)
                };
                if code[at..].starts_with(',') {
                    at += 1;
                }
            }
        }
    }
    // `path as alias`: the alias is no path.
    let next = skip_space(code, at);
    if code[next..].starts_with("as") && ident_end(code, next) == next + 2 {
        let alias = skip_space(code, next + 2);
        at = ident_end(code, alias);
    }
    (vec![words], at)
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
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|m| m.len() == me.len() + 1 && m.starts_with(&me))
            .filter_map(|m| m.last().cloned())
            .collect();
        for path in references(&code_of(text), &me, &children) {
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
    let big: Vec<Vec<String>> = strongly_connected(&g.edges)
        .into_iter()
        .filter(|c| c.len() > MAX_CIRCLE)
        .map(|c| c.iter().map(|f| f.display().to_string()).collect())
        .collect();
    let wrong = beyond_known(big, KNOWN_FILE_CIRCLES);
    assert!(
        wrong.is_empty(),
        "import circles of more than {MAX_CIRCLE} files:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_circle_between_modules() {
    let g = graph();
    let top = |f: &PathBuf| PathBuf::from(module_of(f).first().cloned().unwrap_or_default());
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (from, targets) in &g.edges {
        for to in targets.iter().filter(|t| top(t) != top(from)) {
            edges.entry(top(from)).or_default().insert(top(to));
        }
    }
    let circles: Vec<Vec<String>> = strongly_connected(&edges)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.iter().map(|m| m.display().to_string()).collect())
        .collect();
    let wrong = beyond_known(circles, KNOWN_MODULE_CIRCLES);
    assert!(
        wrong.is_empty(),
        "import circles between modules:\n{}",
        wrong.join("\n")
    );
}

/// What is wrong with the circles `found` against the `known` ones: a circle that is no part
/// of a known one (new, or grown), and a known one no longer found (broken: drop its entry).
fn beyond_known(found: Vec<Vec<String>>, known: &[&[&str]]) -> Vec<String> {
    let within = |c: &[String], k: &[&str]| c.iter().all(|x| k.contains(&x.as_str()));
    let mut wrong: Vec<String> = found
        .iter()
        .filter(|c| !known.iter().any(|k| within(c, k)))
        .map(|c| {
            let mut c = c.clone();
            c.sort();
            c.join(" ↔ ")
        })
        .collect();
    wrong.extend(
        known
            .iter()
            .filter(|k| !found.iter().any(|c| within(c, k)))
            .map(|k| {
                format!(
                    "{} is broken: remove it from the known circles",
                    k.join(" ↔ ")
                )
            }),
    );
    wrong
}

#[test]
fn the_checker_sees_imports() {
    // The reader itself: grouped, nested and inline paths; comments and strings ignored.
    let code = code_of(
        "use crate::{call::CallCtx, model};\n// crate::cli::x\nlet s = \"crate::repl\";\nfoo(crate::trace::Kind::Neural);\n",
    );
    let refs = references(&code, &["script".into()], &BTreeSet::new());
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

/// The paths `code` (written in module `me`, with child modules `children`) refers to, as
/// `a::b` strings.
fn refs_of(code: &str, me: &[&str], children: &[&str]) -> Vec<String> {
    let me: Vec<String> = me.iter().map(|s| s.to_string()).collect();
    let children = children.iter().map(|s| s.to_string()).collect();
    references(&code_of(code), &me, &children)
        .iter()
        .map(|p| p.join("::"))
        .collect()
}

#[test]
fn the_checker_reads_child_module_paths() {
    // `log.rs` declares `mod writer;`: `writer::...` is `log::writer`, in `use` and inline.
    assert_eq!(
        refs_of(
            "mod writer;\npub use writer::Closing;\nuse writer::{Batch, End as E};\nlet w = writer::Writer::new();\n",
            &["log"],
            &["writer"],
        ),
        [
            "log::writer::Closing",
            "log::writer::Batch",
            "log::writer::End",
            "log::writer::Writer::new",
        ]
    );
    // A name that is not a child module, or a child's name further along a path, is no root.
    assert_eq!(
        refs_of(
            "use std::io::writer;\nlet x = other::writer::y(); Vec<writer::Row>",
            &["log"],
            &["writer"],
        ),
        ["log::writer::Row"]
    );
}

#[test]
fn the_checker_reads_self_and_super_paths() {
    assert_eq!(
        refs_of(
            "use self::inner::X;\nuse super::chat;\nsuper::super::call::f();\nuse super::{self, writer::{A, B}};\n",
            &["log", "writer"],
            &[],
        ),
        [
            "log::writer::inner::X",
            "log::chat",
            "call::f",
            "log",
            "log::writer::A",
            "log::writer::B",
        ]
    );
    // `super` above the crate root is no path; a `crate::` group nests at any depth.
    assert_eq!(
        refs_of(
            "super::x(); use crate::{a::{b, c::{self, d}}, e::*};",
            &[],
            &[]
        ),
        ["a::b", "a::c", "a::c::d", "e"]
    );
}

#[test]
fn the_checker_skips_raw_strings() {
    assert_eq!(
        refs_of(
            "let s = r#\"a \"quote\" writer::x\"#; let t = br\"crate::y\"; crate::z::f();",
            &["log"],
            &["writer"],
        ),
        ["z::f"]
    );
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

#[test]
fn known_circles_may_shrink_but_not_grow_or_linger() {
    let c = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let known: &[&[&str]] = &[&["a", "b", "c", "d"], &["x", "y"]];
    assert!(beyond_known(vec![c(&["b", "a", "c"]), c(&["x", "y"])], known).is_empty());
    assert_eq!(
        beyond_known(vec![c(&["a", "b", "e"]), c(&["x", "y"])], known),
        [
            "a ↔ b ↔ e",
            "a ↔ b ↔ c ↔ d is broken: remove it from the known circles"
        ]
    );
}
