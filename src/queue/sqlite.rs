//! The job store in an embedded SQLite file: zero setup for one instance.
//!
//! One connection, used by one writer at a time (a mutex, and `BEGIN IMMEDIATE` so that a
//! transaction takes the write lock before it reads); WAL journal and a busy timeout so that
//! readers never wait on a writer. rusqlite is synchronous, so every call runs on tokio's
//! blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    BoxFuture, Claimed, Clock, Counts, Currency, Delivery, Enqueued, Error, JobRow, JobStore, NewJob, Result,
    StoredApproval,
};

pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    clock: Clock,
}

impl SqliteStore {
    pub async fn open(path: &Path, clock: Clock) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        let connection = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| Error::Config {
                    setting: "database",
                    message: format!("{}: {e}", parent.display()),
                })?;
            }
            let mut connection = Connection::open(&path)?;
            connection.busy_timeout(std::time::Duration::from_secs(5))?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            migrate(&mut connection)?;
            Ok(connection)
        })
        .await
        .map_err(|e| Error::Database(e.to_string()))??;
        Ok(SqliteStore { connection: Arc::new(Mutex::new(connection)), clock })
    }

    /// Runs `work` on the connection, on the blocking pool.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, i64) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T>> {
        let connection = self.connection.clone();
        let now = (self.clock)();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut connection =
                    connection.lock().map_err(|_| Error::Database("the connection was poisoned".into()))?;
                work(&mut connection, now)
            })
            .await
            .map_err(|e| Error::Database(e.to_string()))?
        })
    }
}

fn migrate(connection: &mut Connection) -> Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    let current: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))?;
    for (version, sql) in super::MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(&sql.replace("{ID}", "INTEGER PRIMARY KEY"))?;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)", params![version, now])?;
    }
    tx.commit()?;
    Ok(())
}

/// The upsert of a job: one active row per key.
fn upsert(tx: &rusqlite::Transaction<'_>, job: &NewJob, now: i64) -> Result<Enqueued> {
    let (id, generation, state): (i64, i64, String) = tx.query_row(
        "INSERT INTO jobs (coalesce_key, payload, state, run_at, attempts, max_attempts, generation, rerun, created_at, updated_at, enqueued_at)
         VALUES (?1, ?2, 'queued', ?3, 0, ?4, 1, 0, ?3, ?3, ?3)
         ON CONFLICT (coalesce_key) WHERE state IN ('queued', 'running') DO UPDATE SET
             payload = excluded.payload,
             generation = jobs.generation + 1,
             rerun = CASE WHEN jobs.state = 'running' THEN 1 ELSE jobs.rerun END,
             run_at = CASE WHEN jobs.state = 'queued' THEN excluded.run_at ELSE jobs.run_at END,
             attempts = CASE WHEN jobs.state = 'queued' THEN 0 ELSE jobs.attempts END,
             updated_at = excluded.updated_at,
             enqueued_at = excluded.enqueued_at
         RETURNING id, generation, state",
        params![job.key, job.payload, now, job.max_attempts],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(match (generation, state.as_str()) {
        (1, _) => Enqueued::Queued { job: id },
        (_, "running") => Enqueued::Rerun { job: id },
        _ => Enqueued::Replaced { job: id },
    })
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        key: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get::<_, i64>(3)? as u32,
        generation: r.get(4)?,
        rerun: r.get::<_, i64>(5)? != 0,
        last_error: r.get(6)?,
        run_at: r.get(7)?,
    })
}

const ROW: &str = "SELECT id, coalesce_key, state, attempts, generation, rerun, last_error, run_at FROM jobs";

impl JobStore for SqliteStore {
    fn record(&self, delivery: Delivery, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<Enqueued>>> {
        self.run(move |connection, now| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT INTO deliveries (id, forge, event, received_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
                params![delivery.id, delivery.forge, delivery.event, now],
            )?;
            if inserted == 0 {
                return Ok(vec![Enqueued::Duplicate]);
            }
            let mut result = Vec::new();
            for job in &jobs {
                result.push(upsert(&tx, job, now)?);
            }
            tx.commit()?;
            Ok(if result.is_empty() { vec![Enqueued::Recorded] } else { result })
        })
    }

    fn enqueue(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued>> {
        self.run(move |connection, now| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = upsert(&tx, &job, now)?;
            tx.commit()?;
            Ok(result)
        })
    }

    fn claim(&self, owner: String, lease_ms: i64) -> BoxFuture<'_, Result<Option<Claimed>>> {
        self.run(move |connection, now| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_until = NULL, updated_at = ?1,
                     last_error = 'the lease expired on the last attempt (' || attempts || ' of ' || max_attempts || '): the worker died or hung'
                 WHERE state = 'running' AND lease_until < ?1 AND attempts >= max_attempts",
                params![now],
            )?;
            let id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE (state = 'queued' AND run_at <= ?1) OR (state = 'running' AND lease_until < ?1)
                     ORDER BY run_at, id LIMIT 1",
                    params![now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                // Keep what the dead-letter update did.
                tx.commit()?;
                return Ok(None);
            };
            let claimed = tx.query_row(
                "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_until = ?3, attempts = attempts + 1,
                     claim = claim + 1, updated_at = ?4
                 WHERE id = ?1
                 RETURNING id, coalesce_key, payload, generation, attempts, claim, enqueued_at",
                params![id, owner, now + lease_ms, now],
                |r| {
                    Ok(Claimed {
                        id: r.get(0)?,
                        key: r.get(1)?,
                        payload: r.get(2)?,
                        generation: r.get(3)?,
                        attempt: r.get::<_, i64>(4)? as u32,
                        claim: r.get(5)?,
                        owner: owner.clone(),
                        enqueued_at: r.get(6)?,
                    })
                },
            )?;
            tx.commit()?;
            Ok(Some(claimed))
        })
    }

    fn heartbeat(&self, claimed: Claimed, lease_ms: i64) -> BoxFuture<'_, Result<bool>> {
        self.run(move |connection, now| {
            let n = connection.execute(
                "UPDATE jobs SET lease_until = ?1 WHERE id = ?2 AND claim = ?3 AND lease_owner = ?4 AND state = 'running'",
                params![now + lease_ms, claimed.id, claimed.claim, claimed.owner],
            )?;
            Ok(n == 1)
        })
    }

    fn currency(&self, claimed: Claimed) -> BoxFuture<'_, Result<Currency>> {
        self.run(move |connection, _| {
            let found: Option<(String, Option<String>, i64, i64, String)> = connection
                .query_row(
                    "SELECT state, lease_owner, claim, generation, payload FROM jobs WHERE id = ?1",
                    params![claimed.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            Ok(match found {
                Some((state, owner, claim, generation, payload))
                    if state == "running" && owner.as_deref() == Some(&claimed.owner) && claim == claimed.claim =>
                {
                    if generation == claimed.generation {
                        Currency::Current
                    } else {
                        Currency::Superseded { payload }
                    }
                }
                _ => Currency::Lost,
            })
        })
    }

    fn complete(&self, claimed: Claimed) -> BoxFuture<'_, Result<()>> {
        self.run(move |connection, now| {
            connection.execute(
                "UPDATE jobs SET state = CASE WHEN rerun = 1 THEN 'queued' ELSE 'done' END,
                     attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
                     rerun = 0, run_at = ?1, lease_owner = NULL, lease_until = NULL, updated_at = ?1, last_error = NULL
                 WHERE id = ?2 AND claim = ?3 AND lease_owner = ?4 AND state = 'running'",
                params![now, claimed.id, claimed.claim, claimed.owner],
            )?;
            Ok(())
        })
    }

    fn fail(&self, claimed: Claimed, error: String, retry_at: i64) -> BoxFuture<'_, Result<()>> {
        self.run(move |connection, now| {
            connection.execute(
                "UPDATE jobs SET
                     state = CASE WHEN rerun = 1 OR attempts < max_attempts THEN 'queued' ELSE 'dead' END,
                     run_at = CASE WHEN rerun = 1 THEN ?1 ELSE ?2 END,
                     attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
                     rerun = 0, lease_owner = NULL, lease_until = NULL, updated_at = ?1, last_error = ?3
                 WHERE id = ?4 AND claim = ?5 AND lease_owner = ?6 AND state = 'running'",
                params![now, retry_at, error, claimed.id, claimed.claim, claimed.owner],
            )?;
            Ok(())
        })
    }

    fn defer(&self, claimed: Claimed, run_at: i64) -> BoxFuture<'_, Result<()>> {
        self.run(move |connection, now| {
            connection.execute(
                "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), run_at = ?1,
                     lease_owner = NULL, lease_until = NULL, updated_at = ?5
                 WHERE id = ?2 AND claim = ?3 AND lease_owner = ?4 AND state = 'running'",
                params![run_at, claimed.id, claimed.claim, claimed.owner, now],
            )?;
            Ok(())
        })
    }

    fn delivery_seen(&self, id: String) -> BoxFuture<'_, Result<bool>> {
        self.run(move |connection, _| {
            Ok(connection
                .query_row("SELECT 1 FROM deliveries WHERE id = ?1", params![id], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn active_keys(&self) -> BoxFuture<'_, Result<std::collections::HashSet<String>>> {
        self.run(move |connection, _| {
            let mut statement =
                connection.prepare("SELECT coalesce_key FROM jobs WHERE state IN ('queued', 'running')")?;
            let keys = statement.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(keys)
        })
    }

    fn lead(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(true) })
    }

    fn purge(&self, before: i64) -> BoxFuture<'_, Result<u64>> {
        self.run(move |connection, _| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n =
                tx.execute("DELETE FROM jobs WHERE state IN ('done', 'dead') AND updated_at < ?1", params![before])?;
            n += tx.execute("DELETE FROM deliveries WHERE received_at < ?1", params![before])?;
            n += tx.execute("DELETE FROM reports WHERE created_at < ?1", params![before])?;
            tx.commit()?;
            Ok(n as u64)
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts>> {
        self.run(move |connection, _| {
            let mut counts = Counts::default();
            let mut statement = connection.prepare(
                "SELECT state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running', 'dead') GROUP BY state",
            )?;
            let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, n) = row?;
                match state.as_str() {
                    "queued" => counts.queued = n as u64,
                    "running" => counts.running = n as u64,
                    _ => counts.dead = n as u64,
                }
            }
            Ok(counts)
        })
    }

    fn job(&self, id: i64) -> BoxFuture<'_, Result<Option<JobRow>>> {
        self.run(move |connection, _| {
            Ok(connection.query_row(&format!("{ROW} WHERE id = ?1"), params![id], row).optional()?)
        })
    }

    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobRow>>> {
        self.run(move |connection, _| {
            let mut statement = connection.prepare(&format!("{ROW} ORDER BY id"))?;
            let rows = statement.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        self.run(move |connection, _| {
            connection.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn put_report(&self, id: String, html: String) -> BoxFuture<'_, Result<()>> {
        self.run(move |connection, now| {
            connection.execute(
                "INSERT INTO reports (id, html, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET html = excluded.html",
                params![id, html, now],
            )?;
            Ok(())
        })
    }

    fn report(&self, id: String) -> BoxFuture<'_, Result<Option<String>>> {
        self.run(move |connection, _| {
            Ok(connection.query_row("SELECT html FROM reports WHERE id = ?1", params![id], |r| r.get(0)).optional()?)
        })
    }

    fn approve(&self, approvals: Vec<StoredApproval>) -> BoxFuture<'_, Result<()>> {
        self.run(move |connection, _| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for a in &approvals {
                transaction.execute(
                    "INSERT INTO approvals (pull, login, workspace, datastore, dataset, fingerprint, target, approved_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (pull, login, workspace, datastore, dataset)
                     DO UPDATE SET fingerprint = excluded.fingerprint, target = excluded.target, approved_at = excluded.approved_at",
                    params![
                        a.pull,
                        a.user.to_ascii_lowercase(),
                        a.workspace.to_ascii_lowercase(),
                        a.datastore.to_ascii_lowercase(),
                        a.dataset.to_ascii_lowercase(),
                        a.fingerprint,
                        a.target,
                        a.at
                    ],
                )?;
            }
            transaction.commit()?;
            Ok(())
        })
    }

    fn approvals(&self, pull: String) -> BoxFuture<'_, Result<Vec<StoredApproval>>> {
        self.run(move |connection, _| {
            let mut statement = connection.prepare(
                "SELECT pull, login, workspace, datastore, dataset, fingerprint, target, approved_at FROM approvals
                 WHERE pull = ?1 ORDER BY approved_at, login, workspace, datastore, dataset",
            )?;
            let rows = statement
                .query_map(params![pull], |r| {
                    Ok(StoredApproval {
                        pull: r.get(0)?,
                        user: r.get(1)?,
                        workspace: r.get(2)?,
                        datastore: r.get(3)?,
                        dataset: r.get(4)?,
                        fingerprint: r.get(5)?,
                        target: r.get(6)?,
                        at: r.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn unapprove(&self, pull: String, user: Option<String>) -> BoxFuture<'_, Result<u64>> {
        self.run(move |connection, _| {
            let n = match user {
                Some(user) => connection.execute(
                    "DELETE FROM approvals WHERE pull = ?1 AND login = ?2",
                    params![pull, user.to_ascii_lowercase()],
                )?,
                None => connection.execute("DELETE FROM approvals WHERE pull = ?1", params![pull])?,
            };
            Ok(n as u64)
        })
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}
