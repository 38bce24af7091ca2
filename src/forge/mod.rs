//! Talking to the forges: the only module that speaks HTTP to GitHub and GitLab.
//!
//! One retry policy for every call, owned here rather than by a client library (whose retries
//! would resend a POST on a 5xx and post a comment twice): a 5xx or a timeout backs off and
//! tries again; a rate limit (403/429) waits for `Retry-After` or `x-ratelimit-reset`, and a
//! secondary limit that says neither waits at least a minute; every other error is returned.
//! Creating calls are made idempotent by their callers (a comment is looked up by its marker
//! before it is created again).

pub mod github;
pub mod gitlab;

use std::sync::Arc;
use std::time::Duration;

/// Why a forge call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{method} {path}: {status} {message}")]
    Status { method: String, path: String, status: u16, message: String },
    #[error("{method} {path}: rate limited for {wait_seconds} s more, longer than this call waits")]
    RateLimited { method: String, path: String, wait_seconds: u64 },
    #[error("{method} {path}: {message}")]
    Transport { method: String, path: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Called with the forge's name and the status of every response (0 for a transport error),
/// for `datasurface_forge_requests_total`.
pub type Observer = Arc<dyn Fn(&'static str, u16) + Send + Sync>;

/// How patient a client is.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// Tries of a call that fails with a 5xx or a timeout.
    pub attempts: u32,
    /// First wait after such a failure; it doubles each time.
    pub backoff: Duration,
    /// The longest one call waits for a rate limit before giving up (the job is retried later).
    pub max_wait: Duration,
    /// What a secondary rate limit without `Retry-After` waits first.
    pub secondary_wait: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            attempts: 5,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(300),
            secondary_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

/// An answer: status, headers and the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The shared HTTP client with the retry and rate-limit policy.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    pub patience: Patience,
    observer: Option<Observer>,
    forge: &'static str,
}

/// A request to make.
#[derive(Default)]
pub struct Request<'a> {
    pub method: reqwest::Method,
    pub url: String,
    /// For messages: the path without the base URL.
    pub path: &'a str,
    pub authorization: Option<String>,
    pub body: Option<&'a serde_json::Value>,
    /// An ETag from an earlier answer: a `304 Not Modified` (which GitHub does not count
    /// against the rate limit) comes back as `Ok` with status 304 and no body.
    pub if_none_match: Option<String>,
}

/// Installs the TLS crypto provider once (ring; the build links no other).
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Http {
    pub fn new(forge: &'static str, patience: Patience, observer: Option<Observer>) -> Result<Http> {
        install_tls();
        let client = reqwest::Client::builder()
            .user_agent(concat!("datasurface/", env!("CARGO_PKG_VERSION")))
            .timeout(patience.timeout)
            .build()
            .map_err(|e| Error::Other(format!("making the HTTP client: {e}")))?;
        Ok(Http { client, patience, observer, forge })
    }

    /// Sends a request under the retry and rate-limit policy; any status below 400 is `Ok`.
    pub async fn send(&self, request: Request<'_>) -> Result<Response> {
        let method = request.method.to_string();
        let path = request.path.to_string();
        let mut failures = 0u32;
        let mut secondary = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            let mut builder = self.client.request(request.method.clone(), &request.url);
            builder = if self.forge == "github" {
                builder.header("accept", "application/vnd.github+json").header("x-github-api-version", "2022-11-28")
            } else {
                builder.header("accept", "application/json")
            };
            if let Some(authorization) = &request.authorization {
                // GitLab's access tokens go in their own header.
                builder = match authorization.strip_prefix("PRIVATE-TOKEN ") {
                    Some(token) => builder.header("private-token", token),
                    None => builder.header("authorization", authorization),
                };
            }
            if let Some(body) = request.body {
                builder = builder.json(body);
            }
            if let Some(etag) = &request.if_none_match {
                builder = builder.header("if-none-match", etag);
            }
            let answer = builder.send().await;
            let response = match answer {
                Err(error) => {
                    self.observe(0);
                    failures += 1;
                    if failures >= self.patience.attempts {
                        return Err(Error::Transport { method, path, message: error.to_string() });
                    }
                    tokio::time::sleep(self.patience.backoff * 2u32.pow(failures - 1)).await;
                    continue;
                }
                Ok(response) => response,
            };
            let status = response.status().as_u16();
            self.observe(status);
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            if status < 400 {
                return Ok(Response { status, headers, body });
            }
            let message = body
                .get("message")
                .and_then(|m| m.as_str())
                .map_or_else(|| text.chars().take(300).collect(), str::to_string);
            if status >= 500 {
                failures += 1;
                if failures >= self.patience.attempts {
                    return Err(Error::Status { method, path, status, message });
                }
                tokio::time::sleep(self.patience.backoff * 2u32.pow(failures - 1)).await;
                continue;
            }
            if let Some(wait) = rate_limit_wait(status, &headers, &message, &mut secondary, &self.patience) {
                if waited + wait > self.patience.max_wait {
                    return Err(Error::RateLimited { method, path, wait_seconds: wait.as_secs() });
                }
                tracing::warn!(%method, %path, status, wait_seconds = wait.as_secs_f64(), "rate limited; waiting");
                tokio::time::sleep(wait).await;
                waited += wait;
                continue;
            }
            return Err(Error::Status { method, path, status, message });
        }
    }

    fn observe(&self, status: u16) {
        if let Some(observer) = &self.observer {
            observer(self.forge, status);
        }
    }
}

/// How long a 403 or 429 asks to wait, if it is a rate limit at all: `Retry-After`, else the
/// primary limit's reset time when none is left, else (a secondary limit that says neither)
/// at least a minute, doubling on repeats.
fn rate_limit_wait(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    message: &str,
    secondary: &mut u32,
    patience: &Patience,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(seconds) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds.max(1)));
    }
    // GitHub spells them `x-ratelimit-*`, GitLab `ratelimit-*`.
    let remaining = header("x-ratelimit-remaining").or_else(|| header("ratelimit-remaining"));
    let reset = header("x-ratelimit-reset").or_else(|| header("ratelimit-reset"));
    if remaining == Some("0")
        && let Some(reset) = reset.and_then(|v| v.parse::<u64>().ok())
    {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    if status == 429 || message.to_ascii_lowercase().contains("rate limit") {
        *secondary += 1;
        return Some(patience.secondary_wait * 2u32.pow((*secondary - 1).min(6)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_read_from_the_headers() {
        let patience = Patience::default();
        let mut headers = reqwest::header::HeaderMap::new();
        let mut secondary = 0;
        assert_eq!(rate_limit_wait(404, &headers, "", &mut secondary, &patience), None);
        assert_eq!(
            rate_limit_wait(403, &headers, "Resource not accessible by integration", &mut secondary, &patience),
            None
        );
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(rate_limit_wait(429, &headers, "", &mut secondary, &patience), Some(Duration::from_secs(7)));
        headers.clear();
        assert_eq!(
            rate_limit_wait(403, &headers, "You have exceeded a secondary rate limit", &mut secondary, &patience),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            rate_limit_wait(403, &headers, "You have exceeded a secondary rate limit", &mut secondary, &patience),
            Some(Duration::from_secs(120)),
            "backs off"
        );
        let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 30;
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
        let wait = rate_limit_wait(403, &headers, "API rate limit exceeded", &mut 0, &patience).unwrap();
        assert!((28..=31).contains(&wait.as_secs()), "{wait:?}");
    }
}
