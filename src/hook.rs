//! Git hooks: `datasurface hook install` writes a `pre-push` or `pre-commit` hook that calls
//! `datasurface hook run`, which checks each pushed ref (base: the remote's tip, or the merge
//! base with the default branch for a new branch) or lints the staged model (the index, not
//! the work tree). When no file of the model changed, it returns at once.
//!
//! The few git questions a hook asks (where hooks live, the remote's default branch, the index
//! as a tree) go to the `git` program that runs the hook anyway.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context;

use crate::authz::ChangeSource;
use crate::load::{self, GitRepo};
use crate::problem::Revision;
use crate::verdict::Outcome;

/// Marks a hook as ours, so `install` knows it may replace it.
const MARKER: &str = "# datasurface hook";
const ZERO: &str = "0000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    PrePush,
    PreCommit,
}

impl Kind {
    fn file_name(self) -> &'static str {
        match self {
            Kind::PrePush => "pre-push",
            Kind::PreCommit => "pre-commit",
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git").args(args).current_dir(dir).output().context("running git")?;
    if !output.status.success() {
        anyhow::bail!("git {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn git_ok(dir: &Path, args: &[&str]) -> Option<String> {
    git(dir, args).ok().filter(|s| !s.is_empty())
}

/// Writes the hook into the repository at `dir` (the folder `core.hooksPath` names, or
/// `.git/hooks`), refusing to replace a hook that is not ours unless `force`.
pub fn install(dir: &Path, kind: Kind, force: bool) -> anyhow::Result<PathBuf> {
    let hooks = PathBuf::from(git(dir, &["rev-parse", "--git-path", "hooks"])?);
    let hooks = if hooks.is_absolute() { hooks } else { dir.join(hooks) };
    std::fs::create_dir_all(&hooks).with_context(|| format!("creating {}", hooks.display()))?;
    let path = hooks.join(kind.file_name());
    if let Ok(existing) = std::fs::read_to_string(&path)
        && !existing.contains(MARKER)
        && !force
    {
        anyhow::bail!(
            "{} exists and is not a datasurface hook; keep it, or replace it with `datasurface hook install --force`",
            path.display()
        );
    }
    let exe = std::env::current_exe().context("finding the datasurface binary")?;
    let script = format!(
        "#!/bin/sh\n{MARKER} (written by `datasurface hook install`; `git {} --no-verify` skips it)\n\
         exe='{}'\n[ -x \"$exe\" ] || exe=datasurface\nexec \"$exe\" hook run {} \"$@\"\n",
        if kind == Kind::PrePush { "push" } else { "commit" },
        exe.display().to_string().replace('\'', "'\\''"),
        kind.file_name()
    );
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(path)
}

/// `owner/name` from a remote URL (`git@github.com:acme/model.git`, `https://host/acme/model`).
pub fn repo_from_url(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme == "file" {
            return None;
        }
        rest.split_once('/')?.1
    } else if let Some((_, rest)) = url.split_once(':').filter(|(host, _)| host.contains('@') || !host.contains('/')) {
        rest
    } else {
        return None;
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (segments.len() >= 2).then(|| segments.join("/"))
}

/// The model root from `.datasurface.yaml` of `rev`, else the repository root.
fn model_root(repo: &GitRepo, rev: &str) -> String {
    load::configured_root(repo, rev).ok().flatten().unwrap_or_default()
}

/// What to check for one pushed ref.
struct Push {
    local_sha: String,
    remote_ref: String,
    remote_sha: String,
}

/// The refs being pushed: git's protocol on stdin (`<local ref> <local sha> <remote ref>
/// <remote sha>` per line), or the pre-commit framework's environment.
fn pushes(stdin: &str) -> Vec<Push> {
    let mut out: Vec<Push> = stdin
        .lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [_, local_sha, remote_ref, remote_sha] => Some(Push {
                    local_sha: local_sha.to_string(),
                    remote_ref: remote_ref.to_string(),
                    remote_sha: remote_sha.to_string(),
                }),
                _ => None,
            }
        })
        .collect();
    if out.is_empty()
        && let Ok(to) = std::env::var("PRE_COMMIT_TO_REF")
    {
        out.push(Push {
            local_sha: to,
            remote_ref: std::env::var("PRE_COMMIT_REMOTE_BRANCH").unwrap_or_default(),
            remote_sha: std::env::var("PRE_COMMIT_FROM_REF").unwrap_or_else(|_| ZERO.into()),
        });
    }
    out
}

/// Runs the hook; `args` are what git passed it (the remote's name and URL for pre-push).
pub fn run(kind: Kind, args: &[String]) -> anyhow::Result<ExitCode> {
    let dir = std::env::current_dir()?;
    let top = PathBuf::from(git(&dir, &["rev-parse", "--show-toplevel"])?);
    let repo = GitRepo::discover(&top)?;
    match kind {
        Kind::PreCommit => pre_commit(&top, &repo),
        Kind::PrePush => {
            let mut stdin = String::new();
            if !std::io::stdin().is_terminal() {
                let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut stdin);
            }
            let remote = args
                .first()
                .cloned()
                .or_else(|| std::env::var("PRE_COMMIT_REMOTE_NAME").ok())
                .unwrap_or_else(|| "origin".into());
            let url = args.get(1).cloned().or_else(|| std::env::var("PRE_COMMIT_REMOTE_URL").ok()).unwrap_or_default();
            let mut failed = false;
            for push in pushes(&stdin) {
                failed |= pre_push(&top, &repo, &remote, &url, &push)?;
            }
            if failed {
                eprintln!(
                    "datasurface: the push is blocked by the errors above (`git push --no-verify` skips this check)"
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The commit the pushed ref starts from: the remote's tip, or for a new branch the merge
/// base with the remote's default branch.
fn push_base(top: &Path, remote: &str, push: &Push) -> Option<String> {
    if push.remote_sha != ZERO && git(top, &["cat-file", "-e", &format!("{}^{{commit}}", push.remote_sha)]).is_ok() {
        return Some(push.remote_sha.clone());
    }
    let default = git_ok(top, &["symbolic-ref", "--quiet", &format!("refs/remotes/{remote}/HEAD")]).or_else(|| {
        ["main", "master"]
            .iter()
            .map(|b| format!("refs/remotes/{remote}/{b}"))
            .find(|r| git(top, &["rev-parse", "--verify", "--quiet", r]).is_ok())
    })?;
    git_ok(top, &["merge-base", &default, &push.local_sha])
}

/// Checks one pushed ref; `true` when it has errors.
fn pre_push(top: &Path, repo: &GitRepo, remote: &str, url: &str, push: &Push) -> anyhow::Result<bool> {
    if push.local_sha == ZERO {
        return Ok(false); // A deleted ref has nothing to check.
    }
    let Some(base) = push_base(top, remote, push) else {
        // No common history with the remote: there is nothing to compare with.
        return lint_rev(repo, &push.local_sha, &model_root(repo, &push.local_sha), "git push");
    };
    let root = model_root(repo, &base);
    let base_snapshot = repo.snapshot(&base, &root)?;
    let head_snapshot = repo.snapshot(&push.local_sha, &root)?;
    if load::changed_paths(&base_snapshot, &head_snapshot)?.is_empty() {
        return Ok(false);
    }
    let config = |key: &str| git_ok(top, &["config", "--get", key]);
    let branch = push.remote_ref.strip_prefix("refs/heads/").unwrap_or(&push.remote_ref).to_string();
    let mut source = ChangeSource {
        repo: config("datasurface.repo").or_else(|| repo_from_url(url)),
        branch: Some(branch).filter(|b| !b.is_empty()),
        ..ChangeSource::default()
    };
    if let Some(user) = config("datasurface.user") {
        source.author = Some(user.clone());
        source.users.push(user);
    }
    let label = |rev: &str| rev[..rev.len().min(10)].to_string();
    let config = crate::check::CheckConfig {
        base: crate::check::Side { snapshot: base_snapshot, label: label(&base), commit: Some(base.clone()) },
        head: crate::check::Side {
            snapshot: head_snapshot,
            label: label(&push.local_sha),
            commit: Some(push.local_sha.clone()),
        },
        source,
        load: load::Options::default(),
    };
    let output = crate::check::check(config, &load::ParseCache::default())?;
    let max = load::DEFAULT_MAX_FILE_SIZE;
    let sources = |revision: Revision, path: &str| match revision {
        Revision::Base => output.base.excerpt(&output.base_model, path, max),
        Revision::Head => output.head.excerpt(&output.head_model, path, max),
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text =
        crate::report::text::render(&output.report, &sources, crate::report::text::Options { color, quiet: false });
    let _ = std::io::stderr().write_all(text.as_bytes());
    Ok(output.report.outcome() == Outcome::Fail)
}

/// Lints the model at `rev` (a commit or a tree); `true` when it has errors.
fn lint_rev(repo: &GitRepo, rev: &str, root: &str, skip: &str) -> anyhow::Result<bool> {
    let snapshot = repo.snapshot(rev, root)?;
    let model = load::load(&snapshot, &load::Options::default())?;
    if model.files.is_empty() {
        return Ok(false);
    }
    let problems = crate::validate::lint(&model);
    let report = crate::verdict::Report {
        command: "lint",
        root: crate::validate::Paths::new(&model).ecosystem().remove(0),
        problems,
        files: model.files.len(),
        notes: Vec::new(),
        check: None,
        fail_on: crate::problem::Severity::Error,
    };
    let sources = |_: Revision, path: &str| snapshot.excerpt(&model, path, load::DEFAULT_MAX_FILE_SIZE);
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = crate::report::text::render(&report, &sources, crate::report::text::Options { color, quiet: false });
    let _ = std::io::stderr().write_all(text.as_bytes());
    let failed = report.outcome() == Outcome::Fail;
    if failed {
        eprintln!("datasurface: blocked by the errors above (`{skip} --no-verify` skips this check)");
    }
    Ok(failed)
}

/// Lints the staged model: the index written as a tree, so what is committed is what is
/// checked, whatever the work tree holds.
fn pre_commit(top: &Path, repo: &GitRepo) -> anyhow::Result<ExitCode> {
    let staged = git(top, &["write-tree"])?;
    let head = git_ok(top, &["rev-parse", "--verify", "--quiet", "HEAD^{tree}"]);
    let root = match &head {
        Some(_) => model_root(repo, "HEAD"),
        None => model_root(repo, &staged),
    };
    if let Some(head) = &head {
        let before = repo.snapshot(head, &root)?;
        let after = repo.snapshot(&staged, &root)?;
        if load::changed_paths(&before, &after)?.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    Ok(if lint_rev(repo, &staged, &root, "git commit")? { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_from_remote_urls() {
        assert_eq!(repo_from_url("git@github.com:acme/model.git").as_deref(), Some("acme/model"));
        assert_eq!(repo_from_url("https://github.com/acme/model").as_deref(), Some("acme/model"));
        assert_eq!(repo_from_url("https://gitlab.com/group/sub/model.git/").as_deref(), Some("group/sub/model"));
        assert_eq!(repo_from_url("ssh://git@host:22/acme/model.git").as_deref(), Some("acme/model"));
        assert_eq!(repo_from_url("/srv/git/model.git"), None);
        assert_eq!(repo_from_url("file:///srv/git/acme/model.git"), None);
    }

    #[test]
    fn git_pre_push_protocol() {
        let stdin = format!("refs/heads/main abc refs/heads/main def\nrefs/heads/gone {ZERO} refs/heads/gone abc\n\n");
        let pushes = pushes(&stdin);
        assert_eq!(pushes.len(), 2);
        assert_eq!((pushes[0].local_sha.as_str(), pushes[0].remote_sha.as_str()), ("abc", "def"));
        assert_eq!(pushes[1].local_sha, ZERO);
    }
}
