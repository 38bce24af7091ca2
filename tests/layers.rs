//! The layers of ARCHITECTURE.md hold: every module of `src/` uses only modules of lower
//! layers (or its own), so the arrows of the code map point one way. Read from the sources:
//! each `crate::<module>` path outside comments and test modules is a use of that module.

use std::collections::BTreeMap;

use crate::support::repo_root;

/// Bottom to top. A module may use modules of its own layer only where listed in `SIDEWAYS`.
const LAYERS: &[&[&str]] = &[
    &["span", "rules", "suggest", "timing", "progress"],
    &["problem"],
    &["model"],
    &["yaml"],
    &["load", "policy"],
    &["validate"],
    &["warm", "diff"],
    &["authz"],
    &["compat"],
    &["verdict"],
    &["check"],
    &["report"],
    &["forge", "queue"],
    &["service"],
    &["generate", "schema", "export", "hook"],
    &["cli"],
];

/// Uses within one layer that are allowed: (user, used).
const SIDEWAYS: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The crate's top-level modules each file of `src/` uses, by the file's own top-level module.
fn uses() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let src = repo_root().join("src");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may reach anywhere; only the code under test counts.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for line in code.lines() {
                let line = line.split("//").next().unwrap();
                for (at, _) in line.match_indices("crate::") {
                    let used: String =
                        line[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !used.is_empty() && used != module {
                        out.entry(module.clone()).or_default().entry(used).or_insert_with(|| rel.clone());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_lower_layers() {
    let mut wrong = Vec::new();
    for (module, used) in uses() {
        let Some(own) = layer_of(&module) else {
            wrong.push(format!("module `{module}` is in no layer of tests/layers.rs"));
            continue;
        };
        for (target, file) in used {
            match layer_of(&target) {
                None => wrong.push(format!("{file}: `{target}` is in no layer")),
                Some(layer) if layer > own => wrong.push(format!("{file}: `{module}` uses `{target}`, a higher layer")),
                Some(layer) if layer == own && !SIDEWAYS.contains(&(module.as_str(), target.as_str())) => {
                    wrong.push(format!("{file}: `{module}` uses `{target}` of its own layer"))
                }
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_engine_knows_nothing_of_forges_http_or_the_queue() {
    let engine_top = layer_of("check").unwrap();
    for (module, used) in uses() {
        if layer_of(&module).is_some_and(|l| l <= engine_top) {
            for forbidden in ["forge", "queue", "service", "report", "cli"] {
                assert!(!used.contains_key(forbidden), "`{module}` uses `{forbidden}`");
            }
        }
    }
    // Nor of the crates those need.
    for file in ["src/check.rs", "src/load/mod.rs", "src/validate/mod.rs", "src/compat/mod.rs", "src/authz/mod.rs"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        for crate_name in ["tokio", "axum", "reqwest", "octocrab", "rusqlite", "tokio_postgres", "hyper"] {
            assert!(!text.contains(&format!("{crate_name}::")), "{file} uses {crate_name}");
        }
    }
}
