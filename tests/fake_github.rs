//! A stand-in GitHub on loopback (wiremock), written from GitHub's REST documentation for the
//! calls the bot makes: installation tokens (checking the App JWT), check runs, issue comments
//! (paginated), reviews, team memberships, pulls and the repository's installation. It keeps
//! what was posted, so tests read back exactly what a pull request would show, and it can be
//! told to fail or stall particular calls.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const TOKEN: &str = "ghs_stand_in_token";

#[derive(Clone, Debug)]
pub struct CheckRun {
    pub repo: String,
    pub head_sha: String,
    pub created: Value,
    pub updates: Vec<Value>,
    /// When it was last written, in the order of all writes.
    pub order: u64,
    /// When a request completed it.
    pub completed_at: Option<Instant>,
}

impl CheckRun {
    /// The run as GitHub would show it: fields of the later requests over the earlier ones.
    pub fn field(&self, name: &str) -> Option<Value> {
        std::iter::once(&self.created).chain(&self.updates).rev().find_map(|b| b.get(name).cloned())
    }

    pub fn conclusion(&self) -> Option<String> {
        self.field("conclusion").and_then(|c| c.as_str().map(str::to_string))
    }

    pub fn status(&self) -> String {
        self.field("status").and_then(|s| s.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// Every annotation, in the order they were sent.
    pub fn annotations(&self) -> Vec<Value> {
        std::iter::once(&self.created)
            .chain(&self.updates)
            .flat_map(|b| b["output"]["annotations"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// How many requests carried annotations, and how many each.
    pub fn annotation_batches(&self) -> Vec<usize> {
        std::iter::once(&self.created)
            .chain(&self.updates)
            .filter_map(|b| b["output"]["annotations"].as_array().map(Vec::len))
            .filter(|n| *n > 0)
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub repo: String,
    pub number: u64,
    pub body: String,
    pub edits: usize,
    /// Who wrote it: the App (`datasurface[bot]`) unless a test put someone else's there.
    pub author: String,
}

/// A call to make fail: the first `times` calls whose method and path match answer `status`.
#[derive(Clone, Debug)]
pub struct Failure {
    pub method: &'static str,
    pub path_contains: String,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub times: usize,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<(String, String, Instant)>,
    pub check_runs: BTreeMap<u64, CheckRun>,
    pub comments: BTreeMap<u64, Comment>,
    pub reviews: BTreeMap<(String, u64), Vec<Value>>,
    pub members: HashSet<(String, String)>,
    pub pulls: BTreeMap<(String, u64), Value>,
    pub failures: VecDeque<Failure>,
    /// Collaborator permissions by login (`read`, `write`, ...); others are not collaborators.
    pub permissions: BTreeMap<String, String>,
    /// Reactions: (comment id, content).
    pub reactions: Vec<(u64, String)>,
    /// The App's webhook deliveries, newest first, as `GET /app/hook/deliveries` lists them.
    pub hook_deliveries: Vec<Value>,
    /// Delivery ids the App asked to deliver again.
    pub redelivered: Vec<u64>,
    /// The repositories of the installation: (full name, pushed_at).
    pub repositories: Vec<(String, String)>,
    /// `x-ratelimit-remaining` and `x-ratelimit-reset` sent with every answer to the
    /// installation, when set.
    pub rate_limit: Option<(i64, i64)>,
    /// When each write (POST, PATCH) to the installation's API was answered.
    pub writes_at: Vec<Instant>,
    /// The share of calls answered with a 502 or a secondary rate limit (`retry-after: 1`),
    /// chosen by a deterministic sequence.
    pub fault_rate: f64,
    pub faults: u64,
    calls: u64,
    /// Calls whose path contains this stall for the duration.
    pub stalls: Vec<(String, Duration)>,
    next_id: u64,
    writes: u64,
    pub tokens_minted: usize,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }
}

pub struct FakeGitHub {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

struct Responder {
    state: Arc<Mutex<State>>,
    base: String,
}

fn jwt_ok(header: &str) -> bool {
    use base64::Engine;
    let Some(token) = header.strip_prefix("Bearer ") else { return false };
    let parts: Vec<&str> = token.split('.').collect();
    let decode = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let (Some(head), Some(claims)) = (parts.first().and_then(|p| decode(p)), parts.get(1).and_then(|p| decode(p)))
    else {
        return false;
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    parts.len() == 3
        && head["alg"] == "RS256"
        && claims["iss"].as_str() == Some(APP_ID.to_string().as_str())
        && iat <= now - 30
        && exp > now
        && exp - iat <= 600
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_string();
        let path = request.url.path().to_string();
        let query: BTreeMap<String, String> =
            request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let mut state = self.state.lock().unwrap();
        state.requests.push((method.clone(), path.clone(), Instant::now()));
        let stall = state.stalls.iter().find(|(p, _)| path.contains(p.as_str())).map(|(_, d)| *d);
        let rate = state.rate_limit;
        let answer = |template: ResponseTemplate| {
            let template = match rate {
                Some((remaining, reset)) => template
                    .insert_header("x-ratelimit-remaining", remaining.to_string().as_str())
                    .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
                None => template,
            };
            match stall {
                Some(delay) => template.set_delay(delay),
                None => template,
            }
        };
        if state.fault_rate > 0.0 {
            state.calls += 1;
            let x = state.calls.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            if ((x >> 11) as f64 / (1u64 << 53) as f64) < state.fault_rate {
                state.faults += 1;
                return if state.faults.is_multiple_of(2) {
                    ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>")
                } else {
                    ResponseTemplate::new(403)
                        .insert_header("retry-after", "1")
                        .set_body_json(json!({"message": "You have exceeded a secondary rate limit."}))
                };
            }
        }
        if let Some(index) = state.failures.iter().position(|f| f.method == method && path.contains(&f.path_contains)) {
            let failure = &mut state.failures[index];
            failure.times -= 1;
            let mut template =
                ResponseTemplate::new(failure.status).set_body_json(json!({"message": "injected failure"}));
            for (name, value) in &failure.headers {
                template = template.insert_header(*name, value.as_str());
            }
            if failure.times == 0 {
                state.failures.remove(index);
            }
            return answer(template);
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let ["app", "installations", _, "access_tokens"] = parts.as_slice() {
            if method != "POST" || !jwt_ok(&auth) {
                return answer(
                    ResponseTemplate::new(401)
                        .set_body_json(json!({"message": "A JSON web token could not be decoded"})),
                );
            }
            state.tokens_minted += 1;
            return answer(
                ResponseTemplate::new(201).set_body_json(json!({"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"})),
            );
        }
        // The App's own calls, with its JWT.
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["app"]) if jwt_ok(&auth) => {
                return answer(ResponseTemplate::new(200).set_body_json(json!({"id": APP_ID, "slug": "datasurface"})));
            }
            ("GET", ["app", "hook", "deliveries"]) if jwt_ok(&auth) => {
                let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30).clamp(1, 100);
                let cursor: usize = query.get("cursor").and_then(|p| p.parse().ok()).unwrap_or(0);
                let items: Vec<Value> = state.hook_deliveries.iter().skip(cursor).take(per_page).cloned().collect();
                let mut template = ResponseTemplate::new(200).set_body_json(items);
                if cursor + per_page < state.hook_deliveries.len() {
                    let next = format!("{}{path}?per_page={per_page}&cursor={}", self.base, cursor + per_page);
                    template = template.insert_header("link", format!("<{next}>; rel=\"next\"").as_str());
                }
                return answer(template);
            }
            ("POST", ["app", "hook", "deliveries", id, "attempts"]) if jwt_ok(&auth) => {
                let id: u64 = id.parse().unwrap_or(0);
                if !state.hook_deliveries.iter().any(|d| d["id"].as_u64() == Some(id)) {
                    return answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})));
                }
                state.redelivered.push(id);
                return answer(ResponseTemplate::new(202).set_body_json(json!({})));
            }
            ("GET", ["app", "installations"]) if jwt_ok(&auth) => {
                return answer(ResponseTemplate::new(200).set_body_json(
                    json!([{"id": INSTALLATION, "account": {"login": "acme", "type": "Organization"}}]),
                ));
            }
            ("GET", ["app", ..]) => return answer(ResponseTemplate::new(401)),
            _ => {}
        }
        if let ["repos", owner, name, "installation"] = parts.as_slice() {
            let _ = (owner, name);
            if !jwt_ok(&auth) {
                return answer(ResponseTemplate::new(401));
            }
            return answer(ResponseTemplate::new(200).set_body_json(json!({"id": INSTALLATION})));
        }
        if auth != format!("token {TOKEN}") {
            return answer(ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})));
        }
        let repo = |owner: &str, name: &str| format!("{owner}/{name}");
        if method == "POST" || method == "PATCH" {
            state.writes_at.push(Instant::now());
        }
        match (method.as_str(), parts.as_slice()) {
            ("POST", ["repos", owner, name, "check-runs"]) => {
                let id = state.id();
                state.writes += 1;
                let order = state.writes;
                let run = CheckRun {
                    repo: repo(owner, name),
                    head_sha: body["head_sha"].as_str().unwrap_or_default().into(),
                    completed_at: (body["status"] == "completed").then(Instant::now),
                    created: body,
                    updates: Vec::new(),
                    order,
                };
                state.check_runs.insert(id, run);
                answer(ResponseTemplate::new(201).set_body_json(json!({"id": id})))
            }
            ("PATCH", ["repos", _, _, "check-runs", id]) => {
                let id: u64 = id.parse().unwrap_or(0);
                state.writes += 1;
                let order = state.writes;
                match state.check_runs.get_mut(&id) {
                    Some(run) => {
                        if body["status"] == "completed" {
                            run.completed_at = Some(Instant::now());
                        }
                        run.updates.push(body);
                        run.order = order;
                        answer(ResponseTemplate::new(200).set_body_json(json!({"id": id})))
                    }
                    None => answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))),
                }
            }
            ("GET", ["installation", "repositories"]) => {
                let repositories: Vec<Value> = state
                    .repositories
                    .iter()
                    .map(|(name, pushed)| json!({"full_name": name, "pushed_at": pushed}))
                    .collect();
                answer(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"total_count": repositories.len(), "repositories": repositories})),
                )
            }
            ("GET", ["repos", owner, name, "pulls"]) => {
                let repo = repo(owner, name);
                let open: Vec<Value> = state
                    .pulls
                    .iter()
                    .filter(|((r, _), p)| *r == repo && p["state"].as_str().unwrap_or("open") == "open")
                    .map(|(_, p)| p.clone())
                    .collect();
                answer(ResponseTemplate::new(200).set_body_json(open))
            }
            ("GET", ["repos", _, _, "commits", sha, "check-runs"]) => {
                let runs: Vec<Value> = state
                    .check_runs
                    .iter()
                    .filter(|(_, r)| r.head_sha == *sha)
                    .map(|(id, r)| {
                        json!({"id": id, "name": r.created["name"], "status": r.status(), "app": {"id": APP_ID},
                               "external_id": r.created["external_id"]})
                    })
                    .filter(|r| query.get("check_name").is_none_or(|n| r["name"].as_str() == Some(n.as_str())))
                    .collect();
                answer(ResponseTemplate::new(200).set_body_json(json!({"total_count": runs.len(), "check_runs": runs})))
            }
            ("GET", ["repos", owner, name, "pulls", number, "reviews"]) => {
                let key = (repo(owner, name), number.parse().unwrap_or(0));
                answer(ResponseTemplate::new(200).set_body_json(state.reviews.get(&key).cloned().unwrap_or_default()))
            }
            ("GET", ["repos", owner, name, "pulls", number]) => {
                let key = (repo(owner, name), number.parse().unwrap_or(0));
                match state.pulls.get(&key) {
                    Some(pull) => answer(ResponseTemplate::new(200).set_body_json(pull.clone())),
                    None => answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))),
                }
            }
            ("GET", ["orgs", org, "teams", slug, "memberships", login]) => {
                if state.members.contains(&(format!("{org}/{slug}").to_lowercase(), login.to_lowercase())) {
                    answer(ResponseTemplate::new(200).set_body_json(json!({"state": "active", "role": "member"})))
                } else {
                    answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
                }
            }
            ("GET", ["repos", _, _, "collaborators", login, "permission"]) => {
                match state.permissions.get(&login.to_lowercase()) {
                    Some(permission) => answer(
                        ResponseTemplate::new(200)
                            .set_body_json(json!({"permission": permission, "user": {"login": login}})),
                    ),
                    None => answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))),
                }
            }
            ("POST", ["repos", _, _, "issues", "comments", id, "reactions"]) => {
                let content = body["content"].as_str().unwrap_or_default().to_string();
                if !["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"].contains(&content.as_str()) {
                    return answer(ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed"})));
                }
                state.reactions.push((id.parse().unwrap_or(0), content));
                answer(ResponseTemplate::new(201).set_body_json(json!({"id": state.reactions.len()})))
            }
            ("GET", ["repos", owner, name, "issues", number, "comments"]) => {
                let (repo, number) = (repo(owner, name), number.parse::<u64>().unwrap_or(0));
                let all: Vec<Value> = state
                    .comments
                    .values()
                    .filter(|c| c.repo == repo && c.number == number)
                    .map(|c| json!({"id": c.id, "body": c.body, "user": {"login": c.author}}))
                    .collect();
                let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30).clamp(1, 100);
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
                let items: Vec<Value> = all.iter().skip((page - 1) * per_page).take(per_page).cloned().collect();
                let mut template = ResponseTemplate::new(200).set_body_json(items);
                if page * per_page < all.len() {
                    let next = format!("{}{path}?per_page={per_page}&page={}", self.base, page + 1);
                    template = template.insert_header("link", format!("<{next}>; rel=\"next\"").as_str());
                }
                answer(template)
            }
            ("POST", ["repos", owner, name, "issues", number, "comments"]) => {
                let id = state.id();
                let comment = Comment {
                    id,
                    repo: repo(owner, name),
                    number: number.parse().unwrap_or(0),
                    body: body["body"].as_str().unwrap_or_default().into(),
                    edits: 0,
                    author: "datasurface[bot]".into(),
                };
                state.comments.insert(id, comment);
                answer(ResponseTemplate::new(201).set_body_json(json!({"id": id})))
            }
            ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
                let id: u64 = id.parse().unwrap_or(0);
                match state.comments.get_mut(&id) {
                    Some(comment) => {
                        comment.body = body["body"].as_str().unwrap_or_default().into();
                        comment.edits += 1;
                        answer(ResponseTemplate::new(200).set_body_json(json!({"id": id})))
                    }
                    None => answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))),
                }
            }
            _ => answer(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found", "path": path}))),
        }
    }
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(Responder { state: state.clone(), base: server.uri() })
            .mount(&server)
            .await;
        FakeGitHub { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The check runs of a head, oldest first.
    pub fn runs_of(&self, head_sha: &str) -> Vec<CheckRun> {
        self.with(|s| s.check_runs.values().filter(|r| r.head_sha == head_sha).cloned().collect())
    }

    pub fn comments_of(&self, number: u64) -> Vec<Comment> {
        self.with(|s| s.comments.values().filter(|c| c.number == number).cloned().collect())
    }

    /// How many requests of `method` went to paths containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.with(|s| s.requests.iter().filter(|(m, p, _)| m == method && p.contains(part)).count())
    }
}

/// Waits until `condition` holds, for at most `seconds`; panics with `what` otherwise.
pub async fn eventually(seconds: u64, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !condition() {
        if Instant::now() > deadline {
            panic!("timed out after {seconds} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
