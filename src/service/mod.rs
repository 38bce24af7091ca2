//! `datasurface serve`: the GitHub App service. Webhooks are verified over the raw body,
//! recorded and queued in one transaction (`queue`), and acknowledged; workers take the jobs,
//! fetch what a check needs, run the engine as a library (`check::check`, never a subprocess)
//! and publish through `forge`. Routes as SERVICE.md §2; the router is `app`, apart from the
//! listening loop, so tests can drive it too.

pub mod chatops;
pub mod config;
mod duties;
mod forges;
pub mod job;
pub mod metrics;
pub mod page;
pub mod publish;
pub mod webhook;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument;

pub use config::Settings;

use crate::forge::github::GitHubApp;
use crate::forge::gitlab::GitLab;
use crate::queue::{Delivery, Enqueued, JobStore, NewJob};

/// Webhook bodies over this are refused with 413 (GitHub sends at most 25 MiB).
pub const MAX_WEBHOOK_BYTES: usize = 25 * 1024 * 1024;
/// A webhook is answered within this, whatever the database does (GitHub waits 10 s).
const WEBHOOK_DEADLINE: Duration = Duration::from_secs(8);

/// What the routes and the workers share.
pub struct Shared {
    pub settings: Settings,
    pub store: Arc<dyn JobStore>,
    pub github: Option<Arc<GitHubApp>>,
    pub gitlab: Option<Arc<GitLab>>,
    pub metrics: Arc<metrics::Metrics>,
    /// Woken when a webhook queued a job, so that an idle worker takes it at once.
    pub wake: tokio::sync::Notify,
    /// Names this process's leases (`host-pid-random`).
    pub instance: String,
    /// Becomes `true` at shutdown.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    mirrors: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// Team memberships asked of the forge: (forge:installation or project, team, login) →
    /// (member, when).
    memberships: Mutex<HashMap<Membership, (bool, Instant)>>,
    /// The bot's names by forge (learnt at start-up from `GET /app` and `GET /user`).
    names: Mutex<HashMap<String, Vec<String>>>,
}

type Membership = (String, String, String);

impl Shared {
    pub fn new(
        settings: Settings,
        store: Arc<dyn JobStore>,
        github: Option<Arc<GitHubApp>>,
        gitlab: Option<Arc<GitLab>>,
        metrics: Arc<metrics::Metrics>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Shared {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "datasurface".into());
        let instance = format!("{host}-{}-{:08x}", std::process::id(), u32::from_le_bytes(bytes));
        Shared {
            settings,
            store,
            github,
            gitlab,
            metrics,
            wake: tokio::sync::Notify::new(),
            instance,
            shutdown,
            mirrors: Mutex::new(HashMap::new()),
            memberships: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    /// The names `@name` addresses the bot by on a forge (the App's slug, the bot user's
    /// username), as far as they are known yet.
    fn bot_names(&self, forge: &str) -> Vec<String> {
        self.names.lock().ok().and_then(|n| n.get(forge).cloned()).unwrap_or_default()
    }

    /// Whether installations of this organization or user are served (`github.allowed_owners`).
    fn serves_owner(&self, owner: &str) -> bool {
        match &self.settings.github {
            Some(github) if !github.allowed_owners.is_empty() => {
                github.allowed_owners.iter().any(|o| o.eq_ignore_ascii_case(owner))
            }
            _ => true,
        }
    }

    /// The client of a job's forge, when that forge is configured.
    fn forge(&self, name: &str) -> Option<forges::Forge> {
        match name {
            "github" => self.github.clone().map(forges::Forge::GitHub),
            "gitlab" => self.gitlab.clone().map(forges::Forge::GitLab),
            _ => None,
        }
    }

    fn lease_ms(&self) -> i64 {
        self.settings.lease_seconds as i64 * 1000
    }
}

/// The routes of SERVICE.md §2.
pub fn app(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
    if shared.settings.role.takes_webhooks() {
        router = router
            .route("/webhooks/github", post(github_webhook).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES)))
            .route("/webhooks/gitlab", post(gitlab_webhook).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES)));
        if shared.settings.reports {
            router = router.route("/reports/{id}", get(report_page));
        }
    }
    router.with_state(shared)
}

/// A small JSON answer `{"message": …}`, the shape of every answer of the webhook routes.
fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "message": message.into() }))).into_response()
}

async fn github_webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (event, delivery) = (text("x-github-event"), text("x-github-delivery"));
    let span = tracing::info_span!("webhook", forge = "github", %event, %delivery);
    async move {
        let Some(github) = &shared.settings.github else {
            return answer(StatusCode::NOT_FOUND, "GitHub is not configured in this service");
        };
        // The signature first: nothing of an unsigned body is read.
        if !webhook::github_signature_ok(
            &github.webhook_secret,
            &body,
            headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()),
        ) {
            shared.metrics.webhook("github", &event, "unauthorized");
            tracing::warn!("refused: missing or wrong X-Hub-Signature-256");
            return answer(StatusCode::UNAUTHORIZED, "missing or wrong X-Hub-Signature-256");
        }
        if event.is_empty() || delivery.is_empty() {
            return answer(StatusCode::BAD_REQUEST, "X-GitHub-Event and X-GitHub-Delivery are required");
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
            shared.metrics.webhook("github", &event, "malformed");
            return answer(StatusCode::BAD_REQUEST, "the body is not JSON");
        };
        let names = shared.bot_names("github");
        let intake = webhook::github(&event, &value, github.app_id, &names, &delivery);
        record_and_answer(&shared, "github", &event, &delivery, intake).await
    }
    .instrument(span)
    .await
}

async fn gitlab_webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let event = header("x-gitlab-event").unwrap_or_default().to_string();
    // The id a redelivery keeps: Idempotency-Key, else the event UUID, else the signature's id.
    let delivery = header("idempotency-key")
        .or(header("x-gitlab-event-uuid"))
        .or(header("webhook-id"))
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!("webhook", forge = "gitlab", %event, %delivery);
    async move {
        let Some(gitlab) = &shared.settings.gitlab else {
            return answer(StatusCode::NOT_FOUND, "GitLab is not configured in this service");
        };
        let auth = webhook::GitLabAuth {
            token: header("x-gitlab-token"),
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
        };
        let now = shared.store.now() / 1000;
        if let Err(why) = webhook::gitlab_authentic(
            gitlab.webhook_secret.as_deref(),
            gitlab.signing_token.as_deref(),
            auth,
            &body,
            now,
        ) {
            shared.metrics.webhook("gitlab", &event, "unauthorized");
            tracing::warn!(why, "refused");
            return answer(StatusCode::UNAUTHORIZED, why);
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
            shared.metrics.webhook("gitlab", &event, "malformed");
            return answer(StatusCode::BAD_REQUEST, "the body is not JSON");
        };
        // GitLab sends no delivery id on old versions: the body's hash stands in.
        let delivery = if delivery.is_empty() { format!("sha256:{}", sha256_hex(&body)) } else { delivery };
        let me = shared.bot_names("gitlab").into_iter().next();
        let intake = webhook::gitlab(&event, &value, me.as_deref(), &delivery);
        record_and_answer(&shared, "gitlab", &event, &delivery, intake).await
    }
    .instrument(span)
    .await
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Records an authenticated delivery with its jobs in one transaction and answers: `202`
/// queued, `200` duplicate or nothing to do (with the reason), `503` when the database does
/// not answer in time (the forge redelivers).
async fn record_and_answer(
    shared: &Arc<Shared>,
    forge: &'static str,
    event: &str,
    delivery: &str,
    intake: webhook::Intake,
) -> Response {
    let (jobs, reason) = match &intake {
        webhook::Intake::Queue(jobs) => (
            jobs.iter()
                .map(|job| NewJob {
                    key: job.key(),
                    payload: job.to_json(),
                    max_attempts: shared.settings.max_attempts,
                })
                .collect(),
            String::new(),
        ),
        webhook::Intake::Ignore(reason) => (Vec::new(), reason.clone()),
    };
    let record = shared
        .store
        .record(Delivery { id: format!("{forge}:{delivery}"), forge: forge.into(), event: event.to_string() }, jobs);
    let recorded = match tokio::time::timeout(WEBHOOK_DEADLINE, record).await {
        Err(_) => {
            shared.metrics.webhook(forge, event, "unavailable");
            tracing::error!("the database did not answer in time");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "the queue did not answer in time; redeliver later");
        }
        Ok(Err(error)) => {
            shared.metrics.webhook(forge, event, "unavailable");
            tracing::error!(%error, "recording the delivery failed");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "the queue is unavailable; redeliver later");
        }
        Ok(Ok(recorded)) => recorded,
    };
    match recorded.first() {
        Some(Enqueued::Duplicate) => {
            shared.metrics.webhook(forge, event, "duplicate");
            answer(StatusCode::OK, format!("delivery {delivery} was received before; nothing to do"))
        }
        Some(Enqueued::Recorded) | None => {
            shared.metrics.webhook(forge, event, "ignored");
            tracing::info!(%reason, "nothing to do");
            answer(StatusCode::OK, reason)
        }
        Some(_) => {
            shared.metrics.webhook(forge, event, "queued");
            shared.wake.notify_waiters();
            let jobs: Vec<String> = recorded
                .iter()
                .map(|e| match e {
                    Enqueued::Queued { job } => format!("job {job} queued"),
                    Enqueued::Replaced { job } => format!("queued job {job} now checks this event"),
                    Enqueued::Rerun { job } => format!("job {job} runs again after its current run"),
                    other => format!("{other:?}"),
                })
                .collect();
            tracing::info!(jobs = %jobs.join("; "), "queued");
            (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "message": jobs.join("; ") }))).into_response()
        }
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    match tokio::time::timeout(Duration::from_secs(3), shared.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(error)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("the database does not answer: {error}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer in time\n").into_response(),
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let counts = tokio::time::timeout(Duration::from_secs(3), shared.store.counts())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut budgets: Vec<(String, u64, i64)> = Vec::new();
    if let Some(github) = &shared.github {
        budgets.extend(github.budgets().into_iter().map(|(i, r, _)| ("github".to_string(), i, r)));
    }
    shared.metrics.set_budgets(budgets);
    let mut response = shared.metrics.render(counts.queued, counts.running).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

async fn report_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such report\n").into_response();
    // Ids are 128 random bits in hex; anything else is not one.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found();
    }
    match shared.store.report(id).await {
        Ok(Some(html)) => {
            let mut response = html.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(page::CONTENT_SECURITY_POLICY));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            response
        }
        Ok(None) => not_found(),
        Err(error) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("the database does not answer: {error}\n")).into_response()
        }
    }
}

/// The clients of the configured forges.
type Clients = (Option<Arc<GitHubApp>>, Option<Arc<GitLab>>);

/// The forge clients of the settings (GitHub App, GitLab), counting their requests.
pub fn clients(settings: &Settings, metrics: &Arc<metrics::Metrics>) -> anyhow::Result<Clients> {
    let observer = || -> crate::forge::Observer {
        let metrics = metrics.clone();
        Arc::new(move |forge, status| metrics.forge_request(forge, status))
    };
    let interval = Duration::from_millis(settings.write_interval_ms);
    let github = match &settings.github {
        None => None,
        Some(github) => {
            let http = crate::forge::Http::new("github", crate::forge::Patience::default(), Some(observer()))?;
            let app = GitHubApp::new(http, &github.api_url, github.app_id, &github.private_key)?;
            Some(Arc::new(app.with_write_interval(interval)))
        }
    };
    let gitlab = match &settings.gitlab {
        None => None,
        Some(gitlab) => {
            let http = crate::forge::Http::new("gitlab", crate::forge::Patience::default(), Some(observer()))?;
            let client = GitLab::new(http, &gitlab.url, gitlab.token.as_deref().unwrap_or_default());
            Some(Arc::new(client.with_write_interval(interval)))
        }
    };
    Ok((github, gitlab))
}

/// Holds an exclusive lock on `<database>.lock` for the life of the process: SQLite serves
/// one `serve` process, and a second one on the same file is refused with a clear message.
fn lock_sqlite(database: &str) -> anyhow::Result<Option<std::fs::File>> {
    use std::io::Write as _;
    use std::os::fd::AsRawFd;
    let Some(path) = database.strip_prefix("sqlite://") else { return Ok(None) };
    let lock_path = format!("{path}.lock");
    if let Some(parent) = std::path::Path::new(&lock_path).parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("database: cannot open {lock_path}: {e}"))?;
    // SAFETY: flock on a file descriptor this function owns; no memory is involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
        let holder = holder.trim();
        anyhow::bail!(
            "database: another `datasurface serve`{} uses {path}; SQLite serves one process. \
             Stop it, give this one another work_dir, or use PostgreSQL (database = \"postgres://…\") for several replicas",
            if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
        );
    }
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(Some(file))
}

/// Runs the service until SIGTERM or SIGINT: the server stops taking webhooks, workers stop
/// taking jobs and finish running ones within the grace period (or give their leases back).
/// `role` web takes webhooks, worker runs jobs and the leader's duties, all does both; every
/// role answers `/healthz`, `/readyz` and `/metrics`.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    use anyhow::Context;
    crate::forge::install_tls();
    std::fs::create_dir_all(&settings.work_dir)
        .with_context(|| format!("work_dir: cannot create {}", settings.work_dir.display()))?;
    let _sqlite_lock = lock_sqlite(&settings.database)?;
    let store = crate::queue::open(&settings.database, crate::queue::system_clock()).await.context("database")?;
    let metrics = Arc::new(metrics::Metrics::default());
    let (github, gitlab) = clients(&settings, &metrics)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listen: cannot listen on {}", settings.listen))?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tracing::info!(settings = %settings.describe(), address = %listener.local_addr()?, "datasurface serve started");
    let role = settings.role;
    let shared = Arc::new(Shared::new(settings, store, github, gitlab, metrics, shutdown));
    let mut workers = tokio::task::JoinSet::new();
    if role.runs_jobs() {
        for slot in 0..shared.settings.workers {
            workers.spawn(worker::run(shared.clone(), slot));
        }
        workers.spawn(duties::run(shared.clone()));
    }
    workers.spawn(learn_names(shared.clone()));
    let mut until_shutdown = shared.shutdown.clone();
    let server = axum::serve(listener, app(shared.clone())).with_graceful_shutdown(async move {
        let _ = until_shutdown.wait_for(|stopped| *stopped).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    tracing::info!(
        "shutting down: no new webhooks or jobs; running checks get {} s",
        shared.settings.shutdown_grace_seconds
    );
    let _ = stop.send(true);
    let _ = server.await;
    while workers.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// `datasurface serve resync --repo OWNER/NAME [--pr N]`: queues a check of each open pull
/// request of the repository (or of the one) in the service's database; a running service's
/// workers take them. Answers how many were queued.
pub async fn resync(settings: Settings, repo: &str, pr: Option<u64>) -> anyhow::Result<usize> {
    use anyhow::Context;
    crate::forge::install_tls();
    if settings.github.is_none() {
        anyhow::bail!("resync: GitHub is not configured (github.app_id); resync queues GitHub pull requests");
    }
    let store = crate::queue::open(&settings.database, crate::queue::system_clock()).await.context("database")?;
    let metrics = Arc::new(metrics::Metrics::default());
    let (github, gitlab) = clients(&settings, &metrics)?;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let shared = Shared::new(settings, store, github, gitlab, metrics, shutdown);
    duties::reconcile(&shared, Some(repo), pr).await.map_err(|e| anyhow::anyhow!("resync: {e}"))
}

/// Learns the bot's names for `@name` commands and for ignoring its own notes: the App's
/// slug (`GET /app`) and the GitLab token's user (`GET /user`). Tried again every minute
/// until the forge answers; until then `/datasurface` and `@datasurface` still work.
async fn learn_names(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let mut missing = false;
        if let Some(github) = &shared.github
            && shared.bot_names("github").is_empty()
        {
            match github.slug().await {
                Ok(slug) => {
                    if let Ok(mut names) = shared.names.lock() {
                        names.insert("github".into(), vec![slug.clone(), format!("{slug}[bot]")]);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "could not learn the App's slug yet");
                    missing = true;
                }
            }
        }
        if let Some(gitlab) = &shared.gitlab
            && shared.bot_names("gitlab").is_empty()
        {
            match gitlab.me().await {
                Ok((_, username)) if !username.is_empty() => {
                    if let Ok(mut names) = shared.names.lock() {
                        names.insert("gitlab".into(), vec![username]);
                    }
                }
                Ok(_) => missing = true,
                Err(error) => {
                    tracing::debug!(%error, "could not learn the bot user yet");
                    missing = true;
                }
            }
        }
        if !missing {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
