//! What the service benches share: git on the command line, copying the example model, a
//! signed-able `pull_request` payload, memory and percentiles, and a fresh PostgreSQL schema.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::fake_github::INSTALLATION;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

pub fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A real `pull_request` payload for `acme/model#number` at `head`, by bob from
/// `acme/northwind` (the producer team's repository, so every change is authorized).
pub fn payload(action: &str, number: u64, url: &str, base: &str, head: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/github/pull_request.opened.json"),
    )
    .unwrap();
    let mut p: Value = serde_json::from_str(&text).unwrap();
    p["action"] = action.into();
    p["number"] = number.into();
    p["installation"] = json!({"id": INSTALLATION});
    p["repository"]["full_name"] = "acme/model".into();
    let pr = &mut p["pull_request"];
    pr["number"] = number.into();
    pr["user"]["login"] = "bob".into();
    pr["head"]["sha"] = head.into();
    pr["head"]["ref"] = format!("change-{number}").into();
    pr["head"]["repo"]["full_name"] = "acme/northwind".into();
    pr["head"]["repo"]["clone_url"] = url.into();
    pr["base"]["sha"] = base.into();
    pr["base"]["ref"] = "main".into();
    pr["base"]["repo"]["full_name"] = "acme/model".into();
    pr["base"]["repo"]["clone_url"] = url.into();
    serde_json::to_vec(&p).unwrap()
}

/// A process's resident memory, in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if values.is_empty() {
        return 0.0;
    }
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// A fresh schema `<name>_<pid>` on the test server: its URL, a client, and the schema.
pub async fn postgres_schema(name: &str) -> (String, tokio_postgres::Client, String) {
    let base =
        std::env::var("DATASURFACE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, connection) =
        tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("PostgreSQL at 127.0.0.1:5432");
    tokio::spawn(connection);
    let schema = format!("{name}_{}", std::process::id());
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    (format!("{base}?options=-csearch_path%3D{schema}"), client, schema)
}
