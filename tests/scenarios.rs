//! Each folder of `fixtures/scenarios/` is a change: `base/` and `head/` model trees (no
//! `base/` for the first commit of a model), and `case.yaml` with the change source and the
//! rule ids the check must report. The test commits both trees to a fresh git repository,
//! runs the check, compares the rule ids, and compares the text report with `expected.txt`
//! (set UPDATE_SNAPSHOTS=1 to rewrite the snapshots, then review them).

use std::collections::BTreeSet;
use std::path::Path;

use datasurface::authz::ChangeSource;
use datasurface::check::{CheckConfig, check};
use datasurface::load::{self, GitRepo, ParseCache};
use datasurface::problem::Revision;
use datasurface::yaml::{self, Value};

use crate::support::{commit_all, copy_dir, fixture, git, new_repo};

struct Case {
    source: ChangeSource,
    expect: BTreeSet<String>,
}

fn scalar_list(value: &Value<'_>) -> Vec<String> {
    match value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| if let Value::Scalar(text, _) = &i.value { Some(text.to_string()) } else { None })
            .collect(),
        _ => Vec::new(),
    }
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case.yaml")).unwrap();
    let parsed = yaml::parse(&text, yaml::Limits::default());
    let Value::Map(entries) = &parsed.documents[0].value else { panic!("case.yaml is a mapping") };
    let get = |key: &str| entries.iter().find(|e| e.key == key).map(|e| &e.value.value);
    let mut source = ChangeSource::default();
    if let Some(Value::Map(fields)) = get("source") {
        for field in fields {
            match (&*field.key, &field.value.value) {
                ("repo", Value::Scalar(text, _)) => {
                    let (repo, branch) = ChangeSource::parse_repo(text).unwrap();
                    source.repo = Some(repo);
                    source.branch = branch;
                }
                ("author", Value::Scalar(text, _)) => {
                    source.author = Some(text.to_string());
                    source.users.push(text.to_string());
                }
                ("approvers", value) => {
                    source.approvers = scalar_list(value);
                    source.users.extend(source.approvers.clone());
                }
                ("teams", value) => source.teams = scalar_list(value),
                (other, _) => panic!("{}: unknown source field {other}", dir.display()),
            }
        }
    }
    let expect = get("expect").map(scalar_list).unwrap_or_default().into_iter().collect();
    Case { source, expect }
}

/// Commits `base/` (or nothing) and then `head/` to a new repository tagged `base` and `head`.
pub fn scenario_repo(dir: &Path) -> tempfile::TempDir {
    let repo = new_repo();
    if dir.join("base").is_dir() {
        copy_dir(&dir.join("base"), repo.path());
    }
    commit_all(repo.path(), "base");
    git(repo.path(), &["tag", "base"]);
    for entry in std::fs::read_dir(repo.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != ".git") {
            if path.is_dir() { std::fs::remove_dir_all(&path).unwrap() } else { std::fs::remove_file(&path).unwrap() }
        }
    }
    copy_dir(&dir.join("head"), repo.path());
    commit_all(repo.path(), "head");
    git(repo.path(), &["tag", "head"]);
    repo
}

/// Runs a scenario's check; the returned temp dir keeps the repository alive for snippets.
fn run(dir: &Path) -> (Case, datasurface::check::CheckOutput, tempfile::TempDir) {
    let case = read_case(dir);
    let repo_dir = scenario_repo(dir);
    let repo = GitRepo::discover(repo_dir.path()).unwrap();
    let config =
        CheckConfig::revisions(&repo, ("base", "head"), "", case.source.clone(), load::Options::default()).unwrap();
    let output = check(config, &ParseCache::default()).unwrap();
    (case, output, repo_dir)
}

fn scenarios() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> =
        std::fs::read_dir(fixture("scenarios")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

#[test]
fn every_scenario_reports_its_rules_and_matches_its_snapshot() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut failures = Vec::new();
    for dir in scenarios() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (case, output, _repo) = run(&dir);
        let actual: BTreeSet<String> = output.report.problems.iter().map(|p| p.rule.id().to_string()).collect();
        if actual != case.expect {
            failures.push(format!("{name}: expected rules {:?}, got {:?}", case.expect, actual));
        }
        for problem in &output.report.problems {
            if let Some(location) = &problem.location {
                let (snapshot, model) = if location.revision == Revision::Base {
                    (&output.base, &output.base_model)
                } else {
                    (&output.head, &output.head_model)
                };
                // Files that are not model files (a README, a hidden file) have no excerpt; their
                // problems point at their first line.
                if !model.files.iter().any(|f| *f.path == *location.file) {
                    assert_eq!(location.pos, datasurface::model::Pos::new(1, 1), "{name}: {location}");
                    continue;
                }
                let text = snapshot.excerpt(model, &location.file, u64::MAX);
                let lines = text.as_deref().map_or(0, |t| t.lines().count());
                if location.pos.line == 0 || location.pos.line as usize > lines {
                    failures.push(format!("{name}: {} points outside its file: {location}", problem.rule));
                }
            }
        }
        let sources = |revision: Revision, path: &str| match revision {
            Revision::Base => output.base.excerpt(&output.base_model, path, u64::MAX),
            Revision::Head => output.head.excerpt(&output.head_model, path, u64::MAX),
        };
        let text = datasurface::report::text::render(&output.report, &sources, Default::default());
        let snapshot = dir.join("expected.txt");
        if update {
            std::fs::write(&snapshot, &text).unwrap();
        } else if std::fs::read_to_string(&snapshot).unwrap_or_default() != text {
            failures.push(format!("{name}: the text report differs from expected.txt:\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_model_diffed_with_itself_has_no_changes() {
    let mut dirs = vec![fixture("acme")];
    dirs.extend(scenarios().into_iter().map(|d| d.join("head")));
    for dir in dirs {
        let snapshot = load::Snapshot::Folder { root: dir.clone(), prefix: String::new() };
        let first = load::load(&snapshot, &load::Options::default()).unwrap();
        let second = load::load(&snapshot, &load::Options::default()).unwrap();
        let diff = datasurface::diff::diff(&first, &second);
        assert!(
            diff.changes.is_empty(),
            "{}: {:?}",
            dir.display(),
            diff.changes.iter().map(|c| &c.key).collect::<Vec<_>>()
        );
    }
}
