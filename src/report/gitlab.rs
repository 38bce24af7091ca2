//! `--format gitlab`: a GitLab Code Quality report (a JSON array of Code Climate issues).
//!
//! Written straight from the report, one issue at a time; fields are declared in alphabetical
//! order, the order of the output since the first version.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;

use serde::Serialize;

use super::Report;
use crate::problem::{Problem, Severity};

/// The Code Quality report, pretty-printed, with a final line break.
pub fn render(report: &Report) -> String {
    super::to_string(|out| write(report, out))
}

/// Writes the Code Quality report to `out`.
pub fn write(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    super::json::write_pretty(out, &Issues { report, seen: RefCell::default() })
}

struct Issues<'r> {
    report: &'r Report,
    /// How often each fingerprint was used so far: GitLab needs them unique within a report.
    seen: RefCell<HashMap<String, usize>>,
}

impl Serialize for Issues<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.report.problems.iter().map(|problem| self.issue(problem)))
    }
}

impl<'r> Issues<'r> {
    fn issue(&self, problem: &'r Problem) -> Issue<'r> {
        let base = problem.fingerprint();
        let mut seen = self.seen.borrow_mut();
        let count = seen.entry(base.clone()).or_default();
        *count += 1;
        let fingerprint = if *count == 1 { base } else { format!("{base}-{count}") };
        let (path, line) = match &problem.location {
            Some(location) => (location.file.to_string(), location.pos.line),
            // GitLab needs a path: problems about the change as a whole go on the ecosystem.
            None => (self.report.root.location.as_ref().map_or("ecosystem.yaml".into(), |l| l.file.to_string()), 1),
        };
        let family = problem.rule.family();
        Issue {
            categories: [if family == "compat" || family == "authz" { "Compatibility" } else { "Bug Risk" }],
            check_name: problem.rule.id(),
            content: Body { body: problem.help.as_deref().unwrap_or_default() },
            description: &problem.message,
            fingerprint,
            location: IssueLocation { lines: Lines { begin: line }, path },
            severity: match problem.severity {
                Severity::Error => "major",
                Severity::Warning => "minor",
                Severity::Info => "info",
            },
            kind: "issue",
        }
    }
}

#[derive(Serialize)]
struct Issue<'r> {
    categories: [&'static str; 1],
    check_name: &'static str,
    content: Body<'r>,
    description: &'r str,
    fingerprint: String,
    location: IssueLocation,
    severity: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Body<'r> {
    body: &'r str,
}

#[derive(Serialize)]
struct IssueLocation {
    lines: Lines,
    path: String,
}

#[derive(Serialize)]
struct Lines {
    begin: u32,
}
