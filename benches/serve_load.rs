//! Load on a running `datasurface serve` (release build) on loopback, with the example model
//! and the tests' stand-in GitHub: webhook acknowledgement latency, webhook-to-check-run
//! latency cold and warm, jobs per second, and the service's idle and peak memory, on SQLite
//! and on PostgreSQL.
//!
//! `cargo bench --bench serve_load` (add `-- --jobs N` for another burst size, and
//! `--write-interval-ms 1000` for the production pacing of writes to one installation). Needs git and
//! the PostgreSQL server of the test machine (`DATASURFACE_TEST_POSTGRES` to point elsewhere).

mod common;
#[path = "../tests/fake_github.rs"]
#[allow(dead_code)]
mod fake_github;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy, git, payload, percentile, rss_kib};
use fake_github::{APP_ID, FakeGitHub};

const SECRET: &str = "load-secret";

/// The example model at `main`, and `n` pull requests, each adding a nullable column.
fn origin(dir: &Path, n: u64) -> (String, Vec<String>) {
    git(dir, &["init", "-q", "-b", "main"]);
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/acme"), dir);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    let file = dir.join("zones/usa/teams/northwind/customers.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let mut heads = Vec::new();
    for number in 1..=n {
        git(dir, &["checkout", "-q", "--detach", &base]);
        let text = original.replace(
            "        - {name: segment,",
            &format!(
                "        - {{name: extra_{number}, type: string, classifications: [PUB]}}\n        - {{name: segment,"
            ),
        );
        std::fs::write(&file, text).unwrap();
        git(dir, &["commit", "-q", "-am", &format!("#{number}")]);
        let head = git(dir, &["rev-parse", "HEAD"]);
        git(dir, &["update-ref", &format!("refs/pull/{number}/head"), &head]);
        heads.push(head);
    }
    git(dir, &["checkout", "-q", "main"]);
    (base, heads)
}

struct Measured {
    backend: &'static str,
    ack: Vec<f64>,
    cold: f64,
    warm: f64,
    jobs_per_second: f64,
    jobs: usize,
    idle_kib: u64,
    peak_kib: u64,
}

async fn run(backend: &'static str, database: Option<String>, jobs: u64, write_interval_ms: u64) -> Measured {
    datasurface::forge::install_tls();
    let github = FakeGitHub::start().await;
    let repo = tempfile::tempdir().unwrap();
    let (base, heads) = origin(repo.path(), jobs + 2);
    let url = format!("file://{}", repo.path().display());
    let work = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_datasurface"));
    command
        .arg("serve")
        .env("DATASURFACE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATASURFACE_WORK_DIR", work.path())
        .env("DATASURFACE_GITHUB_APP_ID", APP_ID.to_string())
        .env(
            "DATASURFACE_GITHUB_PRIVATE_KEY_FILE",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-app-key.pem"),
        )
        .env("DATASURFACE_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("DATASURFACE_GITHUB_API_URL", github.url())
        .env("DATASURFACE_LOG", "warn")
        .env("DATASURFACE_WRITE_INTERVAL_MS", write_interval_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(database) = &database {
        command.env("DATASURFACE_DATABASE_URL", database);
    }
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let client = reqwest::Client::new();
    let server = format!("http://127.0.0.1:{port}");
    while client.get(format!("{server}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kib = rss_kib(pid);
    let done = |head: &str| github.runs_of(head).iter().any(|r| r.status() == "completed");
    let request = |number: u64| {
        let body = payload("opened", number, &url, &base, &heads[number as usize - 1]);
        let signature = datasurface::service::webhook::github_signature(SECRET, &body);
        client
            .post(format!("{server}/webhooks/github"))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", format!("load-{number}"))
            .header("x-hub-signature-256", signature)
            .body(body)
    };
    let mut ack = Vec::new();
    let mut peak_kib = idle_kib;
    let one = |number: u64| {
        let request = request(number);
        let head = heads[number as usize - 1].clone();
        let done = &done;
        async move {
            let started = Instant::now();
            assert_eq!(request.send().await.unwrap().status().as_u16(), 202);
            let ack = started.elapsed().as_secs_f64();
            while !done(&head) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (ack, started.elapsed().as_secs_f64())
        }
    };
    let (ack_cold, cold) = one(1).await;
    let (ack_warm, warm) = one(2).await;
    ack.extend([ack_cold, ack_warm]);
    peak_kib = peak_kib.max(rss_kib(pid));
    let burst_start = Instant::now();
    let numbers: Vec<u64> = (3..jobs + 3).collect();
    for chunk in numbers.chunks(8) {
        let mut tasks = tokio::task::JoinSet::new();
        for number in chunk {
            let request = request(*number);
            tasks.spawn(async move {
                let started = Instant::now();
                assert_eq!(request.send().await.unwrap().status().as_u16(), 202);
                started.elapsed().as_secs_f64()
            });
        }
        while let Some(latency) = tasks.join_next().await {
            ack.push(latency.unwrap());
        }
        peak_kib = peak_kib.max(rss_kib(pid));
    }
    while !heads[2..].iter().all(|h| done(h)) {
        peak_kib = peak_kib.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = burst_start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    Measured {
        backend,
        ack,
        cold,
        warm,
        jobs_per_second: jobs as f64 / elapsed,
        jobs: jobs as usize,
        idle_kib,
        peak_kib,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let jobs = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    // The service paces writes to one installation (1 s in production, GitHub's advice); this
    // measures the service itself unless asked for the pacing.
    let interval: u64 = args
        .iter()
        .position(|a| a == "--write-interval-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut results = vec![run("SQLite", None, jobs, interval).await];
    results.push(run("PostgreSQL", Some(common::postgres_schema("load").await.0), jobs, interval).await);
    println!(
        "| queue | webhook ack median / p99 | check run completed, cold / warm | jobs/s ({} jobs, 2 workers, writes {} ms apart) | RSS idle / peak |",
        jobs, interval
    );
    println!("|---|---|---|---|---|");
    for mut m in results {
        let (median, p99) = (percentile(&mut m.ack, 0.5), percentile(&mut m.ack, 0.99));
        println!(
            "| {} | {:.1} ms / {:.1} ms | {:.0} ms / {:.0} ms | {:.1} ({} in all) | {:.1} MiB / {:.1} MiB |",
            m.backend,
            median * 1000.0,
            p99 * 1000.0,
            m.cold * 1000.0,
            m.warm * 1000.0,
            m.jobs_per_second,
            m.jobs,
            m.idle_kib as f64 / 1024.0,
            m.peak_kib as f64 / 1024.0
        );
    }
}
