//! The workers: each takes a job, keeps its lease with a heartbeat, fetches what the check
//! needs into the repository's bare mirror, builds the change source (SERVICE.md §4), runs
//! the engine as a library with a deadline, and publishes, but only while the job is still
//! the pull request's current one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::chatops::{self, Command};
use super::forges::{Begun, End, Forge};
use super::job::{CommandJob, PullJob};
use super::publish;
use super::{Shared, page};
use crate::authz::ChangeSource;
use crate::forge::github::Pull;
use crate::load;
use crate::queue::{Claimed, Currency, NewJob};

/// How a job ended.
enum Ended {
    /// Published (or nothing to publish: the pull request is closed).
    Done { published: bool },
    /// A newer event for the pull request arrived; its run publishes instead.
    Superseded,
    /// Try again later.
    Retry(String),
    /// Wait until then without counting an attempt (a spent rate-limit budget).
    Defer(i64),
}

/// Below this many calls left of an installation's primary rate limit, its jobs wait for the
/// reset instead of failing on the way (a check makes about ten calls).
const LOW_BUDGET: i64 = 50;

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
        Some(Ended::Defer(at)) => {
            tracing::info!(
                wait_ms = at - shared.store.now(),
                "the rate-limit budget is spent; the job waits for its reset"
            );
            let _ = shared.store.defer(job, at).await;
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

/// After the last attempt: leave the check `neutral` (GitHub) or `failed` (GitLab) with the
/// reason, if the forge lets us.
async fn give_up(shared: &Shared, job: &Claimed, error: &str) {
    let Ok(pull_job) = PullJob::from_json(&job.payload) else { return };
    let Some(forge) = shared.forge(&pull_job.forge) else { return };
    if pull_job.command.is_some() {
        return;
    }
    let Some(head_sha) = pull_job.head_sha.clone().or_else(|| pull_job.pull.as_ref().map(|p| p.head_sha.clone()))
    else {
        return;
    };
    let message = format!(
        "The check of this head failed {} times; the last error was:\n\n```\n{}\n```",
        job.attempt,
        load::fetch::redact(error)
    );
    if let Err(error) = forge.give_up(&pull_job, &head_sha, &message, publish::timestamp(shared.store.now())).await {
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
    let Some(forge) = shared.forge(&pull_job.forge) else {
        return Ended::Retry(format!("{} is not configured in this service", pull_job.forge));
    };
    if let Forge::GitHub(github) = &forge
        && let Some(installation) = pull_job.installation
        && let Some((remaining, reset)) = github.budget(installation)
        && remaining < LOW_BUDGET
        && reset * 1000 > shared.store.now()
    {
        return Ended::Defer(reset * 1000 + 1000);
    }
    if pull_job.forge == "github" {
        let owner = pull_job.repo.split('/').next().unwrap_or_default();
        if !shared.serves_owner(owner) {
            if pull_job.command.is_none() {
                refuse_owner(shared, &forge, &pull_job, owner).await;
            }
            return Ended::Done { published: false };
        }
    }
    let result = match &pull_job.command {
        Some(command) => execute_command(shared, &forge, &pull_job, command).await,
        None => execute_check(shared, &forge, job, &pull_job, lost).await,
    };
    match result {
        Ok(ended) => ended,
        Err(error) => Ended::Retry(error.to_string()),
    }
}

/// An installation of an owner not in `github.allowed_owners`: a neutral check run saying
/// so, once per repository (remembered like a delivery).
async fn refuse_owner(shared: &Shared, forge: &Forge, pull_job: &PullJob, owner: &str) {
    let first = shared
        .store
        .record(
            crate::queue::Delivery {
                id: format!("github:refused:{}", pull_job.repo.to_ascii_lowercase()),
                forge: "github".into(),
                event: "refused".into(),
            },
            Vec::new(),
        )
        .await;
    if !matches!(first.as_deref(), Ok([crate::queue::Enqueued::Recorded])) {
        return;
    }
    tracing::warn!(owner, repo = %pull_job.repo, "an installation of an owner this service does not serve");
    let Ok(pull) = forge.pull(pull_job).await else { return };
    let now = publish::timestamp(shared.store.now());
    let reason = format!(
        "This datasurface service serves only the installations of {}; `{owner}` is not one of them, so its pull requests are not checked here.",
        shared.settings.github.as_ref().map(|g| g.allowed_owners.join(", ")).unwrap_or_default()
    );
    if let Ok(Begun::Run(run)) = forge.begin(pull_job, &pull, format!("refused:{}", pull_job.repo), now.clone()).await {
        let _ = forge.finish(pull_job, &pull, run, End::Unchecked { reason: &reason }, now).await;
    }
}

/// The check of one pull or merge request.
async fn execute_check(
    shared: &Arc<Shared>,
    forge: &Forge,
    job: &Claimed,
    pull_job: &PullJob,
    lost: &AtomicBool,
) -> Result<Ended, crate::forge::Error> {
    let pull = forge.pull(pull_job).await?;
    if pull.state == "closed" {
        tracing::info!("the pull request is closed; nothing to check");
        return Ok(Ended::Done { published: false });
    }
    // A reopened pull request starts again: its approvals lapse.
    if matches!(pull_job.event.as_str(), "pull_request.reopened" | "merge_request.reopen")
        && let Err(error) = shared.store.unapprove(pull_job.pull_key(), None).await
    {
        return Err(crate::forge::Error::Other(error.to_string()));
    }
    tracing::info!(repo = %pull_job.repo, pr = pull.number, head = %pull.head_sha, "checking");
    if !current(shared, job, lost).await {
        return Ok(Ended::Superseded);
    }
    let started = publish::timestamp(shared.store.now());
    let run = match forge.begin(pull_job, &pull, format!("{}@{}.{}", job.key, job.id, job.generation), started).await? {
        Begun::Run(run) => run,
        Begun::AlreadyDone => {
            tracing::info!("an earlier attempt of this run completed it; nothing more to post");
            return Ok(Ended::Done { published: true });
        }
    };
    let outcome = check_pull(shared, forge, pull_job, &pull, None).await;
    let now = || publish::timestamp(shared.store.now());
    // Superseded while it ran: the newer head publishes; this run is cancelled.
    match shared.store.currency(job.clone()).await {
        Ok(Currency::Current) if !lost.load(Ordering::SeqCst) => {}
        Ok(Currency::Superseded { payload }) => {
            let newer_sha = PullJob::from_json(&payload)
                .ok()
                .and_then(|j| j.head_sha.or(j.pull.map(|p| p.head_sha)))
                .filter(|sha| *sha != pull.head_sha);
            let summary = match &newer_sha {
                Some(sha) => format!("A newer head of this pull request, `{sha}`, is checked instead."),
                None => "A newer event for this pull request started another check of it.".to_string(),
            };
            forge.finish(pull_job, &pull, run, End::Cancelled { summary, newer_sha }, now()).await?;
            return Ok(Ended::Superseded);
        }
        _ => return Ok(Ended::Superseded),
    }
    match outcome {
        Err(Neutral(reason)) => {
            forge.finish(pull_job, &pull, run, End::Unchecked { reason: &reason }, now()).await?;
            let text = format!(
                "{}\n⚠️ **datasurface could not check this pull request**\n\n{reason}\n",
                crate::report::markdown::MARKER
            );
            sticky_comment(forge, pull_job, &pull, false, &text).await?;
        }
        Ok(Checked::NoModelChange { root }) => {
            let where_ = if root.is_empty() { "the repository".to_string() } else { format!("`{root}/`") };
            let summary = format!("This pull request changes no file of the model in {where_}.");
            forge.finish(pull_job, &pull, run, End::NoChange { summary: &summary }, now()).await?;
            let text = format!(
                "{}\n✅ **datasurface: passed** — no model changes\n\n{summary}\n",
                crate::report::markdown::MARKER
            );
            sticky_comment(forge, pull_job, &pull, false, &text).await?;
            if let Forge::GitLab(gitlab) = forge {
                discussions(gitlab, &pull, &[]).await?;
            }
        }
        Ok(Checked::Report { report, html, inline }) => {
            let report_id = random_id();
            let mut details = None;
            if shared.settings.reports {
                match shared.store.put_report(report_id.clone(), html).await {
                    Ok(()) => {
                        details = shared.settings.public_url.as_ref().map(|base| format!("{base}/reports/{report_id}"));
                    }
                    Err(error) => tracing::warn!(%error, "storing the report page failed"),
                }
            }
            let summary = publish::markdown_report(&report, details.as_deref());
            let end = End::Report { report: &report, summary: &summary, details: details.as_deref() };
            forge.finish(pull_job, &pull, run, end, now()).await?;
            let create = report.outcome() == crate::verdict::Outcome::Fail;
            sticky_comment(forge, pull_job, &pull, create, &summary).await?;
            if let Forge::GitLab(gitlab) = forge {
                discussions(gitlab, &pull, &inline).await?;
            }
        }
    }
    Ok(Ended::Done { published: true })
}

/// The most diff discussions one check opens (the rest of the findings stay in the note).
const MAX_DISCUSSIONS: usize = 25;
/// The first line of each diff discussion the bot opens, with the finding's fingerprint.
const FINDING_MARKER: &str = "<!-- datasurface-finding ";

/// GitLab: a diff discussion for each finding on a line GitLab accepts, none twice (found by
/// the fingerprint in its first line); ours whose finding is gone are resolved, and one whose
/// finding is back is opened again.
async fn discussions(
    gitlab: &crate::forge::gitlab::GitLab,
    pull: &Pull,
    inline: &[Inline],
) -> Result<(), crate::forge::Error> {
    let existing = gitlab.discussions(pull.project_id, pull.number).await?;
    let (_, me) = gitlab.me().await?;
    // Only discussions the bot opened: one someone else starts with the marker is not ours.
    let ours: Vec<(&str, &crate::forge::gitlab::Discussion)> = existing
        .iter()
        .filter(|d| d.author.eq_ignore_ascii_case(&me))
        .filter_map(|d| {
            let rest = d.body.trim_start().strip_prefix(FINDING_MARKER)?;
            Some((rest.split_whitespace().next()?, d))
        })
        .collect();
    for (fingerprint, discussion) in &ours {
        let wanted = inline.iter().any(|i| i.fingerprint == *fingerprint);
        if wanted == discussion.resolved {
            gitlab.resolve_discussion(pull.project_id, pull.number, &discussion.id, !wanted).await?;
        }
    }
    let mut opened = 0;
    for finding in inline {
        if ours.iter().any(|(f, _)| *f == finding.fingerprint) {
            continue;
        }
        if opened >= MAX_DISCUSSIONS {
            break;
        }
        let body = format!("{FINDING_MARKER}{} -->\n{}", finding.fingerprint, finding.body);
        if gitlab.create_diff_discussion(pull, &finding.position, &body).await?.is_some() {
            opened += 1;
        }
    }
    Ok(())
}

/// A chat-ops command: refused silently for bots and accounts without read access; else 👀,
/// the one reply, 🚀 (or 😕 when it could not be done), and for `check`, `approve` and
/// `unapprove` a new check of the pull request.
async fn execute_command(
    shared: &Arc<Shared>,
    forge: &Forge,
    pull_job: &PullJob,
    command: &CommandJob,
) -> Result<Ended, crate::forge::Error> {
    if let Some(reason) = forge.refuse_command(pull_job, command).await? {
        tracing::info!(%reason, "the command is not acted on");
        return Ok(Ended::Done { published: false });
    }
    forge.react(pull_job, command, "eyes").await?;
    let pull = forge.pull(pull_job).await?;
    let (mut reply, recheck, done) = match &command.command {
        Command::Check => (None, true, true),
        Command::Help => (Some(chatops::help(None)), false, true),
        Command::Unknown(text) => (Some(chatops::help(Some(text))), false, false),
        Command::Explain(rule) => {
            (Some(chatops::explain(rule)), false, crate::rules::Rule::from_id(rule.trim()).is_some())
        }
        Command::Impact(target) => match impact_reply(shared, forge, pull_job, &pull, target).await {
            Ok(text) => (Some(text), false, true),
            Err(Neutral(text)) => (Some(text), false, false),
        },
        Command::Unapprove => {
            let removed = shared
                .store
                .unapprove(pull_job.pull_key(), Some(command.user.clone()))
                .await
                .map_err(|e| crate::forge::Error::Other(e.to_string()))?;
            let text = match removed {
                0 => format!("@{} had no approvals on this pull request; nothing changed.", command.user),
                n => format!(
                    "Withdrew {n} approval{} by @{}; the check runs again.",
                    if n == 1 { "" } else { "s" },
                    command.user
                ),
            };
            (Some(text), removed > 0, true)
        }
        Command::Approve => match approve(shared, forge, pull_job, &pull, command).await {
            Ok((text, stored)) => (Some(text), stored, stored),
            Err(Neutral(text)) => (Some(text), false, false),
        },
    };
    if !command.ignored.is_empty() {
        let extra: Vec<String> =
            command.ignored.iter().map(|l| format!("`{}`", crate::report::markdown::escape(l))).collect();
        let note =
            format!("Only one command per comment is run; this one also had {}, which was not.", extra.join(", "));
        reply = Some(match reply {
            Some(text) => format!("{text}\n\n{note}"),
            None => note,
        });
    }
    if let Some(text) = &reply {
        forge.reply(pull_job, command, text).await?;
    }
    forge.react(pull_job, command, if done { "rocket" } else { "confused" }).await?;
    if recheck {
        let check = PullJob {
            command: None,
            head_sha: Some(pull.head_sha.clone()),
            event: format!("comment.{}", command_name(&command.command)),
            ..pull_job.clone()
        };
        let job = NewJob { key: check.key(), payload: check.to_json(), max_attempts: shared.settings.max_attempts };
        shared.store.enqueue(job).await.map_err(|e| crate::forge::Error::Other(e.to_string()))?;
        shared.wake.notify_waiters();
    }
    Ok(Ended::Done { published: true })
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Check => "check",
        Command::Explain(_) => "explain",
        Command::Impact(_) => "impact",
        Command::Approve => "approve",
        Command::Unapprove => "unapprove",
        Command::Help => "help",
        Command::Unknown(_) => "unknown",
    }
}

/// `/datasurface impact STORE[/DATASET]`: its consumers in the head, as a table and a graph.
async fn impact_reply(
    shared: &Arc<Shared>,
    forge: &Forge,
    pull_job: &PullJob,
    pull: &Pull,
    target: &str,
) -> Result<String, Neutral> {
    let (store, dataset) = match target.split_once('/') {
        Some((store, dataset)) => (store.to_string(), Some(dataset.to_string())),
        None => (target.to_string(), None),
    };
    let (repo, root) = fetched(shared, forge, pull_job, pull).await?;
    let head = repo.snapshot(&pull.head_sha, &root).map_err(|e| Neutral(e.to_string()))?;
    let cache = shared.parse_cache();
    let head_sha = pull.head_sha.clone();
    let task = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let model = load::load_cached(&head, &load::Options::default(), &cache).map_err(|e| e.to_string())?;
        let text = match crate::compat::consumers_of(&model, &store, dataset.as_deref()) {
            None => format!(
                "The head (`{}`) has no {} `{}`.",
                &head_sha[..head_sha.len().min(10)],
                if dataset.is_some() { "dataset" } else { "datastore" },
                crate::report::markdown::escape(target_text(&store, dataset.as_deref()).as_str())
            ),
            Some(impacts) => crate::report::markdown::consumers(&impacts, &head_sha),
        };
        std::mem::forget(model);
        Ok(text)
    });
    match task.await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(error)) => Err(Neutral(format!("The head could not be read: {error}"))),
        Err(error) => Err(Neutral(format!("Reading the head failed unexpectedly ({error})."))),
    }
}

fn target_text(store: &str, dataset: Option<&str>) -> String {
    match dataset {
        Some(dataset) => format!("{store}/{dataset}"),
        None => store.to_string(),
    }
}

/// `/datasurface approve`: checks the pull request as the commenter alone (their login and
/// their memberships of the base model's teams) to learn which affected workspaces they own,
/// and stores an approval for each (workspace, dataset, head schema fingerprint). Answers the
/// reply and whether anything was stored.
async fn approve(
    shared: &Arc<Shared>,
    forge: &Forge,
    pull_job: &PullJob,
    pull: &Pull,
    command: &CommandJob,
) -> Result<(String, bool), Neutral> {
    let report = match check_pull(shared, forge, pull_job, pull, Some(&command.user)).await? {
        Checked::NoModelChange { .. } => {
            return Ok(("This pull request changes no model file: there is nothing to approve.".into(), false));
        }
        Checked::Report { report, .. } => report,
    };
    let breaking: Vec<String> =
        report.problems.iter().filter(|p| p.rule.family() == "compat").map(|p| p.object()).collect();
    let is_breaking = |dataset: &str| {
        let store = dataset.split('/').next().unwrap_or_default();
        breaking.iter().any(|o| *o == format!("Dataset {dataset}") || *o == format!("Datastore {store}"))
    };
    let mut approvals = Vec::new();
    let mut others: Vec<String> = Vec::new();
    let now = shared.store.now();
    for impact in report.check.iter().flat_map(|c| &c.impact).filter(|i| is_breaking(&i.dataset)) {
        let Some((store, dataset)) = impact.dataset.split_once('/') else { continue };
        for consumer in &impact.consumers {
            match (&consumer.approved_by, &consumer.fingerprint) {
                (Some(_), Some(fingerprint)) => approvals.push(crate::queue::StoredApproval {
                    pull: pull_job.pull_key(),
                    user: command.user.clone(),
                    workspace: consumer.workspace.clone(),
                    datastore: store.to_string(),
                    dataset: dataset.to_string(),
                    fingerprint: fingerprint.clone(),
                    target: pull.base_ref.clone(),
                    at: now,
                }),
                _ => others.push(format!(
                    "| `{}` | {} | {} |",
                    crate::report::markdown::escape(&impact.dataset),
                    crate::report::markdown::escape(&consumer.workspace),
                    crate::report::markdown::escape(&consumer.owner)
                )),
            }
        }
    }
    approvals.dedup_by(|a, b| a.workspace == b.workspace && a.datastore == b.datastore && a.dataset == b.dataset);
    others.dedup();
    let user = &command.user;
    if approvals.is_empty() && others.is_empty() {
        return Ok(("There are no breaking changes to consumed datasets here: nothing to approve.".into(), false));
    }
    if approvals.is_empty() {
        let text = format!(
            "@{user} owns none of the workspaces these breaking changes affect, so nothing was approved. \
             Their owners, as the base model records them, must approve:\n\n| Dataset | Workspace | Owner |\n|---|---|---|\n{}\n",
            others.join("\n")
        );
        return Ok((text, false));
    }
    shared.store.approve(approvals.clone()).await.map_err(|e| Neutral(format!("storing the approval failed: {e}")))?;
    let mut text = format!(
        "@{user} approved the breaking changes for these workspaces; the check runs again. \
         Each approval holds while the dataset's schema stays as it is now (fingerprint), and lapses when it changes again, \
         when the target branch changes or when the pull request is reopened.\n\n| Dataset | Workspace | Fingerprint |\n|---|---|---|\n"
    );
    for a in &approvals {
        text.push_str(&format!(
            "| `{}/{}` | {} | `{}` |\n",
            crate::report::markdown::escape(&a.datastore),
            crate::report::markdown::escape(&a.dataset),
            crate::report::markdown::escape(&a.workspace),
            a.fingerprint
        ));
    }
    if !others.is_empty() {
        text.push_str(&format!(
            "\nStill needed from their owners:\n\n| Dataset | Workspace | Owner |\n|---|---|---|\n{}\n",
            others.join("\n")
        ));
    }
    Ok((text, true))
}

/// Whether the job is still the current one (no newer event, lease still ours).
async fn current(shared: &Shared, job: &Claimed, lost: &AtomicBool) -> bool {
    !lost.load(Ordering::SeqCst) && matches!(shared.store.currency(job.clone()).await, Ok(Currency::Current))
}

/// Edits our comment (found by its marker) or, when `create` and there is none, posts it.
async fn sticky_comment(
    forge: &Forge,
    pull_job: &PullJob,
    pull: &Pull,
    create: bool,
    body: &str,
) -> Result<(), crate::forge::Error> {
    let marker = crate::report::markdown::MARKER;
    let comments = forge.comments(pull_job, pull).await?;
    match comments.iter().find(|c| c.body.trim_start().starts_with(marker)) {
        Some(comment) if comment.body == body => Ok(()),
        Some(comment) => forge.update_comment(pull_job, pull, comment.id, body).await,
        None if create => forge.create_comment(pull_job, pull, body).await.map(|_| ()),
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
    Report { report: Box<crate::verdict::Report>, html: String, inline: Vec<Inline> },
}

/// An error to show on its diff line (GitLab discussions).
#[derive(Clone, Debug)]
struct Inline {
    fingerprint: String,
    position: crate::forge::gitlab::Position,
    body: String,
}

/// Fetches what the pull request needs into its mirror, and reads the model root from the
/// base (`.datasurface.yaml`).
async fn fetched(
    shared: &Arc<Shared>,
    forge: &Forge,
    pull_job: &PullJob,
    pull: &Pull,
) -> Result<(load::GitRepo, String), Neutral> {
    let mirror = shared.mirror_dir(forge.name(), &pull.base_repo);
    let lock = shared.mirror_lock(&mirror);
    let _guard = lock.lock().await;
    let credentials = if pull.base_clone_url.starts_with("https://") || pull.head_clone_url.starts_with("https://") {
        Some(forge.credentials(pull_job).await.map_err(|e| Neutral(format!("no access token: {e}")))?)
    } else {
        None
    };
    fetch_pull(mirror.clone(), pull.clone(), forge.head_ref(pull.number), credentials).await?;
    let repo = load::GitRepo::discover(&mirror).map_err(|e| Neutral(e.to_string()))?;
    let root = load::configured_root(&repo, &pull.base_sha).map_err(Neutral)?.unwrap_or_default();
    Ok((repo, root))
}

/// Fetches, reads the root from the base, builds the change source (or, for `approve`, the
/// commenter's alone) and runs the check.
async fn check_pull(
    shared: &Arc<Shared>,
    forge: &Forge,
    pull_job: &PullJob,
    pull: &Pull,
    commenter: Option<&str>,
) -> Result<Checked, Neutral> {
    let (repo, root) = fetched(shared, forge, pull_job, pull).await?;
    // Every pull request gets a check; one that touches no model file passes at once.
    let base = repo.snapshot(&pull.base_sha, &root).map_err(|e| Neutral(e.to_string()))?;
    let head = repo.snapshot(&pull.head_sha, &root).map_err(|e| Neutral(e.to_string()))?;
    let changed = load::changed_paths(&base, &head).map_err(|e| Neutral(e.to_string()))?;
    if changed.is_empty() {
        return Ok(Checked::NoModelChange { root });
    }
    // Diff positions refer to the merge base, which may be older than the base we check.
    let merge_base = match forge {
        Forge::GitLab(_) if !pull.merge_base_sha.is_empty() && pull.merge_base_sha != pull.base_sha => {
            repo.snapshot(&pull.merge_base_sha, &root).ok()
        }
        _ => None,
    };
    let wants_inline = matches!(forge, Forge::GitLab(_));
    let options = load::Options::default();
    let cache = shared.parse_cache();
    let source = match commenter {
        None => change_source(shared, forge, pull_job, pull, &base, &cache).await?,
        Some(user) => {
            let teams = memberships(shared, forge, pull_job, &[user.to_string()], &base, &cache).await?;
            ChangeSource { users: vec![user.to_string()], teams, ..ChangeSource::default() }
        }
    };
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
    let task = tokio::task::spawn_blocking(move || -> Result<(crate::verdict::Report, String, Vec<Inline>), String> {
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
        let inline = if wants_inline {
            inline_findings(&output, merge_base.as_ref(), options.max_file_size)
        } else {
            Vec::new()
        };
        Ok((output.report, html, inline))
    });
    match tokio::time::timeout(timeout, task).await {
        Err(_) => Err(Neutral(format!("the check took longer than {} s and was stopped", timeout.as_secs()))),
        Ok(Err(panic)) => Err(Neutral(format!("the check failed unexpectedly ({panic}); please report this"))),
        Ok(Ok(Err(error))) => Err(Neutral(format!("the model could not be read: {error}"))),
        Ok(Ok(Ok((report, html, inline)))) => Ok(Checked::Report { report: Box::new(report), html, inline }),
    }
}

/// The errors located on a head line, with the diff position GitLab takes for that line: an
/// added line `new_line`; an unchanged line within a hunk (three lines of context) both
/// lines; any other line none (the finding stays in the note).
fn inline_findings(output: &crate::check::CheckOutput, merge_base: Option<&load::Snapshot>, max: u64) -> Vec<Inline> {
    let mut found = Vec::new();
    let mut texts: HashMap<String, Option<(Option<String>, String)>> = HashMap::new();
    for problem in output.report.problems.iter().filter(|p| p.severity == crate::problem::Severity::Error) {
        let Some(location) = &problem.location else { continue };
        if location.revision != crate::problem::Revision::Head {
            continue;
        }
        let file = location.file.to_string();
        let pair = texts.entry(file.clone()).or_insert_with(|| {
            let head = output.head.excerpt(&output.head_model, &file, max)?;
            let base = match merge_base {
                Some(snapshot) => {
                    let prefix = snapshot.prefix();
                    let rel = if prefix.is_empty() {
                        Some(file.as_str())
                    } else {
                        file.strip_prefix(prefix).and_then(|r| r.strip_prefix('/'))
                    };
                    rel.and_then(|rel| snapshot.root_file(rel, max))
                }
                None => output.base.excerpt(&output.base_model, &file, max),
            };
            Some((base, head))
        });
        let Some((base, head)) = pair else { continue };
        let Some((new_line, old_line)) = diff_position(base.as_deref(), head, location.pos.line) else { continue };
        let mut body = format!("🛑 **`{}`** {}", problem.rule.id(), crate::report::markdown::escape(&problem.message));
        if let Some(help) = &problem.help {
            body.push_str(&format!("\n\n{}", crate::report::markdown::escape(help)));
        }
        body.push_str(&format!("\n\n[{}]({})", problem.rule.docs_path(), problem.rule.docs_url()));
        found.push(Inline {
            fingerprint: problem.fingerprint(),
            position: crate::forge::gitlab::Position { path: file, new_line: Some(new_line), old_line },
            body,
        });
    }
    found
}

/// Lines of context GitLab shows around a change.
const HUNK_CONTEXT: usize = 3;

/// Where head line `line` (from 1) is in the diff from `base` (`None`: a new file): added →
/// `(line, None)`; unchanged within a hunk → `(line, Some(old))`; elsewhere `None`.
fn diff_position(base: Option<&str>, head: &str, line: u32) -> Option<(u32, Option<u32>)> {
    let index = (line as usize).checked_sub(1)?;
    if index >= head.lines().count() {
        return None;
    }
    let Some(base) = base else { return Some((line, None)) };
    let diff = similar::TextDiff::configure().timeout(Duration::from_millis(200)).diff_lines(base, head);
    let ops = diff.ops();
    for (i, op) in ops.iter().enumerate() {
        let range = op.new_range();
        if !range.contains(&index) {
            continue;
        }
        return match op.tag() {
            similar::DiffTag::Insert | similar::DiffTag::Replace => Some((line, None)),
            similar::DiffTag::Equal => {
                let old = op.old_range().start + (index - range.start);
                let after_change = i > 0 && index - range.start < HUNK_CONTEXT;
                let before_change = i + 1 < ops.len() && range.end - index <= HUNK_CONTEXT;
                (after_change || before_change).then_some((line, Some(old as u32 + 1)))
            }
            similar::DiffTag::Delete => None,
        };
    }
    None
}

/// `main (f95f852bd8)`: the branch name with the commit.
fn short(sha: &str, name: &str) -> String {
    format!("{name} ({})", &sha[..sha.len().min(10)])
}

/// Fetches the base commit and the head (`head_ref` from the base repository, which holds a
/// fork's head too; the head branch from the head repository when that ref is missing, as on
/// a plain remote), and the merge base when the forge names one.
async fn fetch_pull(
    mirror: PathBuf,
    pull: Pull,
    head_ref: String,
    credentials: Option<(String, String)>,
) -> Result<(), Neutral> {
    tokio::task::spawn_blocking(move || -> Result<(), Neutral> {
        let credentials = credentials.as_ref().map(|(u, t)| (u.as_str(), t.as_str()));
        let have = |sha: &str| sha.is_empty() || load::fetch::has_commit(&mirror, sha);
        if have(&pull.base_sha) && have(&pull.head_sha) && have(&pull.merge_base_sha) {
            return Ok(());
        }
        let local = format!("refs/datasurface/pull/{}/head", pull.number);
        let mut wanted = vec![format!("+{head_ref}:{local}"), pull.base_sha.clone()];
        if !pull.merge_base_sha.is_empty() && pull.merge_base_sha != pull.base_sha {
            wanted.push(pull.merge_base_sha.clone());
        }
        let base_fetch = load::fetch::Fetch { url: &pull.base_clone_url, refspecs: wanted, credentials };
        let first = load::fetch::fetch(&mirror, &base_fetch);
        if first.is_err() || !have(&pull.head_sha) || !have(&pull.merge_base_sha) {
            // No head ref there: the base commits alone, then the head branch.
            let mut base_only = vec![pull.base_sha.clone()];
            if !have(&pull.merge_base_sha) {
                base_only.push(pull.merge_base_sha.clone());
            }
            let base_only = load::fetch::Fetch { refspecs: base_only, ..base_fetch };
            if (!have(&pull.base_sha) || !have(&pull.merge_base_sha))
                && let Err(error) = load::fetch::fetch(&mirror, &base_only)
                && !have(&pull.base_sha)
            {
                return Err(Neutral(format!("fetching the base: {error}")));
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
/// of the head, their memberships of the teams the base model names, and the approvals given
/// with `/datasurface approve` for the current target branch.
async fn change_source(
    shared: &Shared,
    forge: &Forge,
    pull_job: &PullJob,
    pull: &Pull,
    base: &load::Snapshot,
    cache: &Arc<load::ParseCache>,
) -> Result<ChangeSource, Neutral> {
    let approvers =
        forge.approvers(pull_job, pull).await.map_err(|e| Neutral(format!("listing the approvals: {e}")))?;
    let mut users: Vec<String> = Vec::new();
    if !pull.author.is_empty() {
        users.push(pull.author.clone());
    }
    for approver in &approvers {
        if !users.iter().any(|u| u.eq_ignore_ascii_case(approver)) {
            users.push(approver.clone());
        }
    }
    let member_of = memberships(shared, forge, pull_job, &users, base, cache).await?;
    let stored = shared
        .store
        .approvals(pull_job.pull_key())
        .await
        .map_err(|e| Neutral(format!("reading the approvals: {e}")))?;
    let approvals = stored
        .into_iter()
        .filter(|a| a.target == pull.base_ref)
        .map(|a| crate::authz::Approval {
            by: format!("@{}", a.user),
            workspace: a.workspace,
            datastore: a.datastore,
            dataset: a.dataset,
            fingerprint: Some(a.fingerprint),
        })
        .collect();
    Ok(ChangeSource {
        repo: Some(pull.head_repo.clone()).filter(|r| !r.is_empty()),
        branch: Some(pull.head_ref.clone()).filter(|b| !b.is_empty()),
        users,
        teams: member_of,
        author: Some(pull.author.clone()).filter(|a| !a.is_empty()),
        approvers,
        approvals,
    })
}

/// The teams of the base model's owners that any of `users` is a member of, asked of the
/// forge (cached for a few minutes; at most 500 questions per check).
async fn memberships(
    shared: &Shared,
    forge: &Forge,
    pull_job: &PullJob,
    users: &[String],
    base: &load::Snapshot,
    cache: &Arc<load::ParseCache>,
) -> Result<Vec<String>, Neutral> {
    let teams = base_teams(base, cache).await;
    let scope = forge.scope(pull_job).await;
    let mut member_of: Vec<String> = Vec::new();
    let mut calls = 0;
    'teams: for team in &teams {
        for user in users {
            if calls >= 500 {
                tracing::warn!("more than 500 team-membership questions; the rest are taken as no");
                break 'teams;
            }
            let member = match shared.cached_membership(forge.name(), scope, team, user) {
                Some(member) => member,
                None => {
                    calls += 1;
                    let member = forge
                        .is_member(pull_job, team, user)
                        .await
                        .map_err(|e| Neutral(format!("asking whether {user} is in {team}: {e}")))?;
                    shared.remember_membership(forge.name(), scope, team, user, member);
                    member
                }
            };
            if member && !member_of.contains(team) {
                member_of.push(team.clone());
            }
        }
    }
    Ok(member_of)
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
    fn mirror_dir(&self, forge: &str, repo: &str) -> PathBuf {
        let safe: String = repo
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .collect();
        self.settings.work_dir.join("repos").join(forge).join(format!("{safe}.git"))
    }

    /// One fetch at a time per mirror: concurrent jobs on one repository never corrupt it.
    fn mirror_lock(&self, dir: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.mirrors.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(dir.to_path_buf()).or_default().clone()
    }

    /// The parse cache on disk under `work_dir/cache` (in memory only when that fails).
    fn parse_cache(&self) -> Arc<load::ParseCache> {
        let options = load::Options::default();
        Arc::new(
            load::DiskCache::open(&self.settings.work_dir.join("cache"), 2 << 30, &options)
                .map(load::ParseCache::with_disk)
                .unwrap_or_default(),
        )
    }

    fn cached_membership(&self, forge: &str, scope: u64, team: &str, user: &str) -> Option<bool> {
        let key = (format!("{forge}:{scope}"), team.to_ascii_lowercase(), user.to_ascii_lowercase());
        let memberships = self.memberships.lock().ok()?;
        let (member, at) = memberships.get(&key)?;
        (at.elapsed() < MEMBERSHIP_TTL).then_some(*member)
    }

    fn remember_membership(&self, forge: &str, scope: u64, team: &str, user: &str, member: bool) {
        if let Ok(mut memberships) = self.memberships.lock() {
            memberships.retain(|_, (_, at)| at.elapsed() < MEMBERSHIP_TTL);
            memberships.insert(
                (format!("{forge}:{scope}"), team.to_ascii_lowercase(), user.to_ascii_lowercase()),
                (member, Instant::now()),
            );
        }
    }
}

/// A file's lines for excerpts, or `None` when it has none to show.
type Lines = Option<Vec<String>>;

/// How long an answer about a team membership is used.
const MEMBERSHIP_TTL: Duration = Duration::from_secs(300);
