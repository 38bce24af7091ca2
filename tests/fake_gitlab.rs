//! A stand-in GitLab on loopback (wiremock), written from GitLab's REST API v4 documentation
//! for the calls the bot makes: the token's user, merge requests with `diff_refs`, projects,
//! approvals, users, group and project members (inherited), commit statuses, notes and
//! discussions (paginated with `X-Next-Page`), diff positions, and award emoji. A discussion's
//! position is accepted as GitLab does: only on a line of the merge request's diff (an added
//! line with `new_line`, a context line of a hunk with both, a removed line with `old_line`),
//! computed with `git diff` of the real repository; anything else is the `400` GitLab answers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN: &str = "glpat-stand-in-token";
pub const BOT_ID: u64 = 900;
pub const BOT: &str = "datasurface-bot";
pub const PROJECT: u64 = 42;

#[derive(Clone, Debug)]
pub struct Note {
    pub id: u64,
    pub iid: u64,
    pub body: String,
    pub author: String,
    pub edits: usize,
    /// The discussion it is in (a reply's, or its own).
    pub discussion: String,
}

#[derive(Clone, Debug)]
pub struct DiffDiscussion {
    pub id: String,
    pub iid: u64,
    pub body: String,
    pub position: Value,
    pub resolved: bool,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<(String, String)>,
    /// Merge requests by iid, as the API shows them.
    pub mrs: BTreeMap<u64, Value>,
    /// Projects by id: (path_with_namespace, http_url_to_repo).
    pub projects: HashMap<u64, (String, String)>,
    /// Approvers by iid.
    pub approvals: HashMap<u64, Vec<String>>,
    /// Users: username → (id, bot).
    pub users: HashMap<String, (u64, bool)>,
    /// (group path, user id) members, inherited included.
    pub group_members: HashSet<(String, u64)>,
    /// Access levels on the project by user id.
    pub access: HashMap<u64, u64>,
    /// Every status posted: (sha, body).
    pub statuses: Vec<(String, Value)>,
    pub notes: BTreeMap<u64, Note>,
    pub discussions: Vec<DiffDiscussion>,
    /// Positions refused with 400.
    pub refused_positions: Vec<Value>,
    /// (note id, emoji name).
    pub awards: Vec<(u64, String)>,
    /// The repository the diffs are computed in.
    pub repo: Option<PathBuf>,
    next_id: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        5000 + self.next_id
    }
}

pub struct FakeGitLab {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

struct Responder {
    state: Arc<Mutex<State>>,
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not found"}))
}

/// The lines of the diff of `path` from `base` to `head`: (added new lines, context pairs,
/// removed old lines), as `git diff -U3` shows them.
fn diff_lines(repo: &PathBuf, base: &str, head: &str, path: &str) -> (HashSet<u64>, HashSet<(u64, u64)>, HashSet<u64>) {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["diff", "--unified=3", "--no-color", base, head, "--", path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let (mut added, mut context, mut removed) = (HashSet::new(), HashSet::new(), HashSet::new());
    let (mut old, mut new) = (0u64, 0u64);
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("@@ ") {
            let mut parts = header.split_whitespace();
            let start = |p: Option<&str>| {
                p.and_then(|p| p[1..].split(',').next().and_then(|n| n.parse::<u64>().ok())).unwrap_or(0)
            };
            old = start(parts.next());
            new = start(parts.next());
            continue;
        }
        if old == 0 && new == 0 {
            continue;
        }
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        match line.chars().next() {
            Some('+') => {
                added.insert(new);
                new += 1;
            }
            Some('-') => {
                removed.insert(old);
                old += 1;
            }
            Some(' ') => {
                context.insert((old, new));
                old += 1;
                new += 1;
            }
            _ => {}
        }
    }
    (added, context, removed)
}

fn paginate(all: Vec<Value>, query: &BTreeMap<String, String>) -> ResponseTemplate {
    let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(20).clamp(1, 100);
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let items: Vec<Value> = all.iter().skip((page - 1) * per_page).take(per_page).cloned().collect();
    let mut template = ResponseTemplate::new(200).set_body_json(items);
    template = template.insert_header("x-page", page.to_string().as_str());
    if page * per_page < all.len() {
        template = template.insert_header("x-next-page", (page + 1).to_string().as_str());
    } else {
        template = template.insert_header("x-next-page", "");
    }
    template
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_string();
        let path = request.url.path().to_string();
        let query: BTreeMap<String, String> =
            request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let token = request.headers.get("private-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let mut state = self.state.lock().unwrap();
        state.requests.push((method.clone(), path.clone()));
        if token != TOKEN {
            return ResponseTemplate::new(401).set_body_json(json!({"message": "401 Unauthorized"}));
        }
        // Path segments arrive still percent-encoded, as GitLab takes `acme%2Fanalytics`.
        let Some(rest) = path.strip_prefix("/api/v4/") else { return not_found() };
        let parts: Vec<&str> = rest.split('/').collect();
        let project_ok = |id: &str| id == PROJECT.to_string();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["user"]) => {
                ResponseTemplate::new(200).set_body_json(json!({"id": BOT_ID, "username": BOT, "bot": true}))
            }
            ("GET", ["users"]) => {
                let wanted = query.get("username").cloned().unwrap_or_default();
                let found: Vec<Value> = state
                    .users
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(&wanted))
                    .map(|(name, (id, _))| json!({"id": id, "username": name}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(found)
            }
            ("GET", ["users", id]) => {
                let id: u64 = id.parse().unwrap_or(0);
                match state.users.iter().find(|(_, (uid, _))| *uid == id) {
                    Some((name, (_, bot))) => {
                        ResponseTemplate::new(200).set_body_json(json!({"id": id, "username": name, "bot": bot}))
                    }
                    None if id == BOT_ID => {
                        ResponseTemplate::new(200).set_body_json(json!({"id": id, "username": BOT, "bot": true}))
                    }
                    None => not_found(),
                }
            }
            ("GET", ["groups", group, "members", "all", user]) => {
                let group = group.replace("%2F", "/").replace("%2f", "/").to_lowercase();
                let user: u64 = user.parse().unwrap_or(0);
                if state.group_members.contains(&(group, user)) {
                    ResponseTemplate::new(200).set_body_json(json!({"id": user, "state": "active", "access_level": 30}))
                } else {
                    not_found()
                }
            }
            ("GET", ["projects", id]) => match state.projects.get(&id.parse().unwrap_or(0)) {
                Some((path, url)) => ResponseTemplate::new(200).set_body_json(
                    json!({"id": id.parse::<u64>().unwrap_or(0), "path_with_namespace": path, "http_url_to_repo": url}),
                ),
                None => not_found(),
            },
            ("GET", ["projects", id, "members", "all", user]) if project_ok(id) => {
                match state.access.get(&user.parse().unwrap_or(0)) {
                    Some(level) => ResponseTemplate::new(200).set_body_json(json!({"access_level": level})),
                    None => not_found(),
                }
            }
            ("GET", ["projects", id, "merge_requests", iid]) if project_ok(id) => {
                match state.mrs.get(&iid.parse().unwrap_or(0)) {
                    Some(mr) => ResponseTemplate::new(200).set_body_json(mr.clone()),
                    None => not_found(),
                }
            }
            ("GET", ["projects", id, "merge_requests", iid, "approvals"]) if project_ok(id) => {
                let approvers = state.approvals.get(&iid.parse().unwrap_or(0)).cloned().unwrap_or_default();
                let by: Vec<Value> = approvers.iter().map(|u| json!({"user": {"username": u}})).collect();
                ResponseTemplate::new(200).set_body_json(json!({"approved_by": by}))
            }
            ("POST", ["projects", id, "statuses", sha]) if project_ok(id) => {
                let state_name = body["state"].as_str().unwrap_or_default();
                if !["pending", "running", "success", "failed", "canceled", "skipped"].contains(&state_name) {
                    return ResponseTemplate::new(400).set_body_json(json!({"message": "state is invalid"}));
                }
                state.statuses.push((sha.to_string(), body.clone()));
                ResponseTemplate::new(201).set_body_json(json!({"id": state.statuses.len(), "sha": sha}))
            }
            ("GET", ["projects", id, "merge_requests", iid, "notes"]) if project_ok(id) => {
                let iid: u64 = iid.parse().unwrap_or(0);
                let all: Vec<Value> = state
                    .notes
                    .values()
                    .filter(|n| n.iid == iid)
                    .map(|n| json!({"id": n.id, "body": n.body, "author": {"username": n.author}, "system": false}))
                    .collect();
                paginate(all, &query)
            }
            ("POST", ["projects", id, "merge_requests", iid, "notes"]) if project_ok(id) => {
                let id = state.id();
                let note = Note {
                    id,
                    iid: iid.parse().unwrap_or(0),
                    body: body["body"].as_str().unwrap_or_default().into(),
                    author: BOT.into(),
                    edits: 0,
                    discussion: format!("d{id}"),
                };
                state.notes.insert(id, note);
                ResponseTemplate::new(201).set_body_json(json!({"id": id}))
            }
            ("PUT", ["projects", id, "merge_requests", _, "notes", note]) if project_ok(id) => {
                let note: u64 = note.parse().unwrap_or(0);
                match state.notes.get_mut(&note) {
                    Some(n) => {
                        n.body = body["body"].as_str().unwrap_or_default().into();
                        n.edits += 1;
                        ResponseTemplate::new(200).set_body_json(json!({"id": note}))
                    }
                    None => not_found(),
                }
            }
            ("POST", ["projects", id, "merge_requests", _, "notes", note, "award_emoji"]) if project_ok(id) => {
                let note: u64 = note.parse().unwrap_or(0);
                let name = body["name"].as_str().unwrap_or_default().to_string();
                if state.awards.contains(&(note, name.clone())) {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "404 Award Emoji Name has already been taken"}));
                }
                state.awards.push((note, name));
                ResponseTemplate::new(201).set_body_json(json!({"id": state.awards.len()}))
            }
            ("GET", ["projects", id, "merge_requests", iid, "discussions"]) if project_ok(id) => {
                let iid: u64 = iid.parse().unwrap_or(0);
                let all: Vec<Value> = state
                    .discussions
                    .iter()
                    .filter(|d| d.iid == iid)
                    .map(|d| {
                        json!({"id": d.id, "notes": [{"body": d.body, "resolvable": true, "resolved": d.resolved,
                                                      "position": d.position, "author": {"username": BOT}}]})
                    })
                    .collect();
                paginate(all, &query)
            }
            ("POST", ["projects", id, "merge_requests", iid, "discussions"]) if project_ok(id) => {
                let iid: u64 = iid.parse().unwrap_or(0);
                let position = body["position"].clone();
                let mr = state.mrs.get(&iid).cloned().unwrap_or_default();
                let refs = &mr["diff_refs"];
                let same = |field: &str| position[field] == refs[field];
                let accepted = if !(same("base_sha") && same("start_sha") && same("head_sha")) {
                    false
                } else {
                    let repo = state.repo.clone().unwrap();
                    let path = position["new_path"].as_str().unwrap_or_default();
                    let (added, context, removed) = diff_lines(
                        &repo,
                        refs["base_sha"].as_str().unwrap_or_default(),
                        refs["head_sha"].as_str().unwrap_or_default(),
                        path,
                    );
                    match (position["new_line"].as_u64(), position["old_line"].as_u64()) {
                        (Some(new), None) => added.contains(&new),
                        (Some(new), Some(old)) => context.contains(&(old, new)),
                        (None, Some(old)) => removed.contains(&old),
                        (None, None) => false,
                    }
                };
                if !accepted {
                    state.refused_positions.push(position);
                    return ResponseTemplate::new(400).set_body_json(
                        json!({"message": {"line_code": ["can't be blank", "must be a valid line code"]}}),
                    );
                }
                let id = format!("{:040x}", state.id());
                state.discussions.push(DiffDiscussion {
                    id: id.clone(),
                    iid,
                    body: body["body"].as_str().unwrap_or_default().into(),
                    position,
                    resolved: false,
                });
                ResponseTemplate::new(201).set_body_json(json!({"id": id}))
            }
            ("PUT", ["projects", id, "merge_requests", _, "discussions", discussion]) if project_ok(id) => {
                let resolved = query.get("resolved").map(String::as_str) == Some("true");
                match state.discussions.iter_mut().find(|d| d.id == *discussion) {
                    Some(d) => {
                        d.resolved = resolved;
                        ResponseTemplate::new(200).set_body_json(json!({"id": d.id}))
                    }
                    None => not_found(),
                }
            }
            ("POST", ["projects", id, "merge_requests", iid, "discussions", discussion, "notes"]) if project_ok(id) => {
                let note = state.id();
                let reply = Note {
                    id: note,
                    iid: iid.parse().unwrap_or(0),
                    body: body["body"].as_str().unwrap_or_default().into(),
                    author: BOT.into(),
                    edits: 0,
                    discussion: discussion.to_string(),
                };
                state.notes.insert(note, reply);
                ResponseTemplate::new(201).set_body_json(json!({"id": note}))
            }
            _ => not_found(),
        }
    }
}

impl FakeGitLab {
    pub async fn start() -> FakeGitLab {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(Responder { state: state.clone() })
            .mount(&server)
            .await;
        FakeGitLab { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The states posted for a head, in order.
    pub fn states_of(&self, sha: &str) -> Vec<String> {
        self.with(|s| {
            s.statuses
                .iter()
                .filter(|(h, _)| h == sha)
                .map(|(_, b)| b["state"].as_str().unwrap_or_default().to_string())
                .collect()
        })
    }

    /// The bot's notes on a merge request that are not replies (the sticky note).
    pub fn sticky_notes(&self, iid: u64) -> Vec<Note> {
        self.with(|s| {
            s.notes
                .values()
                .filter(|n| n.iid == iid && n.body.starts_with("<!-- datasurface-report -->"))
                .cloned()
                .collect()
        })
    }

    /// Replies the bot wrote in the discussion of note `note`.
    pub fn replies_to(&self, discussion: &str) -> Vec<Note> {
        self.with(|s| s.notes.values().filter(|n| n.discussion == discussion).cloned().collect())
    }

    pub fn count(&self, method: &str, part: &str) -> usize {
        self.with(|s| s.requests.iter().filter(|(m, p)| m == method && p.contains(part)).count())
    }
}
