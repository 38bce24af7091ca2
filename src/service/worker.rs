//! The workers: each takes a job, keeps its lease with a heartbeat, fetches what the check
//! needs into the repository's bare mirror, builds the change source (SERVICE.md §4), runs
//! the engine as a library with a deadline, and publishes, but only while the job is still
//! the pull request's current one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::Instrument;

use super::job::PullJob;
use super::publish;
use super::{Shared, page};
use crate::authz::ChangeSource;
use crate::forge::github::{GitHubApp, Pull};
use crate::load;
use crate::queue::{Claimed, Currency};

/// How a job ended.
enum Ended {
    /// Published (or nothing to publish: the pull request is closed).
    Done { published: bool },
    /// A newer event for the pull request arrived; its run publishes instead.
    Superseded,
    /// Try again later.
    Retry(String),
}

/// A check that could not run: the reason becomes a `neutral` check run.
struct Neutral(String);

/// Runs worker `slot` until shutdown: take a job, run it, repeat.
pub async fn run(shared: Arc<Shared>, slot: usize) {
    let owner = format!("{}-{slot}", shared.instance);
    let mut shutdown = shared.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        match shared.store.claim(owner.clone(), shared.lease_ms()).await {
            Ok(Some(job)) => process(&shared, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(error) => {
                tracing::error!(%error, "claiming a job failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One job under its lease: the heartbeat renews it; at shutdown the job gets the grace
/// period, then its lease is given back.
async fn process(shared: &Arc<Shared>, job: Claimed) {
    let span =
        tracing::info_span!("job", job = job.id, key = %job.key, attempt = job.attempt, generation = job.generation);
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = {
        let (shared, job, lost) = (shared.clone(), job.clone(), lost.clone());
        tokio::spawn(async move {
            let every = Duration::from_millis((shared.lease_ms() / 3).max(100) as u64);
            loop {
                tokio::time::sleep(every).await;
                match shared.store.heartbeat(job.clone(), shared.lease_ms()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(error) => tracing::warn!(%error, "heartbeat failed"),
                }
            }
        })
    };
    let work = execute(shared, &job, &lost).instrument(span.clone());
    let mut shutdown = shared.shutdown.clone();
    let grace = Duration::from_secs(shared.settings.shutdown_grace_seconds);
    let ended = tokio::select! {
        ended = work => Some(ended),
        () = async {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() { break; }
            }
            tokio::time::sleep(grace).await;
        } => None,
    };
    heartbeat.abort();
    let _enter = span.enter();
    match ended {
        None => {
            tracing::warn!("shutdown: the check did not finish within the grace period; giving its lease back");
            let _ = shared.store.release(job).await;
        }
        Some(Ended::Done { published }) => {
            if published {
                shared.metrics.job("succeeded");
                shared.metrics.job_seconds((shared.store.now() - job.enqueued_at) as f64 / 1000.0);
            }
            if let Err(error) = shared.store.complete(job).await {
                tracing::error!(%error, "completing the job failed");
            }
        }
        Some(Ended::Superseded) => {
            shared.metrics.job("superseded");
            let _ = shared.store.complete(job).await;
        }
        Some(Ended::Retry(error)) => {
            tracing::warn!(%error, "the job failed");
            shared.metrics.job("failed");
            let mut bytes = [0u8; 4];
            let _ = getrandom::fill(&mut bytes);
            let jitter = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
            let delay = crate::queue::backoff(job.attempt, 2_000, 300_000, jitter);
            let last = job.attempt >= shared.settings.max_attempts;
            if last {
                give_up(shared, &job, &error).await;
            }
            let _ = shared.store.fail(job, error, shared.store.now() + delay).await;
        }
    }
}

/// After the last attempt: leave the check run `neutral` with the reason, if GitHub lets us.
async fn give_up(shared: &Shared, job: &Claimed, error: &str) {
    let (Ok(pull_job), Some(github)) = (PullJob::from_json(&job.payload), &shared.github) else { return };
    let Some(installation) = pull_job.installation else { return };
    let Some(head_sha) = pull_job.head_sha.clone().or_else(|| pull_job.pull.as_ref().map(|p| p.head_sha.clone()))
    else {
        return;
    };
    let body = json!({
        "name": publish::CHECK_NAME,
        "head_sha": head_sha,
        "status": "completed",
        "conclusion": "neutral",
        "completed_at": publish::timestamp(shared.store.now()),
        "output": {
            "title": "datasurface could not publish its result",
            "summary": format!("The check of this head failed {} times; the last error was:\n\n```\n{}\n```", job.attempt, load::fetch::redact(error)),
        },
    });
    if let Err(error) = github.create_check_run(installation, &pull_job.repo, &body).await {
        tracing::error!(%error, "could not leave a neutral check run either");
    }
}

async fn execute(shared: &Arc<Shared>, job: &Claimed, lost: &AtomicBool) -> Ended {
    let pull_job = match PullJob::from_json(&job.payload) {
        Ok(pull_job) => pull_job,
        Err(error) => {
            tracing::error!(%error, "dropping a job that does not read back");
            return Ended::Done { published: false };
        }
    };
    let Some(github) = shared.github.clone() else {
        return Ended::Retry("GitHub is not configured in this service".into());
    };
    match execute_github(shared, &github, job, &pull_job, lost).await {
        Ok(ended) => ended,
        Err(error) => Ended::Retry(error.to_string()),
    }
}

/// The check of one GitHub pull request.
async fn execute_github(
    shared: &Arc<Shared>,
    github: &Arc<GitHubApp>,
    job: &Claimed,
    pull_job: &PullJob,
    lost: &AtomicBool,
) -> Result<Ended, crate::forge::Error> {
    let installation = match pull_job.installation {
        Some(id) => id,
        None => github.installation_of(&pull_job.repo).await?,
    };
    let repo = pull_job.repo.as_str();
    // A re-run request carries no pull request; one from an older payload may lack fields.
    let pull = match &pull_job.pull {
        Some(pull) if !pull.head_sha.is_empty() && !pull.base_sha.is_empty() && !pull.base_clone_url.is_empty() => {
            pull.clone()
        }
        _ => github.pull(installation, repo, pull_job.number).await?,
    };
    if pull.state == "closed" {
        tracing::info!("the pull request is closed; nothing to check");
        return Ok(Ended::Done { published: false });
    }
    tracing::info!(repo, pr = pull.number, head = %pull.head_sha, "checking");
    if !current(shared, job, lost).await {
        return Ok(Ended::Superseded);
    }
    let started = publish::timestamp(shared.store.now());
    let run_id = github
        .create_check_run(
            installation,
            repo,
            &json!({
                "name": publish::CHECK_NAME,
                "head_sha": pull.head_sha,
                "status": "in_progress",
                "started_at": started,
                "external_id": format!("{}@{}", job.key, job.generation),
            }),
        )
        .await?;
    let outcome = check_pull(shared, github, installation, &pull).await;
    // Superseded while it ran: the newer head publishes; this run is cancelled.
    match shared.store.currency(job.clone()).await {
        Ok(Currency::Current) if !lost.load(Ordering::SeqCst) => {}
        Ok(Currency::Superseded { payload }) => {
            let newer = PullJob::from_json(&payload)
                .ok()
                .and_then(|j| j.head_sha.or(j.pull.map(|p| p.head_sha)))
                .filter(|sha| *sha != pull.head_sha);
            let summary = match &newer {
                Some(sha) => format!("A newer head of this pull request, `{sha}`, is checked instead."),
                None => "A newer event for this pull request started another check of it.".to_string(),
            };
            let body = json!({
                "status": "completed",
                "conclusion": "cancelled",
                "completed_at": publish::timestamp(shared.store.now()),
                "output": {"title": "superseded", "summary": summary},
            });
            github.update_check_run(installation, repo, run_id, &body).await?;
            return Ok(Ended::Superseded);
        }
        _ => return Ok(Ended::Superseded),
    }
    match outcome {
        Err(Neutral(reason)) => {
            let body = json!({
                "status": "completed",
                "conclusion": "neutral",
                "completed_at": publish::timestamp(shared.store.now()),
                "output": {"title": "datasurface could not check this pull request", "summary": publish::cut(reason.clone(), publish::MAX_SUMMARY)},
            });
            github.update_check_run(installation, repo, run_id, &body).await?;
            sticky_comment(
                github,
                installation,
                repo,
                pull.number,
                None,
                &format!(
                    "{}\n⚠️ **datasurface could not check this pull request**\n\n{reason}\n",
                    crate::report::markdown::MARKER
                ),
            )
            .await?;
        }
        Ok(Checked::NoModelChange { root }) => {
            let where_ = if root.is_empty() { "the repository".to_string() } else { format!("`{root}/`") };
            let summary = format!("This pull request changes no file of the model in {where_}.");
            let body = json!({
                "status": "completed",
                "conclusion": "success",
                "completed_at": publish::timestamp(shared.store.now()),
                "output": {"title": "no model changes", "summary": summary},
            });
            github.update_check_run(installation, repo, run_id, &body).await?;
            let text = format!(
                "{}\n✅ **datasurface: passed** — no model changes\n\n{summary}\n",
                crate::report::markdown::MARKER
            );
            sticky_comment(github, installation, repo, pull.number, None, &text).await?;
        }
        Ok(Checked::Report { report, html }) => {
            let report_id = random_id();
            if let Err(error) = shared.store.put_report(report_id.clone(), html).await {
                tracing::warn!(%error, "storing the report page failed");
            }
            let details = shared.settings.public_url.as_ref().map(|base| format!("{base}/reports/{report_id}"));
            let summary = publish::markdown_report(&report, details.as_deref());
            let requests = publish::completion_requests(
                &report,
                &summary,
                details.as_deref(),
                &publish::timestamp(shared.store.now()),
            );
            for body in &requests {
                github.update_check_run(installation, repo, run_id, body).await?;
            }
            let create = report.outcome() == crate::verdict::Outcome::Fail;
            sticky_comment(github, installation, repo, pull.number, create.then_some(()), &summary).await?;
        }
    }
    Ok(Ended::Done { published: true })
}

/// Whether the job is still the current one (no newer event, lease still ours).
async fn current(shared: &Shared, job: &Claimed, lost: &AtomicBool) -> bool {
    !lost.load(Ordering::SeqCst) && matches!(shared.store.currency(job.clone()).await, Ok(Currency::Current))
}

/// Edits our comment (found by its marker) or, when `create` and there is none, posts it.
async fn sticky_comment(
    github: &GitHubApp,
    installation: u64,
    repo: &str,
    number: u64,
    create: Option<()>,
    body: &str,
) -> Result<(), crate::forge::Error> {
    let marker = crate::report::markdown::MARKER;
    let comments = github.comments(installation, repo, number).await?;
    match comments.iter().find(|c| c.body.trim_start().starts_with(marker)) {
        Some(comment) if comment.body == body => Ok(()),
        Some(comment) => github.update_comment(installation, repo, comment.id, body).await,
        None if create.is_some() => github.create_comment(installation, repo, number, body).await.map(|_| ()),
        None => Ok(()),
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What checking a pull request gave.
enum Checked {
    NoModelChange { root: String },
    Report { report: Box<crate::verdict::Report>, html: String },
}

/// Fetches, reads the root from the base, builds the change source and runs the check.
async fn check_pull(
    shared: &Arc<Shared>,
    github: &GitHubApp,
    installation: u64,
    pull: &Pull,
) -> Result<Checked, Neutral> {
    let mirror = shared.mirror_dir(&pull.base_repo);
    let lock = shared.mirror_lock(&mirror);
    let _guard = lock.lock().await;
    let token = if pull.base_clone_url.starts_with("https://") || pull.head_clone_url.starts_with("https://") {
        Some(github.token(installation, false).await.map_err(|e| Neutral(format!("no installation token: {e}")))?)
    } else {
        None
    };
    fetch_pull(mirror.clone(), pull.clone(), token).await?;
    let repo = load::GitRepo::discover(&mirror).map_err(|e| Neutral(e.to_string()))?;
    let root = load::configured_root(&repo, &pull.base_sha).map_err(Neutral)?.unwrap_or_default();
    // Every pull request gets a check run; one that touches no model file passes at once.
    let base = repo.snapshot(&pull.base_sha, &root).map_err(|e| Neutral(e.to_string()))?;
    let head = repo.snapshot(&pull.head_sha, &root).map_err(|e| Neutral(e.to_string()))?;
    let changed = load::changed_paths(&base, &head).map_err(|e| Neutral(e.to_string()))?;
    if changed.is_empty() {
        return Ok(Checked::NoModelChange { root });
    }
    let options = load::Options::default();
    let cache = Arc::new(
        load::DiskCache::open(&shared.settings.work_dir.join("cache"), 2 << 30, &options)
            .map(load::ParseCache::with_disk)
            .unwrap_or_default(),
    );
    let source = change_source(shared, github, installation, pull, &base, &cache).await?;
    let config = crate::check::CheckConfig {
        base: crate::check::Side {
            snapshot: base,
            label: short(&pull.base_sha, &pull.base_ref),
            commit: Some(pull.base_sha.clone()),
        },
        head: crate::check::Side {
            snapshot: head,
            label: short(&pull.head_sha, &pull.head_ref),
            commit: Some(pull.head_sha.clone()),
        },
        source,
        load: options,
    };
    let subject = format!("{}#{}", pull.base_repo, pull.number);
    let head_sha = pull.head_sha.clone();
    let timeout = Duration::from_secs(shared.settings.check_timeout_seconds);
    let task = tokio::task::spawn_blocking(move || -> Result<(crate::verdict::Report, String), String> {
        let output = crate::check::check(config, &cache).map_err(|e| e.to_string())?;
        cache.prune();
        let texts: std::cell::RefCell<HashMap<(crate::problem::Revision, String), Lines>> = Default::default();
        let source_line = |revision: crate::problem::Revision, file: &str, line: u32| -> Option<String> {
            let mut texts = texts.borrow_mut();
            let lines = texts.entry((revision, file.to_string())).or_insert_with(|| {
                let (snapshot, model) = match revision {
                    crate::problem::Revision::Base => (&output.base, &output.base_model),
                    crate::problem::Revision::Head => (&output.head, &output.head_model),
                };
                snapshot.excerpt(model, file, options.max_file_size).map(|t| t.lines().map(str::to_string).collect())
            });
            lines.as_ref()?.get(line.checked_sub(1)? as usize).cloned()
        };
        let html = page::render(&output.report, &page::Subject { pull: &subject, head_sha: &head_sha }, &source_line);
        Ok((output.report, html))
    });
    match tokio::time::timeout(timeout, task).await {
        Err(_) => Err(Neutral(format!("the check took longer than {} s and was stopped", timeout.as_secs()))),
        Ok(Err(panic)) => Err(Neutral(format!("the check failed unexpectedly ({panic}); please report this"))),
        Ok(Ok(Err(error))) => Err(Neutral(format!("the model could not be read: {error}"))),
        Ok(Ok(Ok((report, html)))) => Ok(Checked::Report { report: Box::new(report), html }),
    }
}

/// `main (f95f852bd8)`: the branch name with the commit.
fn short(sha: &str, name: &str) -> String {
    format!("{name} ({})", &sha[..sha.len().min(10)])
}

/// Fetches the base commit and the head (`refs/pull/N/head` from the base repository; the
/// head branch from the head repository when that ref is missing, as on a plain remote).
async fn fetch_pull(mirror: PathBuf, pull: Pull, token: Option<String>) -> Result<(), Neutral> {
    tokio::task::spawn_blocking(move || -> Result<(), Neutral> {
        let credentials = token.as_deref().map(|t| ("x-access-token", t));
        let have = |sha: &str| load::fetch::has_commit(&mirror, sha);
        if have(&pull.base_sha) && have(&pull.head_sha) {
            return Ok(());
        }
        let local = format!("refs/datasurface/pull/{}/head", pull.number);
        let base_fetch = load::fetch::Fetch {
            url: &pull.base_clone_url,
            refspecs: vec![format!("+refs/pull/{}/head:{local}", pull.number), pull.base_sha.clone()],
            credentials,
        };
        let first = load::fetch::fetch(&mirror, &base_fetch);
        if first.is_err() || !have(&pull.head_sha) {
            // No `refs/pull/N/head` there: the base commit alone, then the head branch.
            let base_only = load::fetch::Fetch { refspecs: vec![pull.base_sha.clone()], ..base_fetch };
            if !have(&pull.base_sha) {
                load::fetch::fetch(&mirror, &base_only).map_err(|e| Neutral(format!("fetching the base: {e}")))?;
            }
            let head_url = if pull.head_clone_url.is_empty() { &pull.base_clone_url } else { &pull.head_clone_url };
            let head_fetch = load::fetch::Fetch {
                url: head_url,
                refspecs: vec![format!("+refs/heads/{}:{local}-branch", pull.head_ref), pull.head_sha.clone()],
                credentials,
            };
            if let Err(error) = load::fetch::fetch(&mirror, &head_fetch)
                && !have(&pull.head_sha)
            {
                return Err(Neutral(format!("fetching the head {}: {error}", pull.head_sha)));
            }
        }
        for (what, sha) in [("base", &pull.base_sha), ("head", &pull.head_sha)] {
            if !have(sha) {
                return Err(Neutral(format!("the {what} commit {sha} is not in the repository after fetching it")));
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| Neutral(format!("fetching failed unexpectedly: {e}")))?
}

/// The change source of SERVICE.md §4: head repository and branch, the author, the approvers
/// of the head, and their memberships of the teams the base model names.
async fn change_source(
    shared: &Shared,
    github: &GitHubApp,
    installation: u64,
    pull: &Pull,
    base: &load::Snapshot,
    cache: &Arc<load::ParseCache>,
) -> Result<ChangeSource, Neutral> {
    let approvers = github
        .approvers(installation, &pull.base_repo, pull.number, &pull.head_sha)
        .await
        .map_err(|e| Neutral(format!("listing the reviews: {e}")))?;
    let teams = base_teams(base, cache).await;
    let mut users: Vec<String> = Vec::new();
    if !pull.author.is_empty() {
        users.push(pull.author.clone());
    }
    for approver in &approvers {
        if !users.iter().any(|u| u.eq_ignore_ascii_case(approver)) {
            users.push(approver.clone());
        }
    }
    let mut member_of: Vec<String> = Vec::new();
    // Bounded: a model naming thousands of teams costs at most this many calls per check.
    let mut calls = 0;
    'teams: for team in &teams {
        for user in &users {
            if calls >= 500 {
                tracing::warn!("more than 500 team-membership questions; the rest are taken as no");
                break 'teams;
            }
            let member = match shared.cached_membership(installation, team, user) {
                Some(member) => member,
                None => {
                    calls += 1;
                    let member = github
                        .is_member(installation, team, user)
                        .await
                        .map_err(|e| Neutral(format!("asking whether {user} is in {team}: {e}")))?;
                    shared.remember_membership(installation, team, user, member);
                    member
                }
            };
            if member && !member_of.contains(team) {
                member_of.push(team.clone());
            }
        }
    }
    Ok(ChangeSource {
        repo: Some(pull.head_repo.clone()).filter(|r| !r.is_empty()),
        branch: Some(pull.head_ref.clone()).filter(|b| !b.is_empty()),
        users,
        teams: member_of,
        author: Some(pull.author.clone()).filter(|a| !a.is_empty()),
        approvers,
        approvals: Vec::new(),
    })
}

/// Every team principal the base model's owners name (the ecosystem's, the zones' and the
/// teams' declarations).
async fn base_teams(base: &load::Snapshot, cache: &Arc<load::ParseCache>) -> Vec<String> {
    let Ok(model) = load::load_cached(base, &load::Options::default(), cache) else { return Vec::new() };
    let mut teams: Vec<String> = Vec::new();
    let mut add = |owner: Option<&crate::model::Owner>| {
        for team in owner.into_iter().flat_map(|o| &o.teams) {
            if !teams.iter().any(|t| t.eq_ignore_ascii_case(&team.value)) {
                teams.push(team.value.to_string());
            }
        }
    };
    if let Some(eco) = model.ecosystem() {
        add(eco.owner.as_ref());
        for zone in &eco.zones {
            add(zone.owner.as_ref());
        }
    }
    for zone in &model.zones {
        for team in &zone.teams {
            add(team.owner.as_ref());
        }
    }
    std::mem::forget(model);
    teams
}

impl Shared {
    fn mirror_dir(&self, repo: &str) -> PathBuf {
        let safe: String = repo
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .collect();
        self.settings.work_dir.join("repos").join("github").join(format!("{safe}.git"))
    }

    /// One fetch at a time per mirror: concurrent jobs on one repository never corrupt it.
    fn mirror_lock(&self, dir: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.mirrors.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(dir.to_path_buf()).or_default().clone()
    }

    fn cached_membership(&self, installation: u64, team: &str, user: &str) -> Option<bool> {
        let key = (installation, team.to_ascii_lowercase(), user.to_ascii_lowercase());
        let memberships = self.memberships.lock().ok()?;
        let (member, at) = memberships.get(&key)?;
        (at.elapsed() < MEMBERSHIP_TTL).then_some(*member)
    }

    fn remember_membership(&self, installation: u64, team: &str, user: &str, member: bool) {
        if let Ok(mut memberships) = self.memberships.lock() {
            memberships.retain(|_, (_, at)| at.elapsed() < MEMBERSHIP_TTL);
            memberships
                .insert((installation, team.to_ascii_lowercase(), user.to_ascii_lowercase()), (member, Instant::now()));
        }
    }
}

/// A file's lines for excerpts, or `None` when it has none to show.
type Lines = Option<Vec<String>>;

/// How long an answer about a team membership is used.
const MEMBERSHIP_TTL: Duration = Duration::from_secs(300);
