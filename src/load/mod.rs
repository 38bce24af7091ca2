//! Reads a model from a folder, or from a git revision through gix without a checkout.
//!
//! Architecture Invariant: only `load` knows gix and the file system layout. Reading never
//! fails on bad content: every file becomes a `ParsedFile` whose problems say what was wrong
//! with it, so one broken file cannot hide the findings of the others. `Error` is only for
//! "could not run" conditions: a missing folder, an unknown revision, a broken repository.

mod cache;
pub mod decode;
mod layout;
mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use cache::DiskCache;
pub use layout::{Classified, classify};
pub use source::{GitRepo, Snapshot};

use crate::model::{Document, FileId, FileProblem, Model, ParsedFile, Placed, Pos, Scope, SourceFile};
use crate::rules::Rule;
use crate::yaml;

/// Default limit on the size of one model file.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub max_file_size: u64,
    pub limits: yaml::Limits,
    /// Worker threads for reading and parsing; `0` means one per core.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_file_size: DEFAULT_MAX_FILE_SIZE, limits: yaml::Limits::default(), threads: 0 }
    }
}

/// Why a model could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: no such folder")]
    NotAFolder { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not inside a git repository: {message}")]
    NotARepository { path: PathBuf, message: String },
    #[error("revision `{rev}` not found: {message}")]
    RevNotFound { rev: String, message: String },
    #[error("model root `{root}` is not a folder at revision `{rev}`")]
    RootNotFound { rev: String, root: String },
    #[error("reading the repository: {message}")]
    Git { message: String },
}

/// One file of the model source: a path relative to the model root and how to read it.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    pub rel: String,
    pub kind: EntryKind,
    /// The size in bytes when the listing knows it (folders, memory); 0 for git, whose
    /// sizes come from object headers when the file is read (`Reader::size`).
    pub size: u64,
    pub blob: Option<crate::model::BlobId>,
    /// Where to read it in the order that is cheapest for the source (pack position for git).
    pub order: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Symlink,
}

/// Parsed files by blob id and place, shared by every load that uses it: a check parses each
/// distinct blob once, although base and head hold almost the same blobs.
///
/// With a `DiskCache` behind it, parsed files also survive the process (`--cache-dir`).
#[derive(Default)]
pub struct ParseCache {
    files: std::sync::Mutex<std::collections::HashMap<(crate::model::BlobId, decode::Place), Arc<ParsedFile>>>,
    disk: Option<DiskCache>,
}

impl ParseCache {
    pub fn with_disk(disk: DiskCache) -> ParseCache {
        ParseCache { files: Default::default(), disk: Some(disk) }
    }

    pub fn get(&self, blob: &crate::model::BlobId, place: decode::Place) -> Option<Arc<ParsedFile>> {
        if let Some(parsed) = self.files.lock().ok()?.get(&(*blob, place)).cloned() {
            return Some(parsed);
        }
        let parsed = Arc::new(self.disk.as_ref()?.get(blob, place)?);
        if let Ok(mut files) = self.files.lock() {
            files.insert((*blob, place), parsed.clone());
        }
        Some(parsed)
    }

    pub fn insert(&self, blob: crate::model::BlobId, place: decode::Place, parsed: Arc<ParsedFile>) {
        if let Some(disk) = &self.disk {
            disk.put(&blob, place, &parsed);
        }
        if let Ok(mut files) = self.files.lock() {
            files.insert((blob, place), parsed);
        }
    }

    /// Keeps the disk cache within its size limit; call once a run is done.
    pub fn prune(&self) {
        if let Some(disk) = &self.disk {
            disk.prune();
        }
    }

    pub fn len(&self) -> usize {
        self.files.lock().map_or(0, |f| f.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads the model under `root` of `snapshot`.
pub fn load(snapshot: &Snapshot, options: &Options) -> Result<Model, Error> {
    load_cached(snapshot, options, &ParseCache::default())
}

/// Reads a model, taking parsed files from `cache` when their blob was parsed before.
pub fn load_cached(snapshot: &Snapshot, options: &Options, cache: &ParseCache) -> Result<Model, Error> {
    let mut timer = crate::timing::Timer::new();
    let entries = snapshot.entries()?;
    timer.mark("list files");
    let prefix = snapshot.prefix();
    let mut jobs: Vec<(String, Classified, SourceEntry)> = Vec::new();
    for entry in entries {
        let classified = classify(&entry.rel);
        if classified == Classified::Ignored && entry.kind != EntryKind::Symlink {
            continue;
        }
        let path = if prefix.is_empty() { entry.rel.clone() } else { format!("{prefix}/{}", entry.rel) };
        jobs.push((path, classified, entry));
    }
    jobs.sort_by(|a, b| a.0.cmp(&b.0));

    let parsed = parse_all(snapshot, &jobs, options, cache)?;
    timer.mark("parse files");
    let model = assemble(prefix, jobs, parsed);
    timer.mark("assemble");
    Ok(model)
}

/// Reads and parses every job, in parallel, keeping the order of `jobs`.
fn parse_all(
    snapshot: &Snapshot,
    jobs: &[(String, Classified, SourceEntry)],
    options: &Options,
    cache: &ParseCache,
) -> Result<Vec<Arc<ParsedFile>>, Error> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(jobs.len().div_ceil(32))
    .max(1);
    // Read in the source's cheapest order (pack order for git), in runs of neighbours per
    // thread: a delta then comes right after its base, which the thread has just decoded.
    let mut sequence: Vec<usize> = (0..jobs.len()).collect();
    sequence.sort_by_key(|i| jobs[*i].2.order);
    let chunk = (jobs.len() / (threads * 8)).clamp(16, 1024);
    let next = AtomicUsize::new(0);
    type Parsed = Result<Vec<(usize, Arc<ParsedFile>)>, Error>;
    let results: Vec<Parsed> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let reader = snapshot.reader();
                    let mut done = Vec::new();
                    'chunks: loop {
                        let first = next.fetch_add(chunk, Ordering::Relaxed);
                        for &index in sequence.iter().skip(first).take(chunk) {
                            let (_, classified, entry) = &jobs[index];
                            let cacheable = match (classified, &entry.blob) {
                                (Classified::Model { place, .. }, Some(blob)) if entry.kind == EntryKind::File => {
                                    Some((*place, *blob))
                                }
                                _ => None,
                            };
                            if let Some(parsed) = cacheable.and_then(|(place, blob)| cache.get(&blob, place)) {
                                done.push((index, parsed));
                                continue;
                            }
                            let parsed = Arc::new(parse_file(&reader, classified, entry, options)?);
                            if let Some((place, blob)) = cacheable {
                                cache.insert(blob, place, parsed.clone());
                            }
                            done.push((index, parsed));
                        }
                        if first + chunk >= jobs.len() {
                            break 'chunks;
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(Error::Git { message: "a reader thread panicked".into() })))
            .collect()
    });
    let mut parsed: Vec<Option<Arc<ParsedFile>>> = (0..jobs.len()).map(|_| None).collect();
    for result in results {
        for (index, file) in result? {
            parsed[index] = Some(file);
        }
    }
    Ok(parsed.into_iter().map(Option::unwrap_or_default).collect())
}

fn file_problem(rule: Rule, message: String, help: Option<String>) -> ParsedFile {
    ParsedFile { documents: Vec::new(), problems: vec![FileProblem { rule, pos: Pos::new(1, 1), message, help }] }
}

/// Reads and parses one file. Only repository failures are errors; bad content is a problem.
pub fn parse_file(
    reader: &source::Reader<'_>,
    classified: &Classified,
    entry: &SourceEntry,
    options: &Options,
) -> Result<ParsedFile, Error> {
    if entry.kind == EntryKind::Symlink {
        return Ok(file_problem(
            Rule::FileSymlink,
            "symbolic links are not followed inside a model".into(),
            Some("Replace the link with the file or folder itself.".into()),
        ));
    }
    let place = match classified {
        Classified::Model { place, .. } => *place,
        Classified::Unexpected { hint } => {
            return Ok(file_problem(
                Rule::LayoutUnexpectedFile,
                "this YAML file has no place in the model layout".into(),
                Some(hint.clone()),
            ));
        }
        Classified::Ignored => return Ok(ParsedFile::default()),
    };
    if entry.size > options.max_file_size {
        return Ok(file_problem(
            Rule::FileTooLarge,
            format!(
                "the file is {} bytes, over the limit of {} bytes; it was not read",
                entry.size, options.max_file_size
            ),
            Some("Split the file, or raise the limit with --max-file-size.".into()),
        ));
    }
    let bytes = reader.read(entry)?;
    Ok(parse_bytes(&bytes, place, options))
}

/// Parses the bytes of a file that sits at `place` of the layout.
pub fn parse_bytes(bytes: &[u8], place: decode::Place, options: &Options) -> ParsedFile {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text,
        Ok(_) => return file_problem(Rule::FileNotUtf8, "the file is binary (it contains NUL bytes)".into(), None),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let col =
                valid.rsplit(|b| *b == b'\n').next().map_or(0, |l| String::from_utf8_lossy(l).chars().count()) + 1;
            let mut file = file_problem(
                Rule::FileNotUtf8,
                format!("the file is not UTF-8 text (invalid byte at offset {})", error.valid_up_to()),
                Some("Save the file as UTF-8.".into()),
            );
            file.problems[0].pos = Pos::new(line as u32, col as u32);
            return file;
        }
    };
    let parsed = yaml::parse(text, options.limits);
    let mut problems: Vec<FileProblem> = parsed
        .errors
        .into_iter()
        .map(|e| FileProblem {
            rule: match e.kind {
                yaml::ErrorKind::Syntax => Rule::YamlSyntax,
                yaml::ErrorKind::DuplicateKey => Rule::YamlDuplicateKey,
                yaml::ErrorKind::AliasLimit => Rule::YamlAliasLimit,
                yaml::ErrorKind::TooDeep => Rule::YamlTooDeep,
            },
            pos: e.pos,
            message: e.message,
            help: None,
        })
        .collect();
    if parsed.documents.is_empty() && problems.is_empty() {
        problems.push(FileProblem {
            rule: Rule::LayoutEmptyFile,
            pos: Pos::new(1, 1),
            message: "the file holds no YAML document".into(),
            help: Some("Add the object's document, or delete the file.".into()),
        });
    }
    if place != decode::Place::TeamContent && parsed.documents.len() > 1 {
        problems.push(FileProblem {
            rule: Rule::LayoutMultipleDocuments,
            pos: parsed.documents[1].pos,
            message: "this file holds one document; the documents after the first are ignored".into(),
            help: Some("Move the other documents to their own files.".into()),
        });
    }
    let take = if place == decode::Place::TeamContent { usize::MAX } else { 1 };
    let documents =
        parsed.documents.iter().take(take).filter_map(|node| decode::document(&mut problems, node, place)).collect();
    problems.sort_by_key(|p| p.pos);
    ParsedFile { documents, problems }
}

/// Places parsed files in a model, in path order.
fn assemble(prefix: &str, jobs: Vec<(String, Classified, SourceEntry)>, parsed: Vec<Arc<ParsedFile>>) -> Model {
    let mut model = Model { root: prefix.to_string(), ..Model::default() };
    for ((path, classified, entry), parsed) in jobs.into_iter().zip(parsed) {
        let file = FileId(model.files.len() as u32);
        if let Classified::Model { zone, team, .. } = &classified {
            let scope = |zone: &Option<Arc<str>>| Scope {
                zone: zone.clone().unwrap_or_else(|| Arc::from("")),
                team: team.clone(),
            };
            for document in &parsed.documents {
                match document {
                    Document::Ecosystem(e) => {
                        if model.ecosystem.is_none() {
                            model.ecosystem = Some((file, e.clone()));
                        }
                    }
                    Document::Zone(z) => model.zones.push(Placed { file, scope: scope(zone), value: z.clone() }),
                    Document::Team(t) => model.teams.push(Placed { file, scope: scope(zone), value: t.clone() }),
                    Document::Datastore(d) => {
                        model.datastores.push(Placed { file, scope: scope(zone), value: d.clone() })
                    }
                    Document::Workspace(w) => {
                        model.workspaces.push(Placed { file, scope: scope(zone), value: w.clone() })
                    }
                }
            }
        }
        model.files.push(SourceFile { path: path.into(), blob: entry.blob, parsed });
    }
    model
}

/// The folder that holds `path`'s git work tree, if any, found without opening the repository.
pub fn enclosing_worktree(path: &Path) -> Option<PathBuf> {
    let path = path.canonicalize().ok()?;
    path.ancestors().find(|dir| dir.join(".git").exists()).map(Path::to_path_buf)
}
