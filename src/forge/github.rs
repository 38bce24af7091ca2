//! The GitHub App client: an App JWT (RS256) for the App's own calls, installation tokens
//! cached until a few minutes before they expire and minted again on a 401, and the REST calls
//! the bot makes. Writes to one installation are made one at a time (GitHub asks for serial
//! requests). The API base URL is always the configured one; a URL from a webhook payload is
//! never called.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Error, Http, Request, Response, Result};

/// Installation tokens are used until this long before they expire.
const TOKEN_MARGIN_SECONDS: i64 = 300;

pub struct GitHubApp {
    http: Http,
    api: String,
    app_id: u64,
    key: jsonwebtoken::EncodingKey,
    tokens: Mutex<HashMap<u64, (String, i64)>>,
    /// Per installation: its writes one at a time, and when the last one was made.
    writes: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Option<std::time::Instant>>>>>,
    /// The least time between two writes to one installation.
    write_interval: std::time::Duration,
    /// Per installation: the primary rate limit's remaining calls and reset (Unix seconds), as
    /// the last answer said.
    budgets: Mutex<HashMap<u64, (i64, i64)>>,
    /// The App's slug, once `GET /app` told it.
    slug: std::sync::OnceLock<String>,
    /// Held while a token is minted.
    minting: tokio::sync::Mutex<()>,
    /// ETags of GET answers by installation and path, with the body they came with.
    etags: Mutex<HashMap<(u64, String), (String, Value)>>,
}

/// How many GET answers are kept for conditional requests.
const MAX_ETAGS: usize = 2000;

/// What the bot needs of a pull request.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Pull {
    pub number: u64,
    pub state: String,
    pub draft: bool,
    pub author: String,
    pub head_sha: String,
    pub head_ref: String,
    /// The head repository, `owner/name` (a fork's, for a fork pull request).
    pub head_repo: String,
    pub head_clone_url: String,
    pub base_sha: String,
    pub base_ref: String,
    pub base_repo: String,
    pub base_clone_url: String,
    /// GitLab: the target project's id (0 on GitHub).
    pub project_id: u64,
    /// GitLab: the merge base the merge request's diff starts from (`diff_refs.base_sha`),
    /// which diff positions refer to; empty on GitHub.
    pub merge_base_sha: String,
}

impl Pull {
    /// Reads a pull request object as GitHub sends it in webhooks and API answers; missing
    /// fields read as empty (older payloads lack some).
    pub fn from_json(value: &Value) -> Pull {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Pull {
            number: value["number"].as_u64().unwrap_or_default(),
            state: text(&value["state"]),
            draft: value["draft"].as_bool().unwrap_or(false),
            author: text(&value["user"]["login"]),
            head_sha: text(&value["head"]["sha"]),
            head_ref: text(&value["head"]["ref"]),
            head_repo: text(&value["head"]["repo"]["full_name"]),
            head_clone_url: text(&value["head"]["repo"]["clone_url"]),
            base_sha: text(&value["base"]["sha"]),
            base_ref: text(&value["base"]["ref"]),
            base_repo: text(&value["base"]["repo"]["full_name"]),
            base_clone_url: text(&value["base"]["repo"]["clone_url"]),
            ..Pull::default()
        }
    }
}

/// A comment on a pull request.
#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    /// The login (GitHub) or username (GitLab) that wrote it.
    pub author: String,
}

#[derive(serde::Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn is_write(method: &reqwest::Method) -> bool {
    !matches!(*method, reqwest::Method::GET | reqwest::Method::HEAD)
}

impl GitHubApp {
    pub fn new(http: Http, api: &str, app_id: u64, private_key_pem: &str) -> Result<GitHubApp> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|e| Error::Other(format!("the App's private key: {e}")))?;
        Ok(GitHubApp {
            http,
            api: api.trim_end_matches('/').to_string(),
            app_id,
            key,
            tokens: Mutex::new(HashMap::new()),
            writes: Mutex::new(HashMap::new()),
            write_interval: std::time::Duration::from_secs(1),
            budgets: Mutex::new(HashMap::new()),
            minting: tokio::sync::Mutex::new(()),
            slug: std::sync::OnceLock::new(),
            etags: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the least time between two writes to one installation (GitHub asks for a second).
    pub fn with_write_interval(mut self, interval: std::time::Duration) -> GitHubApp {
        self.write_interval = interval;
        self
    }

    /// The remaining calls and the reset time (Unix seconds) of an installation's primary
    /// rate limit, as the last answer said.
    pub fn budget(&self, installation: u64) -> Option<(i64, i64)> {
        self.budgets.lock().ok()?.get(&installation).copied()
    }

    /// Every installation's budget: (installation, remaining, reset).
    pub fn budgets(&self) -> Vec<(u64, i64, i64)> {
        let mut all: Vec<(u64, i64, i64)> =
            self.budgets.lock().map(|b| b.iter().map(|(i, (r, t))| (*i, *r, *t)).collect()).unwrap_or_default();
        all.sort();
        all
    }

    fn note_budget(&self, installation: u64, response: &Response) {
        let number = |name: &str| response.header(name).and_then(|v| v.trim().parse::<i64>().ok());
        if let (Some(remaining), Some(reset)) = (number("x-ratelimit-remaining"), number("x-ratelimit-reset"))
            && let Ok(mut budgets) = self.budgets.lock()
        {
            budgets.insert(installation, (remaining, reset));
        }
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// The App's JWT: issued 60 s in the past (clock drift), valid for 9 minutes.
    pub fn jwt(&self) -> Result<String> {
        let now = now_seconds();
        let claims = Claims { iat: now - 60, exp: now + 540, iss: self.app_id.to_string() };
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &self.key)
            .map_err(|e| Error::Other(format!("signing the App JWT: {e}")))
    }

    /// A token of `installation`, from the cache unless `fresh`.
    pub async fn token(&self, installation: u64, fresh: bool) -> Result<String> {
        let cached = || {
            self.tokens
                .lock()
                .ok()
                .and_then(|t| t.get(&installation).cloned())
                .filter(|(_, expires)| expires - TOKEN_MARGIN_SECONDS > now_seconds())
        };
        let before = cached();
        if !fresh && let Some((token, _)) = &before {
            return Ok(token.clone());
        }
        // One mint at a time: concurrent callers wait and take the token just minted.
        let _minting = self.minting.lock().await;
        if let Some((token, _)) = cached()
            && (!fresh || before.as_ref().is_none_or(|(old, _)| *old != token))
        {
            return Ok(token);
        }
        let path = format!("/app/installations/{installation}/access_tokens");
        let response = self.app_call(reqwest::Method::POST, &path, None).await?;
        let token = response.body["token"]
            .as_str()
            .ok_or_else(|| Error::Other(format!("POST {path}: the answer holds no token")))?
            .to_string();
        let expires = response.body["expires_at"].as_str().and_then(parse_timestamp).unwrap_or(now_seconds() + 3600);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(installation, (token.clone(), expires));
        }
        Ok(token)
    }

    /// The App's slug (`GET /app` with the App's JWT): its `@` name and `<slug>[bot]` login.
    pub async fn slug(&self) -> Result<String> {
        let response = self.app_call(reqwest::Method::GET, "/app", None).await?;
        let slug = response.body["slug"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Other("GET /app: no slug".into()))?;
        let _ = self.slug.set(slug.clone());
        Ok(slug)
    }

    /// A call as the App itself (its JWT), for `/app/...`.
    pub async fn app_call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Response> {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.api) };
        let shown = url.strip_prefix(&self.api).unwrap_or(path).to_string();
        self.http
            .send(Request {
                method,
                url,
                path: &shown,
                authorization: Some(format!("Bearer {}", self.jwt()?)),
                body,
                ..Request::default()
            })
            .await
    }

    /// The App's recent webhook deliveries, newest first (`GET /app/hook/deliveries`, cursor
    /// pagination by `Link`), at most `max` of them.
    pub async fn deliveries(&self, max: usize) -> Result<Vec<Value>> {
        let mut next = Some("/app/hook/deliveries?per_page=100".to_string());
        let mut items = Vec::new();
        while let Some(page) = next.take() {
            let response = self.app_call(reqwest::Method::GET, &page, None).await?;
            next = response.header("link").and_then(next_link).filter(|url| url.starts_with(&self.api));
            match response.body {
                Value::Array(values) => items.extend(values),
                _ => break,
            }
            if items.len() >= max {
                items.truncate(max);
                break;
            }
        }
        Ok(items)
    }

    /// Asks GitHub to deliver a delivery again (`POST /app/hook/deliveries/{id}/attempts`).
    pub async fn redeliver(&self, id: u64) -> Result<()> {
        self.app_call(reqwest::Method::POST, &format!("/app/hook/deliveries/{id}/attempts"), None).await?;
        Ok(())
    }

    /// The App's installations: (id, account login).
    pub async fn installations(&self) -> Result<Vec<(u64, String)>> {
        let response = self.app_call(reqwest::Method::GET, "/app/installations?per_page=100", None).await?;
        Ok(response
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i["id"].as_u64()?, i["account"]["login"].as_str().unwrap_or_default().to_string())))
            .collect())
    }

    /// The repositories an installation can see: (full name, pushed at, Unix seconds).
    pub async fn repositories(&self, installation: u64) -> Result<Vec<(String, i64)>> {
        let pages = self.list(installation, "/installation/repositories").await?;
        Ok(pages
            .iter()
            .flat_map(|page| page["repositories"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| {
                let pushed = r["pushed_at"].as_str().and_then(parse_timestamp).unwrap_or(0);
                Some((r["full_name"].as_str()?.to_string(), pushed))
            })
            .collect())
    }

    /// Open pull requests of a repository, most recently updated first, at most 100.
    pub async fn open_pulls(&self, installation: u64, repo: &str) -> Result<Vec<Pull>> {
        let path = format!("/repos/{repo}/pulls?state=open&sort=updated&direction=desc&per_page=100");
        let response = self.call(installation, reqwest::Method::GET, &path, None).await?;
        Ok(response.body.as_array().into_iter().flatten().map(Pull::from_json).collect())
    }

    /// This App's `datasurface` check runs on `sha`: (id, status, external id).
    pub async fn runs_on(&self, installation: u64, repo: &str, sha: &str) -> Result<Vec<(u64, String, String)>> {
        let path = format!("/repos/{repo}/commits/{sha}/check-runs?check_name=datasurface&app_id={}", self.app_id);
        let response = self.call(installation, reqwest::Method::GET, &path, None).await?;
        Ok(response.body["check_runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|run| run["app"]["id"].as_u64().is_none_or(|id| id == self.app_id))
            .filter_map(|run| {
                Some((
                    run["id"].as_u64()?,
                    run["status"].as_str().unwrap_or_default().to_string(),
                    run["external_id"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// Whether this App completed a `datasurface` check run on `sha`.
    pub async fn has_completed_run(&self, installation: u64, repo: &str, sha: &str) -> Result<bool> {
        let path = format!("/repos/{repo}/commits/{sha}/check-runs?check_name=datasurface&app_id={}", self.app_id);
        let response = self.call(installation, reqwest::Method::GET, &path, None).await?;
        Ok(response.body["check_runs"].as_array().into_iter().flatten().any(|run| {
            run["status"].as_str() == Some("completed")
                && run["app"]["id"].as_u64().is_none_or(|id| id == self.app_id)
                && run["name"].as_str().is_none_or(|n| n == "datasurface")
        }))
    }

    /// Whether a comment's author is this App (`<slug>[bot]`; any `[bot]` login while the
    /// slug is not known yet; people's logins cannot contain brackets).
    pub fn is_own_login(&self, login: &str) -> bool {
        match self.slug.get() {
            Some(slug) => login.eq_ignore_ascii_case(&format!("{slug}[bot]")),
            None => login.ends_with("[bot]"),
        }
    }

    /// The installation of the App on a repository (for events that do not name it).
    pub async fn installation_of(&self, repo: &str) -> Result<u64> {
        let path = format!("/repos/{repo}/installation");
        let response = self.app_call(reqwest::Method::GET, &path, None).await?;
        response.body["id"].as_u64().ok_or_else(|| Error::Other(format!("GET {path}: no installation id")))
    }

    /// A call as the installation: a 401 mints a new token and tries once more; writes wait
    /// for the installation's other writes.
    pub async fn call(
        &self,
        installation: u64,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response> {
        let mut lock = if is_write(&method) {
            let lock = self.writes.lock().map(|mut w| w.entry(installation).or_default().clone()).ok();
            match lock {
                Some(lock) => Some(lock.lock_owned().await),
                None => None,
            }
        } else {
            None
        };
        // Writes at least `write_interval` apart (GitHub's advice against secondary limits).
        if let Some(Some(last)) = lock.as_deref() {
            let next = *last + self.write_interval;
            let now = std::time::Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
        }
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.api) };
        let shown = url.strip_prefix(&self.api).unwrap_or(path).to_string();
        let cached = if method == reqwest::Method::GET {
            self.etags.lock().ok().and_then(|e| e.get(&(installation, shown.clone())).cloned())
        } else {
            None
        };
        let mut fresh = false;
        loop {
            let token = self.token(installation, fresh).await?;
            let result = self
                .http
                .send(Request {
                    method: method.clone(),
                    url: url.clone(),
                    path: &shown,
                    authorization: Some(format!("token {token}")),
                    body,
                    if_none_match: cached.as_ref().map(|(etag, _)| etag.clone()),
                })
                .await;
            match result {
                Err(error) if error.status() == Some(401) && !fresh => fresh = true,
                other => {
                    if let Some(guard) = lock.as_deref_mut() {
                        *guard = Some(std::time::Instant::now());
                    }
                    drop(lock);
                    let mut response = other?;
                    self.note_budget(installation, &response);
                    if response.status == 304
                        && let Some((_, body)) = &cached
                    {
                        response.body = body.clone();
                        response.status = 200;
                    } else if method == reqwest::Method::GET
                        && let Some(etag) = response.header("etag").map(str::to_string)
                        && let Ok(mut etags) = self.etags.lock()
                    {
                        if etags.len() >= MAX_ETAGS {
                            etags.clear();
                        }
                        etags.insert((installation, shown.clone()), (etag, response.body.clone()));
                    }
                    return Ok(response);
                }
            }
        }
    }

    /// Every page of a list (`per_page=100`, following `Link: rel="next"` on the API only).
    pub async fn list(&self, installation: u64, path: &str) -> Result<Vec<Value>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{separator}per_page=100"));
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(page) = next.take() {
            let response = self.call(installation, reqwest::Method::GET, &page, None).await?;
            next = response.header("link").and_then(next_link).filter(|url| url.starts_with(&self.api));
            match response.body {
                Value::Array(values) => items.extend(values),
                other => items.push(other),
            }
            pages += 1;
            if pages >= 100 {
                break;
            }
        }
        Ok(items)
    }

    pub async fn pull(&self, installation: u64, repo: &str, number: u64) -> Result<Pull> {
        let response =
            self.call(installation, reqwest::Method::GET, &format!("/repos/{repo}/pulls/{number}"), None).await?;
        Ok(Pull::from_json(&response.body))
    }

    /// Reviewers whose latest decisive review (approve, request changes, dismissed) is an
    /// approval of `head_sha`.
    pub async fn approvers(&self, installation: u64, repo: &str, number: u64, head_sha: &str) -> Result<Vec<String>> {
        let reviews = self.list(installation, &format!("/repos/{repo}/pulls/{number}/reviews")).await?;
        let mut latest: Vec<(String, String, String)> = Vec::new();
        for review in &reviews {
            let user = review["user"]["login"].as_str().unwrap_or_default().to_string();
            let state = review["state"].as_str().unwrap_or_default().to_ascii_uppercase();
            let commit = review["commit_id"].as_str().unwrap_or_default().to_string();
            if user.is_empty() || !matches!(state.as_str(), "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
                continue;
            }
            latest.retain(|(u, _, _)| !u.eq_ignore_ascii_case(&user));
            latest.push((user, state, commit));
        }
        Ok(latest
            .into_iter()
            .filter(|(_, state, commit)| state == "APPROVED" && commit == head_sha)
            .map(|(u, _, _)| u)
            .collect())
    }

    /// Whether `login` is an active member of team `org/slug` (a 404 means not, or a team the
    /// App cannot see).
    pub async fn is_member(&self, installation: u64, team: &str, login: &str) -> Result<bool> {
        let Some((org, slug)) = team.split_once('/') else { return Ok(false) };
        let path = format!("/orgs/{org}/teams/{slug}/memberships/{login}");
        match self.call(installation, reqwest::Method::GET, &path, None).await {
            Ok(response) => Ok(response.body["state"].as_str() == Some("active")),
            Err(error) if matches!(error.status(), Some(404 | 403)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// A user's permission on a repository (`admin`, `maintain`, `write`, `triage`, `read` or
    /// `none`); a 404 (not a collaborator, or no such user) is `none`.
    pub async fn permission(&self, installation: u64, repo: &str, login: &str) -> Result<String> {
        let path = format!("/repos/{repo}/collaborators/{login}/permission");
        match self.call(installation, reqwest::Method::GET, &path, None).await {
            Ok(response) => Ok(response.body["permission"].as_str().unwrap_or("none").to_string()),
            Err(error) if error.status() == Some(404) => Ok("none".into()),
            Err(error) => Err(error),
        }
    }

    /// A reaction (`eyes`, `rocket`, `confused`) to an issue comment.
    pub async fn react(&self, installation: u64, repo: &str, comment: u64, content: &str) -> Result<()> {
        let path = format!("/repos/{repo}/issues/comments/{comment}/reactions");
        self.call(installation, reqwest::Method::POST, &path, Some(&json!({ "content": content }))).await?;
        Ok(())
    }

    pub async fn create_check_run(&self, installation: u64, repo: &str, body: &Value) -> Result<u64> {
        let response =
            self.call(installation, reqwest::Method::POST, &format!("/repos/{repo}/check-runs"), Some(body)).await?;
        response.body["id"].as_u64().ok_or_else(|| Error::Other("POST check-runs: the answer holds no id".into()))
    }

    pub async fn update_check_run(&self, installation: u64, repo: &str, id: u64, body: &Value) -> Result<()> {
        self.call(installation, reqwest::Method::PATCH, &format!("/repos/{repo}/check-runs/{id}"), Some(body)).await?;
        Ok(())
    }

    pub async fn comments(&self, installation: u64, repo: &str, number: u64) -> Result<Vec<Comment>> {
        let items = self.list(installation, &format!("/repos/{repo}/issues/{number}/comments")).await?;
        Ok(items
            .iter()
            .filter_map(|c| {
                Some(Comment {
                    id: c["id"].as_u64()?,
                    body: c["body"].as_str().unwrap_or_default().to_string(),
                    author: c["user"]["login"].as_str().unwrap_or_default().to_string(),
                })
            })
            .collect())
    }

    pub async fn create_comment(&self, installation: u64, repo: &str, number: u64, body: &str) -> Result<u64> {
        let path = format!("/repos/{repo}/issues/{number}/comments");
        let response = self.call(installation, reqwest::Method::POST, &path, Some(&json!({ "body": body }))).await?;
        response.body["id"].as_u64().ok_or_else(|| Error::Other("POST comments: the answer holds no id".into()))
    }

    pub async fn update_comment(&self, installation: u64, repo: &str, id: u64, body: &str) -> Result<()> {
        let path = format!("/repos/{repo}/issues/comments/{id}");
        self.call(installation, reqwest::Method::PATCH, &path, Some(&json!({ "body": body }))).await?;
        Ok(())
    }
}

/// The URL of `rel="next"` in a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp such as `2026-12-01T21:00:00Z`.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|p| p.split('.').next().unwrap_or("0").parse::<i64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next().unwrap_or(Ok(0)).ok()?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_timestamps() {
        let link = r#"<https://api.github.com/repos/o/r/issues/1/comments?page=2>; rel="next", <https://api.github.com/repos/o/r/issues/1/comments?page=5>; rel="last""#;
        assert_eq!(next_link(link).as_deref(), Some("https://api.github.com/repos/o/r/issues/1/comments?page=2"));
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2026-12-01T21:00:00Z"), Some(1_796_158_800));
        assert_eq!(parse_timestamp("2000-03-01T00:00:01Z"), Some(951_868_801));
    }

    #[test]
    fn pull_requests_read_leniently() {
        let payload: Value =
            serde_json::from_str(include_str!("../../tests/data/github/pull_request.opened.json")).unwrap();
        let pull = Pull::from_json(&payload["pull_request"]);
        assert_eq!((pull.number, pull.author.as_str(), pull.head_ref.as_str()), (2, "Codertocat", "changes"));
        assert_eq!(pull.base_clone_url, "https://github.com/Codertocat/Hello-World.git");
        assert_eq!(Pull::from_json(&json!({"number": 3})).head_sha, "");
    }
}
