//! The job store in PostgreSQL: several `serve` replicas share it.
//!
//! Claims take `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other's rows; the
//! schema is migrated under an advisory lock, so replicas starting at once apply each step
//! once. A few connections are kept and reopened when one breaks (a database restart).

use std::str::FromStr;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use super::{
    BoxFuture, Claimed, Clock, Counts, Currency, Delivery, Enqueued, Error, JobRow, JobStore, NewJob, Result,
    StoredApproval,
};

/// How many connections a store keeps.
const CONNECTIONS: usize = 4;
/// The advisory lock key under which migrations run (`datasurface` in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6461_7461_7375_7266;
/// The advisory lock the leader holds (`dsleader` in ASCII).
const LEADER_LOCK: i64 = 0x6473_6c65_6164_6572;

pub struct PgStore {
    config: tokio_postgres::Config,
    /// The connection that holds the leader lock, while this store leads.
    leader: Mutex<Option<Client>>,
    connections: Vec<Mutex<Option<Client>>>,
    next: std::sync::atomic::AtomicUsize,
    clock: Clock,
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "postgres connection ended");
        }
    });
    Ok(client)
}

impl PgStore {
    pub async fn open(url: &str, clock: Clock) -> Result<PgStore> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| Error::Config { setting: "database", message: format!("not a PostgreSQL URL: {e}") })?;
        let mut first = connect(&config).await?;
        migrate(&mut first).await?;
        let mut connections = vec![Mutex::new(Some(first))];
        connections.extend((1..CONNECTIONS).map(|_| Mutex::new(None)));
        Ok(PgStore { config, leader: Mutex::new(None), connections, next: Default::default(), clock })
    }

    /// A connection of the pool, opened again if it broke.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>> {
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = self.connections.len();
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.connections[(start + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut guard = match guard {
            Some(guard) => guard,
            None => self.connections[start % n].lock().await,
        };
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(connect(&self.config).await?);
        }
        Ok(guard)
    }
}

async fn migrate(client: &mut Client) -> Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let result = async {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await?;
        let current: i64 =
            client.query_one("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version", &[]).await?.get(0);
        for (version, sql) in super::MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let tx = client.transaction().await?;
            tx.batch_execute(&sql.replace("{ID}", "BIGSERIAL PRIMARY KEY")).await?;
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            tx.execute("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", &[version, &now]).await?;
            tx.commit().await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
    result
}

const UPSERT: &str = "INSERT INTO jobs (coalesce_key, payload, state, run_at, attempts, max_attempts, generation, rerun, created_at, updated_at, enqueued_at)
     VALUES ($1, $2, 'queued', $3, 0, $4, 1, 0, $3, $3, $3)
     ON CONFLICT (coalesce_key) WHERE state IN ('queued', 'running') DO UPDATE SET
         payload = excluded.payload,
         generation = jobs.generation + 1,
         rerun = CASE WHEN jobs.state = 'running' THEN 1 ELSE jobs.rerun END,
         run_at = CASE WHEN jobs.state = 'queued' THEN excluded.run_at ELSE jobs.run_at END,
         attempts = CASE WHEN jobs.state = 'queued' THEN 0 ELSE jobs.attempts END,
         updated_at = excluded.updated_at,
         enqueued_at = excluded.enqueued_at
     RETURNING id, generation, state";

fn enqueued(row: &tokio_postgres::Row) -> Enqueued {
    let (id, generation, state): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
    match (generation, state.as_str()) {
        (1, _) => Enqueued::Queued { job: id },
        (_, "running") => Enqueued::Rerun { job: id },
        _ => Enqueued::Replaced { job: id },
    }
}

fn job_row(r: &tokio_postgres::Row) -> JobRow {
    JobRow {
        id: r.get(0),
        key: r.get(1),
        state: r.get(2),
        attempts: r.get::<_, i64>(3) as u32,
        generation: r.get(4),
        rerun: r.get::<_, i64>(5) != 0,
        last_error: r.get(6),
        run_at: r.get(7),
    }
}

const ROW: &str = "SELECT id, coalesce_key, state, attempts, generation, rerun, last_error, run_at FROM jobs";

impl JobStore for PgStore {
    fn record(&self, delivery: Delivery, jobs: Vec<NewJob>) -> BoxFuture<'_, Result<Vec<Enqueued>>> {
        Box::pin(async move {
            let now = self.now();
            let mut guard = self.client().await?;
            let client = guard.as_mut().expect("connected");
            let tx = client.transaction().await?;
            let inserted = tx
                .execute(
                    "INSERT INTO deliveries (id, forge, event, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                    &[&delivery.id, &delivery.forge, &delivery.event, &now],
                )
                .await?;
            if inserted == 0 {
                return Ok(vec![Enqueued::Duplicate]);
            }
            let mut result = Vec::new();
            for job in &jobs {
                let max = i64::from(job.max_attempts);
                result.push(enqueued(&tx.query_one(UPSERT, &[&job.key, &job.payload, &now, &max]).await?));
            }
            tx.commit().await?;
            Ok(if result.is_empty() { vec![Enqueued::Recorded] } else { result })
        })
    }

    fn enqueue(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued>> {
        Box::pin(async move {
            let now = self.now();
            let guard = self.client().await?;
            let max = i64::from(job.max_attempts);
            let row =
                guard.as_ref().expect("connected").query_one(UPSERT, &[&job.key, &job.payload, &now, &max]).await?;
            Ok(enqueued(&row))
        })
    }

    fn claim(&self, owner: String, lease_ms: i64) -> BoxFuture<'_, Result<Option<Claimed>>> {
        Box::pin(async move {
            let now = self.now();
            let mut guard = self.client().await?;
            let client = guard.as_mut().expect("connected");
            let tx = client.transaction().await?;
            tx.execute(
                "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_until = NULL, updated_at = $1,
                     last_error = 'the lease expired on the last attempt (' || attempts || ' of ' || max_attempts || '): the worker died or hung'
                 WHERE state = 'running' AND lease_until < $1 AND attempts >= max_attempts",
                &[&now],
            )
            .await?;
            let until = now + lease_ms;
            let row = tx
                .query_opt(
                    "WITH picked AS (
                         SELECT id FROM jobs
                         WHERE (state = 'queued' AND run_at <= $1) OR (state = 'running' AND lease_until < $1)
                         ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     UPDATE jobs SET state = 'running', lease_owner = $2, lease_until = $3, attempts = attempts + 1,
                         claim = claim + 1, updated_at = $1
                     FROM picked WHERE jobs.id = picked.id
                     RETURNING jobs.id, jobs.coalesce_key, jobs.payload, jobs.generation, jobs.attempts, jobs.claim, jobs.enqueued_at",
                    &[&now, &owner, &until],
                )
                .await?;
            tx.commit().await?;
            Ok(row.map(|r| Claimed {
                id: r.get(0),
                key: r.get(1),
                payload: r.get(2),
                generation: r.get(3),
                attempt: r.get::<_, i64>(4) as u32,
                claim: r.get(5),
                owner: owner.clone(),
                enqueued_at: r.get(6),
            }))
        })
    }

    fn heartbeat(&self, claimed: Claimed, lease_ms: i64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let until = self.now() + lease_ms;
            let guard = self.client().await?;
            let n = guard
                .as_ref()
                .expect("connected")
                .execute(
                    "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND claim = $3 AND lease_owner = $4 AND state = 'running'",
                    &[&until, &claimed.id, &claimed.claim, &claimed.owner],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn currency(&self, claimed: Claimed) -> BoxFuture<'_, Result<Currency>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let row = guard
                .as_ref()
                .expect("connected")
                .query_opt(
                    "SELECT state, lease_owner, claim, generation, payload FROM jobs WHERE id = $1",
                    &[&claimed.id],
                )
                .await?;
            Ok(match row {
                Some(r) => {
                    let (state, owner, claim, generation): (String, Option<String>, i64, i64) =
                        (r.get(0), r.get(1), r.get(2), r.get(3));
                    if state == "running" && owner.as_deref() == Some(&claimed.owner) && claim == claimed.claim {
                        if generation == claimed.generation {
                            Currency::Current
                        } else {
                            Currency::Superseded { payload: r.get(4) }
                        }
                    } else {
                        Currency::Lost
                    }
                }
                None => Currency::Lost,
            })
        })
    }

    fn complete(&self, claimed: Claimed) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let now = self.now();
            let guard = self.client().await?;
            guard
                .as_ref()
                .expect("connected")
                .execute(
                    "UPDATE jobs SET state = CASE WHEN rerun = 1 THEN 'queued' ELSE 'done' END,
                         attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
                         rerun = 0, run_at = $1, lease_owner = NULL, lease_until = NULL, updated_at = $1, last_error = NULL
                     WHERE id = $2 AND claim = $3 AND lease_owner = $4 AND state = 'running'",
                    &[&now, &claimed.id, &claimed.claim, &claimed.owner],
                )
                .await?;
            Ok(())
        })
    }

    fn fail(&self, claimed: Claimed, error: String, retry_at: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let now = self.now();
            let guard = self.client().await?;
            guard
                .as_ref()
                .expect("connected")
                .execute(
                    "UPDATE jobs SET
                         state = CASE WHEN rerun = 1 OR attempts < max_attempts THEN 'queued' ELSE 'dead' END,
                         run_at = CASE WHEN rerun = 1 THEN $1::BIGINT ELSE $2::BIGINT END,
                         attempts = CASE WHEN rerun = 1 THEN 0 ELSE attempts END,
                         rerun = 0, lease_owner = NULL, lease_until = NULL, updated_at = $1, last_error = $3
                     WHERE id = $4 AND claim = $5 AND lease_owner = $6 AND state = 'running'",
                    &[&now, &retry_at, &error, &claimed.id, &claimed.claim, &claimed.owner],
                )
                .await?;
            Ok(())
        })
    }

    fn defer(&self, claimed: Claimed, run_at: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let now = self.now();
            let guard = self.client().await?;
            guard
                .as_ref()
                .expect("connected")
                .execute(
                    "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), run_at = $1,
                         lease_owner = NULL, lease_until = NULL, updated_at = $5
                     WHERE id = $2 AND claim = $3 AND lease_owner = $4 AND state = 'running'",
                    &[&run_at, &claimed.id, &claimed.claim, &claimed.owner, &now],
                )
                .await?;
            Ok(())
        })
    }

    fn delivery_seen(&self, id: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let row =
                guard.as_ref().expect("connected").query_opt("SELECT 1 FROM deliveries WHERE id = $1", &[&id]).await?;
            Ok(row.is_some())
        })
    }

    fn active_keys(&self) -> BoxFuture<'_, Result<std::collections::HashSet<String>>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let rows = guard
                .as_ref()
                .expect("connected")
                .query("SELECT coalesce_key FROM jobs WHERE state IN ('queued', 'running')", &[])
                .await?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }

    fn lead(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut leader = self.leader.lock().await;
            if let Some(client) = leader.as_ref() {
                // Still ours while the session lives.
                if !client.is_closed() && client.execute("SELECT 1", &[]).await.is_ok() {
                    return Ok(true);
                }
                *leader = None;
            }
            let client = connect(&self.config).await?;
            // One leader per database and schema (`options=-csearch_path=…`): deployments that
            // share a server in different schemas do not share a leader.
            let scope = format!("{:?}/{:?}", self.config.get_dbname(), self.config.get_options());
            let hash =
                scope.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            let key = LEADER_LOCK ^ (hash as i64);
            let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await?;
            if row.get::<_, bool>(0) {
                *leader = Some(client);
                Ok(true)
            } else {
                Ok(false)
            }
        })
    }

    fn purge(&self, before: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let mut guard = self.client().await?;
            let tx = guard.as_mut().expect("connected").transaction().await?;
            let mut n =
                tx.execute("DELETE FROM jobs WHERE state IN ('done', 'dead') AND updated_at < $1", &[&before]).await?;
            n += tx.execute("DELETE FROM deliveries WHERE received_at < $1", &[&before]).await?;
            n += tx.execute("DELETE FROM reports WHERE created_at < $1", &[&before]).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Counts>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let rows = guard
                .as_ref()
                .expect("connected")
                .query(
                    "SELECT state, COUNT(*)::BIGINT FROM jobs WHERE state IN ('queued', 'running', 'dead') GROUP BY state",
                    &[],
                )
                .await?;
            let mut counts = Counts::default();
            for row in rows {
                let (state, n): (String, i64) = (row.get(0), row.get(1));
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
        Box::pin(async move {
            let guard = self.client().await?;
            let row = guard.as_ref().expect("connected").query_opt(&format!("{ROW} WHERE id = $1"), &[&id]).await?;
            Ok(row.as_ref().map(job_row))
        })
    }

    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobRow>>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let rows = guard.as_ref().expect("connected").query(&format!("{ROW} ORDER BY id"), &[]).await?;
            Ok(rows.iter().map(job_row).collect())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let guard = self.client().await?;
            guard.as_ref().expect("connected").execute("SELECT 1", &[]).await?;
            Ok(())
        })
    }

    fn put_report(&self, id: String, html: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let now = self.now();
            let guard = self.client().await?;
            guard
                .as_ref()
                .expect("connected")
                .execute(
                    "INSERT INTO reports (id, html, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET html = excluded.html",
                    &[&id, &html, &now],
                )
                .await?;
            Ok(())
        })
    }

    fn report(&self, id: String) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let row =
                guard.as_ref().expect("connected").query_opt("SELECT html FROM reports WHERE id = $1", &[&id]).await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn approve(&self, approvals: Vec<StoredApproval>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut guard = self.client().await?;
            let transaction = guard.as_mut().expect("connected").transaction().await?;
            for a in &approvals {
                transaction
                    .execute(
                        "INSERT INTO approvals (pull, login, workspace, datastore, dataset, fingerprint, target, approved_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (pull, login, workspace, datastore, dataset)
                         DO UPDATE SET fingerprint = excluded.fingerprint, target = excluded.target, approved_at = excluded.approved_at",
                        &[
                            &a.pull,
                            &a.user.to_ascii_lowercase(),
                            &a.workspace.to_ascii_lowercase(),
                            &a.datastore.to_ascii_lowercase(),
                            &a.dataset.to_ascii_lowercase(),
                            &a.fingerprint,
                            &a.target,
                            &a.at,
                        ],
                    )
                    .await?;
            }
            transaction.commit().await?;
            Ok(())
        })
    }

    fn approvals(&self, pull: String) -> BoxFuture<'_, Result<Vec<StoredApproval>>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let rows = guard
                .as_ref()
                .expect("connected")
                .query(
                    "SELECT pull, login, workspace, datastore, dataset, fingerprint, target, approved_at FROM approvals
                     WHERE pull = $1 ORDER BY approved_at, login, workspace, datastore, dataset",
                    &[&pull],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| StoredApproval {
                    pull: r.get(0),
                    user: r.get(1),
                    workspace: r.get(2),
                    datastore: r.get(3),
                    dataset: r.get(4),
                    fingerprint: r.get(5),
                    target: r.get(6),
                    at: r.get(7),
                })
                .collect())
        })
    }

    fn unapprove(&self, pull: String, user: Option<String>) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let guard = self.client().await?;
            let client = guard.as_ref().expect("connected");
            Ok(match user {
                Some(user) => {
                    client
                        .execute(
                            "DELETE FROM approvals WHERE pull = $1 AND login = $2",
                            &[&pull, &user.to_ascii_lowercase()],
                        )
                        .await?
                }
                None => client.execute("DELETE FROM approvals WHERE pull = $1", &[&pull]).await?,
            })
        })
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}
