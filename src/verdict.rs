//! What a run found: the `Report` (problems, notes, and for a check what changed and whom it
//! affects) and its validation tree. The engine's output; `report` renders it.

use crate::problem::{ObjectRef, Problem, Severity};

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
