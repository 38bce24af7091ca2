//! Team-folder summaries: the unit of the warm cache for big models.
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

use crate::model::{BlobId, Dataset, Datastore, Document, ParsedFile, Spanned};
use crate::problem::Problem;

/// A team folder of a git revision: its path (from the repository root) and tree id, and the
/// blob of its zone's `zone.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamFolder {
    pub path: String,
    pub tree: BlobId,
    pub zone_blob: Option<BlobId>,
    /// Whether the model holds this folder's summary (from the cache) rather than its files.
    pub summarized: bool,
}

impl TeamFolder {
    pub fn key(&self) -> FolderKey {
        FolderKey { path: self.path.clone(), tree: self.tree, zone_blob: self.zone_blob }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FolderKey {
    pub path: String,
    pub tree: BlobId,
    pub zone_blob: Option<BlobId>,
}

/// What the cache keeps of a team folder: its files in path order, each summarized.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FolderEntry {
    /// The key it was stored under, checked again when read.
    pub key: FolderKey,
    pub files: Vec<(String, Option<BlobId>, Arc<ParsedFile>)>,
}

/// A file cut down for the cache: datastores summarized and their `local` problems attached
/// (with object paths from the datastore down); other documents kept whole.
pub fn summarize(parsed: &ParsedFile, local: Vec<Problem>) -> ParsedFile {
    if !parsed.documents.iter().any(|d| matches!(d, Document::Datastore(_))) {
        return parsed.clone();
    }
    let documents = parsed
        .documents
        .iter()
        .map(|document| match document {
            Document::Datastore(store) => Document::Datastore(Arc::new(summarize_datastore(store))),
            other => other.clone(),
        })
        .collect();
    ParsedFile {
        documents,
        problems: parsed.problems.clone(),
        cached_local: Some(local),
        salvaged: parsed.salvaged.clone(),
        bytes: parsed.bytes,
        text: parsed.text,
    }
}

fn summarize_datastore(store: &Datastore) -> Datastore {
    let datasets = store
        .datasets
        .iter()
        .map(|dataset| {
            // The global rules read a dataset's classifications as one list, its own or its
            // columns': keep that list, without the columns.
            let classifications: Vec<crate::model::Name> =
                dataset.distinct_classifications().into_iter().cloned().collect();
            let span = dataset.classifications.as_ref().map_or(dataset.span, |c| c.span);
            Dataset {
                span: dataset.span,
                name: dataset.name.clone(),
                documentation: None,
                classifications: (!classifications.is_empty()).then(|| Spanned::new(classifications, span)),
                deprecated: dataset.deprecated.clone(),
                schema: None,
            }
        })
        .collect();
    Datastore {
        span: store.span,
        name: store.name.clone(),
        documentation: None,
        production_status: store.production_status.clone(),
        deprecated: store.deprecated.clone(),
        // The local rules read the capture, and the global credential rule reads its credential.
        capture: store.capture.clone(),
        datasets: Spanned::new(datasets, store.datasets.span),
    }
}
