//! Team-folder summaries as the cache stores them (built by `crate::warm`): the unit of the
//! warm cache for big models.
//!
//! A git tree id names the exact content of a team folder, so a folder whose tree is
//! unchanged needs neither reading nor linting again. Its entry in the cache holds, per
//! file, a summary: datastores cut down to what the global rules use (names, capture, production
//! status, deprecations, and each dataset's classifications), their local lint problems
//! (everything lint says about a datastore from its file, its team and its zone alone), and
//! the file's own reading problems; workspace and team documents are kept whole. The key is
//! the folder's path, its tree id and the blob of its zone's `zone.yaml` (whose policies
//! the local rules read), so an entry can never be stale.

use std::sync::Arc;

use crate::model::{BlobId, ParsedFile};

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FolderKey {
    pub path: String,
    pub tree: BlobId,
    pub zone_blob: Option<BlobId>,
}

impl FolderKey {
    pub fn of(folder: &crate::model::layout::TeamFolder) -> FolderKey {
        FolderKey { path: folder.path.clone(), tree: folder.tree, zone_blob: folder.zone_blob }
    }
}

/// What the cache keeps of a team folder: its files in path order, each summarized.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FolderEntry {
    /// The key it was stored under, checked again when read.
    pub key: FolderKey,
    pub files: Vec<(String, Option<BlobId>, Arc<ParsedFile>)>,
}
