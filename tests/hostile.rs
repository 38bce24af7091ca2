//! A hostile pull request cannot read files outside the model, exhaust memory or hang the
//! checker: excerpts come only from what the loader accepted, and every limit holds for
//! folders, git revisions and the cache alike.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{commit_all, copy_dir, fixture, git, new_repo, problem_lines, stderr, stdout};

const FORMATS: [&str; 6] = ["text", "json", "sarif", "github", "gitlab", "markdown"];

/// Runs the binary with a deadline, so that a hang fails the test instead of stalling it.
fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_datasurface"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("datasurface {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A clean minimal model with extra files in the producers' team folder.
fn model_with(dir: &Path, extra: &[(&str, &str)]) {
    copy_dir(&fixture("lint/ok-minimal"), dir);
    std::fs::remove_file(dir.join("expect.txt")).unwrap();
    for (name, text) in extra {
        std::fs::write(dir.join("zones/z/teams/producers").join(name), text).unwrap();
    }
}

fn link(dir: &Path, name: &str, target: &Path) {
    std::os::unix::fs::symlink(target, dir.join("zones/z/teams/producers").join(name)).unwrap();
}

/// A datastore file of about 2 KiB whose first line carries `marker`.
fn big_store(marker: &str) -> String {
    let mut text = format!("# {marker}\nkind: Datastore\nname: big\n");
    while text.len() < 2048 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    text
}

#[test]
fn excerpts_never_show_links_special_files_or_refused_files() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "kind: Datastore # SECRET-OUTSIDE-THE-MODEL\n").unwrap();
    let model = tempfile::tempdir().unwrap();
    model_with(model.path(), &[("big.yaml", &big_store("REFUSED-FILE-MARKER"))]);
    link(model.path(), "leak.yaml", &outside.path().join("secret.yaml"));
    link(model.path(), "environ.yaml", Path::new("/proc/self/environ"));
    link(model.path(), "zero.yaml", Path::new("/dev/zero"));
    let secret = [("DATASURFACE_TEST_SECRET", "ci-secret-d41d8cd98f00b204")];
    for format in FORMATS {
        let output = run(model.path(), &["lint", ".", "--max-file-size", "1KiB", "--format", format], &secret);
        let all = stdout(&output) + &stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{format}: {all}");
        for leak in ["ci-secret-d41d8cd98f00b204", "SECRET-OUTSIDE-THE-MODEL", "REFUSED-FILE-MARKER"] {
            assert!(!all.contains(leak), "{format} shows `{leak}`:\n{all}");
        }
        if format == "json" {
            let mut lines = problem_lines(&stdout(&output));
            lines.sort();
            assert_eq!(
                lines,
                vec![
                    "file.symlink zones/z/teams/producers/environ.yaml:1:1",
                    "file.symlink zones/z/teams/producers/leak.yaml:1:1",
                    "file.symlink zones/z/teams/producers/zero.yaml:1:1",
                    "file.too-large zones/z/teams/producers/big.yaml:1:1",
                ]
            );
        }
    }
}

#[test]
fn excerpts_from_git_come_from_the_blob_the_loader_accepted() {
    let repo = new_repo();
    model_with(repo.path(), &[("big.yaml", &big_store("REFUSED-BLOB-MARKER"))]);
    commit_all(repo.path(), "model with a big file");
    // The work tree differs from the revision: excerpts must not read it.
    std::fs::write(repo.path().join("zones/z/teams/producers/big.yaml"), "# WORK-TREE-MARKER\n").unwrap();
    for format in FORMATS {
        let output =
            run(repo.path(), &["lint", ".", "--rev", "HEAD", "--max-file-size", "1KiB", "--format", format], &[]);
        let all = stdout(&output) + &stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{format}: {all}");
        assert!(!all.contains("REFUSED-BLOB-MARKER") && !all.contains("WORK-TREE-MARKER"), "{format}:\n{all}");
    }
}

#[test]
fn the_file_size_limit_holds_for_git_revisions_on_both_sides_of_a_check() {
    let repo = new_repo();
    model_with(repo.path(), &[]);
    // The base's datastore file is over the limit (padded with a comment).
    let store = repo.path().join("zones/z/teams/producers/store.yaml");
    let original = std::fs::read_to_string(&store).unwrap();
    std::fs::write(&store, format!("{original}{}", "# padding\n".repeat(200))).unwrap();
    commit_all(repo.path(), "base: a big store file");
    git(repo.path(), &["tag", "base"]);
    let lint = run(repo.path(), &["lint", ".", "--rev", "base", "--max-file-size", "1KiB", "--format", "json"], &[]);
    // The sink on the unread datastore cannot be resolved; its help names the unread file.
    assert_eq!(
        problem_lines(&stdout(&lint)),
        vec![
            "ref.unknown zones/z/teams/consumers/ws.yaml:8:21",
            "file.too-large zones/z/teams/producers/store.yaml:1:1"
        ]
    );

    // The head shrinks the file and drops a consumed column: the base side cannot be compared.
    std::fs::write(&store, original.replace("        - {name: label, type: varchar(20)}\n", "")).unwrap();
    commit_all(repo.path(), "head: small again, without `label`");
    let args = ["check", "--as-repo", "lintco/producers", "--max-file-size", "1KiB", "--format", "json"];
    let check = run(repo.path(), &[&args[..], &["--base", "base"]].concat(), &[]);
    assert_eq!(
        problem_lines(&stdout(&check)),
        vec!["compat.base-unreadable zones/z/teams/producers/store.yaml:2:7"],
        "{}",
        stderr(&check)
    );

    // The head over the limit is a file problem of the head.
    std::fs::write(&store, format!("{original}{}", "# padding\n".repeat(200))).unwrap();
    commit_all(repo.path(), "head: big again");
    let check = run(repo.path(), &[&args[..], &["--base", "HEAD~1"]].concat(), &[]);
    assert!(
        problem_lines(&stdout(&check)).contains(&"file.too-large zones/z/teams/producers/store.yaml:1:1".to_string()),
        "{}",
        stdout(&check)
    );
}

#[test]
fn the_model_limits_hold_for_folders_revisions_and_the_cache() {
    let repo = new_repo();
    model_with(repo.path(), &[]);
    commit_all(repo.path(), "model");
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let modes: [&[&str]; 3] = [&["."], &[".", "--rev", "HEAD"], &[".", "--rev", "HEAD", "--cache-dir", cache_dir]];
    // The cache is warmed without the limit first, so that the limited run reads from it.
    let warm = run(repo.path(), &["lint", ".", "--rev", "HEAD", "--cache-dir", cache_dir], &[]);
    assert_eq!(warm.status.code(), Some(0), "{}", stderr(&warm));
    for mode in modes {
        for (flag, value) in [("--max-model-size", "1KiB"), ("--max-model-files", "3")] {
            let output = run(repo.path(), &[&["lint"], mode, &[flag, value]].concat(), &[]);
            assert_eq!(output.status.code(), Some(2), "{mode:?} {flag}: {}", stdout(&output));
            let message = stderr(&output);
            assert!(message.contains(flag) && message.lines().count() == 1, "{mode:?} {flag}: {message}");
        }
        // Within the limits the same model passes.
        let output = run(
            repo.path(),
            &[&["lint"], mode, &["--max-model-size", "64KiB", "--max-model-files", "8"]].concat(),
            &[],
        );
        assert_eq!(output.status.code(), Some(0), "{mode:?}: {}", stderr(&output));
    }
    let check = run(repo.path(), &["check", "--base", "HEAD", "--max-model-files", "3"], &[]);
    assert_eq!(check.status.code(), Some(2));
    assert!(stderr(&check).contains("--max-model-files"), "{}", stderr(&check));
}

/// The model limits count the folders a warm check takes from the global index, unread: a
/// check from the index refuses a model over a limit exactly as a full check does.
#[test]
fn the_model_limits_hold_for_checks_from_the_global_index() {
    let repo = new_repo();
    model_with(repo.path(), &[]);
    commit_all(repo.path(), "model");
    let store = std::fs::read_dir(repo.path().join("zones/z/teams/producers"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("kind: Datastore")))
        .expect("the minimal model has a datastore");
    let text = std::fs::read_to_string(&store).unwrap();
    std::fs::write(&store, text.replacen("name:", "documentation: changed\nname:", 1)).unwrap();
    commit_all(repo.path(), "one file");
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let check = |extra: &[&str]| {
        let args = [&["check", "--base", "HEAD~1", "--head", "HEAD", "--cache-dir", cache_dir][..], extra].concat();
        run(repo.path(), &args, &[("DATASURFACE_WARM_INDEX", "always"), ("DATASURFACE_TIMINGS", "1")])
    };
    // The first check writes the index; the second is served from it.
    assert_ne!(check(&[]).status.code(), Some(2));
    let warm = check(&[]);
    assert!(stderr(&warm).contains("timing: warm index"), "the index was not used: {}", stderr(&warm));
    for (flag, value) in [("--max-model-size", "1KiB"), ("--max-model-files", "3")] {
        let output = check(&[flag, value]);
        assert_eq!(output.status.code(), Some(2), "{flag}: {}", stdout(&output));
        assert!(stderr(&output).contains(flag), "{flag}: {}", stderr(&output));
    }
}
