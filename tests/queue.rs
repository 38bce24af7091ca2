//! One conformance suite for both job stores: every test runs on SQLite and on the
//! PostgreSQL server at 127.0.0.1:5432 (a fresh schema per test). Time is a manual clock, so
//! leases expire and backoffs pass without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use datasurface::queue::{self, Currency, Delivery, Enqueued, JobStore, NewJob};

/// A store on a fresh database, its clock, and what keeps the database alive.
pub struct TestStore {
    pub store: Arc<dyn JobStore>,
    pub clock: Arc<AtomicI64>,
    _guard: Option<tempfile::TempDir>,
}

impl TestStore {
    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

fn manual_clock() -> (Arc<AtomicI64>, queue::Clock) {
    let now = Arc::new(AtomicI64::new(1_700_000_000_000));
    let read = now.clone();
    (now, Arc::new(move || read.load(Ordering::SeqCst)))
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let (clock, read) = manual_clock();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    TestStore { store: queue::open(&url, read).await.unwrap(), clock, _guard: Some(dir) }
}

/// The URL of a fresh, empty schema on the test server. Fails loudly when there is no server:
/// these tests are part of the suite, never skipped.
pub async fn postgres_url() -> String {
    let base =
        std::env::var("DATASURFACE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        panic!(
            "\n\n*** PostgreSQL is not reachable at {base}: {e}\n*** The queue tests need it (start it, or set DATASURFACE_TEST_POSTGRES).\n\n"
        )
    });
    tokio::spawn(connection);
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("t_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

pub async fn postgres() -> TestStore {
    let (clock, read) = manual_clock();
    TestStore { store: queue::open(&postgres_url().await, read).await.unwrap(), clock, _guard: None }
}

fn job(key: &str, payload: &str) -> NewJob {
    NewJob { key: key.into(), payload: payload.into(), max_attempts: 3 }
}

fn delivery(id: &str) -> Delivery {
    Delivery { id: id.into(), forge: "github".into(), event: "pull_request".into() }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::sqlite().await).await
            })*
        }
        mod postgres_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::postgres().await).await
            })*
        }
    };
}

both!(
    a_delivery_is_recorded_once,
    one_active_job_per_pull_request,
    an_event_during_a_run_runs_it_again,
    a_newer_event_fences_the_older_run,
    an_expired_lease_puts_the_job_back,
    failures_back_off_and_end_dead,
    a_released_job_is_not_an_attempt,
    retention_purges_finished_work,
    concurrent_claims_never_share_a_job,
    migrations_apply_once,
    reports_are_stored,
    approvals_are_kept_per_user_workspace_and_dataset,
);

async fn a_delivery_is_recorded_once(t: TestStore) {
    let s = &t.store;
    let first = s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap().remove(0);
    assert!(matches!(first, Enqueued::Queued { .. }), "{first:?}");
    assert_eq!(s.record(delivery("d1"), vec![job("pr/1", "b")]).await.unwrap()[0], Enqueued::Duplicate);
    assert_eq!(s.record(delivery("d2"), vec![]).await.unwrap()[0], Enqueued::Recorded);
    let jobs = s.jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].generation, 1, "the duplicate changed nothing");
}

async fn one_active_job_per_pull_request(t: TestStore) {
    let s = &t.store;
    let Enqueued::Queued { job: id } = s.record(delivery("d1"), vec![job("pr/1", "head-a")]).await.unwrap()[0] else {
        panic!()
    };
    assert_eq!(s.record(delivery("d2"), vec![job("pr/1", "head-b")]).await.unwrap()[0], Enqueued::Replaced { job: id });
    s.record(delivery("d3"), vec![job("pr/2", "other")]).await.unwrap();
    assert_eq!(s.counts().await.unwrap().queued, 2);
    let claimed = s.claim("w".into(), 30_000).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.payload.as_str(), claimed.generation), (id, "head-b", 2));
}

async fn an_event_during_a_run_runs_it_again(t: TestStore) {
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap();
    let claimed = s.claim("w".into(), 30_000).await.unwrap().unwrap();
    assert!(matches!(s.record(delivery("d2"), vec![job("pr/1", "b")]).await.unwrap()[0], Enqueued::Rerun { .. }));
    // Nothing else to take while it runs: the same pull request waits.
    assert!(s.claim("other".into(), 30_000).await.unwrap().is_none());
    s.complete(claimed).await.unwrap();
    let again = s.claim("w".into(), 30_000).await.unwrap().unwrap();
    assert_eq!((again.payload.as_str(), again.generation, again.attempt), ("b", 2, 1));
    s.complete(again.clone()).await.unwrap();
    assert_eq!(s.job(again.id).await.unwrap().unwrap().state, "done");
    // A later event makes a new job.
    assert!(matches!(s.record(delivery("d3"), vec![job("pr/1", "c")]).await.unwrap()[0], Enqueued::Queued { .. }));
}

async fn a_newer_event_fences_the_older_run(t: TestStore) {
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "old-head")]).await.unwrap();
    let claimed = s.claim("w".into(), 30_000).await.unwrap().unwrap();
    assert_eq!(s.currency(claimed.clone()).await.unwrap(), Currency::Current);
    s.record(delivery("d2"), vec![job("pr/1", "new-head")]).await.unwrap();
    assert_eq!(s.currency(claimed).await.unwrap(), Currency::Superseded { payload: "new-head".into() });
}

async fn an_expired_lease_puts_the_job_back(t: TestStore) {
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap();
    let first = s.claim("dead-worker".into(), 1_000).await.unwrap().unwrap();
    t.advance(500);
    assert!(s.heartbeat(first.clone(), 1_000).await.unwrap(), "a heartbeat extends the lease");
    t.advance(900);
    assert!(s.claim("other".into(), 1_000).await.unwrap().is_none(), "still leased");
    t.advance(200);
    let second = s.claim("other".into(), 1_000).await.unwrap().expect("the expired lease puts it back");
    assert_eq!((second.id, second.attempt), (first.id, 2));
    // The first holder can neither renew, publish nor finish any more.
    assert!(!s.heartbeat(first.clone(), 1_000).await.unwrap());
    assert_eq!(s.currency(first.clone()).await.unwrap(), Currency::Lost);
    s.complete(first).await.unwrap();
    assert_eq!(s.job(second.id).await.unwrap().unwrap().state, "running");
    s.complete(second.clone()).await.unwrap();
    assert_eq!(s.job(second.id).await.unwrap().unwrap().state, "done");
}

async fn failures_back_off_and_end_dead(t: TestStore) {
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap();
    let mut last_error = String::new();
    for attempt in 1..=3 {
        let claimed = s.claim("w".into(), 30_000).await.unwrap().unwrap();
        assert_eq!(claimed.attempt, attempt);
        last_error = format!("GitHub answered 502 ({attempt})");
        s.fail(claimed.clone(), last_error.clone(), s.now() + 10_000).await.unwrap();
        let row = s.job(claimed.id).await.unwrap().unwrap();
        if attempt < 3 {
            assert_eq!(row.state, "queued");
            assert!(s.claim("w".into(), 30_000).await.unwrap().is_none(), "not before its backoff");
            t.advance(10_000);
        } else {
            assert_eq!(row.state, "dead");
        }
        assert_eq!(row.last_error.as_deref(), Some(last_error.as_str()));
    }
    assert_eq!(s.counts().await.unwrap().dead, 1);
    // A lease that expires on the last attempt ends dead too.
    s.record(delivery("d2"), vec![NewJob { max_attempts: 1, ..job("pr/2", "b") }]).await.unwrap();
    let claimed = s.claim("w".into(), 1_000).await.unwrap().unwrap();
    t.advance(2_000);
    assert!(s.claim("w".into(), 1_000).await.unwrap().is_none());
    let row = s.job(claimed.id).await.unwrap().unwrap();
    assert_eq!(row.state, "dead");
    assert!(row.last_error.unwrap().contains("lease expired"), "{last_error}");
}

async fn a_released_job_is_not_an_attempt(t: TestStore) {
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap();
    let claimed = s.claim("w".into(), 30_000).await.unwrap().unwrap();
    s.release(claimed).await.unwrap();
    let again = s.claim("w2".into(), 30_000).await.unwrap().unwrap();
    assert_eq!(again.attempt, 1);
}

async fn retention_purges_finished_work(t: TestStore) {
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap();
    let claimed = s.claim("w".into(), 30_000).await.unwrap().unwrap();
    s.complete(claimed).await.unwrap();
    s.record(delivery("d2"), vec![job("pr/2", "b")]).await.unwrap();
    s.put_report("r1".into(), "<html>".into()).await.unwrap();
    t.advance(10_000);
    let purged = s.purge(s.now() - 5_000).await.unwrap();
    assert_eq!(purged, 1 + 2 + 1, "the done job, both deliveries and the report");
    let jobs = s.jobs().await.unwrap();
    assert_eq!(jobs.len(), 1, "the queued job stays");
    assert_eq!(jobs[0].state, "queued");
    assert_eq!(
        s.record(delivery("d1"), vec![]).await.unwrap()[0],
        Enqueued::Recorded,
        "a purged delivery id is new again"
    );
}

async fn concurrent_claims_never_share_a_job(t: TestStore) {
    let s = t.store.clone();
    for i in 0..40 {
        s.record(delivery(&format!("d{i}")), vec![job(&format!("pr/{i}"), "x")]).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(claimed) = s.claim(format!("w{w}"), 30_000).await.unwrap() {
                mine.push(claimed.id);
                s.complete(claimed).await.unwrap();
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!((before, all.len()), (40, 40), "every job taken exactly once");
}

async fn migrations_apply_once(t: TestStore) {
    // Opening the same database again (another replica starting) applies nothing twice.
    let s = &t.store;
    s.record(delivery("d1"), vec![job("pr/1", "a")]).await.unwrap();
    assert!(s.ping().await.is_ok());
    assert_eq!(s.jobs().await.unwrap().len(), 1);
}

async fn reports_are_stored(t: TestStore) {
    let s = &t.store;
    assert_eq!(s.report("nope".into()).await.unwrap(), None);
    s.put_report("abc".into(), "<p>report</p>".into()).await.unwrap();
    assert_eq!(s.report("abc".into()).await.unwrap().as_deref(), Some("<p>report</p>"));
}

async fn approvals_are_kept_per_user_workspace_and_dataset(t: TestStore) {
    let s = &t.store;
    let approval = |user: &str, workspace: &str, fingerprint: &str| queue::StoredApproval {
        pull: "github:acme/model#7".into(),
        user: user.into(),
        workspace: workspace.into(),
        datastore: "Store".into(),
        dataset: "items".into(),
        fingerprint: fingerprint.into(),
        target: "main".into(),
        at: s.now(),
    };
    assert!(s.approvals("github:acme/model#7".into()).await.unwrap().is_empty());
    s.approve(vec![approval("Carol", "ws", "aaaa"), approval("dave", "other", "aaaa")]).await.unwrap();
    // Approving again after the schema changed replaces the older approval.
    s.approve(vec![approval("carol", "WS", "bbbb")]).await.unwrap();
    let stored = s.approvals("github:acme/model#7".into()).await.unwrap();
    let rows: Vec<(&str, &str, &str, &str)> = stored
        .iter()
        .map(|a| (a.user.as_str(), a.workspace.as_str(), a.datastore.as_str(), a.fingerprint.as_str()))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.contains(&("carol", "ws", "store", "bbbb")), "{rows:?}");
    assert!(rows.contains(&("dave", "other", "store", "aaaa")), "{rows:?}");
    assert!(s.approvals("github:acme/model#8".into()).await.unwrap().is_empty(), "per pull request");
    assert_eq!(s.unapprove("github:acme/model#7".into(), Some("CAROL".into())).await.unwrap(), 1);
    assert_eq!(s.approvals("github:acme/model#7".into()).await.unwrap().len(), 1);
    assert_eq!(s.unapprove("github:acme/model#7".into(), None).await.unwrap(), 1);
    assert!(s.approvals("github:acme/model#7".into()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_migrate_once() {
    let url = postgres_url().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            async move { queue::open(&url, queue::system_clock()).await }
        })
        .collect();
    let stores: Vec<_> = futures_join(opens).await;
    for store in &stores {
        assert!(store.as_ref().is_ok(), "{:?}", store.as_ref().err());
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let versions: i64 = client.query_one("SELECT COUNT(*) FROM schema_version", &[]).await.unwrap().get(0);
    assert_eq!(versions, datasurface::queue::MIGRATION_COUNT as i64);
    // SQLite: a second open of the same file.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let a = queue::open(&url, queue::system_clock()).await.unwrap();
    a.record(delivery("d1"), vec![job("pr/1", "x")]).await.unwrap();
    drop(a);
    let b = queue::open(&url, queue::system_clock()).await.unwrap();
    assert_eq!(b.jobs().await.unwrap().len(), 1);
}

async fn futures_join<T: Send + 'static>(
    futures: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
