//! Rules are data: every rule in the registry has a policy-pack entry, a docs page with the
//! fixed headings, and at least one fixture that fails if the rule is removed.

use datasurface::rules::Rule;

use crate::support::{fixture, repo_root};

#[test]
fn every_rule_has_a_docs_page() {
    for rule in Rule::ALL {
        let path = repo_root().join(rule.docs_path());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
        assert!(text.starts_with(&format!("# {}\n", rule.id())), "{}: title", rule.id());
        for heading in ["## What it does", "## Why", "## Example", "## How to fix"] {
            assert!(text.contains(heading), "{}: missing `{heading}`", rule.id());
        }
        assert!(
            text.contains(&format!("Default severity: **{}**", rule.default_severity())),
            "{}: severity line",
            rule.id()
        );
    }
}

#[test]
fn docs_index_is_current() {
    let expected = datasurface::policy::docs_index();
    let path = repo_root().join("docs/rules/index.md");
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        } else {
            panic!("docs/rules/index.md is stale; rerun with UPDATE_DOCS=1 and commit it");
        }
    }
}

/// Every rule id appears in some fixture's expectations.
#[test]
fn every_rule_has_a_fixture() {
    let mut expectations = String::new();
    for root in ["lint", "scenarios"] {
        let Ok(entries) = std::fs::read_dir(fixture(root)) else { continue };
        for entry in entries {
            let dir = entry.unwrap().path();
            for name in ["expect.txt", "case.yaml"] {
                if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                    expectations.push_str(&text);
                    expectations.push('\n');
                }
            }
        }
    }
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .map(|r| r.id())
        .filter(|id| {
            // Comments describe a case; only expectation lines count.
            !expectations
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.split_whitespace().any(|w| w.trim_matches(|c| c == '[' || c == ']' || c == ',') == *id))
        })
        .collect();
    assert!(missing.is_empty(), "rules without a fixture: {missing:?}");
}
