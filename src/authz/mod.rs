//! Team-scope authorization (MODEL.md §4), rule ids `authz.*`.
//!
//! Architecture Invariant: ownership is read only from the base revision, so a pull request
//! cannot grant itself rights. The head is consulted for one thing only: the owner that a
//! declaration new in this same change names for a new object (the parent's owner must then
//! authorize the declaration, which is a change to the parent).

mod source;

pub use source::{Approval, ChangeSource};

use std::collections::HashSet;

use crate::diff::{ChangeKind, Diff, DocChange, DocRef};
use crate::load::{PathChange, PathChangeKind};
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
struct Refusal<'m, 'c> {
    what: Changed<'c>,
    need: Need<'m>,
}

/// What a refusal is about: a model object, or a file whose bytes changed.
#[derive(Clone, Copy)]
enum Changed<'c> {
    Object(usize),
    File(&'c PathChange),
}

/// Checks every change of `diff`, and every file of `files` that changed, against the owners
/// recorded in the base. Objects come first; a file is reported on its own only when no
/// refused object change in it already names the same scope (a comment, a rename, a hidden
/// file or a `README.md` changes no object, and still needs the scope's owner).
pub fn check(diff: &Diff<'_>, files: &[PathChange], source: &ChangeSource) -> Vec<Problem> {
    if is_first_commit(diff.base) {
        return first_commit(diff, source);
    }
    let mut refusals = Vec::new();
    let mut covered: HashSet<(String, String)> = HashSet::new();
    for (index, change) in diff.changes.iter().enumerate() {
        for need in needs(diff, change) {
            let satisfied = need.owner.and_then(|o| source.satisfies(o));
            if satisfied.is_none() {
                if let (_, Some(location)) = object_and_location(diff, change) {
                    covered.insert((location.file.to_string(), need.scope.clone()));
                }
                refusals.push(Refusal { what: Changed::Object(index), need });
            }
        }
    }
    for file in files {
        // A file renamed within its scope is reported once, at its new path.
        let renamed_within = |added: &PathChange| {
            added.renamed_from.as_deref() == Some(file.rel.as_str())
                && crate::model::layout::scope_of_path(&added.rel) == crate::model::layout::scope_of_path(&file.rel)
        };
        if file.kind == PathChangeKind::Removed && files.iter().any(renamed_within) {
            continue;
        }
        for need in file_needs(diff, file) {
            let path = repo_path(diff.head, &file.rel);
            if need.owner.and_then(|o| source.satisfies(o)).is_none() && !covered.contains(&(path, need.scope.clone()))
            {
                refusals.push(Refusal { what: Changed::File(file), need });
            }
        }
    }
    if refusals.is_empty() {
        return Vec::new();
    }
    if source.is_unknown() {
        return vec![unknown_source(diff, &refusals)];
    }
    refusals.iter().map(|r| unauthorized(diff, r.what, &r.need, source)).collect()
}

/// A base that holds no model file at all under the model root: this change creates the
/// model. A base with model files but no readable `ecosystem.yaml` is not a first commit; it
/// authorizes nothing (`closed`).
pub fn is_first_commit(base: &Model) -> bool {
    base.files.is_empty()
}

fn repo_path(model: &Model, rel: &str) -> String {
    if model.root.is_empty() { rel.to_string() } else { format!("{}/{rel}", model.root) }
}

/// When the base has model files but no readable `ecosystem.yaml`, nobody's ownership can be
/// read from it (zone owners are declared there, team owners by zone owners): every change
/// needs this owner, which nobody satisfies.
fn closed(base: &Model) -> Option<Need<'_>> {
    if base.ecosystem.is_some() {
        return None;
    }
    let path = repo_path(base, "ecosystem.yaml");
    let why = if base.files.iter().any(|f| *f.path == *path) {
        "ecosystem.yaml could not be read in the base"
    } else {
        "the base has model files but no ecosystem.yaml"
    };
    Some(Need {
        scope: "the ecosystem".into(),
        owner: None,
        new_declaration: false,
        note: Some(format!(
            "{why}, so no owner can be read from it and nobody can authorize this; merge the fix as a repository administrator"
        )),
    })
}

/// The owners a changed file needs: its scope's owner as the base records it (for an added
/// file in a scope the base does not declare, the owner its new declaration names, else the
/// parent's, who would have to declare it). A renamed or moved file needs both scopes.
fn file_needs<'m>(diff: &Diff<'m>, file: &PathChange) -> Vec<Need<'m>> {
    if let Some(need) = closed(diff.base) {
        return vec![need];
    }
    let (base, head) = (diff.base, diff.head);
    let at_base = |rel: &str| base_scope_owner(base, &crate::model::layout::scope_of_path(rel));
    match file.kind {
        PathChangeKind::Modified | PathChangeKind::Removed => vec![at_base(&file.rel)],
        PathChangeKind::Added => {
            let scope = crate::model::layout::scope_of_path(&file.rel);
            let declared = match &scope.team {
                Some(team) => base.zone(&scope.zone).is_some_and(|z| z.teams.iter().any(|d| *d.name.value == **team)),
                None if scope.zone.is_empty() => true,
                None => base.ecosystem().is_some_and(|e| e.zones.iter().any(|d| *d.name.value == *scope.zone)),
            };
            let to = if declared {
                at_base(&file.rel)
            } else {
                new_scope_owner(base, head, &scope).unwrap_or_else(|| {
                    let parent =
                        Scope { zone: if scope.team.is_some() { scope.zone.clone() } else { "".into() }, team: None };
                    base_scope_owner(base, &parent)
                })
            };
            // The removed side of a rename is a change of its own, listed separately.
            vec![to]
        }
    }
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
    // Only reached with a readable base ecosystem (`closed` answers for the others).
    Need::declared("the ecosystem".into(), model.ecosystem().and_then(|e| e.owner.as_ref()), false)
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
    if let Some(need) = closed(diff.base) {
        return vec![need];
    }
    let (base, head) = (diff.base, diff.head);
    match change.kind {
        ChangeKind::Modified | ChangeKind::Removed | ChangeKind::Unreadable => {
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
        ChangeKind::Unreadable => "unreadable in the head",
    }
}

/// A changed file as an object: its path under its scope's objects, at its first line (in the
/// head, or in the base when it is gone).
fn file_object(diff: &Diff<'_>, file: &PathChange) -> (Vec<ObjectRef>, Option<Location>) {
    let (paths, model, revision) = match file.kind {
        PathChangeKind::Removed => (Paths::base(diff.base), diff.base, crate::problem::Revision::Base),
        _ => (Paths::new(diff.head), diff.head, crate::problem::Revision::Head),
    };
    let location = Location { file: repo_path(model, &file.rel).into(), pos: Pos::new(1, 1), revision };
    let mut path = paths.scope(&crate::model::layout::scope_of_path(&file.rel));
    path.push(ObjectRef {
        kind: crate::problem::ObjectKind::File,
        name: location.file.to_string(),
        location: Some(location.clone()),
    });
    (path, Some(location))
}

fn file_verb(file: &PathChange) -> String {
    match (file.kind, &file.renamed_from) {
        (PathChangeKind::Added, Some(from)) => format!("renamed or moved here from `{from}`"),
        (PathChangeKind::Added, None) => "added".into(),
        (PathChangeKind::Removed, _) => "removed".into(),
        (PathChangeKind::Modified, _) => "changed".into(),
    }
}

/// The object a refusal is about, where to report it, and what happened to it.
fn subject(diff: &Diff<'_>, what: Changed<'_>) -> (Vec<ObjectRef>, Option<Location>, String) {
    match what {
        Changed::Object(index) => {
            let change = &diff.changes[index];
            let (path, location) = object_and_location(diff, change);
            (path, location, verb(change.kind).to_string())
        }
        Changed::File(file) => {
            let (path, location) = file_object(diff, file);
            (path, location, file_verb(file))
        }
    }
}

fn unauthorized(diff: &Diff<'_>, what: Changed<'_>, need: &Need<'_>, source: &ChangeSource) -> Problem {
    let (path, location, verb) = subject(diff, what);
    let object = path.last().map(ToString::to_string).unwrap_or_default();
    let why = match what {
        Changed::File(_) => "; every file in a folder belongs to the folder's owner, whatever it holds, so this needs",
        Changed::Object(_) => ", which needs",
    };
    let message = format!(
        "{object} is {verb}{why} the owner of {}, but the change comes from {}",
        need.describe(),
        source.describe()
    );
    let mut problem = Problem::new(Rule::AuthzUnauthorized, message, location, path)
        .detail(format!("{verb} {}", need.scope))
        .help(match need.owner {
            Some(_) => format!("Have the owner of {} make or approve this change.", need.scope),
            None => "Nobody can authorize this from the base: declare the owner first, or merge it as a repository administrator after review.".into(),
        });
    problem.owner = Some(need.owner.map_or("(no owner declared)".into(), ToString::to_string));
    problem
}

/// Without a change source nothing can be authorized: one problem, not one per change.
fn unknown_source(diff: &Diff<'_>, refusals: &[Refusal<'_, '_>]) -> Problem {
    let mut objects: Vec<String> = Vec::new();
    for refusal in refusals {
        let (path, _, _) = subject(diff, refusal.what);
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
