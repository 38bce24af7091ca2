//! The GitLab client: a project, group or bot access token (`PRIVATE-TOKEN`), the v4 REST
//! calls the bot makes, pagination by `X-Next-Page`, and the shared retry and rate-limit
//! policy of `Http`. Projects are addressed by id; the API base URL is always the configured
//! one (`<url>/api/v4`), never a URL from a webhook payload.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::github::{Comment, Pull};
use super::{Error, Http, Request, Response, Result};

pub struct GitLab {
    http: Http,
    api: String,
    token: String,
    /// Usernames to user ids (`GET /users?username=`).
    users: Mutex<HashMap<String, Option<u64>>>,
    /// The token's own user (`GET /user`): its id and username.
    me: Mutex<Option<(u64, String)>>,
    /// Writes one at a time, at least `write_interval` apart, and when the last one was made.
    writes: tokio::sync::Mutex<Option<std::time::Instant>>,
    write_interval: std::time::Duration,
}

/// A discussion on a merge request: its id, whether it is resolved, and its first note.
#[derive(Clone, Debug)]
pub struct Discussion {
    pub id: String,
    pub resolved: bool,
    pub body: String,
    /// The username of its first note's author.
    pub author: String,
}

/// Where on the diff a discussion goes (GitLab's `position` of type `text`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub path: String,
    pub new_line: Option<u32>,
    pub old_line: Option<u32>,
}

/// A merge request's path component: ids are numbers; a path is URL-encoded.
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl GitLab {
    /// `url` is the instance (`https://gitlab.com`); the API is `<url>/api/v4`.
    pub fn new(http: Http, url: &str, token: &str) -> GitLab {
        GitLab {
            http,
            api: format!("{}/api/v4", url.trim_end_matches('/')),
            token: token.to_string(),
            users: Mutex::new(HashMap::new()),
            me: Mutex::new(None),
            writes: tokio::sync::Mutex::new(None),
            write_interval: std::time::Duration::ZERO,
        }
    }

    /// Sets the least time between two writes.
    pub fn with_write_interval(mut self, interval: std::time::Duration) -> GitLab {
        self.write_interval = interval;
        self
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Response> {
        let mut write = None;
        if method != reqwest::Method::GET {
            let guard = self.writes.lock().await;
            if let Some(last) = *guard {
                let next = last + self.write_interval;
                let now = std::time::Instant::now();
                if next > now {
                    tokio::time::sleep(next - now).await;
                }
            }
            write = Some(guard);
        }
        let result = self.send(method, path, body).await;
        if let Some(mut guard) = write {
            *guard = Some(std::time::Instant::now());
        }
        result
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Response> {
        self.http
            .send(Request {
                method,
                url: format!("{}{path}", self.api),
                path,
                authorization: Some(format!("PRIVATE-TOKEN {}", self.token)),
                body,
                ..Request::default()
            })
            .await
    }

    /// Every page of a list (`per_page=100`, following `X-Next-Page`).
    pub async fn list(&self, path: &str) -> Result<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut page = 1u64;
        for _ in 0..100 {
            let response =
                self.call(reqwest::Method::GET, &format!("{path}{separator}per_page=100&page={page}"), None).await?;
            let next = response.header("x-next-page").and_then(|n| n.trim().parse::<u64>().ok());
            match response.body {
                Value::Array(values) => items.extend(values),
                other => items.push(other),
            }
            match next {
                Some(n) if n > page => page = n,
                _ => break,
            }
        }
        Ok(items)
    }

    /// The access token, for fetches over HTTPS (user `oauth2`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The token's own user: `(id, username)`, asked once.
    pub async fn me(&self) -> Result<(u64, String)> {
        if let Some(me) = self.me.lock().ok().and_then(|m| m.clone()) {
            return Ok(me);
        }
        let response = self.call(reqwest::Method::GET, "/user", None).await?;
        let me = (
            response.body["id"].as_u64().unwrap_or_default(),
            response.body["username"].as_str().unwrap_or_default().to_string(),
        );
        if let Ok(mut cached) = self.me.lock() {
            *cached = Some(me.clone());
        }
        Ok(me)
    }

    /// A merge request as the API shows it now, completed with its projects' paths and clone
    /// URLs. `diff_refs` is computed by GitLab after creation: until it is, this is an error
    /// (the job is tried again later).
    pub async fn merge_request(&self, project: u64, iid: u64, known: Option<&Pull>) -> Result<Pull> {
        let path = format!("/projects/{project}/merge_requests/{iid}");
        let mr = self.call(reqwest::Method::GET, &path, None).await?.body;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let refs = &mr["diff_refs"];
        if refs["start_sha"].as_str().is_none() || refs["head_sha"].as_str().is_none() {
            return Err(Error::Other(format!("GET {path}: GitLab has not computed the diff yet (no diff_refs)")));
        }
        // The hook's paths and clone URLs, else the projects' own.
        let known = known.filter(|k| !k.base_clone_url.is_empty() && !k.base_repo.is_empty());
        let target = match known {
            Some(k) => (k.base_repo.clone(), k.base_clone_url.clone()),
            None => self.project(mr["target_project_id"].as_u64().unwrap_or(project)).await?,
        };
        let source = match (known, mr["source_project_id"].as_u64()) {
            (Some(k), _) if !k.head_clone_url.is_empty() => (k.head_repo.clone(), k.head_clone_url.clone()),
            (_, Some(id)) if id != project => self.project(id).await.unwrap_or_default(),
            _ => target.clone(),
        };
        let state = match mr["state"].as_str().unwrap_or_default() {
            "opened" => "open",
            _ => "closed",
        };
        Ok(Pull {
            number: iid,
            state: state.into(),
            draft: mr["draft"].as_bool().or(mr["work_in_progress"].as_bool()).unwrap_or(false),
            author: text(&mr["author"]["username"]),
            head_sha: text(&refs["head_sha"]),
            head_ref: text(&mr["source_branch"]),
            head_repo: source.0,
            head_clone_url: source.1,
            base_sha: text(&refs["start_sha"]),
            base_ref: text(&mr["target_branch"]),
            base_repo: target.0,
            base_clone_url: target.1,
            project_id: project,
            merge_base_sha: refs["base_sha"].as_str().or(refs["start_sha"].as_str()).unwrap_or_default().to_string(),
        })
    }

    /// A project's `path_with_namespace` and `http_url_to_repo`.
    async fn project(&self, id: u64) -> Result<(String, String)> {
        let body = self.call(reqwest::Method::GET, &format!("/projects/{id}"), None).await?.body;
        Ok((
            body["path_with_namespace"].as_str().unwrap_or_default().to_string(),
            body["http_url_to_repo"].as_str().unwrap_or_default().to_string(),
        ))
    }

    /// The usernames of those who approved the merge request (the approvals API).
    pub async fn approvers(&self, project: u64, iid: u64) -> Result<Vec<String>> {
        let path = format!("/projects/{project}/merge_requests/{iid}/approvals");
        let body = self.call(reqwest::Method::GET, &path, None).await?.body;
        Ok(body["approved_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["user"]["username"].as_str().map(str::to_string))
            .collect())
    }

    /// The id of a username, asked once (`None`: no such user).
    pub async fn user_id(&self, username: &str) -> Result<Option<u64>> {
        let key = username.to_ascii_lowercase();
        if let Some(id) = self.users.lock().ok().and_then(|u| u.get(&key).copied()) {
            return Ok(id);
        }
        let path = format!("/users?username={}", encode(username));
        let body = self.call(reqwest::Method::GET, &path, None).await?.body;
        let id = body.as_array().and_then(|users| users.first()).and_then(|u| u["id"].as_u64());
        if let Ok(mut users) = self.users.lock() {
            users.insert(key, id);
        }
        Ok(id)
    }

    /// Whether a user is a bot (`GET /users/:id`, `bot`).
    pub async fn is_bot(&self, user_id: u64) -> Result<bool> {
        let body = self.call(reqwest::Method::GET, &format!("/users/{user_id}"), None).await?.body;
        Ok(body["bot"].as_bool().unwrap_or(false))
    }

    /// Whether `username` is a member of group `group` (a full path such as `acme/eng`),
    /// inherited membership included; a 404 means not (or a group the token cannot see).
    pub async fn is_member(&self, group: &str, username: &str) -> Result<bool> {
        let Some(id) = self.user_id(username).await? else { return Ok(false) };
        let path = format!("/groups/{}/members/all/{id}", encode(group));
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(response) => Ok(response.body["state"].as_str().is_none_or(|s| s == "active")),
            Err(error) if matches!(error.status(), Some(404 | 403)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// A user's access level on a project, inherited included (0: not a member).
    pub async fn access_level(&self, project: u64, user_id: u64) -> Result<u64> {
        let path = format!("/projects/{project}/members/all/{user_id}");
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(response) => Ok(response.body["access_level"].as_u64().unwrap_or_default()),
            Err(error) if error.status() == Some(404) => Ok(0),
            Err(error) => Err(error),
        }
    }

    /// Sets the commit status `name` of `sha` in the target project, on the merge request's
    /// ref (`refs/merge-requests/IID/head`, which also holds a fork's head).
    pub async fn set_status(&self, project: u64, sha: &str, body: &Value) -> Result<()> {
        let path = format!("/projects/{project}/statuses/{sha}");
        self.call(reqwest::Method::POST, &path, Some(body)).await?;
        Ok(())
    }

    pub async fn notes(&self, project: u64, iid: u64) -> Result<Vec<Comment>> {
        let items = self.list(&format!("/projects/{project}/merge_requests/{iid}/notes?sort=asc")).await?;
        Ok(items
            .iter()
            .filter_map(|n| {
                Some(Comment {
                    id: n["id"].as_u64()?,
                    body: n["body"].as_str().unwrap_or_default().to_string(),
                    author: n["author"]["username"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect())
    }

    pub async fn create_note(&self, project: u64, iid: u64, body: &str) -> Result<u64> {
        let path = format!("/projects/{project}/merge_requests/{iid}/notes");
        let response = self.call(reqwest::Method::POST, &path, Some(&json!({ "body": body }))).await?;
        response.body["id"].as_u64().ok_or_else(|| Error::Other("POST notes: the answer holds no id".into()))
    }

    pub async fn update_note(&self, project: u64, iid: u64, id: u64, body: &str) -> Result<()> {
        let path = format!("/projects/{project}/merge_requests/{iid}/notes/{id}");
        self.call(reqwest::Method::PUT, &path, Some(&json!({ "body": body }))).await?;
        Ok(())
    }

    /// A reply in a discussion (a note of a Note Hook names its discussion).
    pub async fn reply(&self, project: u64, iid: u64, discussion: &str, body: &str) -> Result<u64> {
        let path = format!("/projects/{project}/merge_requests/{iid}/discussions/{}/notes", encode(discussion));
        let response = self.call(reqwest::Method::POST, &path, Some(&json!({ "body": body }))).await?;
        response.body["id"].as_u64().ok_or_else(|| Error::Other("POST discussion notes: the answer holds no id".into()))
    }

    pub async fn discussions(&self, project: u64, iid: u64) -> Result<Vec<Discussion>> {
        let items = self.list(&format!("/projects/{project}/merge_requests/{iid}/discussions")).await?;
        Ok(items
            .iter()
            .filter_map(|d| {
                let first = d["notes"].as_array()?.first()?;
                Some(Discussion {
                    id: d["id"].as_str()?.to_string(),
                    resolved: first["resolved"].as_bool().unwrap_or(false),
                    body: first["body"].as_str().unwrap_or_default().to_string(),
                    author: first["author"]["username"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect())
    }

    /// Opens a discussion on a diff line; `Ok(None)` when GitLab refuses the position (a line
    /// outside the diff: a 400 about the line code), so that the finding stays in the note.
    pub async fn create_diff_discussion(&self, pull: &Pull, position: &Position, body: &str) -> Result<Option<String>> {
        let path = format!("/projects/{}/merge_requests/{}/discussions", pull.project_id, pull.number);
        let mut at = json!({
            "position_type": "text",
            "base_sha": pull.merge_base_sha,
            "start_sha": pull.base_sha,
            "head_sha": pull.head_sha,
            "new_path": position.path,
            "old_path": position.path,
        });
        if let Some(line) = position.new_line {
            at["new_line"] = line.into();
        }
        if let Some(line) = position.old_line {
            at["old_line"] = line.into();
        }
        match self.call(reqwest::Method::POST, &path, Some(&json!({ "body": body, "position": at }))).await {
            Ok(response) => Ok(response.body["id"].as_str().map(str::to_string)),
            Err(error) if matches!(error.status(), Some(400 | 422)) => {
                tracing::info!(%error, path = %position.path, "GitLab refused the diff position; the finding stays in the note");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    pub async fn resolve_discussion(&self, project: u64, iid: u64, id: &str, resolved: bool) -> Result<()> {
        let path = format!("/projects/{project}/merge_requests/{iid}/discussions/{}?resolved={resolved}", encode(id));
        self.call(reqwest::Method::PUT, &path, None).await?;
        Ok(())
    }

    /// Adds an emoji reaction (`eyes`, `rocket`, `confused`) to a note; one already there is
    /// not an error.
    pub async fn award(&self, project: u64, iid: u64, note: u64, name: &str) -> Result<()> {
        let path = format!("/projects/{project}/merge_requests/{iid}/notes/{note}/award_emoji");
        match self.call(reqwest::Method::POST, &path, Some(&json!({ "name": name }))).await {
            Ok(_) => Ok(()),
            Err(error) if matches!(error.status(), Some(404 | 409 | 422)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_encoded() {
        assert_eq!(super::encode("acme/data-eng"), "acme%2Fdata-eng");
        assert_eq!(super::encode("a b"), "a%20b");
    }
}
