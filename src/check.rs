//! `check`: load base and head, lint the head, then diff, authorization and compatibility.
//!
//! Base and head are read through one `ParseCache`, so each distinct blob is parsed once.

use crate::authz::{self, ChangeSource};
use crate::diff::{self, ChangeKind, DocChange, DocRef};
use crate::load::{self, GitRepo, ParseCache, Snapshot};

use crate::validate::{self, Paths};
use crate::verdict::{ChangeLine, CheckSummary, FileDiff, Report};

/// Everything a check needs: the two sides, who makes the change, and the load limits.
pub struct CheckConfig {
    pub base: Side,
    pub head: Side,
    pub source: ChangeSource,
    pub load: load::Options,
}

/// One side of a check: the model root to read, how to name it, and its commit when known.
pub struct Side {
    pub snapshot: Snapshot,
    /// `main`, `HEAD~1`, or the folder.
    pub label: String,
    /// The full commit id, for reports.
    pub commit: Option<String>,
}

impl Side {
    /// The model root `root` (from the repository root) at revision `rev` of `repo`.
    pub fn revision(repo: &GitRepo, rev: &str, root: &str) -> Result<Side, load::Error> {
        Ok(Side { snapshot: repo.snapshot(rev, root)?, label: rev.to_string(), commit: repo.resolve(rev).ok() })
    }

    /// A model root folder on disk; `prefix` is the model root's path from the repository
    /// root for reports (the same for both sides of a check of two folders).
    pub fn folder(path: &std::path::Path, prefix: &str) -> Result<Side, load::Error> {
        let root = match load::Snapshot::folder(path)? {
            Snapshot::Folder { root, .. } => root,
            _ => unreachable!("Snapshot::folder makes a folder snapshot"),
        };
        Ok(Side {
            snapshot: Snapshot::Folder { root, prefix: prefix.to_string() },
            label: path.display().to_string(),
            commit: None,
        })
    }
}

impl CheckConfig {
    /// A check of two revisions of one repository.
    pub fn revisions(
        repo: &GitRepo,
        (base, head): (&str, &str),
        root: &str,
        source: ChangeSource,
        load: load::Options,
    ) -> Result<CheckConfig, load::Error> {
        Ok(CheckConfig {
            base: Side::revision(repo, base, root)?,
            head: Side::revision(repo, head, root)?,
            source,
            load,
        })
    }
}

/// The report, the two snapshots for rendering source snippets, and the two models.
pub struct CheckOutput {
    pub report: Report,
    pub base: Snapshot,
    pub head: Snapshot,
    pub base_model: crate::model::Model,
    pub head_model: crate::model::Model,
}

/// Most changed files whose text goes into the report, and most bytes per file.
const MAX_DIFF_FILES: usize = 40;
const MAX_DIFF_FILE_BYTES: usize = 256 * 1024;

pub fn check(config: CheckConfig, cache: &ParseCache) -> Result<CheckOutput, load::Error> {
    let CheckConfig { base: base_side, head: head_side, source, load: options } = config;
    let (base_snapshot, head_snapshot) = (base_side.snapshot, head_side.snapshot);
    let mut timer = crate::timing::Timer::new();
    // Team folders that differ between base and head are read file by file on both sides,
    // since diff compares their documents; the others may come from folder summaries.
    let full = changed_folders(&base_snapshot, &head_snapshot)?;
    // Base and head condense the same unchanged files: the second side takes the first's.
    cache.share_condensed();
    // Every changed byte under the model root needs its scope's owner, not only the objects.
    let files = load::changed_paths(&base_snapshot, &head_snapshot)?;
    // With a cache, the persisted index may stand in for every folder the change cannot
    // reach (`warm::index`); otherwise everything outside the changed folders is condensed as
    // it is read: lint, authorization and compatibility need whole documents only where
    // something changed.
    let (head, base, mut problems, head_files) =
        match crate::warm::index::check(&base_snapshot, &head_snapshot, &options, cache, &full)? {
            Some(part) => {
                timer.mark("warm index");
                crate::warm::remember_folders(cache, &part.head, &part.fresh_local);
                part.remember(cache, &head_snapshot);
                (part.head, part.base, part.problems, part.files)
            }
            None => {
                // Only git trees tell which folders are unchanged; two folders on disk are read whole.
                let both_git = matches!((&base_snapshot, &head_snapshot), (Snapshot::Git { .. }, Snapshot::Git { .. }));
                let condense = both_git.then_some(&crate::warm::Condenser as &dyn load::Condense);
                let head = load::load_planned(&head_snapshot, &options, cache, &full, condense)?;
                // A change of team content alone leaves the frame (ecosystem, zones, teams) as
                // it was, so the base's unchanged folders are the head's, already condensed.
                let base = if both_git && team_content_only(&files) {
                    load::load_beside(&base_snapshot, &options, cache, &full, condense, &head)?
                } else {
                    load::load_planned(&base_snapshot, &options, cache, &full, condense)?
                };
                timer.mark("load both");
                let lint = validate::lint_detailed(&head);
                crate::warm::remember_folders(cache, &head, &lint.fresh_local);
                crate::warm::index::record(cache, &head_snapshot, &head, &lint.problems);
                let count = head.files.len();
                (head, base, lint.problems, count)
            }
        };
    timer.mark("lint head");
    crate::progress::phase("comparing base and head", 0);
    let diff = diff::diff(&base, &head);
    timer.mark("diff");
    let source = &source;
    let mut notes = Vec::new();
    let first_commit = authz::is_first_commit(&base);
    problems.extend(authz::check(&diff, &files, source));
    let mut impact = Vec::new();
    if first_commit {
        notes.push(format!("{} holds no model file: this change creates the model.", base_snapshot.describe()));
    } else {
        let (mut compat, impacts) = crate::compat::check(&diff, source);
        // Breaking changes name the producer's owner as recorded in the base.
        validate::assign_owners(&base, &mut compat);
        problems.extend(compat);
        impact = impacts;
    }
    validate::sort(&mut problems);
    timer.mark("authz+compat");
    notes.push(format!(
        "{} model {} changed between {} and {}; change source: {}.",
        diff.changes.len(),
        if diff.changes.len() == 1 { "object" } else { "objects" },
        base_side.label,
        head_side.label,
        source.describe()
    ));

    let summary = CheckSummary {
        base_rev: base_side.label.clone(),
        head_rev: head_side.label.clone(),
        base_commit: base_side.commit.clone(),
        head_commit: head_side.commit.clone(),
        source: source.describe(),
        changes: diff.changes.iter().map(change_line).collect(),
        impact,
        files: file_diffs(&diff.changed_files, (&base_snapshot, &base), (&head_snapshot, &head), &options),
    };
    let root = Paths::new(&head).ecosystem().remove(0);
    let report = Report {
        command: "check",
        root,
        problems,
        files: head_files,
        notes,
        check: Some(summary),
        fail_on: crate::problem::Severity::Error,
    };
    drop(diff);
    Ok(CheckOutput { report, base: base_snapshot, head: head_snapshot, base_model: base, head_model: head })
}

/// Team folders whose tree differs between the two snapshots (or exists in one only).
/// Whether every changed path (and every path a rename came from) is team content: then no
/// frame file (ecosystem, zone, team or stray file) differs between base and head.
fn team_content_only(changes: &[load::PathChange]) -> bool {
    use crate::model::layout::{Classified, Place, classify};
    changes
        .iter()
        .flat_map(|c| std::iter::once(&c.rel).chain(&c.renamed_from))
        .all(|rel| matches!(classify(rel), Classified::Model { place: Place::TeamContent, .. }))
}

fn changed_folders(base: &Snapshot, head: &Snapshot) -> Result<std::collections::HashSet<String>, load::Error> {
    let trees = |snapshot: &Snapshot| -> Result<std::collections::HashMap<String, crate::model::BlobId>, load::Error> {
        Ok(snapshot.team_folders()?.into_iter().map(|(rel, tree, _)| (rel, tree)).collect())
    };
    let (base_folders, head_folders) = (trees(base)?, trees(head)?);
    let join = |snapshot: &Snapshot, rel: &str| {
        if snapshot.prefix().is_empty() { rel.to_string() } else { format!("{}/{rel}", snapshot.prefix()) }
    };
    let mut changed = std::collections::HashSet::new();
    for (rel, tree) in &head_folders {
        if base_folders.get(rel) != Some(tree) {
            changed.insert(join(head, rel));
        }
    }
    for rel in base_folders.keys() {
        if !head_folders.contains_key(rel) {
            changed.insert(join(base, rel));
        }
    }
    Ok(changed)
}

fn scope_words(doc: &DocRef<'_>) -> String {
    let scope = doc.scope();
    match (&scope.team, scope.zone.is_empty()) {
        (_, true) => "the ecosystem".into(),
        (Some(team), false) => format!("team {}/{team}", scope.zone),
        (None, false) => format!("zone {}", scope.zone),
    }
}

fn change_line(change: &DocChange<'_>) -> ChangeLine {
    let doc = change.head.or(change.base).expect("a change has a side");
    let object = match doc {
        DocRef::Ecosystem(_, e) => format!("Ecosystem {}", e.name),
        DocRef::Zone(z) => format!("Zone {}", z.scope.zone),
        DocRef::Team(t) => format!("Team {}/{}", t.scope.zone, t.scope.team.as_deref().unwrap_or_default()),
        DocRef::Datastore(d) => format!("Datastore {}", d.name),
        DocRef::Workspace(w) => format!("Workspace {}", w.name),
    };
    let scope = match (change.kind, &change.base, &change.head) {
        (ChangeKind::Moved, Some(base), Some(head)) => format!("{} → {}", scope_words(base), scope_words(head)),
        _ => scope_words(&doc),
    };
    let verb = match change.kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Modified => "changed",
        ChangeKind::Moved => "moved",
        ChangeKind::Unreadable => "could not be read in the head",
    };
    ChangeLine {
        object,
        verb,
        scope,
        details: change.fields.iter().map(|f| format!("{}: {}", f.path, f.description)).collect(),
    }
}

/// The text of changed files on both sides, for the Markdown diff: only files the loader
/// accepted as text, and none bigger than `MAX_DIFF_FILE_BYTES`.
fn file_diffs(
    paths: &[std::sync::Arc<str>],
    base: (&Snapshot, &crate::model::Model),
    head: (&Snapshot, &crate::model::Model),
    options: &load::Options,
) -> Vec<FileDiff> {
    let max = options.max_file_size.min(MAX_DIFF_FILE_BYTES as u64);
    let text = |(snapshot, model): (&Snapshot, &crate::model::Model), path: &str| snapshot.excerpt(model, path, max);
    paths
        .iter()
        .take(MAX_DIFF_FILES)
        .map(|path| FileDiff { path: path.to_string(), base: text(base, path), head: text(head, path) })
        .collect()
}
