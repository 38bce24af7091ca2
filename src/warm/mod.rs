//! Warm checks of big models: team-folder summaries, which combine loading and linting, so
//! they live above both (`load` stores and finds them, `validate` computes the local problems
//! they keep).
//!
//! A git tree id names the exact content of a team folder, so a folder whose tree is
//! unchanged needs neither reading nor linting again. Its summary holds, per file, the file's
//! datastores cut down to what the global rules use (names, capture, production status,
//! deprecations, and each dataset's classifications), their local lint problems (everything
//! lint says about a datastore from its file, its team and its zone alone), and the file's own
//! reading problems; workspace and team documents are kept whole. The key (`load::FolderKey`)
//! is the folder's path, its tree id and the blob of its zone's `zone.yaml` (whose policies
//! the local rules read), so an entry can never be stale.

pub mod index;

use std::sync::Arc;

use crate::load;
use crate::model::{Dataset, Datastore, Document, Model, ParsedFile, Spanned};
use crate::problem::Problem;

/// Condenses team-content files as they are read (`load::Condense`): each datastore file is
/// linted by the local rules right away and cut down to its summary, so a cold load of a big
/// model holds names, classifications and captures, not every column. A model of 12 million
/// datasets × 10 columns took ~2.4 KB per dataset whole; condensed it takes what
/// `summarize_datastore` keeps (see docs/performance.md).
pub struct Condenser;

impl load::Condense for Condenser {
    fn start<'f>(&'f self, frame: &'f Model) -> load::CondenseFile<'f> {
        let index = crate::validate::Index::new(frame);
        // The frame with one more file slot: the file being condensed, so that problems
        // point into it while zone and team objects keep their places.
        let mut own = frame.clone();
        own.files.push(crate::model::SourceFile { path: Arc::from(""), blob: None, parsed: Default::default() });
        let slot = own.files.len() - 1;
        Box::new(move |path, blob, scope, parsed| {
            if !parsed.documents.iter().any(|d| matches!(d, Document::Datastore(_))) {
                return parsed;
            }
            own.files[slot] = crate::model::SourceFile { path: path.clone(), blob, parsed: parsed.clone() };
            let stores: Vec<crate::model::Placed<Datastore>> = parsed
                .documents
                .iter()
                .filter_map(|d| match d {
                    Document::Datastore(store) => Some(crate::model::Placed {
                        file: crate::model::FileId(slot as u32),
                        scope: scope.clone(),
                        value: store.clone(),
                    }),
                    _ => None,
                })
                .collect();
            let stores: Vec<&crate::model::Placed<Datastore>> = stores.iter().collect();
            let local = crate::validate::local_problems(&own, &index, &stores);
            own.files[slot].parsed = Default::default();
            Arc::new(summarize(&parsed, local))
        })
    }
}

/// Stores a summary of every team folder of `model` that was read file by file, with the
/// local problems that `lint` found in it, so that the next load can skip the folder.
pub fn remember_folders(cache: &load::ParseCache, model: &Model, fresh_local: &[Problem]) {
    // Summaries pay off in a later process; without a disk cache nobody would read them.
    if !cache.keeps_summaries() {
        return;
    }
    let mut local_by_file: std::collections::HashMap<&str, Vec<Problem>> = Default::default();
    for problem in fresh_local {
        if let Some(location) = &problem.location {
            local_by_file
                .entry(&location.file)
                .or_default()
                .push(crate::validate::relative_to_datastore(problem.clone()));
        }
    }
    for folder in model.folders.iter().filter(|f| !f.summarized) {
        let prefix = format!("{}/", folder.path);
        let start = model.files.partition_point(|f| *f.path < *prefix.as_str());
        let files: Vec<_> = model.files[start..]
            .iter()
            .take_while(|f| f.path.starts_with(&prefix))
            .map(|f| {
                let local = local_by_file.remove(&*f.path).unwrap_or_default();
                (f.path.to_string(), f.blob, Arc::new(summarize(&f.parsed, local)))
            })
            .collect();
        // "container `x` belongs to team T" reads every team's containers, which the key does
        // not name: a folder with such a problem is read again each time, never summarized.
        let reads_other_teams = files
            .iter()
            .flat_map(|(_, _, f)| f.cached_local.iter().flatten())
            .any(|p| p.rule == crate::rules::Rule::RefUnknown && p.detail.starts_with("container "));
        if files.iter().all(|(_, blob, _)| blob.is_some()) && !reads_other_teams {
            cache.insert_folder(load::FolderEntry { key: load::FolderKey::of(folder), files });
        }
    }
}

/// A file cut down for the cache: datastores summarized and their `local` problems attached
/// (with object paths from the datastore down); other documents kept whole.
pub fn summarize(parsed: &ParsedFile, local: Vec<Problem>) -> ParsedFile {
    // Condensed while loading: already a summary, with its local problems.
    if parsed.cached_local.is_some() {
        return parsed.clone();
    }
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

pub(crate) fn summarize_datastore(store: &Datastore) -> Datastore {
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
