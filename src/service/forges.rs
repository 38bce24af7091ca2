//! The forges a worker serves, behind one small interface: the worker asks for the pull
//! request, credentials, approvers and memberships, and says "begin", "finish", "comment",
//! "react" and "reply"; each forge turns that into its own calls (GitHub check runs and issue
//! comments; GitLab commit statuses, notes and award emoji). The worker never asks which
//! forge it serves.

use std::sync::Arc;

use serde_json::json;

use super::job::{CommandJob, PullJob};
use super::publish;
use crate::forge::github::{Comment, GitHubApp, Pull};
use crate::forge::gitlab::GitLab;
use crate::forge::{Error, Result};

#[derive(Clone)]
pub enum Forge {
    GitHub(Arc<GitHubApp>),
    GitLab(Arc<GitLab>),
}

/// How a check ended, for the forge's own record of it.
pub enum End<'a> {
    /// A newer head is checked instead (`summary` says which).
    Cancelled { summary: String, newer_sha: Option<String> },
    /// The check could not run.
    Unchecked { reason: &'a str },
    /// The pull request changes no model file.
    NoChange { summary: &'a str },
    /// The report, its Markdown summary and the link to the full page.
    Report { report: &'a crate::verdict::Report, summary: &'a str, details: Option<&'a str> },
}

/// The run a check created (a GitHub check run's id; GitLab has none: statuses are per SHA).
pub type Run = Option<u64>;

/// What `begin` found.
pub enum Begun {
    Run(Run),
    /// An earlier attempt of the same run completed it already (its worker died before the
    /// job was marked done): nothing more to post.
    AlreadyDone,
}

/// GitLab's description of a status holds at most 255 characters.
fn short(text: &str) -> String {
    text.chars().take(250).collect()
}

impl Forge {
    pub fn name(&self) -> &'static str {
        match self {
            Forge::GitHub(_) => "github",
            Forge::GitLab(_) => "gitlab",
        }
    }

    async fn installation(&self, job: &PullJob) -> Result<u64> {
        match (self, job.installation) {
            (_, Some(id)) => Ok(id),
            (Forge::GitHub(github), None) => github.installation_of(&job.repo).await,
            (Forge::GitLab(_), None) => Ok(0),
        }
    }

    fn project(job: &PullJob) -> Result<u64> {
        job.project.ok_or_else(|| Error::Other("a GitLab job without a project id".into()))
    }

    /// What membership answers are cached under (the installation, or the project).
    pub async fn scope(&self, job: &PullJob) -> u64 {
        match self {
            Forge::GitHub(_) => self.installation(job).await.unwrap_or_default(),
            Forge::GitLab(_) => job.project.unwrap_or_default(),
        }
    }

    /// The pull request as it is now. GitHub: the event's when it is complete, else the API's.
    /// GitLab: the API's (the hook carries no base SHA), with the clone URLs and project paths
    /// of the hook, which are used as given.
    pub async fn pull(&self, job: &PullJob) -> Result<Pull> {
        match self {
            Forge::GitHub(github) => match &job.pull {
                Some(pull)
                    if !pull.head_sha.is_empty() && !pull.base_sha.is_empty() && !pull.base_clone_url.is_empty() =>
                {
                    Ok(pull.clone())
                }
                _ => github.pull(self.installation(job).await?, &job.repo, job.number).await,
            },
            Forge::GitLab(gitlab) => gitlab.merge_request(Self::project(job)?, job.number, job.pull.as_ref()).await,
        }
    }

    /// The user and token to fetch over HTTPS with.
    pub async fn credentials(&self, job: &PullJob) -> Result<(String, String)> {
        match self {
            Forge::GitHub(github) => {
                Ok(("x-access-token".into(), github.token(self.installation(job).await?, false).await?))
            }
            Forge::GitLab(gitlab) => Ok(("oauth2".into(), gitlab.token().to_string())),
        }
    }

    /// The ref in the base repository that holds the head, also a fork's.
    pub fn head_ref(&self, number: u64) -> String {
        match self {
            Forge::GitHub(_) => format!("refs/pull/{number}/head"),
            Forge::GitLab(_) => format!("refs/merge-requests/{number}/head"),
        }
    }

    pub async fn approvers(&self, job: &PullJob, pull: &Pull) -> Result<Vec<String>> {
        match self {
            Forge::GitHub(github) => {
                github.approvers(self.installation(job).await?, &pull.base_repo, pull.number, &pull.head_sha).await
            }
            Forge::GitLab(gitlab) => gitlab.approvers(Self::project(job)?, pull.number).await,
        }
    }

    pub async fn is_member(&self, job: &PullJob, team: &str, user: &str) -> Result<bool> {
        match self {
            Forge::GitHub(github) => github.is_member(self.installation(job).await?, team, user).await,
            Forge::GitLab(gitlab) => gitlab.is_member(team, user).await,
        }
    }

    fn gitlab_status(pull: &Pull, state: &str, description: &str, target_url: Option<&str>) -> serde_json::Value {
        let mut body = json!({
            "state": state,
            "name": publish::CHECK_NAME,
            "ref": format!("refs/merge-requests/{}/head", pull.number),
            "description": short(description),
        });
        if let Some(url) = target_url {
            body["target_url"] = url.into();
        }
        body
    }

    /// The check of `pull` starts: a check run `in_progress`; a status `pending`, then
    /// `running`.
    pub async fn begin(&self, job: &PullJob, pull: &Pull, external_id: String, started: String) -> Result<Begun> {
        match self {
            Forge::GitHub(github) => {
                let installation = self.installation(job).await?;
                // An earlier attempt of this very run (same job and generation) that died on the
                // way left its check run: go on with it, or stop if it was completed.
                let earlier = github.runs_on(installation, &pull.base_repo, &pull.head_sha).await?;
                if let Some((id, status, _)) = earlier.iter().find(|(_, _, e)| *e == external_id) {
                    return Ok(if status == "completed" { Begun::AlreadyDone } else { Begun::Run(Some(*id)) });
                }
                let body = json!({
                    "name": publish::CHECK_NAME,
                    "head_sha": pull.head_sha,
                    "status": "in_progress",
                    "started_at": started,
                    "external_id": external_id,
                });
                Ok(Begun::Run(Some(github.create_check_run(installation, &pull.base_repo, &body).await?)))
            }
            Forge::GitLab(gitlab) => {
                let project = Self::project(job)?;
                gitlab
                    .set_status(project, &pull.head_sha, &Self::gitlab_status(pull, "pending", "queued", None))
                    .await?;
                gitlab
                    .set_status(project, &pull.head_sha, &Self::gitlab_status(pull, "running", "checking", None))
                    .await?;
                Ok(Begun::Run(None))
            }
        }
    }

    pub async fn finish(&self, job: &PullJob, pull: &Pull, run: Run, end: End<'_>, now: String) -> Result<()> {
        match self {
            Forge::GitHub(github) => {
                let installation = self.installation(job).await?;
                let Some(run) = run else { return Ok(()) };
                let bodies = match end {
                    End::Cancelled { summary, .. } => vec![json!({
                        "status": "completed",
                        "conclusion": "cancelled",
                        "completed_at": now,
                        "output": {"title": "superseded", "summary": summary},
                    })],
                    End::Unchecked { reason } => vec![json!({
                        "status": "completed",
                        "conclusion": "neutral",
                        "completed_at": now,
                        "output": {"title": "datasurface could not check this pull request", "summary": publish::cut(reason.to_string(), publish::MAX_SUMMARY)},
                    })],
                    End::NoChange { summary } => vec![json!({
                        "status": "completed",
                        "conclusion": "success",
                        "completed_at": now,
                        "output": {"title": "no model changes", "summary": summary},
                    })],
                    End::Report { report, summary, details } => {
                        publish::completion_requests(report, summary, details, &now)
                    }
                };
                for body in &bodies {
                    github.update_check_run(installation, &pull.base_repo, run, body).await?;
                }
                Ok(())
            }
            Forge::GitLab(gitlab) => {
                let project = Self::project(job)?;
                let status = match end {
                    End::Cancelled { newer_sha, .. } => {
                        // Statuses are per SHA: a re-run of the same head sets its own.
                        if newer_sha.is_none() || newer_sha.as_deref() == Some(&pull.head_sha) {
                            return Ok(());
                        }
                        Self::gitlab_status(
                            pull,
                            "canceled",
                            &format!("superseded by {}", newer_sha.unwrap_or_default()),
                            None,
                        )
                    }
                    End::Unchecked { reason } => {
                        Self::gitlab_status(pull, "failed", &format!("could not check: {reason}"), None)
                    }
                    End::NoChange { .. } => Self::gitlab_status(pull, "success", "no model changes", None),
                    End::Report { report, details, .. } => {
                        let state = if publish::conclusion(report) == "success" { "success" } else { "failed" };
                        Self::gitlab_status(pull, state, &publish::title(report), details)
                    }
                };
                gitlab.set_status(project, &pull.head_sha, &status).await
            }
        }
    }

    /// After the last attempt: a neutral check run (GitHub) or a failed status (GitLab)
    /// with the reason.
    pub async fn give_up(&self, job: &PullJob, head_sha: &str, message: &str, now: String) -> Result<()> {
        match self {
            Forge::GitHub(github) => {
                let body = json!({
                    "name": publish::CHECK_NAME,
                    "head_sha": head_sha,
                    "status": "completed",
                    "conclusion": "neutral",
                    "completed_at": now,
                    "output": {"title": "datasurface could not publish its result", "summary": message},
                });
                github.create_check_run(self.installation(job).await?, &job.repo, &body).await.map(|_| ())
            }
            Forge::GitLab(gitlab) => {
                let pull = Pull { number: job.number, ..Pull::default() };
                let body = Self::gitlab_status(&pull, "failed", "datasurface could not publish its result", None);
                gitlab.set_status(Self::project(job)?, head_sha, &body).await
            }
        }
    }

    /// The bot's own comments on the pull request (a comment by anyone else is never taken
    /// for ours, whatever it starts with).
    pub async fn comments(&self, job: &PullJob, pull: &Pull) -> Result<Vec<Comment>> {
        match self {
            Forge::GitHub(github) => {
                let all = github.comments(self.installation(job).await?, &pull.base_repo, pull.number).await?;
                Ok(all.into_iter().filter(|c| github.is_own_login(&c.author)).collect())
            }
            Forge::GitLab(gitlab) => {
                let (_, me) = gitlab.me().await?;
                let all = gitlab.notes(Self::project(job)?, pull.number).await?;
                Ok(all.into_iter().filter(|c| c.author.eq_ignore_ascii_case(&me)).collect())
            }
        }
    }

    pub async fn create_comment(&self, job: &PullJob, pull: &Pull, body: &str) -> Result<u64> {
        match self {
            Forge::GitHub(github) => {
                github.create_comment(self.installation(job).await?, &pull.base_repo, pull.number, body).await
            }
            Forge::GitLab(gitlab) => gitlab.create_note(Self::project(job)?, pull.number, body).await,
        }
    }

    pub async fn update_comment(&self, job: &PullJob, pull: &Pull, id: u64, body: &str) -> Result<()> {
        match self {
            Forge::GitHub(github) => {
                github.update_comment(self.installation(job).await?, &pull.base_repo, id, body).await
            }
            Forge::GitLab(gitlab) => gitlab.update_note(Self::project(job)?, pull.number, id, body).await,
        }
    }

    /// Why a command is not acted on, if it is not: the bot's own comment, a bot's, or an
    /// account without read access (GitHub: the collaborator permission; GitLab: Reporter).
    pub async fn refuse_command(&self, job: &PullJob, command: &CommandJob) -> Result<Option<String>> {
        match self {
            Forge::GitHub(github) => {
                let installation = self.installation(job).await?;
                if command.user.ends_with("[bot]") {
                    return Ok(Some(format!("{} is a bot", command.user)));
                }
                let permission = github.permission(installation, &job.repo, &command.user).await?;
                Ok(match permission.as_str() {
                    "admin" | "maintain" | "write" | "triage" | "read" => None,
                    other => Some(format!("{} has no read access to {} ({other})", command.user, job.repo)),
                })
            }
            Forge::GitLab(gitlab) => {
                let project = Self::project(job)?;
                let (me_id, me_name) = gitlab.me().await?;
                let user_id = match command.user_id {
                    Some(id) => id,
                    None => match gitlab.user_id(&command.user).await? {
                        Some(id) => id,
                        None => return Ok(Some(format!("no GitLab user {}", command.user))),
                    },
                };
                if user_id == me_id || command.user.eq_ignore_ascii_case(&me_name) {
                    return Ok(Some("the bot's own note".into()));
                }
                if gitlab.is_bot(user_id).await? {
                    return Ok(Some(format!("{} is a bot", command.user)));
                }
                let level = gitlab.access_level(project, user_id).await?;
                Ok((level < 20)
                    .then(|| format!("{} has access level {level} on the project, below Reporter (20)", command.user)))
            }
        }
    }

    /// A reaction to the command's comment: `eyes`, `rocket` or `confused`.
    pub async fn react(&self, job: &PullJob, command: &CommandJob, emoji: &str) -> Result<()> {
        match self {
            Forge::GitHub(github) => {
                github.react(self.installation(job).await?, &job.repo, command.comment, emoji).await
            }
            Forge::GitLab(gitlab) => gitlab.award(Self::project(job)?, job.number, command.comment, emoji).await,
        }
    }

    /// The one reply to a command: a comment (GitHub), a reply in the note's discussion
    /// (GitLab, else a note).
    pub async fn reply(&self, job: &PullJob, command: &CommandJob, body: &str) -> Result<()> {
        match self {
            Forge::GitHub(github) => {
                github.create_comment(self.installation(job).await?, &job.repo, job.number, body).await.map(|_| ())
            }
            Forge::GitLab(gitlab) => {
                let project = Self::project(job)?;
                if let Some(discussion) = &command.discussion
                    && gitlab.reply(project, job.number, discussion, body).await.is_ok()
                {
                    return Ok(());
                }
                gitlab.create_note(project, job.number, body).await.map(|_| ())
            }
        }
    }
}
