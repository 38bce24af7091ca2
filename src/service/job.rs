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
}

impl PullJob {
    /// The queue key: one active job per pull request.
    pub fn key(&self) -> String {
        format!("{}:{}#{}", self.forge, self.repo.to_ascii_lowercase(), self.number)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<PullJob, String> {
        serde_json::from_str(text).map_err(|e| format!("a queued job that does not read back: {e}"))
    }
}
