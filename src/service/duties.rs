//! The duties that must run once however many replicas there are, on the replica that holds
//! the leader lock (`JobStore::lead`): retention, the redelivery sweeper and reconciliation.
//! A replica tries to lead every `leader_check_seconds`; when the leader dies, its database
//! session ends, the lock is free, and another replica takes the duties at its next try.
//! Expired leases need no duty of their own: `claim` takes a job whose lease expired.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Shared;
use super::job::PullJob;
use crate::queue::NewJob;

/// How far back the sweeper looks at failed deliveries.
const SWEEP_WINDOW_SECONDS: i64 = 6 * 3600;
/// A redelivery the sweeper asked for is not asked again for this long.
const SWEEP_REASK: Duration = Duration::from_secs(3600);
/// Repositories pushed to within this are reconciled.
const RECENT_SECONDS: i64 = 7 * 86_400;
/// The most pull requests one reconciliation looks at.
const RECONCILE_LIMIT: usize = 200;

/// Runs until shutdown: tries to lead, and while leading runs each duty when it is due.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let mut leading = false;
    let mut last: HashMap<&'static str, Instant> = HashMap::new();
    let mut asked: HashMap<String, Instant> = HashMap::new();
    let every = |minutes: u64| Duration::from_secs(minutes * 60);
    loop {
        let now_leading = match shared.store.lead().await {
            Ok(leading) => leading,
            Err(error) => {
                tracing::warn!(%error, "could not ask for the leader lock");
                false
            }
        };
        if now_leading != leading {
            leading = now_leading;
            shared.metrics.set_leader(leading);
            if leading {
                tracing::info!("this replica leads: retention, redelivery sweeps and reconciliation run here");
            } else {
                tracing::info!("this replica no longer leads");
            }
        }
        if leading {
            let due = |name: &'static str, period: Duration, last: &HashMap<&'static str, Instant>| {
                !period.is_zero() && last.get(name).is_none_or(|at| at.elapsed() >= period)
            };
            if due("retention", Duration::from_secs(3600), &last) {
                last.insert("retention", Instant::now());
                retention(&shared).await;
            }
            if due("sweep", every(shared.settings.sweep_minutes), &last) {
                last.insert("sweep", Instant::now());
                match sweep(&shared, &mut asked).await {
                    Ok((failed, redelivered)) => {
                        shared.metrics.duty("sweeper_failed_deliveries", failed as u64);
                        shared.metrics.duty("sweeper_redelivered", redelivered as u64);
                        if failed > 0 {
                            tracing::info!(failed, redelivered, "redelivery sweep");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "the redelivery sweep failed"),
                }
            }
            if due("reconcile", every(shared.settings.reconcile_minutes), &last) {
                last.insert("reconcile", Instant::now());
                match reconcile(&shared, None, None).await {
                    Ok(queued) => {
                        shared.metrics.duty("reconciled", queued as u64);
                        if queued > 0 {
                            tracing::info!(queued, "reconciliation queued checks of heads without our check run");
                            shared.wake.notify_waiters();
                        }
                    }
                    Err(error) => tracing::warn!(%error, "reconciliation failed"),
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(shared.settings.leader_check_seconds)) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Deletes finished jobs, deliveries and report pages past the retention.
async fn retention(shared: &Shared) {
    let keep = shared.settings.retention_days as i64 * 86_400_000;
    match shared.store.purge(shared.store.now() - keep).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "retention: deleted finished jobs, deliveries and reports"),
        Err(error) => tracing::warn!(%error, "retention failed"),
    }
}

/// GitHub never redelivers a failed delivery by itself: lists the App's recent deliveries and
/// asks for each failed one that was never recorded here (a delivery id can have several
/// attempts; one that succeeded, or one we recorded, needs nothing). Answers (failed, asked).
async fn sweep(shared: &Shared, asked: &mut HashMap<String, Instant>) -> Result<(usize, usize), String> {
    let Some(github) = &shared.github else { return Ok((0, 0)) };
    asked.retain(|_, at| at.elapsed() < SWEEP_REASK);
    let deliveries = github.deliveries(2000).await.map_err(|e| e.to_string())?;
    let now = shared.store.now() / 1000;
    // Attempts by delivery id, newest first as GitHub lists them.
    let mut by_guid: Vec<(String, Vec<&Value>)> = Vec::new();
    for delivery in &deliveries {
        let Some(guid) = delivery["guid"].as_str() else { continue };
        match by_guid.iter_mut().find(|(g, _)| g == guid) {
            Some((_, attempts)) => attempts.push(delivery),
            None => by_guid.push((guid.to_string(), vec![delivery])),
        }
    }
    let (mut failed, mut redelivered) = (0, 0);
    for (guid, attempts) in by_guid {
        let ok = attempts.iter().any(|a| a["status_code"].as_u64().is_some_and(|c| (200..300).contains(&c)));
        let newest = attempts[0];
        let at = newest["delivered_at"].as_str().and_then(crate::forge::github::parse_timestamp).unwrap_or(now);
        if ok || now - at > SWEEP_WINDOW_SECONDS || asked.contains_key(&guid) {
            continue;
        }
        if shared.store.delivery_seen(format!("github:{guid}")).await.map_err(|e| e.to_string())? {
            continue;
        }
        failed += 1;
        let Some(id) = newest["id"].as_u64() else { continue };
        match github.redeliver(id).await {
            Ok(()) => {
                redelivered += 1;
                asked.insert(guid, Instant::now());
            }
            Err(error) => tracing::warn!(%error, %guid, "asking for a redelivery failed"),
        }
    }
    Ok((failed, redelivered))
}

/// For repositories with recent activity (or `only` one, and only pull request `pr`), queues
/// a check of each open pull request whose head has no completed `datasurface` check run of
/// this App and no queued or running job; at most `RECONCILE_LIMIT` pull requests per run.
pub async fn reconcile(shared: &Shared, only: Option<&str>, pr: Option<u64>) -> Result<usize, String> {
    let Some(github) = &shared.github else { return Ok(0) };
    let now = shared.store.now() / 1000;
    let active: HashSet<String> = shared.store.active_keys().await.map_err(|e| e.to_string())?;
    let mut targets: Vec<(u64, String)> = Vec::new();
    match only {
        Some(repo) => targets.push((github.installation_of(repo).await.map_err(|e| e.to_string())?, repo.to_string())),
        None => {
            for (installation, account) in github.installations().await.map_err(|e| e.to_string())? {
                if !shared.serves_owner(&account) {
                    continue;
                }
                let repos = github.repositories(installation).await.map_err(|e| e.to_string())?;
                targets.extend(
                    repos
                        .into_iter()
                        .filter(|(_, pushed)| now - pushed <= RECENT_SECONDS)
                        .map(|(r, _)| (installation, r)),
                );
            }
        }
    }
    let mut looked = 0;
    let mut jobs = Vec::new();
    'repos: for (installation, repo) in targets {
        let pulls = match pr {
            Some(number) => vec![github.pull(installation, &repo, number).await.map_err(|e| e.to_string())?],
            None => github.open_pulls(installation, &repo).await.map_err(|e| e.to_string())?,
        };
        for pull in pulls {
            if looked >= RECONCILE_LIMIT {
                break 'repos;
            }
            looked += 1;
            let job = PullJob {
                forge: "github".into(),
                installation: Some(installation),
                repo: repo.clone(),
                number: pull.number,
                head_sha: Some(pull.head_sha.clone()).filter(|s| !s.is_empty()),
                event: if only.is_some() { "resync".into() } else { "reconcile".into() },
                delivery: format!("{}:{}#{}", if only.is_some() { "resync" } else { "reconcile" }, repo, pull.number),
                project: None,
                command: None,
                pull: Some(pull.clone()),
            };
            let forced = only.is_some();
            if pull.state == "closed" || pull.head_sha.is_empty() || (!forced && active.contains(&job.key())) {
                continue;
            }
            if !forced
                && github.has_completed_run(installation, &repo, &pull.head_sha).await.map_err(|e| e.to_string())?
            {
                continue;
            }
            jobs.push(job);
        }
    }
    let queued = jobs.len();
    for job in jobs {
        let new = NewJob { key: job.key(), payload: job.to_json(), max_attempts: shared.settings.max_attempts };
        shared.store.enqueue(new).await.map_err(|e| e.to_string())?;
    }
    Ok(queued)
}
