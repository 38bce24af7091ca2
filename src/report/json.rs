//! `--format json`: the report of MODEL.md §6. Fields may be added, never removed or renamed
//! within a `version`.
//!
//! The report is written straight from `Report` through borrowed records, so a report of a
//! million problems costs its own bytes and no more (a `serde_json::Value` of it took several
//! times the model's memory). Fields are declared in alphabetical order, the order of the
//! report since version 1.

use std::io;

use serde::Serialize;

use super::{Report, TreeNode};
use crate::problem::{Location, Problem, Revision, Severity};

pub const VERSION: u32 = 1;

/// The report as pretty-printed JSON, with a final line break.
pub fn render(report: &Report) -> String {
    super::to_string(|out| write(report, out))
}

/// Writes the report to `out` as pretty-printed JSON, with a final line break.
pub fn write(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    write_pretty(out, &JsonReport::new(report))
}

/// Pretty-prints `value` to `out` with a final line break.
pub(crate) fn write_pretty(out: &mut dyn io::Write, value: &impl Serialize) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    // Keep the kind of an I/O error (a closed pipe is not a failure of the run).
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| e.io_error_kind().map_or_else(|| io::Error::other(e), io::Error::from))?;
    io::Write::write_all(&mut out, b"\n")?;
    io::Write::flush(&mut out)
}

#[derive(Serialize)]
struct JsonReport<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<JsonCheck<'r>>,
    command: &'static str,
    errors: usize,
    files: usize,
    infos: usize,
    notes: &'r [String],
    outcome: &'static str,
    problems: Problems<'r, Problem>,
    tool: Tool,
    #[serde(serialize_with = "tree")]
    tree: TreeNode<'r>,
    version: u32,
    warnings: usize,
}

impl<'r> JsonReport<'r> {
    fn new(report: &'r Report) -> Self {
        JsonReport {
            check: report.check.as_ref().map(|check| JsonCheck {
                base: &check.base_rev,
                base_commit: check.base_commit.as_deref(),
                changes: check
                    .changes
                    .iter()
                    .map(|c| JsonChange { change: c.verb, details: &c.details, object: &c.object, scope: &c.scope })
                    .collect(),
                head: &check.head_rev,
                head_commit: check.head_commit.as_deref(),
                impact: check
                    .impact
                    .iter()
                    .map(|i| JsonImpact {
                        change: &i.change,
                        consumers: i
                            .consumers
                            .iter()
                            .map(|c| JsonConsumer {
                                approved_by: c.approved_by.as_deref(),
                                fingerprint: c.fingerprint.as_deref(),
                                group: &c.group,
                                owner: &c.owner,
                                team: &c.team,
                                workspace: &c.workspace,
                            })
                            .collect(),
                        dataset: &i.dataset,
                    })
                    .collect(),
                source: &check.source,
            }),
            command: report.command,
            errors: report.count(Severity::Error),
            files: report.files,
            infos: report.count(Severity::Info),
            notes: &report.notes,
            outcome: report.outcome().as_str(),
            problems: Problems(&report.problems),
            tool: Tool { name: "datasurface", version: env!("CARGO_PKG_VERSION") },
            tree: report.tree(),
            version: VERSION,
            warnings: report.count(Severity::Warning),
        }
    }
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonCheck<'r> {
    base: &'r str,
    base_commit: Option<&'r str>,
    changes: Vec<JsonChange<'r>>,
    head: &'r str,
    head_commit: Option<&'r str>,
    impact: Vec<JsonImpact<'r>>,
    source: &'r str,
}

#[derive(Serialize)]
struct JsonChange<'r> {
    change: &'static str,
    details: &'r [String],
    object: &'r str,
    scope: &'r str,
}

#[derive(Serialize)]
struct JsonImpact<'r> {
    change: &'r str,
    consumers: Vec<JsonConsumer<'r>>,
    dataset: &'r str,
}

#[derive(Serialize)]
struct JsonConsumer<'r> {
    approved_by: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<&'r str>,
    group: &'r str,
    owner: &'r str,
    team: &'r str,
    workspace: &'r str,
}

#[derive(Serialize)]
struct JsonProblem<'r> {
    affected: &'r [String],
    column: Option<u32>,
    docs: String,
    file: Option<&'r str>,
    fingerprint: String,
    help: Option<&'r str>,
    line: Option<u32>,
    message: &'r str,
    object: String,
    owner: Option<&'r str>,
    related: Vec<JsonRelated<'r>>,
    revision: Option<&'static str>,
    rule: &'static str,
    severity: &'static str,
}

impl<'r> JsonProblem<'r> {
    fn new(problem: &'r Problem) -> Self {
        let location = problem.location.as_ref();
        JsonProblem {
            affected: &problem.affected,
            column: location.map(|l| l.pos.col),
            docs: problem.rule.docs_path(),
            file: location.map(|l| &*l.file),
            fingerprint: problem.fingerprint(),
            help: problem.help.as_deref(),
            line: location.map(|l| l.pos.line),
            message: &problem.message,
            object: problem.object(),
            owner: problem.owner.as_deref(),
            related: problem.related.iter().map(|(label, l)| JsonRelated::new(label, l)).collect(),
            revision: location.map(|l| revision(l.revision)),
            rule: problem.rule.id(),
            severity: problem.severity.as_str(),
        }
    }
}

#[derive(Serialize)]
struct JsonRelated<'r> {
    column: u32,
    file: &'r str,
    label: &'r str,
    line: u32,
    revision: &'static str,
}

impl<'r> JsonRelated<'r> {
    fn new(label: &'r str, location: &'r Location) -> Self {
        JsonRelated {
            column: location.pos.col,
            file: &location.file,
            label,
            line: location.pos.line,
            revision: revision(location.revision),
        }
    }
}

/// Problems, each turned into its record only while it is written.
struct Problems<'r, P>(&'r [P]);

impl<P: std::borrow::Borrow<Problem>> Serialize for Problems<'_, P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|p| JsonProblem::new(p.borrow())))
    }
}

/// A node of the validation tree: `children`, `file`, `line`, `object`, `problems`.
fn tree<S: serde::Serializer>(node: &TreeNode<'_>, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;

    struct Child<'a, 'r>(&'a TreeNode<'r>);
    impl Serialize for Child<'_, '_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            tree(self.0, serializer)
        }
    }

    let location = node.object.location.as_ref();
    let mut record = serializer.serialize_struct("Tree", 5)?;
    record.serialize_field("children", &node.children.iter().map(Child).collect::<Vec<_>>())?;
    record.serialize_field("file", &location.map(|l| &*l.file))?;
    record.serialize_field("line", &location.map(|l| l.pos.line))?;
    record.serialize_field("object", &node.object.to_string())?;
    record.serialize_field("problems", &Problems(&node.problems))?;
    record.end()
}

fn revision(revision: Revision) -> &'static str {
    match revision {
        Revision::Head => "head",
        Revision::Base => "base",
    }
}
