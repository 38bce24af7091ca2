//! What a queued check carries: enough to find the pull request again, and what the event
//! said about it when it had it (clone URLs, head and base), as JSON in the queue.

use crate::forge::github::Pull;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PullJob {
    pub forge: String,
    /// The App installation, when the event named it (else looked up by repository).
    pub installation: Option<u64>,
    /// The base repository, `owner/name`.
    pub repo: String,
    pub number: u64,
    /// The head the event was about, when it said.
    pub head_sha: Option<String>,
    /// The pull request as the event described it (absent for re-run requests: then the
    /// worker asks the API).
    pub pull: Option<Pull>,
    /// `pull_request.synchronize`, for logs and metrics.
    pub event: String,
    pub delivery: String,
    /// GitLab: the target project's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<u64>,
    /// A chat-ops command to answer instead of a plain check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandJob>,
}

/// A command written in a comment, with what the reply needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandJob {
    /// The comment (GitHub issue comment, GitLab note) id.
    pub comment: u64,
    /// GitLab: the discussion the note is in, where the reply goes.
    #[serde(default)]
    pub discussion: Option<String>,
    /// The commenter's login and (GitLab) user id.
    pub user: String,
    #[serde(default)]
    pub user_id: Option<u64>,
    pub command: super::chatops::Command,
    /// Further command lines of the comment, which are not run.
    #[serde(default)]
    pub ignored: Vec<String>,
}

impl PullJob {
    /// The pull request's own key (checks, and the approvals stored for it).
    pub fn pull_key(&self) -> String {
        format!("{}:{}#{}", self.forge, self.repo.to_ascii_lowercase(), self.number)
    }

    /// The queue key: one active check per pull request; a command is a job of its own (it
    /// never supersedes a check, nor another command).
    pub fn key(&self) -> String {
        match &self.command {
            None => self.pull_key(),
            Some(command) => format!("{}/comment/{}", self.pull_key(), command.comment),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<PullJob, String> {
        serde_json::from_str(text).map_err(|e| format!("a queued job that does not read back: {e}"))
    }
}
