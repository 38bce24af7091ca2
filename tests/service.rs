//! `datasurface serve` end to end: a real process listening on loopback, signed webhooks made
//! from GitHub's own payloads, real git repositories as the remotes (`file://`), the stand-in
//! GitHub of `fake_github.rs`, and SQLite or the PostgreSQL server as the queue.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_github::{APP_ID, FakeGitHub, INSTALLATION, eventually};
use crate::support::{commit_all, copy_dir, fixture, git, new_repo, repo_root};

pub const SECRET: &str = "webhook-secret-for-tests";
/// GitLab's signing token form: `whsec_` and the base64 of the key.
pub const SIGNING_TOKEN: &str = "whsec_dGVzdC1zaWduaW5nLWtleS1mb3ItZGF0YXN1cmZhY2U=";
pub const REPO: &str = "acme/model";

/// A running `datasurface serve`.
pub struct Serve {
    child: Child,
    pub url: String,
    pub work: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// Starts the service against `github`, on `database` (default: SQLite in its work dir),
    /// and waits until it answers `/healthz`.
    pub async fn start(github: &FakeGitHub, database: Option<&str>, env: &[(&str, &str)]) -> Serve {
        let key = repo_root().join("tests/data/test-app-key.pem").display().to_string();
        let forge = [
            ("DATASURFACE_GITHUB_APP_ID", APP_ID.to_string()),
            ("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", key),
            ("DATASURFACE_GITHUB_WEBHOOK_SECRET", SECRET.to_string()),
            ("DATASURFACE_GITHUB_API_URL", github.url()),
        ];
        Serve::launch(&forge, database, env).await
    }

    /// Starts the service against the stand-in GitLab (secret token and signing token set).
    pub async fn start_gitlab(gitlab: &crate::fake_gitlab::FakeGitLab, env: &[(&str, &str)]) -> Serve {
        let forge = [
            ("DATASURFACE_GITLAB_URL", gitlab.url()),
            ("DATASURFACE_GITLAB_TOKEN", crate::fake_gitlab::TOKEN.to_string()),
            ("DATASURFACE_GITLAB_WEBHOOK_SECRET", SECRET.to_string()),
            ("DATASURFACE_GITLAB_SIGNING_TOKEN", SIGNING_TOKEN.to_string()),
        ];
        Serve::launch(&forge, None, env).await
    }

    async fn launch(forge: &[(&str, String)], database: Option<&str>, env: &[(&str, &str)]) -> Serve {
        datasurface::forge::install_tls();
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let log = dir.path().join("serve.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_datasurface"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATASURFACE_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATASURFACE_WORK_DIR", &work)
            .env("DATASURFACE_PUBLIC_URL", &url)
            .env("DATASURFACE_WORKERS", "2")
            // Writes paced as in production are tested on their own; elsewhere they would only slow.
            .env("DATASURFACE_WRITE_INTERVAL_MS", "0")
            .env("DATASURFACE_LOG", "datasurface=debug,warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in forge {
            command.env(key, value);
        }
        if let Some(database) = database {
            command.env("DATASURFACE_DATABASE_URL", database);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("datasurface serve starts");
        let serve = Serve { child, url, work, log, _dir: dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", serve.url)).send().await
                && response.status() == 200
            {
                return serve;
            }
            assert!(Instant::now() < deadline, "serve did not start:\n{}", serve.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process at once, as a crash or an OOM kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to end; its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a webhook signed with the service's secret; the status and the JSON answer.
    pub async fn webhook(&self, event: &str, delivery: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        let signature = datasurface::service::webhook::github_signature(SECRET, &bytes);
        self.post_webhook(event, delivery, bytes, Some(signature)).await
    }

    pub async fn post_webhook(
        &self,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.url))
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends a GitLab hook authenticated with `X-Gitlab-Token` (or `token`), and an
    /// `Idempotency-Key`; the status and the JSON answer.
    pub async fn gitlab_hook(&self, event: &str, delivery: &str, body: &Value) -> (u16, Value) {
        self.post_gitlab(event, delivery, serde_json::to_vec(body).unwrap(), &[("x-gitlab-token", SECRET.to_string())])
            .await
    }

    pub async fn post_gitlab(
        &self,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}/webhooks/gitlab", self.url))
            .header("x-gitlab-event", event)
            .header("idempotency-key", delivery)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let response = reqwest::Client::new().get(format!("{}{path}", self.url)).send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, response.text().await.unwrap(), headers)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A repository standing in for the pull request's base repository: `main` at the example
/// model, and each head as `refs/pull/N/head`.
pub struct Origin {
    pub dir: tempfile::TempDir,
    pub base: String,
}

impl Origin {
    pub fn new() -> Origin {
        Origin::with(|_| {})
    }

    /// The example model, and `prepare` applied to it, as the base.
    pub fn with(prepare: impl FnOnce(&Path)) -> Origin {
        let dir = new_repo();
        copy_dir(&fixture("acme"), dir.path());
        prepare(dir.path());
        let base = commit_all(dir.path(), "base");
        Origin { dir, base }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// A head for pull request `number`: `change` applied to the base (or to `from`), committed
    /// and published as `refs/pull/<number>/head`; `main` stays at the base.
    pub fn head(&self, number: u64, from: Option<&str>, change: impl FnOnce(&Path)) -> String {
        let path = self.dir.path();
        git(path, &["checkout", "-q", "--detach", from.unwrap_or(&self.base)]);
        change(path);
        let head = commit_all(path, &format!("head of #{number}"));
        git(path, &["update-ref", &format!("refs/pull/{number}/head"), &head]);
        git(path, &["update-ref", &format!("refs/merge-requests/{number}/head"), &head]);
        git(path, &["checkout", "-q", "main"]);
        head
    }
}

/// Removes the consumed column `email` from the example's customers: a breaking change for
/// workspace `marketing` (owner: repo acme/analytics, team acme/analytics).
pub fn drop_email(path: &Path) {
    let file = path.join("zones/usa/teams/northwind/customers.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("        - {name: email, type: varchar(320), classifications: [PC3]}\n", "");
    std::fs::write(file, text).unwrap();
}

/// A real `pull_request` payload, rewritten to this test's repository, pull request and heads.
pub fn pull_payload(action: &str, number: u64, origin: &Origin, head: &str, author: &str) -> Value {
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/data/github/pull_request.opened.json")).unwrap(),
    )
    .unwrap();
    payload["action"] = action.into();
    payload["number"] = number.into();
    payload["installation"] = json!({"id": INSTALLATION});
    payload["repository"]["full_name"] = REPO.into();
    let pr = &mut payload["pull_request"];
    pr["number"] = number.into();
    pr["user"]["login"] = author.into();
    pr["head"]["sha"] = head.into();
    pr["head"]["ref"] = format!("change-{number}").into();
    // The producer team proposes from its own repository, as its owner entry expects.
    pr["head"]["repo"]["full_name"] = "acme/northwind".into();
    pr["head"]["repo"]["clone_url"] = origin.url().into();
    pr["base"]["sha"] = origin.base.clone().into();
    pr["base"]["ref"] = "main".into();
    pr["base"]["repo"]["full_name"] = REPO.into();
    pr["base"]["repo"]["clone_url"] = origin.url().into();
    payload
}

pub fn completed(github: &FakeGitHub, head: &str) -> Vec<crate::fake_github::CheckRun> {
    github.runs_of(head).into_iter().filter(|r| r.status() == "completed").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_gets_a_check_run_with_annotations_and_one_comment_which_a_push_edits() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(1, None, drop_email);
    let serve = Serve::start(&github, None, &[]).await;
    let (status, answer) =
        serve.webhook("pull_request", "delivery-1", &pull_payload("opened", 1, &origin, &head, "bob")).await;
    assert_eq!(status, 202, "{answer}");
    eventually(30, "the check run to complete", || !completed(&github, &head).is_empty()).await;
    let runs = github.runs_of(&head);
    assert_eq!(runs.len(), 1, "exactly one check run: {runs:#?}");
    let run = &runs[0];
    assert_eq!((run.created["name"].as_str(), run.repo.as_str()), (Some("datasurface"), REPO));
    assert_eq!(run.created["status"], "in_progress");
    assert_eq!(run.conclusion().as_deref(), Some("failure"), "{}", serve.log());
    let title = run.field("output").unwrap()["title"].as_str().unwrap().to_string();
    assert!(title.starts_with("failed: 1 error"), "{title}");
    let annotations = run.annotations();
    let column = annotations
        .iter()
        .find(|a| a["title"] == "compat.column-removed")
        .expect("an annotation of the removed column");
    assert_eq!(column["path"], "zones/usa/teams/northwind/customers.yaml");
    assert_eq!((column["start_line"].as_u64(), column["annotation_level"].as_str()), (Some(17), Some("failure")));
    let details = run.field("details_url").unwrap().as_str().unwrap().to_string();
    assert!(details.starts_with(&format!("{}/reports/", serve.url)), "{details}");
    eventually(10, "the comment", || github.comments_of(1).len() == 1).await;
    let comment = &github.comments_of(1)[0];
    assert!(comment.body.starts_with("<!-- datasurface-report -->"), "{}", comment.body);
    assert!(comment.body.contains("compat.column-removed") && comment.body.contains("marketing"), "{}", comment.body);

    // The report page: the whole report, no scripts allowed.
    let path = details.strip_prefix(&serve.url).unwrap();
    let (status, html, headers) = serve.get(path).await;
    assert_eq!(status, 200);
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(
        html.contains("compat.column-removed")
            && html.contains("<svg id=\"impact-graph\"")
            && !html.contains("<script"),
        "{html}"
    );
    assert_eq!(serve.get("/reports/00000000000000000000000000000000").await.0, 404);

    // A second push: a new check run for the new head, and the same comment edited.
    let second = origin.head(1, Some(&head), |path| {
        let file = path.join("zones/usa/teams/northwind/orders.yaml");
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("type: bigint, nullable: false}", "type: bigintt, nullable: false}");
        std::fs::write(file, text).unwrap();
    });
    let (status, _) =
        serve.webhook("pull_request", "delivery-2", &pull_payload("synchronize", 1, &origin, &second, "bob")).await;
    assert_eq!(status, 202);
    eventually(30, "the second head's check run", || !completed(&github, &second).is_empty()).await;
    eventually(10, "the comment to be edited", || github.comments_of(1).first().is_some_and(|c| c.edits == 1)).await;
    let comments = github.comments_of(1);
    assert_eq!(comments.len(), 1, "never a second comment");
    assert!(comments[0].body.contains("column.type-invalid"), "the edit shows the new head's problems");
    assert_eq!(github.runs_of(&head).len(), 1, "the first head's run is left as it was");
    // Tokens are cached: one mint for the whole conversation.
    assert_eq!(github.with(|s| s.tokens_minted), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_by_someone_else_that_starts_with_the_marker_is_never_taken_for_ours() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(18, None, drop_email);
    github.with(|s| {
        s.comments.insert(
            1,
            crate::fake_github::Comment {
                id: 1,
                repo: REPO.into(),
                number: 18,
                body: "<!-- datasurface-report -->\n✅ **datasurface: passed**".into(),
                edits: 0,
                author: "mallory".into(),
            },
        );
    });
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-18", &pull_payload("opened", 18, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the bot's own comment", || github.comments_of(18).len() == 2).await;
    let comments = github.comments_of(18);
    assert_eq!((comments[0].author.as_str(), comments[0].edits), ("mallory", 0), "mallory's comment is left alone");
    assert!(comments[1].body.contains("compat.column-removed") && comments[1].author == "datasurface[bot]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_outside_the_model_root_passes_without_a_comment() {
    let github = FakeGitHub::start().await;
    // The model lives in models/acme, as .datasurface.yaml of the base says.
    let origin = Origin::with(|path| {
        let models = path.join("models/acme");
        std::fs::create_dir_all(&models).unwrap();
        for entry in std::fs::read_dir(path).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name != ".git" && name != "models" {
                std::fs::rename(entry.path(), models.join(&name)).unwrap();
            }
        }
        std::fs::write(path.join(".datasurface.yaml"), "root: models/acme\n").unwrap();
    });
    let head = origin.head(3, None, |path| std::fs::write(path.join("README.md"), "# Docs\n").unwrap());
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-3", &pull_payload("opened", 3, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    let run = &github.runs_of(&head)[0];
    assert_eq!(run.conclusion().as_deref(), Some("success"));
    assert_eq!(run.field("output").unwrap()["title"], "no model changes");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(github.comments_of(3).is_empty(), "a passing check posts no comment");

    // Inside the root it is checked: the breaking change fails there too.
    let breaking = origin.head(4, None, |path| drop_email(&path.join("models/acme")));
    assert_eq!(
        serve.webhook("pull_request", "d-4", &pull_payload("opened", 4, &origin, &breaking, "bob")).await.0,
        202
    );
    eventually(30, "the check run", || !completed(&github, &breaking).is_empty()).await;
    let run = &github.runs_of(&breaking)[0];
    assert_eq!(run.conclusion().as_deref(), Some("failure"), "{}", serve.log());
    assert!(run.annotations().iter().any(|a| a["path"] == "models/acme/zones/usa/teams/northwind/customers.yaml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_and_redeliveries_make_no_second_job() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(5, None, drop_email);
    let serve = Serve::start(&github, None, &[]).await;
    let payload = pull_payload("opened", 5, &origin, &head, "bob");
    let bytes = serde_json::to_vec(&payload).unwrap();
    let wrong = datasurface::service::webhook::github_signature("not-the-secret", &bytes);
    assert_eq!(serve.post_webhook("pull_request", "d-bad", bytes.clone(), Some(wrong)).await.0, 401);
    assert_eq!(serve.post_webhook("pull_request", "d-none", bytes.clone(), None).await.0, 401);
    // An unsigned body is never parsed: even junk is a 401, not a 400.
    assert_eq!(serve.post_webhook("pull_request", "d-junk", b"{not json".to_vec(), None).await.0, 401);
    // Over 25 MiB: 413.
    let huge = vec![b' '; 26 * 1024 * 1024];
    assert_eq!(serve.post_webhook("pull_request", "d-huge", huge, None).await.0, 413);
    let (_, metrics, _) = serve.get("/metrics").await;
    assert!(metrics.contains("datasurface_jobs{state=\"queued\"} 0"), "{metrics}");
    assert!(metrics.contains("outcome=\"unauthorized\"} 3"), "{metrics}");
    // A real delivery, then GitHub's redelivery of it (same X-GitHub-Delivery).
    assert_eq!(serve.webhook("pull_request", "d-real", &payload).await.0, 202);
    let (status, answer) = serve.webhook("pull_request", "d-real", &payload).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("received before"));
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(github.runs_of(&head).len(), 1, "one job, one check run");
    // Events that check nothing are answered 200 with the reason.
    let ping: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("tests/data/github/ping.json")).unwrap())
            .unwrap();
    let (status, answer) = serve.webhook("ping", "d-ping", &ping).await;
    assert_eq!((status, answer["message"].as_str()), (200, Some("pong")));
    let mut closed = payload.clone();
    closed["action"] = "closed".into();
    assert_eq!(serve.webhook("pull_request", "d-closed", &closed).await.0, 200);
    assert_eq!(serve.get("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forge_errors_are_retried_and_rate_limits_waited_for() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(6, None, drop_email);
    github.with(|s| {
        s.failures.push_back(crate::fake_github::Failure {
            method: "POST",
            path_contains: "/check-runs".into(),
            status: 502,
            headers: vec![],
            times: 1,
        });
        s.failures.push_back(crate::fake_github::Failure {
            method: "PATCH",
            path_contains: "/check-runs/".into(),
            status: 429,
            headers: vec![("retry-after", "1".into())],
            times: 1,
        });
    });
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-6", &pull_payload("opened", 6, &origin, &head, "bob")).await.0, 202);
    eventually(40, "the check run", || !completed(&github, &head).is_empty()).await;
    assert_eq!(github.runs_of(&head).len(), 1, "the 502 was retried, and published once");
    let patches: Vec<Instant> = github.with(|s| {
        s.requests.iter().filter(|(m, p, _)| m == "PATCH" && p.contains("/check-runs/")).map(|r| r.2).collect()
    });
    assert!(patches.len() >= 2, "the rate-limited PATCH was sent again");
    assert!(patches[1] - patches[0] >= Duration::from_millis(950), "after Retry-After: {:?}", patches[1] - patches[0]);
    let (_, metrics, _) = serve.get("/metrics").await;
    assert!(metrics.contains("datasurface_forge_requests_total{forge=\"github\",status=\"502\"} 1"), "{metrics}");
    assert!(metrics.contains("datasurface_forge_requests_total{forge=\"github\",status=\"429\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_head_is_never_published_after_a_newer_one() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let old = origin.head(7, None, drop_email);
    let new = origin
        .head(7, Some(&old), |path| std::fs::write(path.join("zones/usa/teams/northwind/notes.md"), "n").unwrap());
    // The first run is slow (its reviews answer late), so the second push arrives while it runs.
    github.with(|s| s.stalls.push(("/pulls/7/reviews".into(), Duration::from_millis(1500))));
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-7a", &pull_payload("opened", 7, &origin, &old, "bob")).await.0, 202);
    eventually(10, "the first run to start", || !github.runs_of(&old).is_empty()).await;
    assert_eq!(
        serve.webhook("pull_request", "d-7b", &pull_payload("synchronize", 7, &origin, &new, "bob")).await.0,
        202
    );
    eventually(40, "the newer head's check run", || !completed(&github, &new).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let newest = github.runs_of(&new);
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].conclusion().as_deref(), Some("failure"));
    for run in github.runs_of(&old) {
        // The older head's run was cancelled, never completed with a verdict, and written before the newer's.
        assert_eq!(run.conclusion().as_deref(), Some("cancelled"), "{run:#?}");
        assert!(run.field("output").unwrap()["summary"].as_str().unwrap().contains(&new), "names the newer head");
        assert!(run.order < newest[0].order, "the older head's last write came first");
    }
    let (_, metrics, _) = serve.get("/metrics").await;
    assert!(metrics.contains("datasurface_jobs_total{outcome=\"superseded\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_killed_worker_is_finished_by_another_after_its_lease() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(8, None, drop_email);
    let database_dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", database_dir.path().join("queue.db").display());
    // The first process hangs inside the check (its reviews never answer in time).
    github.with(|s| s.stalls.push(("/pulls/8/reviews".into(), Duration::from_secs(60))));
    let lease = [("DATASURFACE_LEASE_SECONDS", "2")];
    let mut first = Serve::start(&github, Some(&database), &lease).await;
    assert_eq!(first.webhook("pull_request", "d-8", &pull_payload("opened", 8, &origin, &head, "bob")).await.0, 202);
    eventually(15, "the first worker to hold the job", || github.count("GET", "/pulls/8/reviews") == 1).await;
    first.kill();
    github.with(|s| s.stalls.clear());
    let second = Serve::start(&github, Some(&database), &lease).await;
    eventually(30, "another worker to finish the job", || !completed(&github, &head).is_empty()).await;
    let done = completed(&github, &head);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].conclusion().as_deref(), Some("failure"), "{}", second.log());
    // The dead worker's in_progress run was taken over, not left behind next to a new one.
    assert_eq!(github.runs_of(&head).len(), 1, "{:#?}", github.runs_of(&head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_by_the_consumers_owner_turns_failure_into_a_pass() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(9, None, drop_email);
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-9", &pull_payload("opened", 9, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the failing check", || !completed(&github, &head).is_empty()).await;
    assert_eq!(completed(&github, &head)[0].conclusion().as_deref(), Some("failure"));
    // carol, of team acme/analytics (marketing's owner), approves this head.
    github.with(|s| {
        s.members.insert(("acme/analytics".into(), "carol".into()));
        s.reviews.insert(
            (REPO.into(), 9),
            vec![
                json!({"user": {"login": "carol"}, "state": "CHANGES_REQUESTED", "commit_id": head}),
                json!({"user": {"login": "carol"}, "state": "APPROVED", "commit_id": head}),
                json!({"user": {"login": "dave"}, "state": "APPROVED", "commit_id": "an-older-head"}),
            ],
        );
    });
    let mut review: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/data/github/pull_request_review.submitted.approved.json"))
            .unwrap(),
    )
    .unwrap();
    review["pull_request"] = pull_payload("opened", 9, &origin, &head, "bob")["pull_request"].clone();
    review["repository"]["full_name"] = REPO.into();
    review["installation"] = json!({"id": INSTALLATION});
    assert_eq!(serve.webhook("pull_request_review", "d-9-review", &review).await.0, 202);
    eventually(30, "the second check", || completed(&github, &head).len() == 2).await;
    let runs = completed(&github, &head);
    assert_eq!(runs[1].conclusion().as_deref(), Some("success"), "{}", serve.log());
    eventually(10, "the comment to say so", || {
        github.comments_of(9).first().is_some_and(|c| c.body.contains("passed"))
    })
    .await;
    assert!(github.count("GET", "/orgs/acme/teams/analytics/memberships/carol") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_and_twenty_problems_are_annotated_fifty_at_a_time_errors_first() {
    let github = FakeGitHub::start().await;
    // The base gains a dataset nobody consumes, with 20 columns besides its key.
    let origin = Origin::with(|path| {
        let file = path.join("zones/usa/teams/northwind/customers.yaml");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("  - name: scratch\n    classifications: [PUB]\n    schema:\n      columns:\n        - {name: id, type: bigint, nullable: false}\n");
        for i in 0..20 {
            text.push_str(&format!("        - {{name: c{i}, type: string}}\n"));
        }
        std::fs::write(&file, text).unwrap();
    });
    // The head removes those 20 columns (20 warnings: nothing consumes them) and adds 100
    // unknown fields to another file (100 errors).
    let head = origin.head(10, None, |path| {
        let file = path.join("zones/usa/teams/northwind/customers.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let scratch: Vec<String> = (0..20).map(|i| format!("- {{name: c{i}, type: string}}")).collect();
        let kept: Vec<&str> = text.lines().filter(|l| !scratch.iter().any(|c| l.trim_start() == c)).collect();
        std::fs::write(&file, kept.join("\n") + "\n").unwrap();
        let file = path.join("zones/usa/teams/northwind/orders.yaml");
        let mut text = std::fs::read_to_string(&file).unwrap();
        for i in 0..100 {
            text = text.replacen("kind: Datastore\n", &format!("kind: Datastore\nunknown_{i}: x\n"), 1);
        }
        std::fs::write(&file, text).unwrap();
    });
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-10", &pull_payload("opened", 10, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    let run = &github.runs_of(&head)[0];
    let levels: Vec<String> =
        run.annotations().iter().map(|a| a["annotation_level"].as_str().unwrap().to_string()).collect();
    let titles: Vec<String> = run
        .annotations()
        .iter()
        .map(|a| format!("{} {}", a["title"], a["message"]))
        .filter(|t| !t.contains("unknown_"))
        .collect();
    assert_eq!(run.annotation_batches(), vec![50, 50, 20], "{titles:#?}");
    assert!(
        levels[..100].iter().all(|l| l == "failure") && levels[100..].iter().all(|l| l == "warning"),
        "errors first: {levels:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_publish_each_check_run_exactly_once() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    // Fifty pull requests, each with a head of its own (a nullable column added: they pass).
    let heads: Vec<String> = (1..=50u64)
        .map(|n| {
            origin.head(n, None, |path| {
                let file = path.join("zones/usa/teams/northwind/customers.yaml");
                let text = std::fs::read_to_string(&file).unwrap().replace(
                    "        - {name: segment,",
                    &format!("        - {{name: extra_{n}, type: string, classifications: [PUB]}}\n        - {{name: segment,"),
                );
                std::fs::write(file, text).unwrap();
            })
        })
        .collect();
    let database = crate::queue::postgres_url().await;
    let a = Serve::start(&github, Some(&database), &[]).await;
    let b = Serve::start(&github, Some(&database), &[]).await;
    for (i, head) in heads.iter().enumerate() {
        let number = i as u64 + 1;
        let serve = if i % 2 == 0 { &a } else { &b };
        let payload = pull_payload("opened", number, &origin, head, "bob");
        assert_eq!(serve.webhook("pull_request", &format!("d-{number}"), &payload).await.0, 202);
        // Every tenth delivery is redelivered to the other replica: still one job.
        if number.is_multiple_of(10) {
            let other = if i % 2 == 0 { &b } else { &a };
            assert_eq!(other.webhook("pull_request", &format!("d-{number}"), &payload).await.0, 200);
        }
    }
    eventually(120, "all fifty check runs", || heads.iter().all(|h| !completed(&github, h).is_empty())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for head in &heads {
        let runs = github.runs_of(head);
        assert_eq!(runs.len(), 1, "{head}: {runs:#?}");
        assert_eq!(runs[0].conclusion().as_deref(), Some("success"), "{}", a.log());
    }
    // Both replicas took part.
    let worked = |serve: &Serve| serve.log().matches(" checking ").count();
    assert!(worked(&a) > 0 && worked(&b) > 0, "a: {}, b: {}", worked(&a), worked(&b));
    assert_eq!(worked(&a) + worked(&b), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_page_renders_in_a_real_browser() {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .unwrap_or_else(|| {
            panic!("\n\n*** This test renders the report page in headless Chromium, which is not installed.\n*** Install Debian's `chromium` package (.ci/run does).\n\n")
        });
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(11, None, drop_email);
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-11", &pull_payload("opened", 11, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    let details = github.runs_of(&head)[0].field("details_url").unwrap().as_str().unwrap().to_string();
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--virtual-time-budget=5000", "--dump-dom", &details])
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains("datasurface: failed"), "the verdict: {dom}");
    assert!(dom.contains("compat.column-removed") && dom.contains("customers.yaml:17:7"), "the problem: {dom}");
    assert!(dom.contains("<pre><span class=\"ln\">17</span>      columns:</pre>"), "its source line: {dom}");
    // The impact graph: the dataset, the workspace and its owner, joined by edges.
    assert!(dom.contains("id=\"impact-graph\""), "{dom}");
    assert!(
        dom.contains("customers/customers (modified)")
            && dom.contains("marketing / campaigns")
            && dom.contains("repo acme/analytics")
    );
    assert!(dom.matches("class=\"edge\"").count() >= 2, "{dom}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_finishes_running_checks_or_gives_their_leases_back() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(12, None, drop_email);
    let database_dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", database_dir.path().join("queue.db").display());
    // A check that takes 2 s is finished within the grace period, then the process exits 0.
    github.with(|s| s.stalls.push(("/pulls/12/reviews".into(), Duration::from_secs(2))));
    let mut serve = Serve::start(&github, Some(&database), &[]).await;
    assert_eq!(serve.webhook("pull_request", "d-12", &pull_payload("opened", 12, &origin, &head, "bob")).await.0, 202);
    eventually(15, "the check to start", || github.count("GET", "/pulls/12/reviews") == 1).await;
    assert_eq!(serve.terminate(), Some(0), "{}", serve.log());
    assert_eq!(completed(&github, &head).len(), 1, "finished before exiting: {}", serve.log());
    assert!(serve.work.join("repos/github/acme_model.git/HEAD").is_file(), "the bare mirror is kept in the work dir");

    // A check that would take a minute gets 1 s; its lease goes back, and the next process
    // takes it at once (no waiting for the lease to expire).
    let slow = origin.head(13, None, drop_email);
    github.with(|s| s.stalls = vec![("/pulls/13/reviews".into(), Duration::from_secs(60))]);
    let grace = [("DATASURFACE_SHUTDOWN_GRACE_SECONDS", "1")];
    let mut serve = Serve::start(&github, Some(&database), &grace).await;
    assert_eq!(serve.webhook("pull_request", "d-13", &pull_payload("opened", 13, &origin, &slow, "bob")).await.0, 202);
    eventually(15, "the check to start", || github.count("GET", "/pulls/13/reviews") == 1).await;
    let stopped = Instant::now();
    assert_eq!(serve.terminate(), Some(0), "{}", serve.log());
    assert!(stopped.elapsed() < Duration::from_secs(10), "{:?}", stopped.elapsed());
    assert!(serve.log().contains("giving its lease back"), "{}", serve.log());
    github.with(|s| s.stalls.clear());
    let started = Instant::now();
    let _next = Serve::start(&github, Some(&database), &[]).await;
    eventually(20, "the next process to finish it", || !completed(&github, &slow).is_empty()).await;
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_cannot_run_ends_neutral_with_the_reason_never_silent() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let serve = Serve::start(&github, None, &[]).await;
    // A head commit the remote does not have.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        serve.webhook("pull_request", "d-14", &pull_payload("opened", 14, &origin, missing, "bob")).await.0,
        202
    );
    eventually(30, "the neutral check run", || !completed(&github, missing).is_empty()).await;
    let run = &github.runs_of(missing)[0];
    assert_eq!(run.conclusion().as_deref(), Some("neutral"));
    let output = run.field("output").unwrap();
    assert!(output["summary"].as_str().unwrap().contains(missing), "the summary says why: {output}");
    // A .datasurface.yaml the base cannot be read with: neutral too, saying where.
    let broken = Origin::with(|path| std::fs::write(path.join(".datasurface.yaml"), "root: [oops\n").unwrap());
    let head = broken.head(15, None, drop_email);
    assert_eq!(serve.webhook("pull_request", "d-15", &pull_payload("opened", 15, &broken, &head, "bob")).await.0, 202);
    eventually(30, "the neutral check run", || !completed(&github, &head).is_empty()).await;
    let run = &github.runs_of(&head)[0];
    assert_eq!(run.conclusion().as_deref(), Some("neutral"));
    assert!(run.field("output").unwrap()["summary"].as_str().unwrap().contains(".datasurface.yaml:1:"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_minted_again_and_a_publication_that_keeps_failing_ends_neutral() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(16, None, drop_email);
    github.with(|s| {
        // The token is refused once, as an expired one would be.
        s.failures.push_back(crate::fake_github::Failure {
            method: "GET",
            path_contains: "/pulls/16/reviews".into(),
            status: 401,
            headers: vec![],
            times: 1,
        });
    });
    let serve = Serve::start(&github, None, &[("DATASURFACE_MAX_ATTEMPTS", "1")]).await;
    assert_eq!(serve.webhook("pull_request", "d-16", &pull_payload("opened", 16, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    assert_eq!(completed(&github, &head)[0].conclusion().as_deref(), Some("failure"));
    assert_eq!(github.with(|s| s.tokens_minted), 2, "minted again after the 401");

    // Completing the run fails every time (GitHub answers 500): after the last attempt the
    // job is dead, and a neutral check run says why.
    let second = origin.head(17, None, drop_email);
    github.with(|s| {
        s.failures.push_back(crate::fake_github::Failure {
            method: "PATCH",
            path_contains: "/check-runs/".into(),
            status: 500,
            headers: vec![],
            times: 5,
        });
    });
    assert_eq!(
        serve.webhook("pull_request", "d-17", &pull_payload("opened", 17, &origin, &second, "bob")).await.0,
        202
    );
    eventually(60, "the neutral check run", || {
        completed(&github, &second).iter().any(|r| r.conclusion().as_deref() == Some("neutral"))
    })
    .await;
    let neutral =
        completed(&github, &second).into_iter().find(|r| r.conclusion().as_deref() == Some("neutral")).unwrap();
    assert!(neutral.field("output").unwrap()["summary"].as_str().unwrap().contains("500"), "{neutral:#?}");
}
