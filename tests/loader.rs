//! The loader reads the same model from a folder and from a git revision with identical
//! results, resolves revisions like git does, and says clearly when it cannot run.

use std::path::Path;

use crate::support::{commit_all, copy_dir, datasurface, fixture, git, new_repo, problem_lines, stderr, stdout};

fn lint_json(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let output = datasurface(dir, &all);
    (output.status.code().unwrap(), stdout(&output))
}

/// Drops the fields that legitimately differ between runs (none today) and compares.
fn problems(json: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    serde_json::json!({"problems": report["problems"], "tree": report["tree"], "outcome": report["outcome"]})
}

#[test]
fn folder_and_revision_agree() {
    for case in [
        "acme",
        "lint/field.unknown",
        "lint/yaml.syntax",
        "lint/file.symlink",
        "lint/file.not-utf8",
        "lint/policy.sink-location-not-allowed",
    ] {
        let repo = new_repo();
        copy_dir(&fixture(case), repo.path());
        commit_all(repo.path(), "model");
        let (folder_code, folder) = lint_json(repo.path(), &["."]);
        let (rev_code, rev) = lint_json(repo.path(), &[".", "--rev", "HEAD"]);
        assert_eq!(folder_code, rev_code, "{case}");
        assert_eq!(problems(&folder), problems(&rev), "{case}: folder and HEAD differ");
        if case != "acme" {
            assert!(!problem_lines(&rev).is_empty(), "{case} should have problems");
        }
    }
}

#[test]
fn revisions_resolve_like_git() {
    let repo = new_repo();
    copy_dir(&fixture("acme"), repo.path());
    let good = commit_all(repo.path(), "acme");
    git(repo.path(), &["tag", "v1"]);
    let store = repo.path().join("zones/usa/teams/northwind/orders.yaml");
    let text = std::fs::read_to_string(&store)
        .unwrap()
        .replace("type: bigint, nullable: false}", "type: bigintt, nullable: false}");
    std::fs::write(&store, text).unwrap();
    commit_all(repo.path(), "break orders");

    for rev in ["HEAD~1", "v1", &good[..10], &good] {
        let (code, json) = lint_json(repo.path(), &[".", "--rev", rev]);
        assert_eq!(code, 0, "{rev}: {json}");
    }
    let (code, json) = lint_json(repo.path(), &[".", "--rev", "HEAD"]);
    assert_eq!(code, 1);
    assert!(
        problem_lines(&json)
            .iter()
            .any(|l| l.starts_with("column.type-invalid zones/usa/teams/northwind/orders.yaml:"))
    );
    // The work tree is what lint reads without --rev, and it matches HEAD.
    assert_eq!(lint_json(repo.path(), &["."]).0, 1);
}

#[test]
fn a_model_in_a_subfolder_reports_paths_from_the_repository_root() {
    let repo = new_repo();
    copy_dir(&fixture("lint/ref.unknown"), &repo.path().join("model"));
    commit_all(repo.path(), "model");
    let expected = vec!["ref.unknown model/zones/z/teams/consumers/ws.yaml:8:37".to_string()];
    assert_eq!(problem_lines(&lint_json(repo.path(), &["model", "--rev", "HEAD"]).1), expected);
    assert_eq!(problem_lines(&lint_json(repo.path(), &["model"]).1), expected);
    assert_eq!(problem_lines(&lint_json(&repo.path().join("model"), &["--rev", "HEAD"]).1), expected);
}

#[test]
fn a_bare_clone_can_be_linted() {
    let repo = new_repo();
    copy_dir(&fixture("acme"), repo.path());
    commit_all(repo.path(), "acme");
    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["clone", "-q", "--bare", repo.path().to_str().unwrap(), "model.git"]);
    let (code, json) = lint_json(bare.path(), &["model.git", "--rev", "main"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["files"], 11);
}

#[test]
fn unknown_revisions_and_non_repositories_cannot_run() {
    let repo = new_repo();
    copy_dir(&fixture("acme"), repo.path());
    commit_all(repo.path(), "acme");
    let output = datasurface(repo.path(), &["lint", ".", "--rev", "no-such-branch"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("revision `no-such-branch` not found"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "one line on stderr: {message}");

    let plain = tempfile::tempdir().unwrap();
    copy_dir(&fixture("acme"), plain.path());
    let output = datasurface(plain.path(), &["lint", ".", "--rev", "HEAD"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not inside a git repository"), "{}", stderr(&output));

    let output = datasurface(repo.path(), &["lint", "zones", "--rev", "HEAD"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no ecosystem.yaml"), "{}", stderr(&output));
}

#[test]
fn hidden_folders_and_other_files_are_ignored_but_stray_yaml_is_not() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("acme"), dir.path());
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    std::fs::write(dir.path().join(".github/workflows/ci.yaml"), "on: push\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "# model\n").unwrap();
    assert_eq!(lint_json(dir.path(), &["."]).0, 0);
    std::fs::write(dir.path().join("zones/usa/teams.yaml"), "kind: Team\n").unwrap();
    let (code, json) = lint_json(dir.path(), &["."]);
    assert_eq!(code, 1);
    assert_eq!(problem_lines(&json), vec!["layout.unexpected-file zones/usa/teams.yaml:1:1"]);
}

#[test]
fn a_huge_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("acme"), dir.path());
    // 20 MiB of valid YAML comments: over the 8 MiB default.
    let big = "# padding padding padding padding padding padding padding padding\n".repeat(320_000);
    std::fs::write(dir.path().join("zones/usa/teams/northwind/big.yaml"), big).unwrap();
    let (code, json) = lint_json(dir.path(), &["."]);
    assert_eq!(code, 1);
    assert_eq!(problem_lines(&json), vec!["file.too-large zones/usa/teams/northwind/big.yaml:1:1"]);
    let (code, _) = lint_json(dir.path(), &[".", "--max-file-size", "64MiB"]);
    assert_eq!(code, 1, "a comment-only file has no document");
}

/// Files of a folder tree, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn a_warm_cache_gives_the_same_reports() {
    for case in [
        "acme",
        "lint/field.unknown",
        "lint/sink.deprecated",
        "lint/policy.classification-not-allowed",
        "lint/schema.nullable-key",
        "lint/ref.unknown.container",
        "lint/yaml.syntax",
    ] {
        let repo = new_repo();
        copy_dir(&fixture(case), repo.path());
        commit_all(repo.path(), "model");
        let cache = tempfile::tempdir().unwrap();
        let cache_arg = cache.path().to_str().unwrap();
        let (_, plain) = lint_json(repo.path(), &[".", "--rev", "HEAD"]);
        let (_, cold) = lint_json(repo.path(), &[".", "--rev", "HEAD", "--cache-dir", cache_arg]);
        let cached = files_under(cache.path());
        assert!(
            cached.iter().any(|p| p.extension().is_some_and(|e| e == "folder")),
            "{case}: no folder summaries written"
        );
        let (_, warm) = lint_json(repo.path(), &[".", "--rev", "HEAD", "--cache-dir", cache_arg]);
        assert_eq!(problems(&plain), problems(&cold), "{case}: cold cache");
        assert_eq!(problems(&plain), problems(&warm), "{case}: warm cache");
        // Damaged entries are dropped and rebuilt, never trusted.
        for file in &cached {
            let mut bytes = std::fs::read(file).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
            std::fs::write(file, bytes).unwrap();
        }
        let (_, damaged) = lint_json(repo.path(), &[".", "--rev", "HEAD", "--cache-dir", cache_arg]);
        assert_eq!(problems(&plain), problems(&damaged), "{case}: damaged cache");
    }
}

#[test]
fn a_warm_cache_gives_the_same_checks() {
    for scenario in std::fs::read_dir(fixture("scenarios")).unwrap() {
        let dir = scenario.unwrap().path();
        let repo = crate::scenarios::scenario_repo(&dir);
        let cache = tempfile::tempdir().unwrap();
        let run = |extra: &[&str]| {
            let mut args = vec![
                "check",
                "--base",
                "base",
                "--head",
                "head",
                "--as-repo",
                "org/producers@main",
                "--format",
                "json",
            ];
            args.extend_from_slice(extra);
            let output = datasurface(repo.path(), &args);
            let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            (output.status.code(), report["problems"].clone(), report["check"]["changes"].clone())
        };
        let plain = run(&[]);
        let cache_arg = cache.path().to_str().unwrap();
        assert_eq!(plain, run(&["--cache-dir", cache_arg]), "{}: cold", dir.display());
        let summaries =
            files_under(cache.path()).iter().filter(|p| p.extension().is_some_and(|e| e == "folder")).count();
        assert!(summaries > 0, "{}: no folder summaries to be warm with", dir.display());
        assert_eq!(plain, run(&["--cache-dir", cache_arg]), "{}: warm", dir.display());
    }
}

/// A check whose change touches team content only takes the base's unchanged folders from
/// the head (`load_beside`): the base must come out exactly as if it were read on its own.
#[test]
fn the_base_taken_beside_the_head_is_the_base_read_alone() {
    use datasurface::load::{self, GitRepo, Options, ParseCache};
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("model");
    let output = datasurface(
        dir.path(),
        &[
            "generate",
            "model",
            "--zones",
            "2",
            "--teams",
            "6",
            "--datastores",
            "60",
            "--datasets",
            "300",
            "--columns",
            "4",
            "--workspaces",
            "20",
            "--git",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let repo = GitRepo::discover(&repo_dir).unwrap();
    let (base, head) = (repo.snapshot("base", "").unwrap(), repo.snapshot("head", "").unwrap());
    let changes = load::changed_paths(&base, &head).unwrap();
    assert!(!changes.is_empty());
    let full: std::collections::HashSet<String> =
        changes.iter().filter_map(|c| load::folder_of("", &c.rel).map(str::to_string)).collect();
    assert!(!full.is_empty(), "the generated change is inside a team folder");
    let options = Options::default();
    let cache = ParseCache::default();
    cache.share_condensed();
    let condense: Option<&dyn load::Condense> = Some(&datasurface::warm::Condenser);
    let head_model = load::load_planned(&head, &options, &cache, &full, condense).unwrap();
    let alone = load::load_planned(&base, &options, &ParseCache::default(), &full, condense).unwrap();
    let beside = load::load_beside(&base, &options, &cache, &full, condense, &head_model).unwrap();
    let files = |model: &datasurface::model::Model| -> Vec<(String, Option<[u8; 20]>, String)> {
        model.files.iter().map(|f| (f.path.to_string(), f.blob, serde_json::to_string(&*f.parsed).unwrap())).collect()
    };
    assert!(alone.files.len() > 50);
    assert_eq!(files(&alone), files(&beside));
    let names = |model: &datasurface::model::Model| -> Vec<String> {
        model.datastores.iter().map(|d| format!("{} {} {:?}", d.name, d.file.0, d.scope)).collect()
    };
    assert_eq!(names(&alone), names(&beside));
    let lint = |model| serde_json::to_string(&datasurface::validate::lint(model)).unwrap();
    assert_eq!(lint(&alone), lint(&beside));
    // The base differs from the head where the change is, and the beside load saw that.
    assert_ne!(files(&beside), files(&head_model));
}
