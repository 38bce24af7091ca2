//! The durable job queue of `datasurface serve`: deliveries recorded and checks queued in one
//! transaction, one active job per pull request, leases renewed by a heartbeat, a generation
//! that fences publishing, retries with backoff, and retention.
//!
//! `JobStore` has two implementations with one behaviour, checked by one conformance suite
//! (`tests/queue.rs`): embedded SQLite (`sqlite`, one process) and PostgreSQL (`postgres`,
//! several replicas). Both are hand-written rather than taken from a job-queue crate: the
//! semantics a pull-request bot needs (coalesce events per pull request, supersede a running
//! check, fence a stale run) are not what generic queues offer, and the two SQL dialects are
//! short (see ARCHITECTURE.md).
//!
//! Times are milliseconds since the Unix epoch from the store's clock, so tests can move time
//! instead of sleeping.

pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A future the stores return (the trait is used as `Arc<dyn JobStore>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(String),
    #[error("{setting}: {message}")]
    Config { setting: &'static str, message: String },
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Database(error.to_string())
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        // The plain Display of a server error hides its message; the source has it.
        let detail = std::error::Error::source(&error).map(|s| format!(": {s}")).unwrap_or_default();
        Error::Database(format!("{error}{detail}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A webhook delivery to record (its id is what makes a redelivery a duplicate).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub forge: String,
    pub event: String,
}

/// A check to queue: `key` names the pull request (one active job per key), `payload` is
/// what the worker needs (JSON, opaque to the store).
#[derive(Clone, Debug)]
pub struct NewJob {
    pub key: String,
    pub payload: String,
    pub max_attempts: u32,
}

/// What recording a delivery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// The delivery id was seen before: nothing was changed.
    Duplicate,
    /// Recorded, with no job to queue.
    Recorded,
    /// A new job.
    Queued { job: i64 },
    /// The queued job of the same pull request now carries this payload.
    Replaced { job: i64 },
    /// The job of the same pull request is running: it runs again with this payload after.
    Rerun { job: i64 },
}

/// A job a worker holds, with the lease it holds it by.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub key: String,
    pub payload: String,
    /// Bumped by every event for the pull request: a run publishes only while it is current.
    pub generation: i64,
    /// The attempt this is, from 1.
    pub attempt: u32,
    /// A token that changes with every claim, so a stale holder cannot finish the job.
    pub claim: i64,
    pub owner: String,
    /// When the event this generation carries was recorded.
    pub enqueued_at: i64,
}

/// Whether a claimed run may still publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Currency {
    Current,
    /// A newer event for the pull request arrived; its payload.
    Superseded {
        payload: String,
    },
    /// The lease is no longer ours (it expired and someone else holds the job).
    Lost,
}

/// A job's row, for tests, the operator and the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub key: String,
    pub state: String,
    pub attempts: u32,
    pub generation: i64,
    pub rerun: bool,
    pub last_error: Option<String>,
    pub run_at: i64,
}

/// Jobs by state, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub queued: u64,
    pub running: u64,
    pub dead: u64,
}

/// An approval given with `/datasurface approve`: of the breaking changes to
/// `datastore/dataset` for `workspace`, by `user`, while the dataset's head schema has
/// `fingerprint` and the pull request targets `target`. `pull` is the pull request's queue key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredApproval {
    pub pull: String,
    pub user: String,
    pub workspace: String,
    pub datastore: String,
    pub dataset: String,
    pub fingerprint: String,
    pub target: String,
    pub at: i64,
}

/// The queue and state of the service. Every method is one transaction.
pub trait JobStore: Send + Sync {
    /// Records a delivery and, in the same transaction, queues its jobs (replacing the payload
    /// of a pull request's queued job, or marking its running job to run again). Answers one
    /// `Enqueued` per job, `[Recorded]` without jobs, `[Duplicate]` for a delivery seen before.
    fn record(&self, delivery: Delivery, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<Enqueued>>>;
    /// Queues a job without a delivery (reconciliation, `resync`).
    fn enqueue(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued>>;
    /// Takes the next job that is due, or one whose lease expired, for `lease_ms`. A job whose
    /// lease expired on its last attempt is dead instead.
    fn claim(&self, owner: String, lease_ms: i64) -> BoxFuture<'_, Result<Option<Claimed>>>;
    /// Extends the lease; `false` when it is no longer ours.
    fn heartbeat(&self, claimed: Claimed, lease_ms: i64) -> BoxFuture<'_, Result<bool>>;
    fn currency(&self, claimed: Claimed) -> BoxFuture<'_, Result<Currency>>;
    /// The run is over: done, or queued again at once when an event came while it ran.
    fn complete(&self, claimed: Claimed) -> BoxFuture<'_, Result<()>>;
    /// The run failed: queued again at `retry_at`, or dead after its last attempt (the error
    /// is kept either way); at once when an event came while it ran.
    fn fail(&self, claimed: Claimed, error: String, retry_at: i64) -> BoxFuture<'_, Result<()>>;
    /// Gives the lease back without counting the attempt (shutdown): `defer` to now.
    fn release(&self, claimed: Claimed) -> BoxFuture<'_, Result<()>> {
        self.defer(claimed, self.now())
    }
    /// Gives the lease back without counting the attempt, to run again at `run_at` (a
    /// rate-limit budget that is spent until then).
    fn defer(&self, claimed: Claimed, run_at: i64) -> BoxFuture<'_, Result<()>>;
    /// Whether a delivery id was recorded.
    fn delivery_seen(&self, id: String) -> BoxFuture<'_, Result<bool>>;
    /// The keys of the queued and running jobs.
    fn active_keys(&self) -> BoxFuture<'_, Result<std::collections::HashSet<String>>>;
    /// Tries to be (or stay) the one replica that runs the duties that must run once: `true`
    /// while this store holds the leader lock (PostgreSQL: a session advisory lock on a
    /// connection of its own, released when the process or its connection dies; SQLite: one
    /// process, always the leader).
    fn lead(&self) -> BoxFuture<'_, Result<bool>>;
    /// Deletes finished jobs, deliveries and reports older than `before`.
    fn purge(&self, before: i64) -> BoxFuture<'_, Result<u64>>;
    fn counts(&self) -> BoxFuture<'_, Result<Counts>>;
    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>>>;
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobRow>>>;
    /// Answers when the database does (`/readyz`).
    fn ping(&self) -> BoxFuture<'_, Result<()>>;
    fn put_report(&self, id: String, html: String) -> BoxFuture<'_, Result<()>>;
    fn report(&self, id: String) -> BoxFuture<'_, Result<Option<String>>>;
    /// Stores approvals; one of the same pull request, user, workspace and dataset replaces
    /// the older one (a new fingerprint, a new target).
    fn approve(&self, approvals: Vec<StoredApproval>) -> BoxFuture<'_, Result<()>>;
    /// The approvals of a pull request, oldest first.
    fn approvals(&self, pull: String) -> BoxFuture<'_, Result<Vec<StoredApproval>>>;
    /// Withdraws the approvals of a pull request by `user` (ASCII case folded), or all of them
    /// when `None`; answers how many there were.
    fn unapprove(&self, pull: String, user: Option<String>) -> BoxFuture<'_, Result<u64>>;
    /// The store's clock, in milliseconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// Where the time comes from (tests move it).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
}

/// Opens the store a URL names (`sqlite://PATH`, `postgres://…`) and applies its migrations.
pub async fn open(url: &str, clock: Clock) -> Result<Arc<dyn JobStore>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Arc::new(sqlite::SqliteStore::open(std::path::Path::new(path), clock).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(url, clock).await?));
    }
    Err(Error::Config { setting: "database", message: format!("`{url}` is neither sqlite://PATH nor postgres://…") })
}

/// When a failed job runs again: exponential from `base_ms`, capped at `cap_ms`, with up to
/// a quarter of jitter (so that many failed jobs do not come back at once).
pub fn backoff(attempt: u32, base_ms: i64, cap_ms: i64, jitter: f64) -> i64 {
    let exponential = base_ms.saturating_mul(1i64 << attempt.saturating_sub(1).min(30));
    let delay = exponential.min(cap_ms);
    delay + (delay as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as i64
}

/// How many schema steps there are (the highest version).
pub const MIGRATION_COUNT: usize = MIGRATIONS.len();

/// The schema, in order; each step runs once, recorded in `schema_version`.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        forge TEXT NOT NULL,
        event TEXT NOT NULL,
        received_at BIGINT NOT NULL
    );
    CREATE TABLE jobs (
        id {ID},
        coalesce_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        run_at BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        max_attempts BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        claim BIGINT NOT NULL DEFAULT 0,
        generation BIGINT NOT NULL DEFAULT 1,
        rerun BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        enqueued_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX jobs_active ON jobs (coalesce_key) WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_due ON jobs (state, run_at);
    CREATE TABLE reports (
        id TEXT PRIMARY KEY,
        html TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );",
    ),
    (
        2,
        "CREATE TABLE approvals (
        pull TEXT NOT NULL,
        login TEXT NOT NULL,
        workspace TEXT NOT NULL,
        datastore TEXT NOT NULL,
        dataset TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        target TEXT NOT NULL,
        approved_at BIGINT NOT NULL,
        PRIMARY KEY (pull, login, workspace, datastore, dataset)
    );",
    ),
];

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, 1000, 60_000, 0.0), 1000);
        assert_eq!(backoff(2, 1000, 60_000, 0.0), 2000);
        assert_eq!(backoff(5, 1000, 60_000, 0.0), 16_000);
        assert_eq!(backoff(30, 1000, 60_000, 0.0), 60_000);
        assert_eq!(backoff(3, 1000, 60_000, 1.0), 5000);
    }
}
