//! The in-memory model of a data ecosystem: typed objects with spans, placed in files.
//!
//! Architecture Invariant: `model` does no IO and knows nothing about YAML parsing, git or
//! rules. A `Model` is assembled by `load` from parsed files; each parsed file is shared
//! behind an `Arc`, so two revisions that share a blob share its objects.

mod column_type;
pub mod layout;
mod objects;
pub mod principal;
mod text;

use std::sync::Arc;

pub use crate::span::{Pos, Span, Spanned};
pub use column_type::{ColumnType, TYPE_NAMES, TypeError};
pub use objects::*;
pub use text::{Ident, same_ident};

/// Index of a file in `Model::files`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A git blob id (SHA-1), when the model was read from a revision.
pub type BlobId = [u8; 20];

/// One YAML document of a model file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Document {
    Ecosystem(Arc<Ecosystem>),
    Zone(Arc<GovernanceZone>),
    Team(Arc<Team>),
    Datastore(Arc<Datastore>),
    Workspace(Arc<Workspace>),
}

/// A problem found while reading one file, before the file is placed in a model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileProblem {
    pub rule: crate::rules::Rule,
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

/// What reading one file produced: its documents and the problems met on the way.
///
/// A parsed file depends only on the file's bytes and its place in the layout, which is what
/// makes it safe to share between revisions and to cache by blob id.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ParsedFile {
    pub documents: Vec<Document>,
    pub problems: Vec<FileProblem>,
    /// How many bytes the loader read (they count towards the model's size limit); 0 for a
    /// file refused unread.
    pub bytes: u64,
    /// Whether the bytes were accepted as model text: a regular file within the size limit,
    /// UTF-8 without NUL bytes. Excerpts in reports are only ever taken from such files.
    pub text: bool,
    /// For a file whose YAML could not be parsed (documents were lost), the names its
    /// top-level `name:` lines give: references to them are not reported as unknown, since the
    /// broken file's own problem explains them. Empty for every readable file.
    pub salvaged: Vec<Str>,
    /// For a summarized file (from the folder cache): its datastores hold only what the
    /// global rules need, and these are their local problems, with object paths from the
    /// datastore down. `None` for a fully read file.
    pub cached_local: Option<Vec<crate::problem::Problem>>,
}

/// A file of the model, with its path relative to the repository root.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: Arc<str>,
    pub blob: Option<BlobId>,
    pub parsed: Arc<ParsedFile>,
}

/// The zone and team folders an object was found in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub zone: Arc<str>,
    pub team: Option<Arc<str>>,
}

/// An object together with the file and folders it was found in.
#[derive(Clone, Debug)]
pub struct Placed<T> {
    pub file: FileId,
    pub scope: Scope,
    pub value: Arc<T>,
}

impl<T> std::ops::Deref for Placed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A whole ecosystem as read from one folder or revision.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Every model file, including those that failed to parse.
    pub files: Vec<SourceFile>,
    /// The folder of the model inside the repository (`""` for the repository root).
    pub root: String,
    pub ecosystem: Option<(FileId, Arc<Ecosystem>)>,
    pub zones: Vec<Placed<GovernanceZone>>,
    pub teams: Vec<Placed<Team>>,
    pub datastores: Vec<Placed<Datastore>>,
    pub workspaces: Vec<Placed<Workspace>>,
    /// Team folders with content ids (git revisions only), for the folder cache.
    pub folders: Vec<layout::TeamFolder>,
}

impl Model {
    pub fn path(&self, file: FileId) -> &Arc<str> {
        &self.files[file.0 as usize].path
    }

    pub fn ecosystem(&self) -> Option<&Ecosystem> {
        self.ecosystem.as_ref().map(|(_, e)| &**e)
    }

    pub fn zone(&self, name: &str) -> Option<&Placed<GovernanceZone>> {
        self.zones.iter().find(|z| &*z.scope.zone == name)
    }

    pub fn team(&self, zone: &str, team: &str) -> Option<&Placed<Team>> {
        self.teams.iter().find(|t| &*t.scope.zone == zone && t.scope.team.as_deref() == Some(team))
    }
}
