//! Soak and faults: the tests' stand-in GitHub on loopback answering 5% of calls with a 502
//! or a secondary rate limit, three `datasurface serve` replicas (release build) on
//! PostgreSQL, and a steady stream of signed deliveries for many pull requests (new heads,
//! bursts of `synchronize` on one pull request, redeliveries of the same delivery id) while
//! one replica is killed with SIGKILL and restarted every minute. At the end it waits for the
//! queue to drain and verifies: each pull request's latest head has exactly one completed
//! check run with the right conclusion; no older head was published after a newer one; no
//! comment was posted twice; no job is left queued or running. Exit 1 when any fails.
//!
//! `cargo bench --bench soak -- --minutes 10` (default 10; `--prs N` (100), `--heads N` (30 per
//! pull request), `--replicas N`,
//! `--fault-rate F`). Needs git and the PostgreSQL server of the test machine
//! (`DATASURFACE_TEST_POSTGRES` to point elsewhere). Not part of `cargo test`.

mod common;
#[path = "../tests/fake_github.rs"]
#[allow(dead_code)]
mod fake_github;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy, git, payload, percentile, rss_kib};
use fake_github::{APP_ID, FakeGitHub};

const SECRET: &str = "soak-secret";
const MARKER: &str = "<!-- datasurface-report -->";

/// A head of pull request `pr`, number `k` of its heads: odd ones drop the consumed column
/// `email` (a failure), even ones add a nullable column (a success).
struct Head {
    sha: String,
    fails: bool,
}

/// The example model at `main`, and `heads` heads for each of `prs` pull requests.
fn origin(dir: &Path, prs: u64, heads: u64) -> (String, Vec<Vec<Head>>) {
    git(dir, &["init", "-q", "-b", "main"]);
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/acme"), dir);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    let file = dir.join("zones/usa/teams/northwind/customers.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let mut all = Vec::new();
    for pr in 1..=prs {
        let mut list = Vec::new();
        for k in 0..heads {
            git(dir, &["checkout", "-q", "--detach", &base]);
            let fails = k % 2 == 1;
            let mut text = original.replace(
                "        - {name: segment,",
                &format!("        - {{name: extra_{pr}_{k}, type: string, classifications: [PUB]}}\n        - {{name: segment,"),
            );
            if fails {
                text = text.replace("        - {name: email, type: varchar(320), classifications: [PC3]}\n", "");
            }
            std::fs::write(&file, text).unwrap();
            git(dir, &["commit", "-q", "-am", &format!("#{pr}.{k}")]);
            list.push(Head { sha: git(dir, &["rev-parse", "HEAD"]), fails });
        }
        all.push(list);
    }
    git(dir, &["checkout", "-q", "main"]);
    (base, all)
}

struct Replica {
    child: Option<Child>,
    port: u16,
    work: tempfile::TempDir,
    peak_kib: u64,
    restarts: u32,
}

impl Replica {
    fn start(&mut self, github: &str, database: &str) {
        let child = Command::new(env!("CARGO_BIN_EXE_datasurface"))
            .arg("serve")
            .env("DATASURFACE_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("DATASURFACE_WORK_DIR", self.work.path())
            .env("DATASURFACE_DATABASE_URL", database)
            .env("DATASURFACE_WORKERS", "2")
            .env("DATASURFACE_LEASE_SECONDS", "10")
            .env("DATASURFACE_LEADER_CHECK_SECONDS", "5")
            .env("DATASURFACE_WRITE_INTERVAL_MS", "50")
            .env("DATASURFACE_GITHUB_APP_ID", APP_ID.to_string())
            .env(
                "DATASURFACE_GITHUB_PRIVATE_KEY_FILE",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-app-key.pem"),
            )
            .env("DATASURFACE_GITHUB_WEBHOOK_SECRET", SECRET)
            .env("DATASURFACE_GITHUB_API_URL", github)
            .env("DATASURFACE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.peak_kib = self.peak_kib.max(rss_kib(child.id()));
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn sample(&mut self) {
        if let Some(child) = &self.child {
            self.peak_kib = self.peak_kib.max(rss_kib(child.id()));
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let minutes: f64 = arg(&args, "--minutes", 10.0);
    let prs: u64 = arg(&args, "--prs", 100);
    let replicas_n: usize = arg(&args, "--replicas", 3);
    let fault_rate: f64 = arg(&args, "--fault-rate", 0.05);
    let heads_per_pr: u64 = arg(&args, "--heads", 30);
    datasurface::forge::install_tls();

    let repo = tempfile::tempdir().unwrap();
    let made = Instant::now();
    let (base, heads) = origin(repo.path(), prs, heads_per_pr);
    println!("origin: {} pull requests × {heads_per_pr} heads in {:.1} s", prs, made.elapsed().as_secs_f64());
    let url = format!("file://{}", repo.path().display());
    let github = FakeGitHub::start().await;
    github.with(|s| s.fault_rate = fault_rate);
    let (database, db, schema) = common::postgres_schema("soak").await;
    let mut replicas: Vec<Replica> = (0..replicas_n)
        .map(|_| Replica {
            child: None,
            port: std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
            work: tempfile::tempdir().unwrap(),
            peak_kib: 0,
            restarts: 0,
        })
        .collect();
    for replica in &mut replicas {
        replica.start(&github.url(), &database);
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    for replica in &replicas {
        while client.get(format!("http://127.0.0.1:{}/healthz", replica.port)).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // The stream: about five deliveries a second to a random live replica.
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut sent_head: Vec<usize> = vec![0; prs as usize]; // heads sent so far, per PR
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut acks: Vec<f64> = Vec::new();
    let (mut deliveries, mut redeliveries, mut refused) = (0u64, 0u64, 0u64);
    let mut last_delivery: Option<(String, Vec<u8>)> = None;
    let started = Instant::now();
    let mut last_kill = Instant::now();
    let mut victim = 0;
    let duration = Duration::from_secs_f64(minutes * 60.0);
    while started.elapsed() < duration {
        if last_kill.elapsed() >= Duration::from_secs(60) {
            let r = &mut replicas[victim % replicas_n];
            r.kill();
            r.start(&github.url(), &database);
            r.restarts += 1;
            victim += 1;
            last_kill = Instant::now();
        }
        let live: Vec<u16> = replicas.iter().filter(|r| r.child.is_some()).map(|r| r.port).collect();
        let port = live[(next() as usize) % live.len()];
        let roll = next() % 100;
        let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
        if roll < 8 && last_delivery.is_some() {
            // A redelivery: the same id and body again.
            batch.push(last_delivery.clone().unwrap());
            redeliveries += 1;
        } else {
            let pr = (next() % prs) as usize;
            // Sometimes a burst of synchronize on one pull request.
            let burst = if roll < 15 { 4 } else { 1 };
            for _ in 0..burst {
                if sent_head[pr] >= heads_per_pr as usize {
                    break;
                }
                let k = sent_head[pr];
                let head = &heads[pr][k].sha;
                let action = if k == 0 { "opened" } else { "synchronize" };
                let id = format!("soak-{}-{k}", pr + 1);
                batch.push((id, payload(action, pr as u64 + 1, &url, &base, head)));
                sent_head[pr] += 1;
                sent_at.entry(head.clone()).or_insert_with(Instant::now);
            }
        }
        let send = |port: u16, id: &str, body: &[u8]| {
            let signature = datasurface::service::webhook::github_signature(SECRET, body);
            client
                .post(format!("http://127.0.0.1:{port}/webhooks/github"))
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", id)
                .header("x-hub-signature-256", signature)
                .body(body.to_vec())
                .send()
        };
        for (id, body) in batch {
            let t = Instant::now();
            let answer = send(port, &id, &body).await;
            match answer {
                Ok(response) if response.status().is_success() => {
                    acks.push(t.elapsed().as_secs_f64());
                    deliveries += 1;
                }
                // A replica killed between choosing it and sending: GitHub would redeliver
                // (the sweeper asks it to); the soak sends it again elsewhere.
                _ => {
                    refused += 1;
                    let other = live.iter().copied().find(|p| *p != port).unwrap_or(port);
                    let _ = send(other, &id, &body).await;
                }
            }
            last_delivery = Some((id, body));
        }
        for replica in &mut replicas {
            replica.sample();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("stream done after {:.0} s; draining", started.elapsed().as_secs_f64());

    // Drain: no job queued or running, and every latest head completed.
    let drain_deadline = Instant::now() + Duration::from_secs(600);
    let active = || async {
        db.query_one(&format!("SELECT count(*) FROM {schema}.jobs WHERE state IN ('queued', 'running')"), &[])
            .await
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(-1)
    };
    loop {
        for replica in &mut replicas {
            replica.sample();
        }
        let left = active().await;
        if left == 0 {
            break;
        }
        if Instant::now() > drain_deadline {
            println!("drain timed out with {left} jobs active");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for replica in &mut replicas {
        replica.kill();
    }

    // Verify.
    let mut failures: Vec<String> = Vec::new();
    let (runs, comments, faults) = github.with(|s| (s.check_runs.clone(), s.comments.clone(), s.faults));
    let mut latencies = Vec::new();
    let mut lost = 0;
    let mut duplicates = 0;
    let head_index: HashMap<&str, (usize, usize)> = heads
        .iter()
        .enumerate()
        .flat_map(|(pr, list)| list.iter().enumerate().map(move |(k, h)| (h.sha.as_str(), (pr, k))))
        .collect();
    for (pr, list) in heads.iter().enumerate() {
        if sent_head[pr] == 0 {
            continue;
        }
        let latest = &list[sent_head[pr] - 1];
        let done: Vec<_> = runs.values().filter(|r| r.head_sha == latest.sha && r.status() == "completed").collect();
        let decided: Vec<_> =
            done.iter().filter(|r| matches!(r.conclusion().as_deref(), Some("success" | "failure"))).collect();
        match decided.len() {
            0 => {
                lost += 1;
                failures.push(format!("#{}: the latest head has no completed check run", pr + 1));
            }
            1 => {
                let want = if latest.fails { "failure" } else { "success" };
                if decided[0].conclusion().as_deref() != Some(want) {
                    failures.push(format!(
                        "#{}: the latest head concluded {:?}, not {want}",
                        pr + 1,
                        decided[0].conclusion()
                    ));
                }
            }
            n => {
                duplicates += n - 1;
                failures.push(format!("#{}: the latest head has {n} decided check runs", pr + 1));
            }
        }
        // No older head published after a newer one: decided runs in write order have
        // non-decreasing head numbers.
        let mut decided_runs: Vec<_> = runs
            .values()
            .filter(|r| head_index.get(r.head_sha.as_str()).is_some_and(|(p, _)| *p == pr))
            .filter(|r| matches!(r.conclusion().as_deref(), Some("success" | "failure")))
            .collect();
        decided_runs.sort_by_key(|r| r.order);
        let order: Vec<usize> = decided_runs.iter().map(|r| head_index[r.head_sha.as_str()].1).collect();
        if order.windows(2).any(|w| w[1] < w[0]) {
            failures.push(format!("#{}: an older head was published after a newer one: {order:?}", pr + 1));
        }
        for run in &decided_runs {
            if let (Some(at), Some(sent)) = (run.completed_at, sent_at.get(&run.head_sha)) {
                latencies.push(at.saturating_duration_since(*sent).as_secs_f64());
            }
        }
        let mut by_head: BTreeMap<&str, usize> = BTreeMap::new();
        for run in &decided_runs {
            *by_head.entry(run.head_sha.as_str()).or_default() += 1;
        }
        duplicates += by_head.values().filter(|n| **n > 1).map(|n| n - 1).sum::<usize>();
        let sticky = comments.values().filter(|c| c.number == pr as u64 + 1 && c.body.starts_with(MARKER)).count();
        if sticky > 1 {
            duplicates += sticky - 1;
            failures.push(format!("#{}: {sticky} sticky comments", pr + 1));
        }
    }
    let left = active().await;
    if left != 0 {
        failures.push(format!("{left} jobs left queued or running"));
    }
    let jobs: i64 =
        db.query_one(&format!("SELECT count(*) FROM {schema}.jobs"), &[]).await.map(|r| r.get(0)).unwrap_or(0);
    let dead: i64 = db
        .query_one(&format!("SELECT count(*) FROM {schema}.jobs WHERE state = 'dead'"), &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(0);
    let (ack50, ack99) = (percentile(&mut acks, 0.5), percentile(&mut acks, 0.99));
    let (lat50, lat99) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99));
    println!("| figure | value |\n|---|---|");
    println!(
        "| duration | {:.1} min, {replicas_n} replicas on PostgreSQL, one SIGKILLed and restarted every minute |",
        minutes
    );
    println!(
        "| deliveries acknowledged | {deliveries} ({redeliveries} redeliveries; {refused} sent to a replica being killed, sent again) |"
    );
    println!("| API calls answered 502 or 403 secondary limit | {faults} ({:.0}%) |", fault_rate * 100.0);
    println!("| jobs | {jobs} ({dead} dead) |");
    println!("| check runs created | {} |", runs.len());
    println!("| jobs lost (latest head without a decided run) | {lost} |");
    println!("| duplicates posted (second decided run of a head, second sticky comment) | {duplicates} |");
    println!("| webhook acknowledgement p50 / p99 | {:.1} ms / {:.1} ms |", ack50 * 1000.0, ack99 * 1000.0);
    println!("| webhook to published p50 / p99 | {:.2} s / {:.2} s |", lat50, lat99);
    for (i, r) in replicas.iter().enumerate() {
        println!("| replica {i} peak RSS | {:.1} MiB ({} restarts) |", r.peak_kib as f64 / 1024.0, r.restarts);
    }
    if failures.is_empty() {
        println!("verification: every check holds");
    } else {
        println!("verification FAILED:\n  {}", failures.join("\n  "));
        std::process::exit(1);
    }
}
