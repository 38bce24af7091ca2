//! `datasurface serve` in production: the leader's duties on one replica and their hand-over,
//! the redelivery sweeper, reconciliation and `serve resync`, the rate-limit budget, paced
//! writes, `allowed_owners`, roles, the SQLite single-process lock, `/metrics` in the
//! Prometheus text format, and the Docker image's entrypoint and health check.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_github::{FakeGitHub, eventually};
use crate::service::{Origin, REPO, Serve, completed, drop_email, pull_payload};
use crate::support::repo_root;

/// The value of an unlabelled sample (`datasurface_leader 1`) in a metrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn leader(serve: &Serve) -> Option<f64> {
    sample(&serve.get("/metrics").await.1, "datasurface_leader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_lock_moves_to_another_replica_when_the_leader_dies() {
    let github = FakeGitHub::start().await;
    let database = crate::queue::postgres_url().await;
    let fast = [("DATASURFACE_LEADER_CHECK_SECONDS", "1")];
    let mut a = Serve::start(&github, Some(&database), &fast).await;
    let b = Serve::start(&github, Some(&database), &fast).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (la, lb) = (leader(&a).await, leader(&b).await);
        if la == Some(1.0) && lb == Some(0.0) {
            break;
        }
        assert!(la != Some(1.0) || lb != Some(1.0), "never two leaders");
        assert!(Instant::now() < deadline, "a leads: {la:?} {lb:?}\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // a dies (its database session with it): b takes over within seconds, not a minute.
    let killed = Instant::now();
    a.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader(&b).await != Some(1.0) {
        assert!(Instant::now() < deadline, "b never took over:\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(killed.elapsed() < Duration::from_secs(60));
    assert!(b.log().contains("this replica leads"), "{}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_asks_for_exactly_the_failed_deliveries_never_recorded() {
    let github = FakeGitHub::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let at = |seconds_ago: u64| datasurface::service::publish::timestamp((now - seconds_ago) as i64 * 1000);
    let delivery = |id: u64, guid: &str, status: u64, ago: u64| {
        json!({"id": id, "guid": guid, "status_code": status, "status": if status == 200 { "OK" } else { "failed" },
               "delivered_at": at(ago), "redelivery": false, "event": "pull_request", "action": "opened"})
    };
    github.with(|s| {
        s.hook_deliveries = vec![
            delivery(7, "guid-lost", 502, 60),     // failed, never recorded: redeliver
            delivery(6, "guid-recorded", 0, 120),  // timed out at GitHub, but we recorded it
            delivery(5, "guid-ok", 200, 180),      // delivered
            delivery(4, "guid-retried", 200, 200), // a later attempt succeeded
            delivery(3, "guid-retried", 503, 240),
            delivery(2, "guid-old", 502, 3 * 86_400), // too old to matter
            delivery(1, "guid-lost-too", 500, 300),   // failed, never recorded: redeliver
        ];
    });
    // The service records guid-recorded before the sweeper runs (it is a ping: nothing to do).
    let mut first = Serve::start(&github, None, &[("DATASURFACE_SWEEP_MINUTES", "0")]).await;
    let ping: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("tests/data/github/ping.json")).unwrap())
            .unwrap();
    assert_eq!(first.webhook("ping", "guid-recorded", &ping).await.0, 200);
    let work = first.work.clone();
    // Stopped, its work dir (and database) kept for the next start.
    first.kill();
    let env = [("DATASURFACE_SWEEP_MINUTES", "60"), ("DATASURFACE_WORK_DIR", work.to_str().unwrap())];
    let serve = Serve::start(&github, None, &env).await;
    eventually(20, "the sweep", || github.with(|s| s.redelivered.len() >= 2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut asked = github.with(|s| s.redelivered.clone());
    asked.sort();
    assert_eq!(asked, vec![1, 7], "{}", serve.log());
    let metrics = serve.get("/metrics").await.1;
    assert!(metrics.contains("datasurface_duties_total{outcome=\"sweeper_redelivered\"} 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_checks_only_heads_without_our_check_run_and_resync_forces_one() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let checked =
        origin.head(21, None, |p| std::fs::write(p.join("zones/usa/teams/northwind/notes.md"), "x\n").unwrap());
    let missed = origin.head(22, None, drop_email);
    github.with(|s| {
        s.repositories =
            vec![(REPO.into(), "2099-01-01T00:00:00Z".into()), ("acme/stale".into(), "2001-01-01T00:00:00Z".into())];
        for (number, head) in [(21, &checked), (22, &missed)] {
            s.pulls.insert(
                (REPO.into(), number),
                pull_payload("opened", number, &origin, head, "bob")["pull_request"].clone(),
            );
        }
    });
    // A first service checks #21 only (its webhook arrived); #22's webhook was lost.
    let serve = Serve::start(&github, None, &[("DATASURFACE_RECONCILE_MINUTES", "0")]).await;
    assert_eq!(
        serve.webhook("pull_request", "d-21", &pull_payload("opened", 21, &origin, &checked, "bob")).await.0,
        202
    );
    eventually(30, "#21's check run", || !completed(&github, &checked).is_empty()).await;
    let work = serve.work.clone();
    let mut first = serve;
    first.kill();
    // The next start reconciles: #22 gets its check, #21 keeps its one run.
    let env = [("DATASURFACE_RECONCILE_MINUTES", "60"), ("DATASURFACE_WORK_DIR", work.to_str().unwrap())];
    let serve = Serve::start(&github, None, &env).await;
    eventually(30, "#22's check run", || !completed(&github, &missed).is_empty()).await;
    assert_eq!(completed(&github, &missed)[0].conclusion().as_deref(), Some("failure"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(github.runs_of(&checked).len(), 1, "a head with our run is not checked again");
    assert!(serve.get("/metrics").await.1.contains("datasurface_duties_total{outcome=\"reconciled\"} 1"));

    // `serve resync` queues a check whatever the runs say; the running service takes it.
    let output = Command::new(env!("CARGO_BIN_EXE_datasurface"))
        .args(["serve", "resync", "--repo", REPO, "--pr", "21"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATASURFACE_WORK_DIR", &work)
        .env("DATASURFACE_GITHUB_APP_ID", crate::fake_github::APP_ID.to_string())
        .env("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", repo_root().join("tests/data/test-app-key.pem"))
        .env("DATASURFACE_GITHUB_WEBHOOK_SECRET", crate::service::SECRET)
        .env("DATASURFACE_GITHUB_API_URL", github.url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("queued 1 check of acme/model"));
    eventually(30, "the resynced run", || completed(&github, &checked).len() == 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_rate_limit_budget_delays_jobs_instead_of_failing_them() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let first = origin.head(31, None, drop_email);
    let second = origin.head(32, None, drop_email);
    let serve = Serve::start(&github, None, &[("DATASURFACE_WORKERS", "1")]).await;
    // GitHub says 10 calls are left until a reset 4 s from now.
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 4;
    github.with(|s| s.rate_limit = Some((10, reset)));
    assert_eq!(serve.webhook("pull_request", "d-31", &pull_payload("opened", 31, &origin, &first, "bob")).await.0, 202);
    eventually(30, "the first check", || !completed(&github, &first).is_empty()).await;
    assert_eq!(
        serve.webhook("pull_request", "d-32", &pull_payload("opened", 32, &origin, &second, "bob")).await.0,
        202
    );
    eventually(30, "the second check", || !completed(&github, &second).is_empty()).await;
    let done = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(done >= reset, "the second check waited for the reset ({done} < {reset})");
    assert_eq!(completed(&github, &second)[0].conclusion().as_deref(), Some("failure"), "checked, not failed");
    assert!(serve.log().contains("the rate-limit budget is spent"), "{}", serve.log());
    let metrics = serve.get("/metrics").await.1;
    assert!(metrics.contains("datasurface_rate_limit_remaining{forge=\"github\",installation=\"77\"} 10"), "{metrics}");
    assert!(metrics.contains("datasurface_jobs_total{outcome=\"failed\"} 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_an_installation_are_paced() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(41, None, drop_email);
    let serve = Serve::start(&github, None, &[("DATASURFACE_WRITE_INTERVAL_MS", "400")]).await;
    assert_eq!(serve.webhook("pull_request", "d-41", &pull_payload("opened", 41, &origin, &head, "bob")).await.0, 202);
    eventually(30, "the check run and the comment", || github.comments_of(41).len() == 1).await;
    let writes = github.with(|s| s.writes_at.clone());
    assert!(writes.len() >= 3, "{writes:?}");
    for pair in writes.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(380), "writes {:?} apart", pair[1] - pair[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installations_of_other_owners_get_one_neutral_check_run_saying_so() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(51, None, drop_email);
    let serve = Serve::start(&github, None, &[("DATASURFACE_GITHUB_ALLOWED_OWNERS", "octo, other-org")]).await;
    for delivery in ["d-51-a", "d-51-b"] {
        let payload = pull_payload("opened", 51, &origin, &head, "bob");
        assert_eq!(serve.webhook("pull_request", delivery, &payload).await.0, 202);
    }
    eventually(30, "the refusal", || !completed(&github, &head).is_empty()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let runs = completed(&github, &head);
    assert_eq!(runs.len(), 1, "said once");
    assert_eq!(runs[0].conclusion().as_deref(), Some("neutral"));
    let summary = runs[0].field("output").unwrap()["summary"].as_str().unwrap().to_string();
    assert!(summary.contains("serves only the installations of octo, other-org"), "{summary}");
    assert!(github.comments_of(51).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_split_webhooks_from_jobs_and_sqlite_serves_one_process() {
    let github = FakeGitHub::start().await;
    // SQLite: web or worker alone is refused (one process does everything)...
    let output = Command::new(env!("CARGO_BIN_EXE_datasurface"))
        .args(["serve", "--role", "web", "--check-config"])
        .env_clear()
        .env("DATASURFACE_GITHUB_APP_ID", "1")
        .env("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", repo_root().join("tests/data/test-app-key.pem"))
        .env("DATASURFACE_GITHUB_WEBHOOK_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("role: `web` needs PostgreSQL"));
    // ... and a second process on the same SQLite file is refused, naming the first.
    let first = Serve::start(&github, None, &[]).await;
    let work = first.work.to_str().unwrap().to_string();
    let second = Command::new(env!("CARGO_BIN_EXE_datasurface"))
        .arg("serve")
        .env_clear()
        .env("DATASURFACE_LISTEN", "127.0.0.1:0")
        .env("DATASURFACE_WORK_DIR", &work)
        .env("DATASURFACE_GITHUB_APP_ID", "1")
        .env("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", repo_root().join("tests/data/test-app-key.pem"))
        .env("DATASURFACE_GITHUB_WEBHOOK_SECRET", "s")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_ne!(second.status.code(), Some(0));
    assert!(
        stderr.contains("another `datasurface serve` (pid") && stderr.contains("SQLite serves one process"),
        "{stderr}"
    );
    drop(first);

    // PostgreSQL: a web replica queues, a worker replica runs; neither does the other's part.
    let database = crate::queue::postgres_url().await;
    let origin = Origin::new();
    let head = origin.head(61, None, drop_email);
    let web = Serve::start(&github, Some(&database), &[("DATASURFACE_ROLE", "web")]).await;
    assert_eq!(web.webhook("pull_request", "d-61", &pull_payload("opened", 61, &origin, &head, "bob")).await.0, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(github.runs_of(&head).is_empty(), "a web replica runs no job");
    let worker = Serve::start(&github, Some(&database), &[("DATASURFACE_ROLE", "worker")]).await;
    eventually(30, "the worker's check run", || !completed(&github, &head).is_empty()).await;
    let payload = serde_json::to_vec(&json!({"zen": "x"})).unwrap();
    assert_eq!(worker.post_webhook("ping", "p", payload, None).await.0, 404, "a worker takes no webhooks");
    assert_eq!(worker.get("/healthz").await.0, 200);
    assert_eq!(leader(&web).await, Some(0.0), "a web replica never leads");
}

/// Checks `text` against the Prometheus text exposition format (0.0.4): `# HELP` and
/// `# TYPE` lines, sample lines `name{label="value",...} number`, names and labels well
/// formed, each metric family typed once before its samples and not split, histograms with
/// ordered `le` buckets ending in `+Inf`, `_sum` and `_count`. Answers the samples.
type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

fn parse_prometheus(text: &str) -> Result<Samples, String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if name_ok(name) => {}
                (Some("TYPE"), Some(name), Some(kind)) if name_ok(name) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(at("a second TYPE"));
                    }
                }
                _ => return Err(at("a malformed comment")),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| at("a value that is not a number"))?,
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').ok_or_else(|| at("unclosed labels"))?;
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    if !name_ok(&key) || chars.next() != Some('"') {
                        return Err(at("a malformed label"));
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some('n') => value.push('\n'),
                                Some(c @ ('\\' | '"')) => value.push(c),
                                _ => return Err(at("a bad escape")),
                            },
                            Some('"') => break,
                            Some(c) => value.push(c),
                            None => return Err(at("an unterminated label value")),
                        }
                    }
                    labels.insert(key, value);
                    match chars.next() {
                        Some(',') | None => {}
                        _ => return Err(at("labels not separated by commas")),
                    }
                }
                (name, labels)
            }
        };
        if !name_ok(name) {
            return Err(at("a bad metric name"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
            .unwrap_or(name)
            .to_string();
        if !types.contains_key(&family) {
            return Err(at("a sample before its TYPE"));
        }
        if current.as_deref() != Some(&family) {
            if finished.contains(&family) {
                return Err(at("a family split in two"));
            }
            if let Some(previous) = current.replace(family.clone()) {
                finished.push(previous);
            }
        }
        samples.push((name.to_string(), labels, value));
    }
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|(n, _, _)| *n == format!("{family}_bucket"))
            .map(|(_, l, v)| {
                let le = l
                    .get("le")
                    .map_or(f64::NAN, |s| if s == "+Inf" { f64::INFINITY } else { s.parse().unwrap_or(f64::NAN) });
                (le, *v)
            })
            .collect();
        let ordered = buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        if buckets.last().map(|b| b.0) != Some(f64::INFINITY) || !ordered {
            return Err(format!("{family}: buckets not ordered or without +Inf"));
        }
        for suffix in ["_sum", "_count"] {
            if !samples.iter().any(|(n, _, _)| *n == format!("{family}{suffix}")) {
                return Err(format!("{family}: no {suffix}"));
            }
        }
    }
    Ok(samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_prometheus_text_with_the_contract_names() {
    let github = FakeGitHub::start().await;
    let origin = Origin::new();
    let head = origin.head(71, None, drop_email);
    let serve = Serve::start(&github, None, &[]).await;
    assert_eq!(
        serve.webhook("pull_request", "d-71", &pull_payload("opened", 71, &origin, &head, "bob\"quote")).await.0,
        202
    );
    let _ = serve.post_webhook("pull_request", "d-bad", b"{}".to_vec(), Some("sha256=00".into())).await;
    eventually(30, "the check run", || !completed(&github, &head).is_empty()).await;
    let (status, text, headers) = serve.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let find = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, _, v)| *v)
    };
    assert_eq!(
        find("datasurface_webhooks_total", &[("forge", "github"), ("event", "pull_request"), ("outcome", "queued")]),
        Some(1.0)
    );
    assert_eq!(find("datasurface_webhooks_total", &[("outcome", "unauthorized")]), Some(1.0));
    assert_eq!(find("datasurface_jobs", &[("state", "queued")]), Some(0.0));
    assert!(find("datasurface_jobs", &[("state", "running")]).is_some());
    assert_eq!(find("datasurface_jobs_total", &[("outcome", "succeeded")]), Some(1.0));
    assert_eq!(find("datasurface_job_seconds_count", &[]), Some(1.0));
    assert!(find("datasurface_forge_requests_total", &[("forge", "github"), ("status", "201")]).is_some());
    assert_eq!(find("datasurface_leader", &[]), Some(1.0));
    // The parser itself refuses what Prometheus would.
    assert!(parse_prometheus("x 1\n").is_err(), "untyped sample");
    assert!(parse_prometheus("# TYPE x counter\nx{a=\"b} 1\n").is_err());
    assert!(parse_prometheus("# TYPE x counter\nx 1\n# TYPE y gauge\ny 2\nx 3\n").is_err());
}

/// The Dockerfile's `ENTRYPOINT`/`CMD` and `HEALTHCHECK`, run as the image would run them
/// (no Docker engine on these machines): the same command line against this build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_entrypoint_starts_and_its_health_check_passes() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let json_array = |prefix: &str| -> Vec<String> {
        let line =
            dockerfile.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix} in Dockerfile"));
        serde_json::from_str(line[prefix.len()..].trim()).unwrap()
    };
    let entrypoint = json_array("ENTRYPOINT ");
    let cmd = json_array("CMD ");
    assert_eq!(entrypoint[0], "/usr/local/bin/datasurface");
    assert!(dockerfile.lines().any(|l| l.starts_with("USER ") && !l.contains("root")), "a non-root user");
    assert!(dockerfile.contains("ca-certificates"), "CA certificates for HTTPS");
    let health = dockerfile.lines().find(|l| l.starts_with("HEALTHCHECK")).unwrap();
    let probe: Vec<String> = serde_json::from_str(health.split_once("CMD ").unwrap().1.trim()).unwrap();
    assert_eq!(probe[0], "/usr/local/bin/datasurface");
    let env: Vec<(String, String)> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect();

    let github = FakeGitHub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let exe = env!("CARGO_BIN_EXE_datasurface");
    let mut command = Command::new(exe);
    command.args(&entrypoint[1..]).args(&cmd).env_clear();
    for (key, value) in &env {
        command.env(key, value);
    }
    // What an operator passes at `docker run`: the address, the volume and the App.
    command
        .env("DATASURFACE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATASURFACE_WORK_DIR", dir.path())
        .env("DATASURFACE_GITHUB_APP_ID", crate::fake_github::APP_ID.to_string())
        .env("DATASURFACE_GITHUB_PRIVATE_KEY_FILE", repo_root().join("tests/data/test-app-key.pem"))
        .env("DATASURFACE_GITHUB_WEBHOOK_SECRET", "s")
        .env("DATASURFACE_GITHUB_API_URL", github.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    let probe_run = || {
        Command::new(exe)
            .args(&probe[1..])
            .env_clear()
            .env("DATASURFACE_LISTEN", format!("127.0.0.1:{port}"))
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = probe_run();
        if output.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the health check never passed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let output = probe_run();
    assert!(!output.status.success(), "the health check fails once the service is gone");
}
