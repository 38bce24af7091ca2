//! `--format json`: the report of MODEL.md §6. Fields may be added, never removed or renamed
//! within a `version`.

use serde_json::{Value, json};

use super::{Report, TreeNode};
use crate::problem::{Problem, Revision, Severity};

pub const VERSION: u32 = 1;

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&to_value(report)).unwrap_or_default();
    text.push('\n');
    text
}

pub fn to_value(report: &Report) -> Value {
    let mut value = json!({
        "version": VERSION,
        "tool": {"name": "datasurface", "version": env!("CARGO_PKG_VERSION")},
        "command": report.command,
        "outcome": report.outcome().as_str(),
        "errors": report.count(Severity::Error),
        "warnings": report.count(Severity::Warning),
        "infos": report.count(Severity::Info),
        "files": report.files,
        "notes": report.notes,
        "problems": report.problems.iter().map(problem).collect::<Vec<_>>(),
        "tree": tree(&report.tree()),
    });
    if let Some(check) = &report.check {
        value["check"] = json!({
            "base": check.base_rev,
            "head": check.head_rev,
            "base_commit": check.base_commit,
            "head_commit": check.head_commit,
            "source": check.source,
            "changes": check.changes.iter().map(|c| json!({
                "object": c.object, "change": c.verb, "scope": c.scope, "details": c.details,
            })).collect::<Vec<_>>(),
            "impact": check.impact.iter().map(|i| json!({
                "dataset": i.dataset,
                "change": i.change,
                "consumers": i.consumers.iter().map(|c| json!({
                    "workspace": c.workspace, "group": c.group, "team": c.team, "owner": c.owner, "approved_by": c.approved_by,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
    }
    value
}

pub fn problem(problem: &Problem) -> Value {
    let location = problem.location.as_ref();
    json!({
        "rule": problem.rule.id(),
        "severity": problem.severity.as_str(),
        "message": problem.message,
        "help": problem.help,
        "file": location.map(|l| &*l.file),
        "line": location.map(|l| l.pos.line),
        "column": location.map(|l| l.pos.col),
        "revision": location.map(|l| match l.revision { Revision::Head => "head", Revision::Base => "base" }),
        "object": problem.object(),
        "owner": problem.owner,
        "affected": problem.affected,
        "related": problem.related.iter().map(|(label, l)| json!({
            "label": label, "file": &*l.file, "line": l.pos.line, "column": l.pos.col,
            "revision": match l.revision { Revision::Head => "head", Revision::Base => "base" },
        })).collect::<Vec<_>>(),
        "fingerprint": problem.fingerprint(),
        "docs": problem.rule.docs_path(),
    })
}

fn tree(node: &TreeNode<'_>) -> Value {
    let location = node.object.location.as_ref();
    json!({
        "object": node.object.to_string(),
        "file": location.map(|l| &*l.file),
        "line": location.map(|l| l.pos.line),
        "problems": node.problems.iter().map(|p| problem(p)).collect::<Vec<_>>(),
        "children": node.children.iter().map(tree).collect::<Vec<_>>(),
    })
}
