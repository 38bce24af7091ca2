//! `--format markdown`: a pull-request comment. A fixed marker first (so a bot can find and
//! update its own comment), a verdict line, counts, problems grouped by owner, what the change
//! does in plain words, the impact as a Mermaid graph, and the changed YAML collapsed.
//! The whole comment stays under `MAX_LEN` characters.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Outcome, Report};
use crate::problem::{Problem, Severity};

/// The marker a forge integration searches for to update its comment in place.
pub const MARKER: &str = "<!-- datasurface-report -->";
/// GitHub refuses comments over 65,536 characters; stay clearly below.
pub const MAX_LEN: usize = 60_000;
/// Room kept for the sections after the problems and the closing lines.
const RESERVE: usize = 12_000;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let verdict = match report.outcome() {
        Outcome::Pass => "✅ **datasurface: passed**",
        Outcome::Fail => "❌ **datasurface: failed**",
    };
    let _ = writeln!(out, "{verdict} — {}\n", report.counts_phrase());
    if let Some(check) = &report.check {
        let short =
            |c: &Option<String>| c.as_deref().map(|c| format!(" ({})", &c[..c.len().min(10)])).unwrap_or_default();
        let _ = writeln!(
            out,
            "Checked `{}`{} → `{}`{}; change source: {}.\n",
            escape(&check.base_rev),
            short(&check.base_commit),
            escape(&check.head_rev),
            short(&check.head_commit),
            escape(&check.source)
        );
    }
    let _ = writeln!(
        out,
        "| errors | warnings | notes | files |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
        report.files
    );
    problems(&mut out, report);
    if let Some(check) = &report.check {
        changes(&mut out, check);
        impact(&mut out, check);
        diffs(&mut out, check);
    }
    if out.len() > MAX_LEN {
        let mut cut = MAX_LEN - 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(
            "\n\n… (the rest of this report was cut to fit a comment; run datasurface locally for all of it)\n",
        );
    }
    out
}

/// Model text for a Markdown line or table cell, which others will read as rendered Markdown:
/// control and bidirectional characters escaped, `|` escaped for tables, and outside code
/// spans no HTML (`<`, `>`, `&` as entities) and no mentions (`@name` would notify a person or a
/// whole team: a zero-width space after the `@` keeps the text and drops the notification).
/// Inside code spans, where nothing is rendered or mentioned, the text stays as written.
pub fn escape(text: &str) -> String {
    let text = text.replace('\n', " ");
    let text = super::printable(&text);
    let mut out = String::with_capacity(text.len() + 16);
    for (segment, code) in code_spans(&text) {
        if code {
            out.push_str(&segment.replace('|', "\\|"));
            continue;
        }
        let mut chars = segment.chars().peekable();
        // A mention starts at `@` that follows no word character (`repo@branch` and e-mail
        // addresses mention nobody), as GitHub and GitLab read them.
        let mut after_word = out.chars().last().is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '@'));
        while let Some(c) = chars.next() {
            let word = c.is_alphanumeric() || matches!(c, '_' | '/' | '@');
            match c {
                '|' => out.push_str("\\|"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '@' if !after_word
                    && chars.peek().is_some_and(|n| n.is_ascii_alphanumeric() || matches!(n, '-' | '_')) =>
                {
                    out.push_str("@\u{200b}");
                }
                c => out.push(c),
            }
            after_word = word;
        }
    }
    out
}

/// Splits `text` into runs outside and inside code spans, as CommonMark reads them: a run of
/// N backticks opens a span that the next run of exactly N backticks closes; a run without
/// such a partner, or escaped by a backslash outside a span, is plain text.
fn code_spans(text: &str) -> Vec<(&str, bool)> {
    let bytes = text.as_bytes();
    let run_at = |i: usize| bytes[i..].iter().take_while(|b| **b == b'`').count();
    let mut out = Vec::new();
    let (mut plain_start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => {
                let n = run_at(i);
                let mut j = i + n;
                let close = loop {
                    match bytes[j.min(bytes.len())..].iter().position(|b| *b == b'`') {
                        None => break None,
                        Some(offset) => {
                            let at = j + offset;
                            let m = run_at(at);
                            if m == n {
                                break Some(at);
                            }
                            j = at + m;
                        }
                    }
                };
                match close {
                    Some(close) => {
                        out.push((&text[plain_start..i], false));
                        out.push((&text[i..close + n], true));
                        i = close + n;
                        plain_start = i;
                    }
                    None => i += n,
                }
            }
            _ => i += 1,
        }
    }
    out.push((&text[plain_start.min(text.len())..], false));
    out.retain(|(segment, _)| !segment.is_empty());
    out
}

/// Model text for a Mermaid label inside a code fence: one line, no quotes, no backticks
/// that could close the fence.
fn label(text: &str) -> String {
    super::printable(text).replace(['"', '`'], "'")
}

fn icon(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "🛑",
        Severity::Warning => "⚠️",
        Severity::Info => "ℹ️",
    }
}

fn problems(out: &mut String, report: &Report) {
    if report.problems.is_empty() {
        let _ = writeln!(out, "No problems found.\n");
        return;
    }
    let _ = writeln!(out, "### Problems\n");
    let mut by_owner: BTreeMap<String, Vec<&Problem>> = BTreeMap::new();
    for problem in &report.problems {
        by_owner.entry(problem.owner.clone().unwrap_or_else(|| "no owner".into())).or_default().push(problem);
    }
    let budget = MAX_LEN.saturating_sub(RESERVE);
    let mut shown = 0;
    'owners: for (owner, problems) in &by_owner {
        let _ = writeln!(out, "**Owner: {}**\n\n| | Rule | Where | Problem |\n|---|---|---|---|", escape(owner));
        for problem in problems {
            let location = problem.location.as_ref().map_or("—".into(), |l| {
                let base = if l.revision == crate::problem::Revision::Base { " (base)" } else { "" };
                format!("`{}:{}`{base}", escape(&l.file), l.pos.line)
            });
            let row = format!(
                "| {} | [`{}`]({}) | {location} | {} |\n",
                icon(problem.severity),
                problem.rule.id(),
                problem.rule.docs_url(),
                escape(&problem.message)
            );
            if out.len() + row.len() > budget {
                break 'owners;
            }
            out.push_str(&row);
            shown += 1;
        }
        out.push('\n');
    }
    let hidden = report.problems.len() - shown;
    if hidden > 0 {
        let _ = writeln!(
            out,
            "\n**{hidden} more problems not shown.** Run `datasurface check` locally, or use `--format json`, to see them all.\n"
        );
        // What the whole report holds, rule by rule, most frequent first.
        let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for problem in &report.problems {
            *by_rule.entry(problem.rule.id()).or_default() += 1;
        }
        let mut counts: Vec<(&str, usize)> = by_rule.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut line: Vec<String> = counts.iter().take(10).map(|(rule, n)| format!("`{rule}` {n}")).collect();
        if counts.len() > 10 {
            line.push(format!("and {} more rules", counts.len() - 10));
        }
        let _ = writeln!(out, "All problems by rule: {}.\n", line.join(" · "));
    }
}

fn changes(out: &mut String, check: &super::CheckSummary) {
    let _ = writeln!(out, "### What this change does\n");
    if check.changes.is_empty() {
        let _ = writeln!(out, "It changes no model object.\n");
        return;
    }
    let budget = MAX_LEN.saturating_sub(RESERVE / 2);
    for (index, change) in check.changes.iter().enumerate() {
        let mut line = format!("- **{}** {} ({})", escape(&change.object), change.verb, escape(&change.scope));
        if !change.details.is_empty() {
            line.push_str(": ");
            let details: Vec<String> = change.details.iter().take(8).map(|d| escape(d)).collect();
            line.push_str(&details.join("; "));
            if change.details.len() > 8 {
                line.push_str(&format!("; and {} more", change.details.len() - 8));
            }
        }
        line.push('\n');
        if out.len() + line.len() > budget {
            let _ = writeln!(out, "- … and {} more changed objects", check.changes.len() - index);
            break;
        }
        out.push_str(&line);
    }
    out.push('\n');
}

fn impact(out: &mut String, check: &super::CheckSummary) {
    let consumed: Vec<_> = check.impact.iter().filter(|i| !i.consumers.is_empty()).collect();
    if consumed.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Impact\n\nChanged datasets and the workspaces that consume them:\n");
    graph_and_table(out, &consumed, true);
}

/// The reply to `/datasurface impact`: each dataset's consumers in the head (`head` is its
/// commit), as a graph and a table.
pub fn consumers(impacts: &[crate::compat::Impact], head: &str) -> String {
    let mut out = String::new();
    let short = &head[..head.len().min(10)];
    let consumed: Vec<&crate::compat::Impact> = impacts.iter().filter(|i| !i.consumers.is_empty()).collect();
    let unconsumed: Vec<String> =
        impacts.iter().filter(|i| i.consumers.is_empty()).map(|i| format!("`{}`", escape(&i.dataset))).collect();
    if consumed.is_empty() {
        let _ = writeln!(out, "No workspace consumes {} in the head (`{short}`).", unconsumed.join(", "));
        return out;
    }
    let _ = writeln!(out, "Consumers in the head (`{short}`):\n");
    graph_and_table(&mut out, &consumed, false);
    if !unconsumed.is_empty() {
        let _ = writeln!(out, "No workspace consumes {}.", unconsumed.join(", "));
    }
    out
}

fn graph_and_table(out: &mut String, consumed: &[&crate::compat::Impact], approvals: bool) {
    let _ = writeln!(out, "```mermaid\ngraph LR");
    let mut nodes: BTreeMap<String, String> = BTreeMap::new();
    let id = |name: &str, nodes: &mut BTreeMap<String, String>| {
        let next = format!("n{}", nodes.len());
        nodes.entry(name.to_string()).or_insert(next).clone()
    };
    let mut edges = String::new();
    for item in consumed.iter().take(50) {
        let dataset = id(&format!("d:{}", item.dataset), &mut nodes);
        let _ = writeln!(edges, "  {dataset}[\"{} ({})\"]", label(&item.dataset), item.change);
        for consumer in &item.consumers {
            let workspace = id(&format!("w:{}/{}", consumer.workspace, consumer.group), &mut nodes);
            let approved = if consumer.approved_by.is_some() { " ✔" } else { "" };
            let _ = writeln!(
                edges,
                "  {dataset} --> {workspace}[\"{} / {}{approved}\"]",
                label(&consumer.workspace),
                label(&consumer.group)
            );
        }
    }
    out.push_str(&edges);
    if approvals {
        let _ = writeln!(
            out,
            "```\n\n| Dataset | Change | Workspace | Group | Owner | Approved |\n|---|---|---|---|---|---|"
        );
    } else {
        let _ = writeln!(out, "```\n\n| Dataset | Workspace | Group | Team | Owner |\n|---|---|---|---|---|");
    }
    for item in consumed.iter().take(100) {
        for consumer in &item.consumers {
            if approvals {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    escape(&item.dataset),
                    item.change,
                    escape(&consumer.workspace),
                    escape(&consumer.group),
                    escape(&consumer.owner),
                    consumer.approved_by.as_deref().map_or("no".into(), escape)
                );
            } else {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} |",
                    escape(&item.dataset),
                    escape(&consumer.workspace),
                    escape(&consumer.group),
                    escape(&consumer.team),
                    escape(&consumer.owner)
                );
            }
        }
    }
    out.push('\n');
}

fn diffs(out: &mut String, check: &super::CheckSummary) {
    if check.files.is_empty() {
        return;
    }
    let mut body = String::new();
    for file in &check.files {
        let base = file.base.as_deref().unwrap_or("");
        let head = file.head.as_deref().unwrap_or("");
        let diff = similar::TextDiff::configure().timeout(std::time::Duration::from_millis(200)).diff_lines(base, head);
        let (a, b) = match (&file.base, &file.head) {
            (None, _) => ("/dev/null".to_string(), format!("b/{}", file.path)),
            (_, None) => (format!("a/{}", file.path), "/dev/null".to_string()),
            _ => (format!("a/{}", file.path), format!("b/{}", file.path)),
        };
        let unified = diff.unified_diff().context_radius(3).header(&a, &b).to_string();
        body.push_str(&unified.replace("```", "ˋˋˋ"));
    }
    let room = MAX_LEN.saturating_sub(out.len() + 400);
    if body.len() > room {
        let mut cut = room;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push_str("\n… (diff cut to fit the comment)\n");
    }
    let _ = writeln!(
        out,
        "<details><summary>Changed YAML ({} {})</summary>\n\n```diff\n{body}```\n\n</details>",
        check.files.len(),
        if check.files.len() == 1 { "file" } else { "files" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pos;
    use crate::problem::{Location, ObjectKind, ObjectRef};
    use crate::rules::Rule;

    #[test]
    fn model_text_cannot_mention_inject_html_or_reorder() {
        let reason = "ask @acme/everyone or @bob <b>now</b> & see `@kept/in-code` \u{202e}evil";
        let escaped = escape(reason);
        assert!(!escaped.contains("@acme") && !escaped.contains("@bob"), "{escaped}");
        assert!(escaped.contains("@\u{200b}acme/everyone") && escaped.contains("@\u{200b}bob"), "{escaped}");
        assert!(escaped.contains("`@kept/in-code`"), "code spans stay as written: {escaped}");
        assert!(escaped.contains("&lt;b&gt;now&lt;/b&gt; &amp; see"), "{escaped}");
        assert!(!escaped.contains('\u{202e}') && escaped.contains("\\u{202e}"), "{escaped}");
        // An unmatched backtick opens no span: what follows is still neutralized.
        assert!(!escape("`oops @team/all").contains("@team"));
        // Runs of different lengths do not pair; an escaped backtick opens nothing.
        assert_eq!(code_spans("a ``b` c`` d"), vec![("a ", false), ("``b` c``", true), (" d", false)]);
        assert!(!escape("\\`x @y/z `").contains("@y"));
        assert_eq!(escape("a | b"), "a \\| b");
        assert_eq!(escape("user@example.com"), "user@example.com", "an address mentions nobody");
        assert_eq!(escape("repo acme/x@feature"), "repo acme/x@feature");
        assert_eq!(escape("(@team/all)"), "(@\u{200b}team/all)");
    }

    #[test]
    fn a_huge_report_is_capped_with_a_count_of_what_is_left_out() {
        let file: std::sync::Arc<str> = "zones/z/teams/t/store.yaml".into();
        let problems: Vec<Problem> = (0..5000)
            .map(|i| {
                let object = ObjectRef { kind: ObjectKind::Column, name: format!("store/items.c{i}"), location: None };
                let mut problem = Problem::new(
                    Rule::CompatColumnRemoved,
                    format!("column `c{i}` was removed from dataset `store/items` | with a pipe"),
                    Some(Location::head(&file, Pos::new(i + 1, 7))),
                    vec![object],
                );
                problem.owner = Some(format!("team org/t{}", i % 3));
                problem
            })
            .collect();
        let root = ObjectRef { kind: ObjectKind::Ecosystem, name: "e".into(), location: None };
        let report = Report {
            command: "check",
            root,
            problems,
            files: 1,
            notes: Vec::new(),
            check: None,
            fail_on: Severity::Error,
        };
        let text = render(&report);
        assert!(text.len() <= MAX_LEN, "{}", text.len());
        assert!(text.starts_with(MARKER));
        let shown = text.matches("| 🛑 |").count();
        assert!(shown > 100, "{shown}");
        assert!(
            text.contains(&format!("**{} more problems not shown.**", 5000 - shown)),
            "{}",
            &text[text.len() - 300..]
        );
        assert!(text.contains("with a pipe") && text.contains("\\|"), "pipes are escaped in tables");
        assert!(text.contains("All problems by rule: `compat.column-removed` 5000."), "{}", &text[text.len() - 300..]);
    }
}
