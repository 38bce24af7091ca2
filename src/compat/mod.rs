//! Backward-compatible schema evolution (MODEL.md §5), rule ids `compat.*`.
//!
//! Rules report facts about one datastore or dataset pair; `apply_policy` then decides the
//! severity in one place: a breaking change is an error naming every affected workspace and
//! its owner, a warning when nothing consumes the dataset, and info when every affected
//! owner approved (the change source satisfies each owner as recorded in the base).

mod rules;
pub mod widening;

use std::collections::HashMap;

use crate::authz::ChangeSource;
use crate::diff::{ChangeKind, Diff, DocRef};
use crate::model::{Datastore, Ident, Model, Owner, Placed, Workspace, same_ident};
use crate::problem::{Problem, Severity};

/// A workspace's dataset group that sinks a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub workspace: String,
    pub group: String,
    /// The workspace's team, `zone/team`.
    pub team: String,
    /// The team owner, as declared.
    pub owner: String,
    /// What in the change source satisfies the owner, if anything.
    pub approved_by: Option<String>,
    /// The changed dataset's head schema fingerprint, which an approval names.
    pub fingerprint: Option<String>,
}

/// For one changed dataset, who consumes it.
#[derive(Clone, Debug)]
pub struct Impact {
    /// `datastore/dataset`.
    pub dataset: String,
    /// `modified`, `removed`, `deprecated`, ...
    pub change: String,
    pub consumers: Vec<Consumer>,
}

/// A dataset group that sinks a dataset: its workspace, the group's name, and whether the
/// sink allows deprecations.
pub type Sinking<'m> = (&'m Placed<Workspace>, &'m str, bool);

/// The sinks of a model by dataset, built once.
pub struct Consumers<'m> {
    model: &'m Model,
    by_dataset: HashMap<(Ident<'m>, Ident<'m>), Vec<Sinking<'m>>>,
}

impl<'m> Consumers<'m> {
    /// The sinks of `model` on the datastores named in `stores`.
    pub fn new(model: &'m Model, stores: &std::collections::HashSet<Ident<'_>>) -> Consumers<'m> {
        let mut by_dataset: HashMap<(Ident<'m>, Ident<'m>), Vec<Sinking<'m>>> = HashMap::new();
        for workspace in &model.workspaces {
            for group in &workspace.dataset_groups {
                for sink in group.sinks.iter().filter(|s| stores.contains(&Ident(&s.datastore.value))) {
                    let entry =
                        by_dataset.entry((Ident(&sink.datastore.value), Ident(&sink.dataset.value))).or_default();
                    if !entry.iter().any(|(w, g, _)| std::ptr::eq(*w, workspace) && *g == &*group.name.value) {
                        entry.push((workspace, &*group.name.value, sink.allows_deprecations()));
                    }
                }
            }
        }
        Consumers { model, by_dataset }
    }

    /// The dataset groups that sink `store/dataset`, with whether each allows deprecations.
    pub fn of<'s>(&'s self, store: &'s str, dataset: &'s str) -> &'s [Sinking<'m>] {
        self.by_dataset.get(&(Ident(store), Ident(dataset))).map_or(&[], |v| &v[..])
    }

    /// The owner of a workspace, from its team's declaration in this model.
    pub fn owner_of(&self, workspace: &Placed<Workspace>) -> Option<&'m Owner> {
        let team = workspace.scope.team.as_deref()?;
        let zone = self.model.zone(&workspace.scope.zone)?;
        zone.value.teams.iter().find(|d| &*d.name.value == team)?.owner.as_ref()
    }

    /// The consumer `workspace`'s group `group` of `store/dataset`: approved when the change
    /// source satisfies the workspace's owner, or holds an approval for that workspace and the
    /// dataset as its head schema is (`head_fingerprint`, `removed` when it is gone).
    pub fn consumer(
        &self,
        workspace: &Placed<Workspace>,
        group: &str,
        source: &ChangeSource,
        (store, dataset): (&str, &str),
        head_fingerprint: &str,
    ) -> Consumer {
        let owner = self.owner_of(workspace);
        let approved_by = owner.and_then(|o| source.satisfies(o)).or_else(|| {
            if source.approvals.is_empty() {
                return None;
            }
            source
                .approval(&workspace.name, store, dataset, head_fingerprint)
                .map(|a| format!("{} (approval of {store}/{dataset} for {})", a.by, workspace.name))
        });
        Consumer {
            workspace: workspace.name.to_string(),
            group: group.to_string(),
            team: format!("{}/{}", workspace.scope.zone, workspace.scope.team.as_deref().unwrap_or_default()),
            owner: owner.map_or("(no owner declared)".into(), ToString::to_string),
            approved_by,
            fingerprint: None,
        }
    }
}

/// A breaking change found by a rule, before its severity is decided.
pub(crate) struct Finding {
    pub problem: Problem,
    /// The workspaces it breaks.
    pub consumers: Vec<Consumer>,
    /// `false` when the change could not be compared, so it only may break them (its help then
    /// asks for their approval itself).
    pub certain: bool,
    /// Whether the affected owners' approval makes the change acceptable. Not for a
    /// deprecation under sinks that never allow one: those sinks fail lint (`sink.deprecated`)
    /// whoever approved, so the consumers must change them instead.
    pub approvable: bool,
}

impl Finding {
    pub fn breaking(problem: Problem, consumers: Vec<Consumer>) -> Finding {
        Finding { problem, consumers, certain: true, approvable: true }
    }
}

/// Runs every compat rule over the datastores that exist in base (the rules need a base).
pub fn check(diff: &Diff<'_>, source: &ChangeSource) -> (Vec<Problem>, Vec<Impact>) {
    // Only the sinks on changed datastores matter.
    let stores: std::collections::HashSet<Ident<'_>> = diff
        .changes
        .iter()
        .flat_map(|c| [c.base, c.head])
        .flatten()
        .filter_map(|d| if let DocRef::Datastore(store) = d { Some(Ident(&store.value.name.value)) } else { None })
        .collect();
    let base_consumers = Consumers::new(diff.base, &stores);
    let head_consumers = Consumers::new(diff.head, &stores);
    let unreadable = diff.base.files.iter().filter(|f| !f.parsed.problems.is_empty()).map(|f| &*f.path).collect();
    let cx = rules::Cx {
        diff,
        source,
        base: &base_consumers,
        head: &head_consumers,
        unreadable,
        fingerprints: Default::default(),
    };
    let mut findings = Vec::new();
    let mut impacts = Vec::new();
    for change in &diff.changes {
        let (base_store, head_store) = match (&change.base, &change.head) {
            (Some(DocRef::Datastore(b)), head) => {
                (*b, head.and_then(|h| if let DocRef::Datastore(h) = h { Some(h) } else { None }))
            }
            (None, Some(DocRef::Datastore(h))) => {
                impacts.extend(added_impacts(h));
                rules::unreadable_base(&cx, h, &mut findings);
                continue;
            }
            _ => continue,
        };
        match head_store {
            None if change.kind == ChangeKind::Unreadable => {
                rules::unreadable_head(&cx, base_store, &mut findings, &mut impacts)
            }
            None => rules::datastore_removed(&cx, base_store, &mut findings, &mut impacts),
            // A head file with errors is not compared: what it says is not what its author
            // meant yet (a merge key, a mistyped field), and its own problem fails the check.
            // Once it reads cleanly, the next check compares it. One mistake, one problem.
            Some(head_store) if has_errors(diff.head, head_store.file) => {
                for dataset in &base_store.datasets {
                    impacts.push(Impact {
                        dataset: format!("{}/{}", base_store.name, dataset.name),
                        change: "not compared".into(),
                        consumers: cx.base_consumers(&base_store.name, &dataset.name),
                    });
                }
            }
            Some(head_store) => {
                debug_assert!(matches!(change.kind, ChangeKind::Modified | ChangeKind::Moved));
                rules::datastore_pair(&cx, base_store, head_store, &mut findings, &mut impacts);
            }
        }
    }
    (findings.into_iter().map(apply_policy).collect(), impacts)
}

/// Whether a file of `model` had errors when read (syntax, fields, layout).
fn has_errors(model: &Model, file: crate::model::FileId) -> bool {
    model.files[file.0 as usize].parsed.problems.iter().any(|p| p.rule.default_severity() == Severity::Error)
}

fn added_impacts(store: &Placed<Datastore>) -> Vec<Impact> {
    store.datasets.iter().map(|d| Impact::added(store, d)).collect()
}

/// The consumers of datastore `store` (all its datasets, or only `dataset`) in `model`, as
/// impacts with the change `consumed`; `None` when the model has no such datastore or dataset.
pub fn consumers_of(model: &Model, store: &str, dataset: Option<&str>) -> Option<Vec<Impact>> {
    let found = model.datastores.iter().find(|d| same_ident(&d.name.value, store))?;
    let datasets: Vec<&crate::model::Dataset> =
        found.datasets.iter().filter(|d| dataset.is_none_or(|wanted| same_ident(&d.name.value, wanted))).collect();
    if datasets.is_empty() {
        return None;
    }
    let stores: std::collections::HashSet<Ident<'_>> = std::iter::once(Ident(&found.name.value)).collect();
    let consumers = Consumers::new(model, &stores);
    let source = ChangeSource::default();
    Some(
        datasets
            .iter()
            .map(|d| Impact {
                dataset: format!("{}/{}", found.name, d.name),
                change: "consumed".into(),
                consumers: consumers
                    .of(&found.name, &d.name)
                    .iter()
                    .map(|(w, g, _)| consumers.consumer(w, g, &source, (&found.name, &d.name), ""))
                    .collect(),
            })
            .collect(),
    )
}

impl Impact {
    /// A dataset new in the head: nobody consumes it yet.
    pub(crate) fn added(store: &Datastore, dataset: &crate::model::Dataset) -> Impact {
        Impact { dataset: format!("{}/{}", store.name, dataset.name), change: "added".into(), consumers: Vec::new() }
    }
}

/// Decides a breaking change's severity from who it affects and who approved.
fn apply_policy(finding: Finding) -> Problem {
    let Finding { mut problem, consumers, certain, approvable } = finding;
    problem.affected = consumers.iter().map(|c| format!("Workspace {}", c.workspace)).collect();
    problem.affected.dedup();
    if consumers.is_empty() && problem.rule == crate::rules::Rule::CompatHeadUnreadable {
        // Nobody to warn: the file's own problem already fails the check.
        problem.severity = Severity::Info;
        problem.message.push_str("; no workspace consumes it");
        return problem;
    }
    if consumers.is_empty() {
        problem.severity = Severity::Warning;
        problem.message.push_str("; no workspace consumes it, so nothing breaks yet");
        return problem;
    }
    if !approvable {
        problem.severity = Severity::Error;
        let broken: Vec<String> = consumers
            .iter()
            .map(|c| format!("workspace {} (team {}, owner {})", c.workspace, c.team, c.owner))
            .collect();
        problem.message.push_str(&format!("; this breaks {}", dedup(broken).join(", ")));
        if consumers.iter().all(|c| c.approved_by.is_some()) {
            problem.message.push_str(" (their owners approved, but approval cannot change what their sinks accept)");
        }
        return problem;
    }
    if consumers.iter().all(|c| c.approved_by.is_some()) {
        problem.severity = Severity::Info;
        let approvals: Vec<String> = consumers
            .iter()
            .map(|c| format!("{} for workspace {}", c.approved_by.as_deref().unwrap_or_default(), c.workspace))
            .collect();
        problem.message.push_str(&format!("; approved by every affected owner ({})", dedup(approvals).join(", ")));
        return problem;
    }
    problem.severity = Severity::Error;
    let broken: Vec<String> = consumers
        .iter()
        .filter(|c| c.approved_by.is_none())
        .map(|c| format!("workspace {} (team {}, owner {})", c.workspace, c.team, c.owner))
        .collect();
    let breaks = if certain { "breaks" } else { "may break" };
    problem.message.push_str(&format!("; this {breaks} {}", dedup(broken).join(", ")));
    if certain {
        problem.help = Some(
            problem.help.take().unwrap_or_default()
                + " Or have the owner of every affected workspace approve the change.",
        );
    }
    problem
}

fn dedup(mut items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
    items
}
