//! Git hooks with real `git push` to a local bare remote and real `git commit`: a breaking
//! change is blocked (and `--no-verify` skips the hook), a harmless one passes at once, a
//! foreign hook is kept unless `--force`, and `core.hooksPath` is honoured.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{commit_all, copy_dir, datasurface, fixture, git, stderr, stdout};

/// Runs git in `dir` as a user would (hooks run), without the developer's configuration.
fn git_user(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("NO_COLOR", "1")
        .output()
        .expect("git runs")
}

/// A bare remote holding the example model on `main` (in `model/`, as `.datasurface.yaml`
/// says), and a clone of it.
fn remote_and_clone() -> (tempfile::TempDir, tempfile::TempDir) {
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    let clone = crate::support::new_repo();
    copy_dir(&fixture("acme"), &clone.path().join("model"));
    std::fs::write(clone.path().join(".datasurface.yaml"), "root: model\n").unwrap();
    commit_all(clone.path(), "acme");
    git(clone.path(), &["remote", "add", "origin", &remote.path().display().to_string()]);
    git(clone.path(), &["push", "-q", "origin", "main"]);
    git(clone.path(), &["fetch", "-q", "origin"]);
    git(clone.path(), &["remote", "set-head", "origin", "main"]);
    // The producer team pushes as its repository.
    git(clone.path(), &["config", "datasurface.repo", "acme/northwind"]);
    (remote, clone)
}

fn drop_email(dir: &Path) {
    let file = dir.join("model/zones/usa/teams/northwind/customers.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("        - {name: email, type: varchar(320), classifications: [PC3]}\n", "");
    std::fs::write(file, text).unwrap();
}

#[test]
fn the_pre_push_hook_blocks_a_breaking_push_and_lets_others_through() {
    let (_remote, clone) = remote_and_clone();
    let installed = datasurface(clone.path(), &["hook", "install"]);
    assert_eq!(installed.status.code(), Some(0), "{}", stderr(&installed));
    assert!(clone.path().join(".git/hooks/pre-push").is_file());

    // A change that touches no model file passes at once.
    std::fs::write(clone.path().join("NOTES.txt"), "notes\n").unwrap();
    commit_all(clone.path(), "notes");
    let push = git_user(clone.path(), &["push", "origin", "main"]);
    assert!(push.status.success(), "{}", stderr(&push));

    // A breaking change on a new branch is checked against the merge base with main, and blocked.
    git(clone.path(), &["checkout", "-q", "-b", "drop-email"]);
    drop_email(clone.path());
    commit_all(clone.path(), "drop email");
    let push = git_user(clone.path(), &["push", "origin", "drop-email"]);
    assert!(!push.status.success(), "the push must be blocked");
    let said = stderr(&push);
    assert!(said.contains("error[compat.column-removed]") && said.contains("workspace marketing"), "{said}");
    assert!(said.contains("`git push --no-verify` skips this check"), "{said}");
    // The remote did not get it; --no-verify skips the hook.
    assert!(git_user(clone.path(), &["ls-remote", "origin", "drop-email"]).stdout.is_empty());
    let push = git_user(clone.path(), &["push", "--no-verify", "origin", "drop-email"]);
    assert!(push.status.success(), "{}", stderr(&push));

    // An update of an existing branch is checked against the remote's tip: a fix passes.
    let file = clone.path().join("model/zones/usa/teams/northwind/customers.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "        - {name: full_name,",
        "        - {name: email, type: varchar(320), classifications: [PC3]}\n        - {name: full_name,",
    );
    std::fs::write(&file, text).unwrap();
    commit_all(clone.path(), "restore email");
    let push = git_user(clone.path(), &["push", "origin", "drop-email"]);
    assert!(push.status.success(), "{}", stderr(&push));
}

#[test]
fn install_keeps_foreign_hooks_and_follows_core_hooks_path() {
    let (_remote, clone) = remote_and_clone();
    let hooks = clone.path().join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join("pre-push"), "#!/bin/sh\necho mine\n").unwrap();
    let refused = datasurface(clone.path(), &["hook", "install", "--pre-push"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not a datasurface hook") && stderr(&refused).contains("--force"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read_to_string(hooks.join("pre-push")).unwrap(), "#!/bin/sh\necho mine\n");
    assert_eq!(datasurface(clone.path(), &["hook", "install", "--force"]).status.code(), Some(0));
    assert!(std::fs::read_to_string(hooks.join("pre-push")).unwrap().contains("hook run pre-push"));
    // Our own hook may be installed again without --force.
    assert_eq!(datasurface(clone.path(), &["hook", "install"]).status.code(), Some(0));
    // core.hooksPath.
    git(clone.path(), &["config", "core.hooksPath", "githooks"]);
    let output = datasurface(clone.path(), &["hook", "install", "--pre-commit"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(clone.path().join("githooks/pre-commit").is_file(), "{}", stdout(&output));
}

#[test]
fn the_pre_commit_hook_lints_what_is_staged_not_the_work_tree() {
    let (_remote, clone) = remote_and_clone();
    assert_eq!(datasurface(clone.path(), &["hook", "install", "--pre-commit"]).status.code(), Some(0));
    let file = clone.path().join("model/zones/usa/teams/northwind/orders.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    let bad = good.replacen("kind: Datastore\n", "kind: Datastore\nnmae: typo\n", 1);
    std::fs::write(&file, &bad).unwrap();
    git(clone.path(), &["add", "model/zones/usa/teams/northwind/orders.yaml"]);
    // The work tree is fixed, but the index still holds the typo: the commit is refused.
    std::fs::write(&file, &good).unwrap();
    let commit = git_user(clone.path(), &["commit", "-m", "typo staged"]);
    assert!(!commit.status.success());
    let said = stderr(&commit);
    assert!(
        said.contains("error[field.unknown]") && said.contains("`git commit --no-verify` skips this check"),
        "{said}"
    );
    // Staging the fix makes it pass; a commit of no model file passes at once.
    git(clone.path(), &["add", "-A"]);
    std::fs::write(clone.path().join("NOTES.txt"), "x\n").unwrap();
    git(clone.path(), &["add", "NOTES.txt"]);
    let commit = git_user(clone.path(), &["commit", "-m", "notes"]);
    assert!(commit.status.success(), "{}", stderr(&commit));
}
