//! The shared crate's layout, as rules the tree must keep (issue: "laid out by capability").
//!
//! - `shared/src` holds `lib.rs` and folders only: `platform/` and one folder per capability;
//! - the platform imports no capability;
//! - a capability imports another only along an edge drawn in `docs/architecture.md`
//!   (the fenced block after "Capability dependencies"), and every drawn edge exists;
//! - no two files import each other, directly or around a loop (test-only modules aside).
//!
//! Imports are read from the source text: every path that starts with `crate::`, `super::`
//! or `self::` (grouped `use` trees included) is resolved against the file's own module path,
//! and a `mod x;` declaration counts as the parent using the child. Comment lines are
//! skipped. This reads Rust paths, not Rust: a hand-rolled scanner is enough because the
//! rules are about which module names appear, and `syn` would be a heavy dependency for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PLATFORM: &str = "platform";
const CAPABILITIES: &[&str] = &["sessions", "chat", "commerce", "wallets", "tone", "payments", "sms"];

/// A source file and the module path it defines (`platform/identity/mod.rs` → `platform::identity`).
struct SourceFile {
    rel: String,
    module: Vec<String>,
    text: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read_tree(root: &Path) -> Vec<SourceFile> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<SourceFile>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                let mut module: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
                if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                    module.pop();
                }
                out.push(SourceFile { rel, module, text: std::fs::read_to_string(&path).unwrap() });
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// The code of a file without its comment lines (doc comments name modules in prose) and
/// without an inline `#[cfg(test)] mod tests { … }` at its end (tests may use anything).
fn code_lines(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every path a `use` tree or an inline path spells, from each `crate::`/`super::`/`self::`,
/// each with the inline modules (`mod name { … }`) it sits in.
fn paths_in(code: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            _ => {}
        }
        if at_word_start && bytes[i..].starts_with(b"mod ") {
            let rest = &code[i + 4..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if rest[name.len()..].trim_start().starts_with('{') {
                inline.push((name, depth));
            }
        }
        let starts = ["crate::", "super::", "self::"].iter().find(|p| bytes[i..].starts_with(p.as_bytes()));
        match starts {
            Some(prefix) if at_word_start => {
                let head = prefix.trim_end_matches("::").to_owned();
                let (paths, end) = parse_tree(code, i + prefix.len(), vec![head]);
                let scope: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                out.extend(paths.into_iter().map(|p| (scope.clone(), p)));
                // The tree's own braces are balanced and not a module body.
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` from `pos`, with `prefix` already read; returns the full paths
/// and where the tree ends.
fn parse_tree(code: &str, mut pos: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let skip_ws = |mut p: usize| {
        while p < bytes.len() && bytes[p].is_ascii_whitespace() {
            p += 1;
        }
        p
    };
    loop {
        pos = skip_ws(pos);
        if pos < bytes.len() && bytes[pos] == b'{' {
            let mut paths = Vec::new();
            pos += 1;
            loop {
                pos = skip_ws(pos);
                if pos >= bytes.len() {
                    return (paths, pos);
                }
                if bytes[pos] == b'}' {
                    return (paths, pos + 1);
                }
                if bytes[pos] == b',' {
                    pos += 1;
                    continue;
                }
                let (sub, end) = parse_tree(code, pos, prefix.clone());
                paths.extend(sub);
                pos = end.max(pos + 1);
            }
        }
        let start = pos;
        while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_' || bytes[pos] == b'*') {
            pos += 1;
        }
        if pos > start {
            prefix.push(code[start..pos].to_owned());
        }
        if bytes[pos..].starts_with(b"::") && pos > start {
            pos += 2;
            continue;
        }
        return (vec![prefix], pos);
    }
}

/// A path, written inside the inline modules `scope` of `file`, as an absolute module path
/// (`crate` dropped).
fn resolve(file: &SourceFile, scope: &[String], path: &[String]) -> Vec<String> {
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") | Some("super") => {
            base = file.module.clone();
            base.extend(scope.iter().cloned());
            // A `mod.rs` is its folder's module; `self` is that module, `super` its parent.
            while let Some(seg) = rest.first() {
                match seg.as_str() {
                    "self" => rest = &rest[1..],
                    "super" => {
                        base.pop();
                        rest = &rest[1..];
                    }
                    _ => break,
                }
            }
        }
        _ => {}
    }
    base.extend(rest.iter().cloned());
    base
}

/// `mod x;` declarations (not inline `mod x { … }`), with whether they are `#[cfg(test)]`.
fn child_modules(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut test_only = false;
    for line in text.lines().map(str::trim) {
        if line == "#[cfg(test)]" {
            test_only = true;
            continue;
        }
        let decl = line.strip_prefix("pub ").or_else(|| line.strip_prefix("pub(crate) ")).unwrap_or(line);
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            out.push((name.trim().to_owned(), test_only));
        }
        test_only = false;
    }
    out
}

/// The file (by module path) a resolved path lands in: its longest prefix that is a file.
fn owner<'a>(modules: &'a BTreeMap<Vec<String>, usize>, path: &[String]) -> Option<&'a usize> {
    (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
}

struct Graph {
    files: Vec<SourceFile>,
    /// file index → the file indexes it uses (test-only modules excluded)
    edges: BTreeMap<usize, BTreeSet<usize>>,
    /// file index → top-level modules its paths reach
    reaches: BTreeMap<usize, BTreeSet<String>>,
}

fn graph(root: &Path) -> Graph {
    let files = read_tree(root);
    let modules: BTreeMap<Vec<String>, usize> = files.iter().enumerate().map(|(i, f)| (f.module.clone(), i)).collect();
    let test_only: BTreeSet<usize> = files
        .iter()
        .flat_map(|f| {
            child_modules(&f.text).into_iter().filter(|(_, t)| *t).filter_map(|(name, _)| {
                let mut m = f.module.clone();
                m.push(name);
                modules.get(&m).copied()
            })
        })
        .collect();
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut reaches: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        if test_only.contains(&i) {
            continue;
        }
        let code = code_lines(&file.text);
        for (scope, path) in paths_in(&code) {
            let abs = resolve(file, &scope, &path);
            if let Some(top) = abs.first() {
                reaches.entry(i).or_default().insert(top.clone());
            }
            if let Some(&j) = owner(&modules, &abs)
                && j != i
                && !test_only.contains(&j)
            {
                edges.entry(i).or_default().insert(j);
            }
        }
        for (name, is_test) in child_modules(&file.text) {
            let mut m = file.module.clone();
            m.push(name);
            if let Some(&j) = modules.get(&m)
                && !is_test
            {
                edges.entry(i).or_default().insert(j);
            }
        }
    }
    Graph { files, edges, reaches }
}

/// The capability edges `docs/architecture.md` draws: lines `a → b` in the fenced block
/// that follows the "Capability dependencies" heading.
fn documented_edges() -> BTreeSet<(String, String)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md")).unwrap();
    let section = doc.split("### Capability dependencies").nth(1).expect("docs/architecture.md has the section");
    let block = section.split("```").nth(1).expect("a fenced block follows the heading");
    block
        .lines()
        .filter_map(|l| l.split_once('→'))
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .filter(|(a, b)| CAPABILITIES.contains(&a.as_str()) && CAPABILITIES.contains(&b.as_str()))
        .collect()
}

fn capability_of(file: &SourceFile) -> Option<&str> {
    file.module.first().map(String::as_str).filter(|m| CAPABILITIES.contains(m))
}

/// Loops among files, each as the list of files around it.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    // Tarjan would do; the tree is small, so: a loop exists through `a` when `a` reaches itself.
    let mut found = BTreeSet::new();
    for &start in g.edges.keys() {
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for &next in g.edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut names: Vec<String> = trail.iter().map(|&k| g.files[k].rel.clone()).collect();
                    let min = names.iter().enumerate().min_by_key(|(_, n)| (*n).clone()).map(|(k, _)| k).unwrap();
                    names.rotate_left(min);
                    found.insert(names);
                } else if seen.insert(next) {
                    let mut t = trail.clone();
                    t.push(next);
                    stack.push((next, t));
                }
            }
        }
    }
    found.into_iter().collect()
}

#[test]
fn the_crate_root_holds_only_lib_rs_and_the_layer_folders() {
    // GIVEN the top level of shared/src
    let mut names: Vec<String> =
        std::fs::read_dir(src_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    // THEN it is lib.rs (a prelude at most) and one folder per layer, each known here
    for name in &names {
        let path = src_dir().join(name);
        if path.is_dir() {
            assert!(
                name == PLATFORM || CAPABILITIES.contains(&name.as_str()),
                "shared/src/{name}/ is neither platform/ nor a listed capability: add it to CAPABILITIES here and to docs/architecture.md"
            );
        } else {
            assert!(
                name == "lib.rs" || name == "prelude.rs",
                "shared/src/{name} sits at the crate root; move it into platform/ or a capability folder"
            );
        }
    }
    assert!(names.contains(&PLATFORM.to_owned()));
}

#[test]
fn the_platform_imports_no_capability() {
    // GIVEN every file under shared/src/platform
    let g = graph(&src_dir());
    let mut offenders = Vec::new();
    for (i, file) in g.files.iter().enumerate().filter(|(_, f)| f.module.first().is_some_and(|m| m == PLATFORM)) {
        // THEN none of its paths reaches a capability module
        for top in g.reaches.get(&i).into_iter().flatten() {
            if CAPABILITIES.contains(&top.as_str()) {
                offenders.push(format!("{} uses crate::{top}", file.rel));
            }
        }
    }
    assert!(offenders.is_empty(), "the platform must not know the product:\n{}", offenders.join("\n"));
}

#[test]
fn capabilities_depend_on_each_other_only_as_documented() {
    // GIVEN the capability edges the code has and the ones docs/architecture.md draws
    let g = graph(&src_dir());
    let mut actual: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, file) in g.files.iter().enumerate() {
        let Some(from) = capability_of(file) else { continue };
        for top in g.reaches.get(&i).into_iter().flatten() {
            if top != from && CAPABILITIES.contains(&top.as_str()) {
                actual.entry((from.to_owned(), top.clone())).or_insert_with(|| file.rel.clone());
            }
        }
    }
    let documented = documented_edges();
    // THEN they are the same set
    let undocumented: Vec<String> = actual
        .iter()
        .filter(|(edge, _)| !documented.contains(*edge))
        .map(|((a, b), file)| format!("{a} → {b} (first in {file})"))
        .collect();
    let missing: Vec<String> =
        documented.iter().filter(|e| !actual.contains_key(*e)).map(|(a, b)| format!("{a} → {b}")).collect();
    assert!(
        undocumented.is_empty(),
        "capability edges not drawn in docs/architecture.md:\n{}",
        undocumented.join("\n")
    );
    assert!(missing.is_empty(), "docs/architecture.md draws edges the code no longer has:\n{}", missing.join("\n"));
}

#[test]
fn no_file_imports_another_that_imports_it_back() {
    // GIVEN the file-level import graph (test-only modules aside)
    let g = graph(&src_dir());
    // THEN it has no loop — in particular the tone analyzer's layers point one way
    let loops = cycles(&g);
    assert!(loops.is_empty(), "import loops:\n{}", loops.iter().map(|l| l.join(" → ")).collect::<Vec<_>>().join("\n"));
}

#[test]
fn the_scanner_reads_grouped_use_trees_and_relative_paths() {
    // GIVEN a file in platform/ with grouped, nested and relative imports
    let file = SourceFile {
        rel: "platform/x/y.rs".into(),
        module: vec!["platform".into(), "x".into(), "y".into()],
        text: String::new(),
    };
    let code = "use crate::{platform::db::{Tx, Type}, chat};\nuse super::super::super::tone::analyze;\nlet a = self::z::w;\n\
                pub mod inner { fn f() { super::super::q(); } }\nuse super::r;";
    // WHEN its paths are read and resolved
    let resolved: Vec<Vec<String>> = paths_in(code).iter().map(|(scope, p)| resolve(&file, scope, p)).collect();
    let tops: BTreeSet<&str> = resolved.iter().filter_map(|p| p.first().map(String::as_str)).collect();
    // THEN every capability it names is seen, however it is spelled
    assert!(tops.contains("chat"), "{resolved:?}");
    assert!(tops.contains("tone"), "{resolved:?}");
    assert!(resolved.contains(&vec!["platform".into(), "db".into(), "Tx".into()]), "{resolved:?}");
    assert!(
        resolved.contains(&vec!["platform".into(), "x".into(), "y".into(), "z".into(), "w".into()]),
        "{resolved:?}"
    );
    // AND a path inside an inline module resolves from that module; after it, from the file
    assert!(resolved.contains(&vec!["platform".into(), "x".into(), "q".into()]), "{resolved:?}");
    assert!(resolved.contains(&vec!["platform".into(), "x".into(), "r".into()]), "{resolved:?}");
}
