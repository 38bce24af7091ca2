//! The binary: exit codes 0/1/2, the text format like a compiler, the JSON report of MODEL.md §6.

use crate::support::{datasurface, fixture, repo_root, stderr, stdout};

#[test]
fn clean_model_exits_zero_with_a_summary() {
    let output = datasurface(&repo_root(), &["lint", "fixtures/acme"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "datasurface lint: no problems (11 files read)\n");
}

#[test]
fn text_problems_read_like_a_compiler() {
    let case = fixture("lint/field.unknown");
    let output = datasurface(&case, &["lint", "."]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        "fixtures/lint/field.unknown/zones/z/teams/producers/store.yaml:11:36: error[field.unknown]: unknown field `nulable` in column; did you mean `nullable`?"
    );
    assert!(text.contains("11 |         - {name: id, type: bigint, nulable: false, nullable: false}"), "{text}");
    assert!(text.contains("^^^^^^^"), "a caret underline: {text}");
    assert!(text.contains("= help: Rename it to `nullable`."), "{text}");
    assert!(text.trim_end().ends_with("datasurface lint: 1 error (6 files read); failed"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when not on a terminal");
}

#[test]
fn colour_can_be_forced() {
    let output = datasurface(&fixture("lint/field.unknown"), &["lint", ".", "--color", "always"]);
    assert!(stdout(&output).contains("\u{1b}["));
}

#[test]
fn json_report_follows_the_contract() {
    let output = datasurface(&fixture("lint/sink.deprecated"), &["lint", ".", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["outcome"], "fail");
    assert_eq!(report["errors"], 1);
    assert_eq!(report["warnings"], 0);
    let problem = &report["problems"][0];
    assert_eq!(problem["rule"], "sink.deprecated");
    assert_eq!(problem["severity"], "error");
    assert_eq!(problem["file"], "fixtures/lint/sink.deprecated/zones/z/teams/consumers/ws.yaml");
    assert_eq!((problem["line"].as_u64(), problem["column"].as_u64()), (Some(8), Some(9)));
    assert_eq!(problem["object"], "Sink ws/g/store/items");
    assert_eq!(problem["owner"], "repo lintco/consumers");
    assert!(problem["affected"].is_array());
    assert_eq!(problem["fingerprint"].as_str().unwrap().len(), 16);
    assert!(problem["message"].as_str().unwrap().contains("deprecated (replaced by items_v2)"));
    // The tree holds the problem under its ancestors.
    let tree = &report["tree"];
    assert_eq!(tree["object"], "Ecosystem lintco");
    assert_eq!(tree["file"], "fixtures/lint/sink.deprecated/ecosystem.yaml");
    let mut node = tree;
    for object in ["Zone z", "Team z/consumers", "Workspace ws", "DatasetGroup ws/g", "Sink ws/g/store/items"] {
        let children = node["children"].as_array().unwrap();
        assert_eq!(children.len(), 1);
        node = &children[0];
        assert_eq!(node["object"], object);
    }
    assert_eq!(node["problems"][0]["rule"], "sink.deprecated");
}

#[test]
fn warnings_alone_pass() {
    let output = datasurface(&fixture("lint/sink.deprecated-allowed"), &["lint", ".", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["outcome"].as_str(), report["warnings"].as_u64()), (Some("pass"), Some(1)));
}

#[test]
fn fingerprints_survive_moving_lines() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&fixture("lint/ref.unknown"), dir.path());
    let fingerprint = |dir: &std::path::Path| {
        let output = datasurface(dir, &["lint", ".", "--format", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (report["problems"][0]["fingerprint"].clone(), report["problems"][0]["line"].clone())
    };
    let before = fingerprint(dir.path());
    let ws = dir.path().join("zones/z/teams/consumers/ws.yaml");
    let text = std::fs::read_to_string(&ws)
        .unwrap()
        .replace("container: wpg\n", "container: wpg\ndocumentation: moved down\n");
    std::fs::write(&ws, text).unwrap();
    let after = fingerprint(dir.path());
    assert_ne!(before.1, after.1, "the line moved");
    assert_eq!(before.0, after.0, "the fingerprint did not");
}

#[test]
fn usage_errors_exit_two_with_one_line() {
    for args in [
        &["lint", "--no-such-flag"][..],
        &["lint", ".", "--format", "yaml"],
        &["lint", "/no/such/folder"],
        &["lint", ".", "--max-file-size", "lots"],
        &["frobnicate"],
    ] {
        let output = datasurface(&repo_root(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{args:?}");
        assert!(!stderr(&output).is_empty(), "{args:?}");
    }
    let output = datasurface(&repo_root(), &["lint", "/no/such/folder"]);
    assert_eq!(stderr(&output), "datasurface: error: /no/such/folder: no such folder\n");
}

#[test]
fn help_and_version_exit_zero() {
    for args in [&["--help"][..], &["lint", "--help"], &["--version"]] {
        let output = datasurface(&repo_root(), args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(!stdout(&output).is_empty());
    }
    let help = stdout(&datasurface(&repo_root(), &["lint", "--help"]));
    assert!(help.contains("--rev <REV>") && help.contains("--format <FORMAT>"), "{help}");
}

#[test]
fn a_broken_ecosystem_file_is_a_finding_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&fixture("acme"), dir.path());
    std::fs::write(dir.path().join("ecosystem.yaml"), "kind: Ecosystem\nname: [unclosed\n").unwrap();
    let orders = dir.path().join("zones/usa/teams/northwind/orders.yaml");
    let text = std::fs::read_to_string(&orders)
        .unwrap()
        .replace("{name: order_id, type: bigint", "{name: order_id, type: bigintt");
    std::fs::write(&orders, text).unwrap();
    let output = datasurface(dir.path(), &["lint", ".", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // The broken file is reported, the rest of the model still checked, and references to
    // what ecosystem.yaml would have declared are not reported as unknown.
    assert_eq!(
        crate::support::problem_lines(&stdout(&output)),
        vec![
            "yaml.syntax ecosystem.yaml:2:7".to_string(),
            "column.type-invalid zones/usa/teams/northwind/orders.yaml:16:34".to_string(),
            "column.type-invalid zones/usa/teams/northwind/orders.yaml:27:34".to_string(),
        ]
    );
}

#[test]
fn removing_the_whole_model_is_a_change_like_any_other() {
    let repo = crate::support::new_repo();
    crate::support::copy_dir(&fixture("acme"), repo.path());
    crate::support::commit_all(repo.path(), "acme");
    crate::support::git(repo.path(), &["rm", "-q", "-r", "."]);
    crate::support::commit_all(repo.path(), "everything removed");
    let output =
        datasurface(repo.path(), &["check", "--base", "HEAD~1", "--as-repo", "acme/analytics", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let lines = crate::support::problem_lines(&stdout(&output));
    assert!(lines.contains(&"authz.unauthorized ecosystem.yaml:3:7".to_string()), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("compat.datastore-removed ")), "{lines:#?}");
    // Neither side holding a model is a wrong model root, not an empty change.
    let output = datasurface(repo.path(), &["check", "--base", "HEAD~1", "--root", "nowhere"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a datasurface model root (see --root)"), "{}", stderr(&output));
}

#[test]
fn problems_per_file_are_limited_and_the_rest_counted() {
    let case = fixture("lint/file.too-many-problems");
    let rules = |args: &[&str]| -> Vec<String> {
        let output = datasurface(&case, &[&["lint", ".", "--format", "json"], args].concat());
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        report["problems"].as_array().unwrap().iter().map(|p| p["rule"].as_str().unwrap().to_string()).collect()
    };
    // The default limit (1,000) lists all five.
    assert_eq!(rules(&[]), vec!["field.unknown"; 5]);
    let limited = rules(&["--max-file-problems", "3"]);
    assert_eq!(limited, ["field.unknown", "field.unknown", "field.unknown", "file.too-many-problems"]);
    let zero = datasurface(&case, &["lint", ".", "--max-file-problems", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("must be at least 1"), "{}", stderr(&zero));
}

#[test]
fn a_wrong_path_says_where_the_model_root_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo/model");
    crate::support::copy_dir(&fixture("acme"), &root);
    // The ecosystem file itself stands for its folder.
    let by_file = datasurface(&root, &["lint", "ecosystem.yaml"]);
    assert_eq!(by_file.status.code(), Some(0), "{}", stderr(&by_file));
    // A folder inside the model, and the folder above it, name the model root.
    for (from, args) in [(root.join("zones/usa"), ["lint", "."]), (dir.path().join("repo"), ["lint", "."])] {
        let output = datasurface(&from, &args);
        assert_eq!(output.status.code(), Some(2));
        let message = stderr(&output);
        assert!(message.starts_with("datasurface: error: no ecosystem.yaml in ."), "{message}");
        assert!(
            message
                .trim_end()
                .ends_with(&format!("the model root seems to be {}", root.canonicalize().unwrap().display()))
                || message.trim_end().ends_with("the model root seems to be ./model"),
            "{message}"
        );
        assert_eq!(message.lines().count(), 1);
    }
    let other_file = datasurface(&root, &["lint", "zones/usa/zone.yaml"]);
    assert_eq!(other_file.status.code(), Some(2));
    assert!(
        stderr(&other_file).contains("zones/usa/zone.yaml is a file: give the model root"),
        "{}",
        stderr(&other_file)
    );
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    // A report far larger than a pipe's buffer: 1,000 unknown fields, in every format.
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&fixture("lint/field.unknown"), dir.path());
    let fields: String = (0..3000).map(|i| format!("unknown{i}: x\n")).collect();
    let store = dir.path().join("zones/z/teams/producers/store.yaml");
    let text = std::fs::read_to_string(&store).unwrap();
    std::fs::write(&store, text + &fields).unwrap();
    for format in ["text", "json", "sarif", "gitlab", "github"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_datasurface"))
            .args(["lint", ".", "--format", format])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The pipe's reading end is dropped here, like `| head -c 16`.
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{format}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{format}");
    }
}

#[test]
fn names_cannot_inject_lines_or_terminal_codes() {
    // YAML escapes put any character into a name; a file name may hold a line break.
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&fixture("lint/field.unknown"), dir.path());
    let team = dir.path().join("zones/z/teams/consumers");
    std::fs::write(
        team.join("ws.yaml"),
        "kind: Workspace\nname: ws\ncontainer: wpg\ndatasetGroups:\n  - name: g\n    platform: zero\n    sinks:\n      - {datastore: \"store\\n::error file=x::injected\", dataset: \"\\e[31mred\"}\n",
    )
    .unwrap();
    std::fs::write(team.join("evil\n::warning::boom.yaml"), "kind: Datastore\nname: x\n").unwrap();
    for format in ["text", "github", "markdown"] {
        let output = datasurface(dir.path(), &["lint", ".", "--format", format]);
        assert_eq!(output.status.code(), Some(1), "{format}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(text.contains("injected") && text.contains("boom"), "{format}: the names are shown: {text}");
        assert!(!text.contains('\u{1b}'), "{format}: no escape character reaches the terminal: {text}");
        for line in text.lines() {
            assert!(
                !line.starts_with("::error file=x") && !line.starts_with("::warning::boom"),
                "{format}: injected line {line:?}"
            );
        }
    }
}

#[test]
fn change_source_flags_are_validated_before_anything_is_read() {
    for (flag, value, says) in [
        ("--as-team", "noslash", "has no `/`"),
        ("--as-team", "acme/", "is not a team"),
        ("--as-user", "", "cannot be empty"),
        ("--as-user", "two words", "is not a forge login"),
        ("--author", "@bob", "starts with `@`"),
        ("--approver", "a/b", "is not a forge login"),
        ("--as-repo", "acme", "is not OWNER/NAME[@BRANCH]"),
        ("--as-repo", "acme/x@", "the branch after `@` is not a branch name"),
        ("--as-repo", "acme/ x", "is not OWNER/NAME[@BRANCH]"),
    ] {
        // The folder is no repository: the flag must be refused before that is found out.
        let output = datasurface(&std::env::temp_dir(), &["check", "--base", "HEAD", &format!("{flag}={value}")]);
        assert_eq!(output.status.code(), Some(2), "{flag} {value:?}");
        let message = stderr(&output);
        assert!(message.contains(says), "{flag} {value:?}: {message}");
    }
}

#[test]
fn the_example_ecosystem_owner_can_change_it_from_a_feature_branch() {
    let repo = crate::support::new_repo();
    crate::support::copy_dir(&fixture("acme"), repo.path());
    crate::support::commit_all(repo.path(), "acme");
    let path = repo.path().join("ecosystem.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace("The acme data ecosystem:", "The Acme data ecosystem:");
    std::fs::write(&path, text).unwrap();
    crate::support::commit_all(repo.path(), "reword the ecosystem's documentation");
    // A pull request from a feature branch of the model repository, by a member of the owner team.
    let args = ["check", "--base", "HEAD~1", "--as-repo", "acme/model@reword-docs", "--author", "sam"];
    let output = datasurface(repo.path(), &[&args[..], &["--as-team", "acme/data-platform"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    // The same change by someone outside that team is refused.
    let output = datasurface(repo.path(), &args);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("error[authz.unauthorized]"), "{}", stdout(&output));
}

#[test]
fn output_goes_to_a_file_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let output = datasurface(
        &fixture("lint/field.unknown"),
        &["lint", ".", "--format", "json", "--output", file.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "nothing on stdout");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(report["outcome"], "fail");
    // A folder that does not exist: exit 2 and no file, not half of one.
    let missing = dir.path().join("no/such/folder/report.json");
    let output = datasurface(&fixture("lint/field.unknown"), &["lint", ".", "-o", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("writing"), "{}", stderr(&output));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only report.json, no temporary file");
}

#[test]
fn fail_on_warning_and_quiet() {
    // capture.kafka-only holds warnings only.
    let case = fixture("lint/capture.kafka-only");
    assert_eq!(datasurface(&case, &["lint", "."]).status.code(), Some(0));
    let output = datasurface(&case, &["lint", ".", "--fail-on", "warning", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["outcome"], "fail");
    let quiet = stdout(&datasurface(&case, &["lint", ".", "--quiet"]));
    assert!(quiet.contains("warning[capture.kafka-only]") && !quiet.contains("datasurface lint:"), "{quiet}");
    let clean = datasurface(&repo_root(), &["lint", "fixtures/acme", "-q"]);
    assert_eq!((clean.status.code(), stdout(&clean)), (Some(0), String::new()));
}

#[test]
fn shell_completions_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        let output = datasurface(&repo_root(), &["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = stdout(&output);
        assert!(script.contains("datasurface") && script.contains("max-file-size"), "{shell}: {script}");
    }
}

#[test]
fn lint_takes_a_root_inside_a_folder_or_a_revision() {
    let output = datasurface(&repo_root(), &["lint", ".", "--root", "fixtures/acme"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let repo = crate::support::new_repo();
    crate::support::copy_dir(&fixture("lint/field.unknown"), &repo.path().join("models/lint"));
    crate::support::commit_all(repo.path(), "model in a subfolder");
    let output = datasurface(repo.path(), &["lint", "--rev", "HEAD", "--root", "models/lint", "--format", "json"]);
    assert_eq!(
        crate::support::problem_lines(&stdout(&output)),
        vec!["field.unknown models/lint/zones/z/teams/producers/store.yaml:11:36"]
    );
}

#[test]
fn two_folders_are_checked_like_two_revisions() {
    let case = fixture("scenarios/compat.column-removed");
    let base = case.join("base");
    let head = case.join("head");
    let args = ["check", "--base-dir", base.to_str().unwrap(), "--head-dir", head.to_str().unwrap()];
    let output =
        datasurface(&repo_root(), &[&args[..], &["--as-repo", "org/producers@main", "--format", "json"]].concat());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let lines = crate::support::problem_lines(&stdout(&output));
    assert_eq!(
        lines,
        vec![
            "compat.column-removed fixtures/scenarios/compat.column-removed/head/zones/z/teams/producers/store.yaml:9:7"
        ]
    );
    // Another team's change of the same files is refused, file by file too.
    let output =
        datasurface(&repo_root(), &[&args[..], &["--as-repo", "org/consumers@x", "--format", "json"]].concat());
    let lines = crate::support::problem_lines(&stdout(&output));
    assert!(lines.iter().any(|l| l.starts_with("authz.unauthorized ")), "{lines:?}");
}

#[test]
fn git_errors_say_what_to_do() {
    let repo = crate::support::new_repo();
    crate::support::copy_dir(&fixture("acme"), repo.path());
    crate::support::commit_all(repo.path(), "one");
    crate::support::commit_all(repo.path(), "two");
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    crate::support::git(clones.path(), &["clone", "-q", "--depth", "1", &url, "shallow"]);
    let output = datasurface(&clones.path().join("shallow"), &["check", "--base", "HEAD~1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("shallow clone") && stderr(&output).contains("fetch-depth: 0"),
        "{}",
        stderr(&output)
    );
    crate::support::git(clones.path(), &["clone", "-q", "--bare", &url, "bare.git"]);
    let output = datasurface(clones.path(), &["lint", "bare.git"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bare git repository") && stderr(&output).contains("--rev"),
        "{}",
        stderr(&output)
    );
    let output = datasurface(clones.path(), &["lint", "bare.git", "--rev", "HEAD"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn explain_prints_a_rule_page_and_rules_lists_them_all() {
    let output = datasurface(&repo_root(), &["explain", "compat.column-removed"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        std::fs::read_to_string(repo_root().join("docs/rules/compat.column-removed.md")).unwrap()
    );
    let output = datasurface(&repo_root(), &["explain", "compat.colum-removed"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("did you mean `compat.column-removed`"), "{}", stderr(&output));
    let text = stdout(&datasurface(&repo_root(), &["rules"]));
    assert_eq!(text.lines().count(), datasurface::rules::Rule::ALL.len());
    assert!(
        text.lines().any(|l| l.starts_with("compat.column-removed") && l.contains("compat") && l.contains("error"))
    );
    let json: serde_json::Value =
        serde_json::from_slice(&datasurface(&repo_root(), &["rules", "--format", "json"]).stdout).unwrap();
    let rules = json.as_array().unwrap();
    assert_eq!(rules.len(), datasurface::rules::Rule::ALL.len());
    let tag = rules.iter().find(|r| r["id"] == "yaml.tag").unwrap();
    assert_eq!((tag["family"].as_str(), tag["severity"].as_str()), (Some("yaml"), Some("error")));
}

#[test]
fn progress_shows_on_a_terminal_only() {
    // On a terminal (made by `script`), a run that takes long enough shows what it does, and
    // clears the line before the report.
    let command = format!("{} lint {}", env!("CARGO_BIN_EXE_datasurface"), fixture("acme").display());
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DATASURFACE_PROGRESS_AFTER_MS", "0")
        .env("NO_COLOR", "1")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("\r\x1b[Kdatasurface: "), "{text:?}");
    assert!(text.contains("\r\x1b[Kdatasurface lint: no problems"), "the line is cleared before the report: {text:?}");
    // Elsewhere (CI logs, pipes) nothing at all.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_datasurface"))
        .args(["lint", &fixture("acme").display().to_string()])
        .env("DATASURFACE_PROGRESS_AFTER_MS", "0")
        .output()
        .unwrap();
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_workspace_approval_pins_the_dataset_schema_it_saw() {
    let case = fixture("scenarios/compat.column-removed");
    let base = case.join("base");
    let head = case.join("head");
    let dirs = ["check", "--base-dir", base.to_str().unwrap(), "--head-dir", head.to_str().unwrap()];
    let run = |extra: &[&str]| {
        let args = [&dirs[..], &["--as-repo", "org/producers@main", "--format", "json"], extra].concat();
        let output = datasurface(&repo_root(), &args);
        let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        (output.status.code(), json)
    };
    let (code, json) = run(&[]);
    assert_eq!(code, Some(1));
    let consumer = &json["check"]["impact"][0]["consumers"][0];
    assert_eq!(consumer["workspace"], "ws");
    let fingerprint = consumer["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.len(), 16, "{consumer}");

    // The approval for the workspace, pinned to the schema the report showed, makes it pass.
    let (code, json) = run(&["--approval", &format!("ws:store/items:{fingerprint}")]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["problems"][0]["severity"], "info");
    let by = json["check"]["impact"][0]["consumers"][0]["approved_by"].as_str().unwrap();
    assert!(by.contains("store/items") && by.contains("ws"), "{by}");
    // Without a fingerprint it approves whatever the schema is; names fold case.
    assert_eq!(run(&["--approval", "WS:Store/Items"]).0, Some(0));
    // Pinned to another schema, or for another workspace or dataset, it does not count.
    assert_eq!(run(&["--approval", "ws:store/items:0123456789abcdef"]).0, Some(1));
    assert_eq!(run(&["--approval", "other:store/items"]).0, Some(1));
    assert_eq!(run(&["--approval", "ws:store/other"]).0, Some(1));

    // A malformed approval is a usage error naming the spelling.
    for bad in ["ws", "ws:store", "ws:store/items:xyz", ":store/items"] {
        let output = datasurface(&repo_root(), &[&dirs[..], &["--approval", bad]].concat());
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(stderr(&output).contains("WORKSPACE:DATASTORE/DATASET"), "{bad}: {}", stderr(&output));
    }
}

#[test]
fn the_schema_fingerprint_follows_the_shape_not_the_documentation() {
    let case = fixture("scenarios/compat.column-removed");
    let fingerprint = |edit: &dyn Fn(&str) -> String| {
        let head = tempfile::tempdir().unwrap();
        crate::support::copy_dir(&case.join("head"), head.path());
        let store = head.path().join("zones/z/teams/producers/store.yaml");
        std::fs::write(&store, edit(&std::fs::read_to_string(&store).unwrap())).unwrap();
        let base = case.join("base");
        let args = [
            "check",
            "--base-dir",
            base.to_str().unwrap(),
            "--head-dir",
            head.path().to_str().unwrap(),
            "--as-repo",
            "org/producers@main",
            "--format",
            "json",
        ];
        let json: serde_json::Value = serde_json::from_str(&stdout(&datasurface(&repo_root(), &args))).unwrap();
        json["check"]["impact"][0]["consumers"][0]["fingerprint"].as_str().unwrap().to_string()
    };
    let original = fingerprint(&|s| s.to_string());
    let documented = fingerprint(&|s| s.replace("  - name: items\n", "  - name: items\n    documentation: Items.\n"));
    assert_eq!(original, documented, "documentation is not part of the shape");
    let moved = fingerprint(&|s| {
        s.replace("{name: id, type: bigint, nullable: false}", "{nullable: false, type: bigint, name: id}")
    });
    assert_eq!(original, moved, "the order of a column's fields is not part of the shape");
    for (what, from, to) in [
        ("a type", "decimal(10,2)", "decimal(12,2)"),
        (
            "nullability",
            "{name: price, type: \"decimal(10,2)\"}",
            "{name: price, type: \"decimal(10,2)\", nullable: false}",
        ),
        ("the primary key", "primaryKey: [id]", "primaryKey: [id, price]"),
        (
            "a classification",
            "classifications: [PUB]\n    schema:\n      primaryKey",
            "classifications: [PII]\n    schema:\n      primaryKey",
        ),
        ("a column name", "name: price", "name: cost"),
    ] {
        assert_ne!(original, fingerprint(&|s| s.replacen(from, to, 1)), "{what} is part of the shape");
    }
}
