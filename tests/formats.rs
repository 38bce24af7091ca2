//! `check` end to end on the example model, and every report format validated against the
//! schemas others wrote (SARIF 2.1.0, GitLab Code Quality).

use std::path::Path;

use crate::support::{commit_all, copy_dir, datasurface, fixture, git, new_repo, repo_root, stderr, stdout};

/// A repository with the example model at `base`, and at `head` a change that removes a
/// consumed column and narrows a type.
fn breaking_repo() -> tempfile::TempDir {
    let repo = new_repo();
    copy_dir(&fixture("acme"), repo.path());
    commit_all(repo.path(), "acme");
    git(repo.path(), &["tag", "base"]);
    let store = repo.path().join("zones/usa/teams/northwind/customers.yaml");
    let text = std::fs::read_to_string(&store)
        .unwrap()
        .replace("        - {name: email, type: varchar(320), classifications: [PC3]}\n", "")
        .replace("type: \"decimal(18,2)\"", "type: \"decimal(10,2)\"");
    std::fs::write(&store, text).unwrap();
    commit_all(repo.path(), "drop email, shrink balance");
    repo
}

fn check(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["check", "--base", "base", "--head", "HEAD", "--as-repo", "acme/northwind@main"];
    args.extend_from_slice(extra);
    datasurface(dir, &args)
}

/// Checks a report against the schema others wrote for its format.
fn validate(schema: &str, report: &[u8]) {
    let instance: serde_json::Value = serde_json::from_slice(report).expect("the report is JSON");
    if let Err(error) = crate::support::validate_json(schema, &instance) {
        panic!("{schema} refuses the report: {error}\n{}", String::from_utf8_lossy(report));
    }
}

const SARIF: &str = "sarif-schema-2.1.0.json";
const CODE_QUALITY: &str = "codequality-report.schema.derived.json";

#[test]
fn the_validators_refuse_what_their_formats_forbid() {
    // Real and hand-made examples from the schemas' own collections: the valid ones pass and
    // the invalid ones are refused, so a passing format test means something.
    for (schema, prefix) in [(SARIF, ".sarif"), (CODE_QUALITY, ".json")] {
        let dir = repo_root().join("tests/data/examples");
        let mut seen = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(prefix) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            // A byte-order mark makes the document invalid before any schema is applied.
            let result = serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|value| crate::support::validate_json(schema, &value));
            if name.starts_with("valid.") {
                assert!(result.is_ok(), "{name}: {result:?}");
                seen.0 += 1;
            } else {
                assert!(result.is_err(), "{name} was accepted");
                seen.1 += 1;
            }
        }
        assert!(seen.0 >= 2 && seen.1 >= 2, "{schema}: {seen:?}");
    }
}

#[test]
fn a_change_that_changes_nothing_passes_with_no_problems() {
    let repo = new_repo();
    copy_dir(&fixture("acme"), repo.path());
    commit_all(repo.path(), "acme");
    commit_all(repo.path(), "empty");
    let output = datasurface(repo.path(), &["check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["outcome"], "pass");
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
    assert_eq!(report["check"]["changes"].as_array().unwrap().len(), 0);
}

#[test]
fn a_breaking_change_names_the_consumers_and_their_owners() {
    let repo = breaking_repo();
    let output = check(repo.path(), &["--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    let rules: Vec<&str> = problems.iter().map(|p| p["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["compat.column-removed", "compat.type-narrowed"]);
    for problem in problems {
        assert_eq!(problem["severity"], "error");
        assert_eq!(problem["affected"], serde_json::json!(["Workspace marketing"]));
        assert!(
            problem["message"]
                .as_str()
                .unwrap()
                .contains("workspace marketing (team usa/analytics, owner repo acme/analytics, team acme/analytics)")
        );
        assert_eq!(problem["owner"], "repo acme/northwind, team acme/northwind-eng");
    }
    let removed = &problems[0];
    assert_eq!(
        (removed["file"].as_str(), removed["line"].as_u64(), removed["column"].as_u64()),
        (Some("zones/usa/teams/northwind/customers.yaml"), Some(17), Some(7))
    );
    assert_eq!(removed["related"][0]["revision"], "base");
    assert_eq!(removed["related"][0]["line"], 19);
    let impact = &report["check"]["impact"][0];
    assert_eq!(impact["dataset"], "customers/customers");
    assert_eq!(impact["consumers"][0]["workspace"], "marketing");
    assert_eq!(impact["consumers"][0]["group"], "campaigns");
    // Approval by the consumers' owner turns the errors into information.
    let approved = check(repo.path(), &["--as-team", "acme/analytics", "--format", "json"]);
    assert_eq!(approved.status.code(), Some(0), "{}", stderr(&approved));
    let report: serde_json::Value = serde_json::from_slice(&approved.stdout).unwrap();
    assert!(report["problems"].as_array().unwrap().iter().all(|p| p["severity"] == "info"));
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let repo = breaking_repo();
    let output = check(repo.path(), &["--format", "sarif"]);
    assert_eq!(output.status.code(), Some(1));
    validate(SARIF, &output.stdout);
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), datasurface::rules::Rule::ALL.len());
    let result = &run["results"][0];
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], result["ruleId"]);
    assert!(rules[index]["helpUri"].as_str().unwrap().ends_with("/docs/rules/compat.column-removed.md"));
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 17);
    // Lint output is valid SARIF too, also with problems that have no location.
    let lint = datasurface(&fixture("lint/field.unknown"), &["lint", ".", "--format", "sarif"]);
    validate(SARIF, &lint.stdout);
    let unknown = datasurface(repo.path(), &["check", "--base", "base", "--format", "sarif"]);
    validate(SARIF, &unknown.stdout);
}

#[test]
fn gitlab_code_quality_is_valid() {
    let repo = breaking_repo();
    let output = check(repo.path(), &["--format", "gitlab"]);
    validate(CODE_QUALITY, &output.stdout);
    let issues: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(issues[0]["check_name"], "compat.column-removed");
    assert_eq!(issues[0]["severity"], "major");
    assert_eq!(issues[0]["location"]["path"], "zones/usa/teams/northwind/customers.yaml");
    assert_eq!(issues[0]["location"]["lines"]["begin"], 17);
    // Without a change source the problem has no location; it still needs a path.
    let output = datasurface(repo.path(), &["check", "--base", "base", "--format", "gitlab"]);
    validate(CODE_QUALITY, &output.stdout);
}

#[test]
fn github_annotations_are_workflow_commands() {
    let repo = breaking_repo();
    let text = stdout(&check(repo.path(), &["--format", "github"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("::error file=zones/usa/teams/northwind/customers.yaml,line=17,col=7,title=compat.column-removed (Dataset customers/customers)::column `email` was removed"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("%0A"), "the help goes on an escaped new line");
    assert!(lines[1].starts_with(
        "::error file=zones/usa/teams/northwind/customers.yaml,line=21,col=33,title=compat.type-narrowed"
    ));
    assert_eq!(lines[2], "datasurface check: 2 errors");
}

#[test]
fn markdown_is_a_pull_request_comment() {
    let repo = breaking_repo();
    let output = check(repo.path(), &["--format", "markdown"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.starts_with("<!-- datasurface-report -->\n❌ **datasurface: failed** — 2 errors"), "{text}");
    assert!(text.contains("**Owner: repo acme/northwind, team acme/northwind-eng**"));
    assert!(text.contains("[`compat.column-removed`](https://"));
    assert!(text.contains("- **Datastore customers** changed (team usa/northwind): datasets[customers].columns[email]: column email removed"), "{text}");
    assert!(text.contains("```mermaid\ngraph LR"));
    assert!(text.contains("marketing / campaigns"));
    assert!(text.contains("<details><summary>Changed YAML (1 file)</summary>"));
    assert!(text.contains("-        - {name: email, type: varchar(320), classifications: [PC3]}"));
    assert!(text.len() < 60_000);
}

#[test]
fn check_cannot_run_without_a_repository_or_revision() {
    let repo = breaking_repo();
    for (args, needle) in [
        (&["check", "--base", "nope"][..], "revision `nope` not found"),
        (&["check", "--base", "base", "--head", "nope"], "revision `nope` not found"),
        (&["check", "--base", "base", "--as-repo", "justaname"], "--as-repo"),
        (&["check"], "--base"),
    ] {
        let output = datasurface(repo.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains(needle), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty());
    }
    let plain = tempfile::tempdir().unwrap();
    let output = datasurface(plain.path(), &["check", "--base", "main"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not inside a git repository"));
}

#[test]
fn every_format_renders_lint_too() {
    for format in ["text", "json", "sarif", "github", "gitlab", "markdown"] {
        let output = datasurface(&fixture("lint/ref.unknown"), &["lint", ".", "--format", format]);
        assert_eq!(output.status.code(), Some(1), "{format}");
        assert!(stdout(&output).contains("ref.unknown"), "{format}: {}", stdout(&output));
    }
}
