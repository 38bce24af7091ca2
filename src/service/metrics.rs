//! The service's metrics in the Prometheus text format (SERVICE.md §6): counters kept in the
//! process, job counts read from the database at each scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the buckets of `datasurface_job_seconds`.
const BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

#[derive(Default)]
pub struct Metrics {
    webhooks: Mutex<BTreeMap<(String, String, String), u64>>,
    jobs: Mutex<BTreeMap<String, u64>>,
    forge_requests: Mutex<BTreeMap<(String, u16), u64>>,
    job_seconds: Mutex<Histogram>,
    /// Counts of the leader's duties (`sweeper_redelivered`, `reconciled`, ...).
    duties: Mutex<BTreeMap<String, u64>>,
    leader: std::sync::atomic::AtomicBool,
    /// Rate-limit budgets to show: (forge, installation or project, remaining), set at each
    /// scrape.
    budgets: Mutex<Vec<(String, u64, i64)>>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut map) = map.lock() {
        *map.entry(key).or_default() += 1;
    }
}

/// A label value with `\`, `"` and line breaks escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub fn webhook(&self, forge: &str, event: &str, outcome: &str) {
        bump(&self.webhooks, (forge.to_string(), event.to_string(), outcome.to_string()));
    }

    /// A finished job: `succeeded`, `failed` or `superseded`.
    pub fn job(&self, outcome: &str) {
        bump(&self.jobs, outcome.to_string());
    }

    pub fn forge_request(&self, forge: &str, status: u16) {
        bump(&self.forge_requests, (forge.to_string(), status));
    }

    /// Adds `n` to the count of a duty's outcome.
    pub fn duty(&self, name: &str, n: u64) {
        if let Ok(mut map) = self.duties.lock() {
            *map.entry(name.to_string()).or_default() += n;
        }
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.store(leading, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn set_budgets(&self, budgets: Vec<(String, u64, i64)>) {
        if let Ok(mut b) = self.budgets.lock() {
            *b = budgets;
        }
    }

    /// Seconds from the event's enqueue to its result's publication.
    pub fn job_seconds(&self, seconds: f64) {
        if let Ok(mut histogram) = self.job_seconds.lock() {
            for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
                if seconds <= *bound {
                    *count += 1;
                }
            }
            histogram.count += 1;
            histogram.sum += seconds;
        }
    }

    /// The text of `/metrics`, with the queue's `queued` and `running` counts.
    pub fn render(&self, queued: u64, running: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP datasurface_webhooks_total Webhook deliveries received, by forge, event and outcome."
        );
        let _ = writeln!(out, "# TYPE datasurface_webhooks_total counter");
        for ((forge, event, outcome), n) in self.webhooks.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "datasurface_webhooks_total{{forge=\"{}\",event=\"{}\",outcome=\"{}\"}} {n}",
                label(&forge),
                label(&event),
                label(&outcome)
            );
        }
        let _ = writeln!(out, "# HELP datasurface_jobs Jobs in the queue, by state.");
        let _ = writeln!(out, "# TYPE datasurface_jobs gauge");
        let _ = writeln!(out, "datasurface_jobs{{state=\"queued\"}} {queued}");
        let _ = writeln!(out, "datasurface_jobs{{state=\"running\"}} {running}");
        let _ = writeln!(out, "# HELP datasurface_jobs_total Jobs finished, by outcome.");
        let _ = writeln!(out, "# TYPE datasurface_jobs_total counter");
        let jobs = self.jobs.lock().map(|m| m.clone()).unwrap_or_default();
        for outcome in ["succeeded", "failed", "superseded"] {
            let _ = writeln!(
                out,
                "datasurface_jobs_total{{outcome=\"{outcome}\"}} {}",
                jobs.get(outcome).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(out, "# HELP datasurface_job_seconds Seconds from a check's enqueue to its published result.");
        let _ = writeln!(out, "# TYPE datasurface_job_seconds histogram");
        if let Ok(histogram) = self.job_seconds.lock() {
            for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
                let _ = writeln!(out, "datasurface_job_seconds_bucket{{le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "datasurface_job_seconds_bucket{{le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "datasurface_job_seconds_sum {}", histogram.sum);
            let _ = writeln!(out, "datasurface_job_seconds_count {}", histogram.count);
        }
        let _ = writeln!(
            out,
            "# HELP datasurface_forge_requests_total Requests to the forges' APIs, by forge and status (0: no answer)."
        );
        let _ = writeln!(out, "# TYPE datasurface_forge_requests_total counter");
        for ((forge, status), n) in self.forge_requests.lock().map(|m| m.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "datasurface_forge_requests_total{{forge=\"{}\",status=\"{status}\"}} {n}",
                label(&forge)
            );
        }
        let _ = writeln!(
            out,
            "# HELP datasurface_rate_limit_remaining Calls left of the primary rate limit, by forge and installation, as the last answer said."
        );
        let _ = writeln!(out, "# TYPE datasurface_rate_limit_remaining gauge");
        for (forge, scope, remaining) in self.budgets.lock().map(|b| b.clone()).unwrap_or_default() {
            let _ = writeln!(
                out,
                "datasurface_rate_limit_remaining{{forge=\"{}\",installation=\"{scope}\"}} {remaining}",
                label(&forge)
            );
        }
        let _ = writeln!(out, "# HELP datasurface_duties_total What the leader's duties did, by duty and outcome.");
        let _ = writeln!(out, "# TYPE datasurface_duties_total counter");
        let duties = self.duties.lock().map(|m| m.clone()).unwrap_or_default();
        for name in ["sweeper_failed_deliveries", "sweeper_redelivered", "reconciled"] {
            let _ = writeln!(
                out,
                "datasurface_duties_total{{outcome=\"{name}\"}} {}",
                duties.get(name).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(out, "# HELP datasurface_leader 1 while this replica runs the duties that must run once.");
        let _ = writeln!(out, "# TYPE datasurface_leader gauge");
        let _ =
            writeln!(out, "datasurface_leader {}", u8::from(self.leader.load(std::sync::atomic::Ordering::Relaxed)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_holds_every_family() {
        let metrics = Metrics::default();
        metrics.webhook("github", "pull_request", "queued");
        metrics.webhook("github", "pull_request", "queued");
        metrics.job("succeeded");
        metrics.job_seconds(0.3);
        metrics.job_seconds(42.0);
        metrics.forge_request("github", 201);
        let text = metrics.render(3, 1);
        assert!(
            text.contains("datasurface_webhooks_total{forge=\"github\",event=\"pull_request\",outcome=\"queued\"} 2")
        );
        assert!(text.contains("datasurface_jobs{state=\"queued\"} 3"));
        assert!(text.contains("datasurface_jobs_total{outcome=\"succeeded\"} 1"));
        assert!(text.contains("datasurface_job_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("datasurface_job_seconds_bucket{le=\"60\"} 2"));
        assert!(text.contains("datasurface_job_seconds_count 2"));
        assert!(text.contains("datasurface_forge_requests_total{forge=\"github\",status=\"201\"} 1"));
    }
}
