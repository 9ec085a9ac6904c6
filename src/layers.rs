//! The layers of the crate's modules, and the test that holds them.
//!
//! A module uses only modules of its own layer or below, and the module
//! graph has no cycle. docs/architecture.md shows the same table. The
//! test reads `src/**/*.rs` (test code left out) and finds each
//! `crate::<module>` a top-level module names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "error",
            "exit",
            "clock",
            "timestamp",
            "hashing",
            "sanitize",
            "interrupt",
            "failpoint",
            "text",
            "progress",
            "lock",
        ],
    ),
    ("model", &["entry", "export", "profile", "source", "ledger"]),
    ("store", &["archive"]),
    (
        "reading",
        &[
            "cadence",
            "config",
            "fetch",
            "receipt",
            "search",
            "transcript",
        ],
    ),
    ("rules", &["retention"]),
    ("session", &["writer"]),
    ("work", &["ingest", "produce", "request", "verify"]),
    ("interface", &["cli", "cmd"]),
];

/// Each top-level module and the top-level modules its code names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let top = |p: &Path| {
        let rel = p.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = all.iter().map(|p| top(p)).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &all {
        let m = top(p);
        let text = std::fs::read_to_string(p).unwrap();
        // Tests may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut names = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(
                    group
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or("").to_owned()),
                );
            } else {
                names.insert(
                    rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                );
            }
        }
        let deps = g.entry(m.clone()).or_default();
        deps.extend(names.into_iter().filter(|n| *n != m && modules.contains(n)));
    }
    g
}

#[test]
fn modules_form_layers_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let layer_of = |m: &str| LAYERS.iter().position(|(_, ms)| ms.contains(&m));
    let mut wrong = Vec::new();
    for (m, deps) in &g {
        if matches!(m.as_str(), "lib" | "main" | "layers") {
            continue;
        }
        let Some(l) = layer_of(m) else {
            wrong.push(format!(
                "{m} is in no layer: add it to LAYERS and docs/architecture.md"
            ));
            continue;
        };
        for d in deps {
            match layer_of(d) {
                Some(dl) if dl <= l => {}
                _ => wrong.push(format!(
                    "{m} ({}) uses {d} ({}), a layer above it",
                    LAYERS[l].0,
                    layer_of(d).map_or("no layer", |dl| LAYERS[dl].0)
                )),
            }
        }
    }
    // No cycle, within a layer either: a depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        wrong: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == m) {
            wrong.push(format!("cycle: {} -> {m}", path[i..].join(" -> ")));
            return;
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for d in g.get(m).into_iter().flatten() {
            visit(d, g, path, done, wrong);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(m, &g, &mut Vec::new(), &mut done, &mut wrong);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
