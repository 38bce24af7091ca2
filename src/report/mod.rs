//! The result of a run and its renderings. Serialization lives here, at the edge: the JSON
//! report is contract (MODEL.md §6), so `json` builds it by hand from `Report`.

pub mod github;
pub mod gitlab;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod text;

use std::borrow::Cow;

use crate::problem::{ObjectRef, Problem, Severity};

/// What a `write` function of a format writes, as a string (for tests and callers that
/// want the whole report in memory).
pub fn to_string(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    // Writing to memory fails only if serializing fails, and the formats' records always serialize.
    let _ = write(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Whether a character must not reach a terminal, a CI log or a rendered page as itself:
/// control characters (a line break would start a GitHub workflow command, an ESC colours the
/// terminal) and the bidirectional formatting characters, which can make text read in another
/// order than it is (CVE-2021-42574, "Trojan Source").
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control and bidirectional formatting characters written as escapes (`\n`,
/// `\u{1b}`, `\u{202e}`), for formats read by terminals, CI logs and people: a name in a model
/// may hold any character through YAML's escapes.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// What a `lint` or `check` found.
#[derive(Clone, Debug)]
pub struct Report {
    /// `lint` or `check`.
    pub command: &'static str,
    /// The ecosystem object, root of the validation tree.
    pub root: ObjectRef,
    pub problems: Vec<Problem>,
    /// How many model files were read.
    pub files: usize,
    /// Plain sentences about the run as a whole, shown above the problems.
    pub notes: Vec<String>,
    /// For `check`: what changed and whom it affects.
    pub check: Option<CheckSummary>,
    /// The least severity that fails the run (`--fail-on`): errors by default.
    pub fail_on: Severity,
}

/// What a check compared and found, beside the problems.
#[derive(Clone, Debug, Default)]
pub struct CheckSummary {
    pub base_rev: String,
    pub head_rev: String,
    /// Full commit ids, when known.
    pub base_commit: Option<String>,
    pub head_commit: Option<String>,
    /// The change source in words.
    pub source: String,
    pub changes: Vec<ChangeLine>,
    pub impact: Vec<crate::compat::Impact>,
    /// Changed model files with their text in base and head (bounded), for the Markdown diff.
    pub files: Vec<FileDiff>,
}

/// One changed object, in plain words.
#[derive(Clone, Debug)]
pub struct ChangeLine {
    /// `Datastore customers`.
    pub object: String,
    /// `added`, `removed`, `changed`, `moved`.
    pub verb: &'static str,
    /// `team usa/northwind`, or `team usa/a → team usa/b` for a move.
    pub scope: String,
    /// Field-level changes: `column email removed`, `type varchar(32) → varchar(64)`.
    pub details: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct FileDiff {
    pub path: String,
    pub base: Option<String>,
    pub head: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}

impl Report {
    pub fn count(&self, severity: Severity) -> usize {
        self.problems.iter().filter(|p| p.severity == severity).count()
    }

    /// Fails when a problem is at least as severe as `fail_on`.
    pub fn outcome(&self) -> Outcome {
        if self.problems.iter().any(|p| p.severity >= self.fail_on) { Outcome::Fail } else { Outcome::Pass }
    }

    /// The validation tree: the objects that have problems, under their ancestors.
    pub fn tree(&self) -> TreeNode<'_> {
        let mut root = TreeNode::new(self.root.clone());
        for problem in &self.problems {
            let mut node = &mut root;
            // The first element of a path is the ecosystem itself.
            for object in problem.path.iter().skip(1) {
                let key = (object.kind, object.name.clone());
                let index = match node.index.get(&key) {
                    Some(index) => *index,
                    None => {
                        node.children.push(TreeNode::new(object.clone()));
                        node.index.insert(key, node.children.len() - 1);
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[index];
            }
            node.problems.push(problem);
        }
        root
    }

    /// `2 errors, 1 warning` or `no problems`.
    pub fn counts_phrase(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        for (severity, word) in [(Severity::Error, "error"), (Severity::Warning, "warning"), (Severity::Info, "note")] {
            let n = self.count(severity);
            if n > 0 {
                parts.push(plural(n, word));
            }
        }
        if parts.is_empty() { "no problems".into() } else { parts.join(", ") }
    }
}

/// An object of the validation tree with its own problems and its children.
#[derive(Debug)]
pub struct TreeNode<'r> {
    pub object: ObjectRef,
    pub problems: Vec<&'r Problem>,
    pub children: Vec<TreeNode<'r>>,
    /// Children by kind and name, so that building stays linear in the number of problems.
    index: std::collections::HashMap<(crate::problem::ObjectKind, String), usize>,
}

impl TreeNode<'_> {
    fn new(object: ObjectRef) -> Self {
        TreeNode { object, problems: Vec::new(), children: Vec::new(), index: Default::default() }
    }
}
