//! `--format gitlab`: a GitLab Code Quality report (a JSON array of Code Climate issues).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Report;
use crate::problem::Severity;

pub fn render(report: &Report) -> String {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let issues: Vec<Value> = report
        .problems
        .iter()
        .map(|problem| {
            // GitLab needs fingerprints unique within a report.
            let base = problem.fingerprint();
            let count = seen.entry(base.clone()).or_default();
            *count += 1;
            let fingerprint = if *count == 1 { base } else { format!("{base}-{count}") };
            let (path, line) = match &problem.location {
                Some(location) => (location.file.to_string(), location.pos.line),
                // GitLab needs a path: problems about the change as a whole go on the ecosystem.
                None => (report.root.location.as_ref().map_or("ecosystem.yaml".into(), |l| l.file.to_string()), 1),
            };
            json!({
                "type": "issue",
                "check_name": problem.rule.id(),
                "description": problem.message,
                "content": {"body": problem.help.clone().unwrap_or_default()},
                "categories": [if problem.rule.family() == "compat" || problem.rule.family() == "authz" { "Compatibility" } else { "Bug Risk" }],
                "fingerprint": fingerprint,
                "severity": match problem.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                    Severity::Info => "info",
                },
                "location": {"path": path, "lines": {"begin": line}},
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&issues).unwrap_or_default();
    text.push('\n');
    text
}
