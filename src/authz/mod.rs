//! Team-scope authorization (MODEL.md §4), rule ids `authz.*`.
//!
//! Architecture Invariant: ownership is read only from the base revision, so a pull request
//! cannot grant itself rights. The head is consulted for one thing only: the owner that a
//! declaration new in this same change names for a new object (the parent's owner must then
//! authorize the declaration, which is a change to the parent).

mod source;

pub use source::ChangeSource;

use crate::diff::{ChangeKind, Diff, DocChange, DocRef};
use crate::model::{Model, Owner, Pos, Scope};
use crate::problem::{Location, ObjectRef, Problem};
use crate::rules::Rule;
use crate::validate::Paths;

/// An owner that a change needs, and where that owner is declared.
#[derive(Clone, Debug)]
struct Need<'m> {
    /// `the ecosystem`, `zone usa`, `team usa/northwind`.
    scope: String,
    /// `None` when no owner is declared, which nobody can satisfy.
    owner: Option<&'m Owner>,
    /// Whether the owner comes from a declaration added in this change.
    new_declaration: bool,
    /// Why this owner stands in for the scope's own, or why there is none.
    note: Option<String>,
}

impl<'m> Need<'m> {
    /// The owner a declaration names (`None` when nothing declares one).
    fn declared(scope: String, owner: Option<&'m Owner>, new_declaration: bool) -> Self {
        Need { scope, owner, new_declaration, note: None }
    }

    fn describe(&self) -> String {
        let origin = if self.new_declaration { ", declared in this change" } else { "" };
        match (self.owner, self.note.as_deref()) {
            (None, Some(why)) => format!("{} ({why})", self.scope),
            (owner, note) => {
                let owner = owner.map_or("no owner declared".into(), |o| o.to_string());
                let note = note.map(|why| format!("; {why}")).unwrap_or_default();
                format!("{} ({owner}{origin}{note})", self.scope)
            }
        }
    }
}

/// A change that no principal of the change source may make.
struct Refusal<'m> {
    change_index: usize,
    need: Need<'m>,
}

/// Checks every change of `diff` against the owners recorded in the base.
pub fn check(diff: &Diff<'_>, source: &ChangeSource) -> Vec<Problem> {
    if is_first_commit(diff.base) {
        return first_commit(diff, source);
    }
    let mut refusals = Vec::new();
    for (index, change) in diff.changes.iter().enumerate() {
        for need in needs(diff, change) {
            let satisfied = need.owner.and_then(|o| source.satisfies(o));
            if satisfied.is_none() {
                refusals.push(Refusal { change_index: index, need });
            }
        }
    }
    if refusals.is_empty() {
        return Vec::new();
    }
    if source.is_unknown() {
        return vec![unknown_source(diff, &refusals)];
    }
    refusals.iter().map(|r| unauthorized(diff, &diff.changes[r.change_index], &r.need, source)).collect()
}

/// A base with no `ecosystem.yaml` at the model root: this change creates the model.
pub fn is_first_commit(base: &Model) -> bool {
    let path =
        if base.root.is_empty() { "ecosystem.yaml".to_string() } else { format!("{}/ecosystem.yaml", base.root) };
    !base.files.iter().any(|f| *f.path == *path)
}

fn first_commit(diff: &Diff<'_>, source: &ChangeSource) -> Vec<Problem> {
    let Some((file, ecosystem)) = &diff.head.ecosystem else {
        return Vec::new(); // Lint reports the missing or broken ecosystem.yaml.
    };
    let owner = ecosystem.owner.as_ref();
    if owner.and_then(|o| source.satisfies(o)).is_some() {
        return Vec::new();
    }
    let paths = Paths::new(diff.head);
    let pos = owner.map_or(ecosystem.name.span.value, |o| o.span.key);
    let needed = owner.map_or("no owner declared".into(), ToString::to_string);
    let message = format!(
        "this change creates the model, so it must come from the new ecosystem owner ({needed}), but it comes from {}",
        source.describe()
    );
    let mut problem = Problem::new(Rule::AuthzFirstCommit, message, paths.at(*file, pos), paths.ecosystem())
        .help("Push the first commit of a model from the repository, team or user that ecosystem.yaml names as owner.");
    problem.owner = Some(needed);
    vec![problem]
}

fn ecosystem_owner(model: &Model) -> Need<'_> {
    let ecosystem = model.ecosystem();
    Need {
        scope: "the ecosystem".into(),
        owner: ecosystem.and_then(|e| e.owner.as_ref()),
        new_declaration: false,
        // Only reached when the base has an ecosystem.yaml (else the change creates the model).
        note: ecosystem.is_none().then(|| {
            "ecosystem.yaml could not be read in the base, so nobody can authorize this; merge the fix as a repository administrator".into()
        }),
    }
}

/// The owner of zone `zone`: its declaration in the base, else a declaration new in the head.
fn zone_owner<'m>(base: &'m Model, head: &'m Model, zone: &str) -> Option<Need<'m>> {
    let find = |model: &'m Model| model.ecosystem()?.zones.iter().find(|d| &*d.name.value == zone);
    let scope = format!("zone {zone}");
    if let Some(declaration) = find(base) {
        return Some(Need::declared(scope, declaration.owner.as_ref(), false));
    }
    find(head).map(|d| Need::declared(scope, d.owner.as_ref(), true))
}

/// The owner of team `team` of `zone`: as declared in the base, else new in the head.
fn team_owner<'m>(base: &'m Model, head: &'m Model, zone: &str, team: &str) -> Option<Need<'m>> {
    let find = |model: &'m Model| model.zone(zone)?.value.teams.iter().find(|d| &*d.name.value == team);
    let scope = format!("team {zone}/{team}");
    if let Some(declaration) = find(base) {
        return Some(Need::declared(scope, declaration.owner.as_ref(), false));
    }
    find(head).map(|d| Need::declared(scope, d.owner.as_ref(), true))
}

/// The owner of a scope, for an object that exists in the base: only the base counts.
fn base_scope_owner<'m>(base: &'m Model, scope: &Scope) -> Need<'m> {
    match &scope.team {
        _ if scope.zone.is_empty() => ecosystem_owner(base),
        Some(team) => {
            let zone_doc = base.zone(&scope.zone);
            let declaration = zone_doc.and_then(|z| z.value.teams.iter().find(|d| *d.name.value == **team));
            match declaration {
                Some(d) => Need::declared(format!("team {}/{team}", scope.zone), d.owner.as_ref(), false),
                // The zone's owner decides who owns its teams, so when the base does not say
                // (zone.yaml could not be read there, or does not declare the team) that owner
                // may act for the team: it could declare itself the team's owner anyway.
                None => {
                    let why = match zone_doc {
                        None => "whose zone.yaml could not be read in the base",
                        Some(_) => "which the base's zone.yaml does not declare",
                    };
                    let zone = base_scope_owner(base, &Scope { zone: scope.zone.clone(), team: None });
                    Need { note: Some(format!("it decides for team {}/{team}, {why}", scope.zone)), ..zone }
                }
            }
        }
        None => {
            let declaration = base.ecosystem().and_then(|e| e.zones.iter().find(|d| *d.name.value == *scope.zone));
            Need::declared(format!("zone {}", scope.zone), declaration.and_then(|d| d.owner.as_ref()), false)
        }
    }
}

/// The owner a new object needs in its head scope. `None` when nothing declares the scope,
/// which lint reports as `authz.undeclared`.
fn new_scope_owner<'m>(base: &'m Model, head: &'m Model, scope: &Scope) -> Option<Need<'m>> {
    match &scope.team {
        _ if scope.zone.is_empty() => Some(ecosystem_owner(base)),
        Some(team) => team_owner(base, head, &scope.zone, team),
        None => zone_owner(base, head, &scope.zone),
    }
}

fn needs<'m>(diff: &Diff<'m>, change: &DocChange<'m>) -> Vec<Need<'m>> {
    let (base, head) = (diff.base, diff.head);
    match change.kind {
        ChangeKind::Modified | ChangeKind::Removed => {
            vec![base_scope_owner(base, &change.base.as_ref().map(DocRef::scope).unwrap_or_else(empty_scope))]
        }
        ChangeKind::Added => {
            let scope = change.head.as_ref().map(DocRef::scope).unwrap_or_else(empty_scope);
            new_scope_owner(base, head, &scope).into_iter().collect()
        }
        ChangeKind::Moved => {
            let from = base_scope_owner(base, &change.base.as_ref().map(DocRef::scope).unwrap_or_else(empty_scope));
            let to = new_scope_owner(base, head, &change.head.as_ref().map(DocRef::scope).unwrap_or_else(empty_scope));
            std::iter::once(from).chain(to).collect()
        }
    }
}

fn empty_scope() -> Scope {
    Scope { zone: "".into(), team: None }
}

/// The object a change is about, and where to report it: the changed line of the head, or
/// the base for a removal.
fn object_and_location(diff: &Diff<'_>, change: &DocChange<'_>) -> (Vec<ObjectRef>, Option<Location>) {
    let (paths, doc, pos) = match (&change.head, &change.base) {
        (Some(head), _) => (Paths::new(diff.head), *head, change.head_pos().unwrap_or(Pos::new(1, 1))),
        (None, Some(base)) => (Paths::base(diff.base), *base, base.name_pos()),
        (None, None) => return (Vec::new(), None),
    };
    let path = match doc {
        DocRef::Ecosystem(..) => paths.ecosystem(),
        DocRef::Zone(z) => paths.zone(&z.scope.zone),
        DocRef::Team(t) => paths.team(&t.scope.zone, t.scope.team.as_deref().unwrap_or_default()),
        DocRef::Datastore(d) => paths.datastore(d),
        DocRef::Workspace(w) => paths.workspace(w),
    };
    (path, paths.at(doc.file(), pos))
}

fn verb(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Modified => "changed",
        ChangeKind::Moved => "moved",
    }
}

fn unauthorized(diff: &Diff<'_>, change: &DocChange<'_>, need: &Need<'_>, source: &ChangeSource) -> Problem {
    let (path, location) = object_and_location(diff, change);
    let object = path.last().map(ToString::to_string).unwrap_or_default();
    let message = format!(
        "{object} is {}, which needs the owner of {}, but the change comes from {}",
        verb(change.kind),
        need.describe(),
        source.describe()
    );
    let mut problem = Problem::new(Rule::AuthzUnauthorized, message, location, path)
        .detail(format!("{} {}", verb(change.kind), need.scope))
        .help(match need.owner {
            Some(_) => format!("Have the owner of {} make or approve this change.", need.scope),
            None => "Nobody can authorize this from the base: declare the owner first, or merge it as a repository administrator after review.".into(),
        });
    problem.owner = Some(need.owner.map_or("(no owner declared)".into(), ToString::to_string));
    problem
}

/// Without a change source nothing can be authorized: one problem, not one per change.
fn unknown_source(diff: &Diff<'_>, refusals: &[Refusal<'_>]) -> Problem {
    let mut objects: Vec<String> = Vec::new();
    for refusal in refusals {
        let (path, _) = object_and_location(diff, &diff.changes[refusal.change_index]);
        let object = path.last().map(ToString::to_string).unwrap_or_default();
        let entry = format!("{object} (needs {})", refusal.need.describe());
        if !objects.contains(&entry) {
            objects.push(entry);
        }
    }
    let shown = objects.len().min(5);
    let more = if objects.len() > shown { format!(" and {} more", objects.len() - shown) } else { String::new() };
    let message = format!(
        "the change source is unknown (no --as-repo, --as-user or --as-team), so none of the {} changes that need an owner can be authorized: {}{more}",
        objects.len(),
        objects[..shown].join("; ")
    );
    let mut problem = Problem::new(Rule::AuthzUnknownSource, message, None, Paths::new(diff.head).ecosystem())
        .help("Say who makes the change: --as-repo OWNER/NAME[@BRANCH], --as-user LOGIN, --as-team ORG/SLUG.");
    problem.detail = "unknown source".into();
    problem
}
