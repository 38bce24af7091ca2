//! The full report of one check as an HTML page (`/reports/{id}`): the verdict, the problems
//! grouped by owner with their source lines, what the change does, and the impact drawn as an
//! inline SVG graph (changed datasets → consuming workspaces → their owners). No scripts: the
//! page is served with a Content-Security-Policy that allows none.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::problem::{Problem, Revision, Severity};
use crate::verdict::{Outcome, Report};

/// The policy the page is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Most problems shown with their source lines; the rest are counted.
const MAX_PROBLEMS: usize = 2000;

/// Text for HTML (element content and quoted attributes).
pub fn html(text: &str) -> String {
    let text = crate::report::printable(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the page is about, for its title and header.
pub struct Subject<'a> {
    /// `owner/name#7`.
    pub pull: &'a str,
    pub head_sha: &'a str,
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 2rem;color:#1f2328}
h1{font-size:1.6rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
.counts{display:flex;gap:1.5rem}.counts b{font-size:1.3rem}
article{border:1px solid #d0d7de;border-left:4px solid #8c959f;border-radius:6px;padding:.5rem .8rem;margin:.6rem 0}
article.error{border-left-color:#cf222e}article.warning{border-left-color:#bf8700}article.info{border-left-color:#0969da}
.where{font-family:ui-monospace,monospace;color:#57606a;margin:0}.message{margin:.3rem 0}
pre{background:#f6f8fa;padding:.4rem .6rem;overflow:auto;margin:.3rem 0}pre .ln{color:#8c959f;user-select:none;margin-right:1rem}
.help{color:#57606a;margin:.2rem 0}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left}
svg text{font:12px system-ui,sans-serif}";

/// Renders the page. `source_line` gives a line of a file of a revision, for the excerpts.
pub fn render(
    report: &Report,
    subject: &Subject<'_>,
    source_line: &dyn Fn(Revision, &str, u32) -> Option<String>,
) -> String {
    let mut out = String::new();
    let (verdict, mark) = match report.outcome() {
        Outcome::Pass => ("passed", "✅"),
        Outcome::Fail => ("failed", "❌"),
    };
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>datasurface: {verdict} — {}</title><style>{STYLE}</style></head><body>\n",
        html(subject.pull)
    );
    let _ = writeln!(out, "<header><h1 id=\"verdict\">{mark} datasurface: {verdict}</h1>");
    let _ = writeln!(
        out,
        "<p>{} at <code>{}</code></p>",
        html(subject.pull),
        html(&subject.head_sha[..subject.head_sha.len().min(12)])
    );
    let _ = writeln!(
        out,
        "<p class=\"counts\"><span><b>{}</b> errors</span><span><b>{}</b> warnings</span><span><b>{}</b> notes</span><span><b>{}</b> files</span></p>",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
        report.files
    );
    if let Some(check) = &report.check {
        let _ = writeln!(
            out,
            "<p>Checked <code>{}</code> → <code>{}</code>; change source: {}.</p>",
            html(&check.base_rev),
            html(&check.head_rev),
            html(&check.source)
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", html(note));
    }
    out.push_str("</header>\n");
    problems(&mut out, report, source_line);
    if let Some(check) = &report.check {
        changes(&mut out, check);
        impact(&mut out, check);
    }
    out.push_str("</body></html>\n");
    out
}

fn problems(out: &mut String, report: &Report, source_line: &dyn Fn(Revision, &str, u32) -> Option<String>) {
    let _ = writeln!(out, "<section id=\"problems\"><h2>Problems</h2>");
    if report.problems.is_empty() {
        let _ = writeln!(out, "<p>No problems found.</p></section>");
        return;
    }
    let mut by_owner: BTreeMap<&str, Vec<&Problem>> = BTreeMap::new();
    for problem in &report.problems {
        by_owner.entry(problem.owner.as_deref().unwrap_or("no owner")).or_default().push(problem);
    }
    let mut shown = 0;
    for (owner, problems) in by_owner {
        let _ = writeln!(out, "<h3>Owner: {}</h3>", html(owner));
        for problem in problems {
            if shown == MAX_PROBLEMS {
                break;
            }
            shown += 1;
            let _ = write!(out, "<article class=\"{}\">", problem.severity);
            let at = problem.location.as_ref().map_or_else(String::new, |l| {
                let base = if l.revision == Revision::Base { " (base)" } else { "" };
                format!("{}{base} ", html(&l.to_string()))
            });
            let _ = write!(
                out,
                "<p class=\"where\">{at}<a href=\"{}\"><code>{}</code></a> {}</p><p class=\"message\">{}</p>",
                html(&problem.rule.docs_url()),
                problem.rule.id(),
                problem.severity,
                html(&problem.message)
            );
            if let Some(location) = &problem.location
                && let Some(line) = source_line(location.revision, &location.file, location.pos.line)
            {
                let _ = write!(out, "<pre><span class=\"ln\">{}</span>{}</pre>", location.pos.line, html(&line));
            }
            if let Some(help) = &problem.help {
                let _ = write!(out, "<p class=\"help\">{}</p>", html(help));
            }
            out.push_str("</article>\n");
        }
    }
    if report.problems.len() > shown {
        let _ = writeln!(out, "<p>{} more problems are not shown.</p>", report.problems.len() - shown);
    }
    out.push_str("</section>\n");
}

fn changes(out: &mut String, check: &crate::verdict::CheckSummary) {
    let _ = writeln!(out, "<section id=\"changes\"><h2>What this change does</h2>");
    if check.changes.is_empty() {
        let _ = writeln!(out, "<p>It changes no model object.</p></section>");
        return;
    }
    out.push_str("<ul>\n");
    for change in check.changes.iter().take(1000) {
        let details = if change.details.is_empty() {
            String::new()
        } else {
            format!(": {}", change.details.iter().take(20).map(|d| html(d)).collect::<Vec<_>>().join("; "))
        };
        let _ = writeln!(
            out,
            "<li><b>{}</b> {} ({}){details}</li>",
            html(&change.object),
            change.verb,
            html(&change.scope)
        );
    }
    out.push_str("</ul></section>\n");
}

/// The impact graph: a column of changed datasets, one of the workspaces (and dataset
/// groups) that consume them, one of their owners, with an edge for each consumption.
fn impact(out: &mut String, check: &crate::verdict::CheckSummary) {
    let consumed: Vec<_> = check.impact.iter().filter(|i| !i.consumers.is_empty()).take(60).collect();
    let _ = writeln!(out, "<section id=\"impact\"><h2>Impact</h2>");
    if consumed.is_empty() {
        let _ = writeln!(out, "<p>No workspace consumes a changed dataset.</p></section>");
        return;
    }
    let mut workspaces: Vec<String> = Vec::new();
    let mut owners: Vec<String> = Vec::new();
    let mut edges: Vec<(usize, usize, usize, bool)> = Vec::new();
    for (d, item) in consumed.iter().enumerate() {
        for consumer in &item.consumers {
            let workspace = format!("{} / {}", consumer.workspace, consumer.group);
            let w = workspaces.iter().position(|x| *x == workspace).unwrap_or_else(|| {
                workspaces.push(workspace);
                workspaces.len() - 1
            });
            let o = owners.iter().position(|x| *x == consumer.owner).unwrap_or_else(|| {
                owners.push(consumer.owner.clone());
                owners.len() - 1
            });
            edges.push((d, w, o, consumer.approved_by.is_some()));
        }
    }
    workspaces.truncate(100);
    owners.truncate(100);
    let rows = consumed.len().max(workspaces.len()).max(owners.len());
    let (width, row, box_w, box_h) = (960, 34, 280, 24);
    let height = rows * row + 40;
    let x = [10, 340, 670];
    let y = |i: usize| 30 + i * row;
    let _ = writeln!(
        out,
        "<svg id=\"impact-graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Changed datasets, the workspaces that consume them, and their owners\">"
    );
    for (column, title) in ["Changed dataset", "Consuming workspace / group", "Owner"].iter().enumerate() {
        let _ = writeln!(out, "<text x=\"{}\" y=\"16\" font-weight=\"bold\">{title}</text>", x[column]);
    }
    for (d, w, o, approved) in &edges {
        if *w >= workspaces.len() || *o >= owners.len() {
            continue;
        }
        let colour = if *approved { "#1a7f37" } else { "#cf222e" };
        let _ = writeln!(
            out,
            "<line class=\"edge\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
            x[0] + box_w,
            y(*d) + box_h / 2,
            x[1],
            y(*w) + box_h / 2
        );
        let _ = writeln!(
            out,
            "<line class=\"edge\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8c959f\" stroke-width=\"1\"/>",
            x[1] + box_w,
            y(*w) + box_h / 2,
            x[2],
            y(*o) + box_h / 2
        );
    }
    let node = |out: &mut String, class: &str, column: usize, i: usize, text: &str, fill: &str| {
        let shown: String = text.chars().take(44).collect();
        let _ = writeln!(
            out,
            "<g class=\"node {class}\"><rect x=\"{}\" y=\"{}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"4\" fill=\"{fill}\" stroke=\"#57606a\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            x[column],
            y(i),
            x[column] + 6,
            y(i) + 16,
            html(&shown)
        );
    };
    for (i, item) in consumed.iter().enumerate() {
        node(out, "dataset", 0, i, &format!("{} ({})", item.dataset, item.change), "#fff8c5");
    }
    for (i, workspace) in workspaces.iter().enumerate() {
        node(out, "workspace", 1, i, workspace, "#ddf4ff");
    }
    for (i, owner) in owners.iter().enumerate() {
        node(out, "owner", 2, i, owner, "#f6f8fa");
    }
    out.push_str("</svg>\n<p>Red edges: not approved by the workspace's owner; green: approved.</p>\n");
    out.push_str("<table><tr><th>Dataset</th><th>Change</th><th>Workspace</th><th>Group</th><th>Owner</th><th>Approved</th></tr>\n");
    for item in &consumed {
        for consumer in &item.consumers {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html(&item.dataset),
                html(&item.change),
                html(&consumer.workspace),
                html(&consumer.group),
                html(&consumer.owner),
                consumer.approved_by.as_deref().map_or("no".into(), html)
            );
        }
    }
    out.push_str("</table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html("a\u{202e}b"), "a\\u{202e}b");
    }
}
