//! The GitHub Action and the GitLab CI template, run here as their CI would run them: the
//! Action's check step with the environment GitHub sets (`GITHUB_EVENT_PATH` a real payload
//! rewritten to a local repository's SHAs), the template's script lines in a shell with the
//! variables GitLab sets, each on a passing and a breaking change.

use std::path::{Path, PathBuf};
use std::process::Command;

use datasurface::yaml::{self, Value};

use crate::support::{commit_all, copy_dir, fixture, new_repo, repo_root};

/// The example model at `base`, and `change` applied at `head`.
fn repository(change: impl FnOnce(&Path)) -> (tempfile::TempDir, String, String) {
    let repo = new_repo();
    copy_dir(&fixture("acme"), repo.path());
    let base = commit_all(repo.path(), "base");
    change(repo.path());
    let head = commit_all(repo.path(), "head");
    (repo, base, head)
}

fn drop_email(dir: &Path) {
    let file = dir.join("zones/usa/teams/northwind/customers.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("        - {name: email, type: varchar(320), classifications: [PC3]}\n", "");
    std::fs::write(file, text).unwrap();
}

fn add_nullable(dir: &Path) {
    let file = dir.join("zones/usa/teams/northwind/customers.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "        - {name: segment,",
        "        - {name: nickname, type: string, classifications: [PUB]}\n        - {name: segment,",
    );
    std::fs::write(file, text).unwrap();
}

/// The directory of the binary under test, first on PATH, as an install step leaves it.
fn path_with_binary() -> String {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_datasurface")).parent().unwrap().to_path_buf();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

fn mapping<'v>(value: &'v Value<'v>, key: &str) -> Option<&'v Value<'v>> {
    match value {
        Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value.value),
        _ => None,
    }
}

fn keys(value: &Value<'_>) -> Vec<String> {
    match value {
        Value::Map(entries) => entries.iter().map(|e| e.key.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn scalars(value: &Value<'_>) -> Vec<String> {
    match value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| if let Value::Scalar(s, _) = &i.value { Some(s.to_string()) } else { None })
            .collect(),
        _ => Vec::new(),
    }
}

struct Action {
    code: Option<i32>,
    stdout: String,
    summary: String,
    sarif: serde_json::Value,
    outputs: String,
}

/// Runs the Action's check step on the pull request `base`..`head` of `repo`.
fn run_action(repo: &Path, base: &str, head: &str, inputs: &[(&str, &str)]) -> Action {
    let mut payload: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/data/github/pull_request.opened.json")).unwrap(),
    )
    .unwrap();
    let pr = &mut payload["pull_request"];
    pr["base"]["sha"] = base.into();
    pr["head"]["sha"] = head.into();
    pr["head"]["ref"] = "change".into();
    pr["head"]["repo"]["full_name"] = "acme/northwind".into();
    pr["user"]["login"] = "bob".into();
    let runner = tempfile::tempdir().unwrap();
    let event = runner.path().join("event.json");
    std::fs::write(&event, serde_json::to_vec(&payload).unwrap()).unwrap();
    let (summary, outputs, sarif) =
        (runner.path().join("summary.md"), runner.path().join("outputs"), runner.path().join("report.sarif"));
    std::fs::write(&summary, "").unwrap();
    let mut command = Command::new("bash");
    command
        .arg(repo_root().join("ci/action-check.sh"))
        .current_dir(repo)
        .env("PATH", path_with_binary())
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_WORKSPACE", repo)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("INPUT_SARIF_FILE", &sarif)
        .env("INPUT_FAIL_ON", "error")
        .env("INPUT_PATH", "")
        .env("INPUT_APPROVERS", "")
        .env("NO_COLOR", "1");
    for (key, value) in inputs {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    Action {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        summary: std::fs::read_to_string(&summary).unwrap(),
        sarif: serde_json::from_slice(&std::fs::read(&sarif).unwrap_or_default()).unwrap_or(serde_json::Value::Null),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
    }
}

#[test]
fn the_action_is_as_the_contract_names_it() {
    let text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let parsed = yaml::parse(&text, yaml::Limits::default());
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let action = &parsed.documents[0].value;
    let mut inputs = keys(mapping(action, "inputs").unwrap());
    inputs.sort();
    assert_eq!(inputs, ["approvers", "fail-on", "path", "sarif-file", "version"]);
    assert_eq!(keys(mapping(action, "outputs").unwrap()), ["sarif-file"]);
    let runs = mapping(action, "runs").unwrap();
    assert!(matches!(mapping(runs, "using"), Some(Value::Scalar(s, _)) if s == "composite"));
    for script in ["ci/action-install.sh", "ci/action-check.sh"] {
        assert!(text.contains(script) && repo_root().join(script).is_file(), "{script}");
    }
}

#[test]
fn the_action_fails_a_breaking_change_with_annotations_summary_and_valid_sarif() {
    let (repo, base, head) = repository(drop_email);
    let run = run_action(repo.path(), &base, &head, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let annotation = run.stdout.lines().find(|l| l.starts_with("::error ")).expect("an error annotation");
    assert!(annotation.contains("file=zones/usa/teams/northwind/customers.yaml,line=17"), "{annotation}");
    assert!(annotation.contains("compat.column-removed"), "{annotation}");
    assert!(run.summary.contains("❌ **datasurface: failed**") && run.summary.contains("marketing"), "{}", run.summary);
    assert!(
        run.summary.contains("repo acme/northwind@change, author bob"),
        "the change source came from the event: {}",
        run.summary
    );
    crate::support::validate_json("sarif-schema-2.1.0.json", &run.sarif).unwrap();
    assert_eq!(run.sarif["runs"][0]["results"][0]["ruleId"], "compat.column-removed");
    assert!(run.outputs.starts_with("sarif-file="), "{}", run.outputs);
    // Approvers are part of the change source; ones who own nothing change nothing.
    let approved = run_action(repo.path(), &base, &head, &[("INPUT_APPROVERS", "x, y")]);
    assert_eq!(approved.code, Some(1));
    assert!(approved.summary.contains("approvers x, y"), "{}", approved.summary);
}

#[test]
fn the_action_passes_a_compatible_change_and_fails_on_warnings_when_asked() {
    let (repo, base, head) = repository(add_nullable);
    let run = run_action(repo.path(), &base, &head, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.summary.contains("✅ **datasurface: passed**"), "{}", run.summary);
    assert!(!run.stdout.contains("::error"), "{}", run.stdout);
    crate::support::validate_json("sarif-schema-2.1.0.json", &run.sarif).unwrap();
    // Topics on a cdc capture are a warning: it fails at fail-on warning only.
    let (repo, base, head) = repository(|dir| {
        let file = dir.join("zones/usa/teams/northwind/orders.yaml");
        let text = std::fs::read_to_string(&file).unwrap().replacen(
            "capture:\n",
            "capture:\n  topics: {orders: orders.v1}\n",
            1,
        );
        std::fs::write(&file, text).unwrap();
    });
    let warned = run_action(repo.path(), &base, &head, &[]);
    assert_eq!(warned.code, Some(0), "{}", warned.stdout);
    assert!(warned.stdout.contains("::warning ") && warned.stdout.contains("capture.kafka-only"), "{}", warned.stdout);
    assert_eq!(run_action(repo.path(), &base, &head, &[("INPUT_FAIL_ON", "warning")]).code, Some(1));
}

#[test]
fn the_gitlab_template_leaves_a_code_quality_report_and_the_markdown() {
    let text = std::fs::read_to_string(repo_root().join("ci/datasurface.gitlab-ci.yml")).unwrap();
    let parsed = yaml::parse(&text, yaml::Limits::default());
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let job = mapping(&parsed.documents[0].value, "datasurface").expect("a job named datasurface");
    let reports = mapping(mapping(job, "artifacts").unwrap(), "reports").unwrap();
    assert!(matches!(mapping(reports, "codequality"), Some(Value::Scalar(s, _)) if s == "gl-code-quality-report.json"));
    let script = scalars(mapping(job, "script").unwrap());
    assert!(!script.is_empty());
    for (change, code) in [(drop_email as fn(&Path), 1), (add_nullable, 0)] {
        let (repo, base, head) = repository(change);
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("set -eo pipefail\n{}", script.join("\n")))
            .current_dir(repo.path())
            .env("PATH", path_with_binary())
            .env("CI_PIPELINE_SOURCE", "merge_request_event")
            .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", &base)
            .env("CI_COMMIT_SHA", &head)
            .env("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "acme/northwind")
            .env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "change")
            .env("GITLAB_USER_LOGIN", "bob")
            .env("DATASURFACE_ROOT", "")
            .env("DATASURFACE_FAIL_ON", "error")
            .env("DATASURFACE_APPROVERS", "")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(code), "{log}{}", String::from_utf8_lossy(&output.stderr));
        let quality: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo.path().join("gl-code-quality-report.json")).unwrap()).unwrap();
        crate::support::validate_json("codequality-report.schema.derived.json", &quality).unwrap();
        let markdown = std::fs::read_to_string(repo.path().join("datasurface.md")).unwrap();
        assert!(markdown.starts_with("<!-- datasurface-report -->"));
        if code == 1 {
            assert_eq!(quality[0]["check_name"], "compat.column-removed");
            assert!(log.contains("error[compat.column-removed]"), "the job log shows the text report: {log}");
            assert!(markdown.contains("repo acme/northwind@change, author bob"), "{markdown}");
        } else {
            assert_eq!(quality.as_array().unwrap().len(), 0);
        }
    }
}
