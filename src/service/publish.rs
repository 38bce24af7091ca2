//! What the bot posts for a report (SERVICE.md §3), built as plain data: the check run's
//! title, summary and annotations (50 per request, errors first), and the sticky comment.

use serde_json::{Value, json};

use crate::problem::{Revision, Severity};
use crate::report::markdown;
use crate::verdict::{Outcome, Report};

/// The name of the check run.
pub const CHECK_NAME: &str = "datasurface";
/// GitHub takes at most this many annotations per request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// GitHub's limit on `output.summary` and `output.text`, in characters.
pub const MAX_SUMMARY: usize = 65_535;

/// The one-line outcome for `output.title`.
pub fn title(report: &Report) -> String {
    match report.outcome() {
        Outcome::Pass if report.problems.is_empty() => "passed: no problems".into(),
        Outcome::Pass => format!("passed: {}", report.counts_phrase()),
        Outcome::Fail => format!("failed: {}", report.counts_phrase()),
    }
}

/// `success` or `failure`.
pub fn conclusion(report: &Report) -> &'static str {
    match report.outcome() {
        Outcome::Pass => "success",
        Outcome::Fail => "failure",
    }
}

/// The Markdown report, with a link to the full page when there is one, cut to what a check
/// run summary and a comment hold.
pub fn markdown_report(report: &Report, full_report: Option<&str>) -> String {
    let mut text = markdown::render(report);
    if let Some(url) = full_report {
        text.push_str(&format!(
            "\n[Full report]({url}): every problem with its source line, and the impact as a graph.\n"
        ));
    }
    cut(text, MAX_SUMMARY)
}

/// `text` cut to at most `max` characters, saying so.
pub fn cut(mut text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let note = "\n\n… (cut to fit)\n";
    let keep: usize = text.char_indices().nth(max - note.chars().count()).map_or(text.len(), |(i, _)| i);
    text.truncate(keep);
    text.push_str(note);
    text
}

/// The annotations of the head's problems, errors first, then warnings, then notes.
pub fn annotations(report: &Report) -> Vec<Value> {
    let mut problems: Vec<_> =
        report.problems.iter().filter(|p| p.location.as_ref().is_some_and(|l| l.revision == Revision::Head)).collect();
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    problems
        .iter()
        .map(|problem| {
            let location = problem.location.as_ref().expect("filtered above");
            let level = match problem.severity {
                Severity::Error => "failure",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut message = crate::report::printable(&problem.message).into_owned();
            if let Some(help) = &problem.help {
                message.push_str("\n\nHelp: ");
                message.push_str(&crate::report::printable(help));
            }
            let line = location.pos.line.max(1);
            json!({
                "path": location.file.as_ref(),
                "start_line": line,
                "end_line": line,
                "start_column": location.pos.col.max(1),
                "end_column": location.pos.col.max(1),
                "annotation_level": level,
                "title": problem.rule.id(),
                "message": cut(message, 60_000),
            })
        })
        .collect()
}

/// The bodies of the requests that complete a check run: the first completes it with its
/// conclusion and the first 50 annotations; each further one adds 50 more (GitHub appends).
pub fn completion_requests(
    report: &Report,
    summary: &str,
    details_url: Option<&str>,
    completed_at: &str,
) -> Vec<Value> {
    let annotations = annotations(report);
    let title = title(report);
    let mut chunks: Vec<&[Value]> = annotations.chunks(ANNOTATIONS_PER_REQUEST).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    // The run is completed by the last request, so that nobody sees a completed run whose
    // annotations are still coming.
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut body = json!({
                "output": {"title": title, "summary": summary, "annotations": chunk},
            });
            if i == last {
                body["status"] = "completed".into();
                body["conclusion"] = conclusion(report).into();
                body["completed_at"] = completed_at.into();
                if let Some(url) = details_url {
                    body["details_url"] = url.into();
                }
            }
            body
        })
        .collect()
}

/// Now as an ISO 8601 UTC timestamp, as GitHub takes them.
pub fn timestamp(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1000);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pos;
    use crate::problem::{Location, ObjectKind, ObjectRef, Problem};
    use crate::rules::Rule;

    fn report(errors: usize, warnings: usize) -> Report {
        let file: std::sync::Arc<str> = "zones/z/teams/t/s.yaml".into();
        let mut problems = Vec::new();
        for i in 0..errors + warnings {
            let object = ObjectRef { kind: ObjectKind::Dataset, name: format!("s/d{i}"), location: None };
            let mut p = Problem::new(
                Rule::FieldUnknown,
                format!("p{i}"),
                Some(Location::head(&file, Pos::new(i as u32 + 1, 3))),
                vec![object],
            );
            p.severity = if i < warnings { Severity::Warning } else { Severity::Error };
            problems.push(p);
        }
        let errors_first = problems.iter().filter(|p| p.severity == Severity::Error).count();
        assert_eq!(errors_first, errors);
        let root = ObjectRef { kind: ObjectKind::Ecosystem, name: "e".into(), location: None };
        Report { command: "check", root, problems, files: 1, notes: vec![], check: None, fail_on: Severity::Error }
    }

    #[test]
    fn annotations_go_fifty_at_a_time_errors_first() {
        let report = report(100, 20);
        let requests =
            completion_requests(&report, "summary", Some("https://ds.example/reports/x"), "2026-12-01T00:00:00Z");
        let sizes: Vec<usize> = requests.iter().map(|r| r["output"]["annotations"].as_array().unwrap().len()).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        assert_eq!(requests[2]["conclusion"], "failure");
        assert_eq!(requests[2]["details_url"], "https://ds.example/reports/x");
        assert!(
            requests[0].get("conclusion").is_none() && requests[1].get("status").is_none(),
            "only the last completes the run, once every annotation is in"
        );
        let levels: Vec<&str> = requests
            .iter()
            .flat_map(|r| {
                r["output"]["annotations"].as_array().unwrap().iter().map(|a| a["annotation_level"].as_str().unwrap())
            })
            .collect();
        let first_warning = levels.iter().position(|l| *l == "warning").unwrap();
        assert!(levels[..first_warning].iter().all(|l| *l == "failure") && first_warning == 100, "errors first");
        assert_eq!(requests[2]["output"]["title"], "failed: 100 errors, 20 warnings");
        // A clean report completes in one request without annotations.
        let clean = completion_requests(&report_clean(), "s", None, "t");
        assert_eq!(clean.len(), 1);
        assert_eq!(clean[0]["conclusion"], "success");
        assert!(clean[0].get("details_url").is_none());
    }

    fn report_clean() -> Report {
        Report { problems: vec![], ..report(0, 0) }
    }

    #[test]
    fn summaries_fit_and_timestamps_read() {
        let long = "x".repeat(70_000);
        assert!(cut(long, MAX_SUMMARY).chars().count() <= MAX_SUMMARY);
        assert_eq!(cut("short".into(), 10), "short");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_796_158_800_000), "2026-12-01T21:00:00Z");
        assert_eq!(timestamp(951_868_801_000), "2000-03-01T00:00:01Z");
    }
}
