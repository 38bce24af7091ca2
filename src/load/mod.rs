//! Reads a model from a folder, or from a git revision through gix without a checkout.
//!
//! Architecture Invariant: only `load` knows gix and the file system layout. Reading never
//! fails on bad content: every file becomes a `ParsedFile` whose problems say what was wrong
//! with it, so one broken file cannot hide the findings of the others. `Error` is only for
//! "could not run" conditions: a missing folder, an unknown revision, a broken repository.

mod cache;
pub mod decode;
pub mod fetch;
mod folders;
mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub use cache::DiskCache;
pub use folders::{FolderEntry, FolderKey};
pub use source::{GitRepo, PathChange, PathChangeKind, Snapshot, changed_paths};

use crate::model::layout::{Classified, Place, TeamFolder, classify};
use crate::model::{BlobId, Document, FileId, FileProblem, Model, ParsedFile, Placed, Pos, Scope, SourceFile};
use crate::rules::Rule;
use crate::yaml;

/// Default limit on the size of one model file.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;
/// Most problems reported for one file; the rest are counted in one `file.too-many-problems`.
pub const DEFAULT_MAX_FILE_PROBLEMS: usize = 1000;
/// Default limit on the bytes of all model files together (a model of a million datasets is
/// about 0.7 GiB of YAML).
pub const DEFAULT_MAX_MODEL_SIZE: u64 = 4 * 1024 * 1024 * 1024;
/// Default limit on the number of model files.
pub const DEFAULT_MAX_MODEL_FILES: usize = 2_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub max_file_size: u64,
    /// Most problems kept from reading one file (syntax, fields, layout): a file of junk would
    /// otherwise make a problem of every line, a hundred times its size in memory.
    pub max_file_problems: usize,
    /// Most bytes of all model files together: many files just under `max_file_size` must
    /// not add up to more memory than the machine has.
    pub max_model_size: u64,
    /// Most model files (YAML files and links under the model root).
    pub max_model_files: usize,
    pub limits: yaml::Limits,
    /// Worker threads for reading and parsing; `0` means one per core.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_file_problems: DEFAULT_MAX_FILE_PROBLEMS,
            max_model_size: DEFAULT_MAX_MODEL_SIZE,
            max_model_files: DEFAULT_MAX_MODEL_FILES,
            limits: yaml::Limits::default(),
            threads: 0,
        }
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
    #[error("{what}; the model was not read (raise the limit with {flag})")]
    ModelTooLarge { what: String, flag: &'static str },
}

/// The bytes the model's files may still take, shared by every reading thread.
struct Budget {
    used: AtomicU64,
    max: u64,
}

impl Budget {
    fn spend(&self, bytes: u64) -> Result<(), Error> {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.max {
            return Err(Error::ModelTooLarge {
                what: format!("the model's files hold more than {} bytes", self.max),
                flag: "--max-model-size",
            });
        }
        Ok(())
    }
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
    /// A FIFO, device or socket (folders only): never read.
    Special,
}

/// Cuts a team folder's datastore file down as soon as it is read, so that a big model never
/// holds every column at once (`crate::warm::Condenser` is the one implementation: it runs the
/// local lint rules on the file and keeps what the global rules read, as a folder summary does).
///
/// `start` is called once per reader thread with the *frame*: every file of the model that is
/// not team-folder content (the ecosystem, zones and team definitions), which is all that the
/// local rules read besides the file itself. The closure it returns condenses one file, given
/// its path, blob and scope.
pub trait Condense: Sync {
    fn start<'f>(&'f self, frame: &'f Model) -> CondenseFile<'f>;
}

/// Condenses one file of the frame's model: its path, blob, scope and parsed form.
pub type CondenseFile<'f> = Box<dyn FnMut(&Arc<str>, Option<BlobId>, &Scope, Arc<ParsedFile>) -> Arc<ParsedFile> + 'f>;

type CondensedKey = (BlobId, Arc<str>, u128);

/// Parsed files by blob id and place, shared by every load that uses it: a check parses each
/// distinct blob once, although base and head hold almost the same blobs.
///
/// With a `DiskCache` behind it, parsed files also survive the process (`--cache-dir`).
#[derive(Default)]
pub struct ParseCache {
    files: std::sync::Mutex<std::collections::HashMap<(crate::model::BlobId, Place), Arc<ParsedFile>>>,
    /// Condensed files (`Condense`) by blob, path and a fingerprint of the frame they were
    /// condensed in: base and head of a check with the same frame share them. The path is part
    /// of the key, since a condensed file's problems name it and its team's containers.
    condensed: std::sync::Mutex<std::collections::HashMap<CondensedKey, Arc<ParsedFile>>>,
    /// Whether condensed files are kept for a second load (`share_condensed`): a lint reads
    /// one revision and would only pay for the map.
    share_condensed: std::sync::atomic::AtomicBool,
    folders: std::sync::Mutex<std::collections::HashMap<FolderKey, Arc<FolderEntry>>>,
    disk: Option<DiskCache>,
}

impl ParseCache {
    pub fn with_disk(disk: DiskCache) -> ParseCache {
        ParseCache { disk: Some(disk), ..ParseCache::default() }
    }

    /// A team-folder summary, from memory or disk.
    pub fn get_folder(&self, key: &FolderKey) -> Option<Arc<FolderEntry>> {
        if let Some(entry) = self.folders.lock().ok()?.get(key).cloned() {
            return Some(entry);
        }
        let entry = Arc::new(self.disk.as_ref()?.get_folder(key)?);
        if let Ok(mut folders) = self.folders.lock() {
            folders.insert(key.clone(), entry.clone());
        }
        Some(entry)
    }

    /// The disk cache behind this one, if any.
    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
    }

    /// Whether summaries are kept beyond this process (a disk cache is open): without one,
    /// nobody would read them.
    pub fn keeps_summaries(&self) -> bool {
        self.disk.is_some()
    }

    pub fn insert_folder(&self, entry: FolderEntry) {
        if let Some(disk) = &self.disk {
            disk.put_folder(&entry);
        }
        if let Ok(mut folders) = self.folders.lock() {
            folders.insert(entry.key.clone(), Arc::new(entry));
        }
    }

    pub fn get(&self, blob: &crate::model::BlobId, place: Place) -> Option<Arc<ParsedFile>> {
        if let Some(parsed) = self.files.lock().ok()?.get(&(*blob, place)).cloned() {
            return Some(parsed);
        }
        let parsed = Arc::new(self.disk.as_ref()?.get(blob, place)?);
        if let Ok(mut files) = self.files.lock() {
            files.insert((*blob, place), parsed.clone());
        }
        Some(parsed)
    }

    /// Keeps a parsed file in memory, and on disk too when `persist`.
    pub fn insert(&self, blob: crate::model::BlobId, place: Place, parsed: Arc<ParsedFile>, persist: bool) {
        if let (Some(disk), true) = (&self.disk, persist) {
            disk.put(&blob, place, &parsed);
        }
        if let Ok(mut files) = self.files.lock() {
            files.insert((blob, place), parsed);
        }
    }

    /// Keeps condensed files for the loads that follow (a check's other side).
    pub fn share_condensed(&self) {
        self.share_condensed.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn get_condensed(&self, key: &CondensedKey) -> Option<Arc<ParsedFile>> {
        self.condensed.lock().ok()?.get(key).cloned()
    }

    fn insert_condensed(&self, key: CondensedKey, parsed: Arc<ParsedFile>) {
        if !self.share_condensed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Ok(mut condensed) = self.condensed.lock() {
            condensed.insert(key, parsed);
        }
    }

    /// Keeps the disk cache within its size limit; call once a run is done.
    pub fn prune(&self) {
        if let Some(disk) = &self.disk {
            disk.prune();
        }
    }
}

/// Reads the model under `root` of `snapshot`.
pub fn load(snapshot: &Snapshot, options: &Options) -> Result<Model, Error> {
    load_cached(snapshot, options, &ParseCache::default())
}

/// Reads a model, taking parsed files from `cache` when their blob was parsed before, and
/// whole team folders when their summary is there.
pub fn load_cached(snapshot: &Snapshot, options: &Options, cache: &ParseCache) -> Result<Model, Error> {
    load_planned(snapshot, options, cache, &std::collections::HashSet::new(), None)
}

/// As `load_cached`, but reads the team folders in `full` (paths from the repository root)
/// file by file, never from summaries: a check compares those folders' documents. With
/// `condense`, every other team-content file is condensed as soon as it is read, so the
/// model holds whole documents only for the `full` folders and outside team folders.
pub fn load_planned(
    snapshot: &Snapshot,
    options: &Options,
    cache: &ParseCache,
    full: &std::collections::HashSet<String>,
    condense: Option<&dyn Condense>,
) -> Result<Model, Error> {
    load_part(snapshot, options, cache, full, None, condense)
}

/// What a partial load reads (`load_part`): only the team folders in `folders`, and for the
/// files in `known` (path → blob and parsed form) whose blob matches, the given parsed form
/// instead of the blob (a summary from the index's model, for a file no side changed).
pub struct Only<'a> {
    pub folders: &'a std::collections::HashSet<String>,
    pub known: &'a std::collections::HashMap<String, (Option<BlobId>, Arc<ParsedFile>)>,
}

/// As `load_planned`, but with `only`, reads no team folder outside it (paths from the
/// repository root): a warm check's partial model (`crate::warm::index`), which stands for
/// the whole one together with the persisted index. Limits then count only what was read.
pub fn load_part(
    snapshot: &Snapshot,
    options: &Options,
    cache: &ParseCache,
    full: &std::collections::HashSet<String>,
    only: Option<&Only<'_>>,
    condense: Option<&dyn Condense>,
) -> Result<Model, Error> {
    load_inner(snapshot, options, cache, full, only, condense, None)
}

/// As `load_planned`, for the other side of a check whose `head` is loaded already and whose
/// change touches team-content files only (so both sides have the same frame): each team
/// folder outside `full` takes `head`'s files, neither walked nor read again. At 12 million
/// datasets that took the base side of a cold check from 6.6 s to 2.4 s.
pub fn load_beside(
    snapshot: &Snapshot,
    options: &Options,
    cache: &ParseCache,
    full: &std::collections::HashSet<String>,
    condense: Option<&dyn Condense>,
    head: &Model,
) -> Result<Model, Error> {
    load_inner(snapshot, options, cache, full, None, condense, Some(head))
}

/// The files `model` has in each of `folders` whose tree (and zone) it has too, as folder
/// entries: what `load_beside` takes instead of reading.
fn borrow_folders(
    folders: &[TeamFolder],
    full: &std::collections::HashSet<String>,
    model: &Model,
) -> Vec<Option<Arc<FolderEntry>>> {
    let theirs: std::collections::HashMap<&str, &TeamFolder> =
        model.folders.iter().map(|f| (f.path.as_str(), f)).collect();
    folders
        .iter()
        .map(|folder| {
            let same = theirs.get(folder.path.as_str())?;
            if full.contains(&folder.path) || same.tree != folder.tree || same.zone_blob != folder.zone_blob {
                return None;
            }
            let prefix = format!("{}/", folder.path);
            let start = model.files.partition_point(|f| *f.path < *prefix.as_str());
            let files = model.files[start..]
                .iter()
                .take_while(|f| f.path.starts_with(&prefix))
                .map(|f| (f.path.to_string(), f.blob, f.parsed.clone()))
                .collect();
            Some(Arc::new(FolderEntry { key: FolderKey::of(folder), files }))
        })
        .collect()
}

fn load_inner(
    snapshot: &Snapshot,
    options: &Options,
    cache: &ParseCache,
    full: &std::collections::HashSet<String>,
    only: Option<&Only<'_>>,
    condense: Option<&dyn Condense>,
    beside: Option<&Model>,
) -> Result<Model, Error> {
    let mut timer = crate::timing::Timer::new();
    crate::progress::phase("listing files", 0);
    let prefix = snapshot.prefix();
    let join = |rel: &str| if prefix.is_empty() { rel.to_string() } else { format!("{prefix}/{rel}") };
    let rel_of =
        |path: &str| path.strip_prefix(prefix).map_or(path.to_string(), |r| r.trim_start_matches('/').to_string());
    // Folders whose summary is cached are neither walked nor read.
    let mut folders: Vec<TeamFolder> = snapshot
        .team_folders()?
        .into_iter()
        .map(|(rel, tree, zone_blob)| TeamFolder { path: join(&rel), tree, zone_blob, summarized: false })
        .collect();
    let mut skip: std::collections::HashSet<String> = Default::default();
    if let Some(only) = only {
        skip.extend(folders.iter().filter(|f| !only.folders.contains(&f.path)).map(|f| rel_of(&f.path)));
        folders.retain(|f| only.folders.contains(&f.path));
    }
    let summaries = match beside {
        Some(head) => {
            let borrowed = borrow_folders(&folders, full, head);
            let missing: Vec<TeamFolder> =
                folders.iter().zip(&borrowed).filter(|(_, b)| b.is_none()).map(|(f, _)| f.clone()).collect();
            let mut fetched = fetch_summaries(&missing, full, cache, options).into_iter();
            borrowed.into_iter().map(|b| b.or_else(|| fetched.next().flatten())).collect()
        }
        None => fetch_summaries(&folders, full, cache, options),
    };
    skip.extend(folders.iter().zip(&summaries).filter(|(_, s)| s.is_some()).map(|(f, _)| rel_of(&f.path)));
    timer.mark("summaries");
    let entries = snapshot.entries_except(&skip, options.max_model_files)?;
    timer.mark("list files");
    let mut jobs: Vec<(String, Classified, SourceEntry)> = Vec::new();
    let mut known: Vec<Option<Arc<ParsedFile>>> = Vec::new();
    for entry in entries {
        let classified = classify(&entry.rel);
        if classified == Classified::Ignored && entry.kind != EntryKind::Symlink {
            continue;
        }
        let path = join(&entry.rel);
        known.push(
            only.and_then(|o| o.known.get(&path)).filter(|(blob, _)| *blob == entry.blob).map(|(_, f)| f.clone()),
        );
        jobs.push((path, classified, entry));
    }
    for (folder, summary) in folders.iter_mut().zip(summaries) {
        let Some(summary) = summary else { continue };
        // Moved out when no one else holds the entry (one borrowed by `load_beside`): at a
        // million files, each pass over their `Arc`s is a cache miss per file.
        let files = Arc::try_unwrap(summary).map_or_else(|shared| shared.files.clone(), |entry| entry.files);
        folder.summarized = true;
        // The files of one folder share its zone and team names.
        let rel_folder = folder.path.strip_prefix(prefix).map_or(folder.path.as_str(), |r| r.trim_start_matches('/'));
        let (zone, team) = match classify(&format!("{rel_folder}/team.yaml")) {
            Classified::Model { zone, team, .. } => (zone, team),
            _ => (None, None),
        };
        for (path, blob, parsed) in files {
            let rel = path.strip_prefix(prefix).map_or(path.as_str(), |r| r.trim_start_matches('/'));
            let place = if rel.len() == rel_folder.len() + "/team.yaml".len() && rel.ends_with("/team.yaml") {
                Place::Team
            } else {
                Place::TeamContent
            };
            let classified = Classified::Model { place, zone: zone.clone(), team: team.clone() };
            let entry = SourceEntry { rel: rel.to_string(), kind: EntryKind::File, size: 0, blob, order: u64::MAX };
            jobs.push((path, classified, entry));
            known.push(Some(parsed));
        }
    }
    // Path order, as every model keeps its files (a listing and summaries in folder order are
    // usually sorted already).
    let (jobs, summarized) = if jobs.is_sorted_by(|a, b| a.0 <= b.0) {
        (jobs, known)
    } else {
        // The listing and the summaries are each in path order: the stable sort finds the two
        // runs and merges them in linear time.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by(|a, b| jobs[*a].0.cmp(&jobs[*b].0));
        let mut slots: Vec<Option<(String, Classified, SourceEntry)>> = jobs.into_iter().map(Some).collect();
        let jobs: Vec<(String, Classified, SourceEntry)> = order.iter().filter_map(|i| slots[*i].take()).collect();
        let mut known = known;
        (jobs, order.iter().map(|i| known[*i].take()).collect())
    };
    let folder_flags = folders;
    if jobs.len() > options.max_model_files {
        return Err(too_many_files(options.max_model_files));
    }

    // Parsed files go to the disk cache only where a folder summary cannot stand in for them:
    // files outside team folders, and folders that are read in full (a check's changed ones).
    let known_folders: std::collections::HashSet<&str> = folder_flags.iter().map(|t| t.path.as_str()).collect();
    let persist: Vec<bool> = jobs
        .iter()
        .zip(&summarized)
        .map(|((path, _, _), known)| {
            known.is_none()
                && match folder_of(prefix, path) {
                    Some(folder) => full.contains(folder) || !known_folders.contains(folder),
                    None => true,
                }
        })
        .collect();
    crate::progress::phase("reading files", summarized.iter().filter(|k| k.is_none()).count());
    // Team-content files outside the `full` folders are condensed once read: first every
    // other file is read, then the frame (the files outside team content) is assembled for
    // the condenser, then the rest is read and condensed.
    let condensable: Vec<bool> = jobs
        .iter()
        .zip(&summarized)
        .map(|((path, classified, _), known)| {
            condense.is_some()
                && known.is_none()
                && matches!(classified, Classified::Model { place: Place::TeamContent, .. })
                && folder_of(prefix, path).is_none_or(|folder| !full.contains(folder))
        })
        .collect();
    let parsed = match condense {
        Some(condense) if condensable.contains(&true) => {
            let later = Arc::new(ParsedFile::default());
            let first: Vec<Option<Arc<ParsedFile>>> = summarized
                .iter()
                .zip(&condensable)
                .map(|(known, condensable)| if *condensable { Some(later.clone()) } else { known.clone() })
                .collect();
            let mut parsed: Vec<Option<Arc<ParsedFile>>> =
                parse_all(snapshot, &jobs, options, cache, first, &persist, None)?.into_iter().map(Some).collect();
            for (slot, condensable) in parsed.iter_mut().zip(&condensable) {
                if *condensable {
                    *slot = None;
                }
            }
            let frame_jobs: Vec<usize> = (0..jobs.len())
                .filter(|i| !matches!(jobs[*i].1, Classified::Model { place: Place::TeamContent, .. }))
                .collect();
            let frame = assemble(
                prefix,
                frame_jobs.iter().map(|i| jobs[*i].clone()).collect(),
                frame_jobs.iter().map(|i| parsed[*i].clone().unwrap_or_default()).collect(),
            );
            let fingerprint = frame_fingerprint(&frame);
            parse_all(snapshot, &jobs, options, cache, parsed, &persist, Some((condense, &frame, fingerprint)))?
        }
        _ => parse_all(snapshot, &jobs, options, cache, summarized, &persist, None)?,
    };
    timer.mark("parse files");
    let mut model = assemble(prefix, jobs, parsed);
    model.folders = folder_flags;
    timer.mark("assemble");
    Ok(model)
}

/// Names the exact content of a frame (every path and blob), or `None` when a file has no
/// blob (folders): condensed files are shared only between frames with the same fingerprint.
fn frame_fingerprint(frame: &Model) -> Option<u128> {
    let mut hashes = [0xcbf2_9ce4_8422_2325_u64, 0x8422_2325_cbf2_9ce4_u64];
    for file in &frame.files {
        let blob = file.blob?;
        for (i, hash) in hashes.iter_mut().enumerate() {
            for byte in file.path.bytes().chain([0]).chain(blob).chain([i as u8]) {
                *hash = (*hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    Some((u128::from(hashes[0]) << 64) | u128::from(hashes[1]))
}

fn too_many_files(max: usize) -> Error {
    Error::ModelTooLarge { what: format!("the model has more than {max} files"), flag: "--max-model-files" }
}

/// The team folder (`<root>/zones/<zone>/teams/<team>`) a file is in, if any.
pub fn folder_of<'p>(root: &str, path: &'p str) -> Option<&'p str> {
    let skip = if root.is_empty() { 0 } else { root.len() + 1 };
    let rel = path.get(skip..).filter(|_| root.is_empty() || path.starts_with(root))?;
    let parts: Vec<&str> = rel.splitn(5, '/').collect();
    match parts.as_slice() {
        ["zones", zone, "teams", team, _] => Some(&path[..skip + 6 + zone.len() + 7 + team.len()]),
        _ => None,
    }
}

/// The cached summaries of the folders that may be summarized, read on every core.
fn fetch_summaries(
    folders: &[TeamFolder],
    full: &std::collections::HashSet<String>,
    cache: &ParseCache,
    options: &Options,
) -> Vec<Option<Arc<FolderEntry>>> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(folders.len().div_ceil(64))
    .max(1);
    let chunk = folders.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = folders
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| if full.contains(&f.path) { None } else { cache.get_folder(&FolderKey::of(f)) })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// Reads and parses every job, in parallel, keeping the order of `jobs`.
fn parse_all(
    snapshot: &Snapshot,
    jobs: &[(String, Classified, SourceEntry)],
    options: &Options,
    cache: &ParseCache,
    known: Vec<Option<Arc<ParsedFile>>>,
    persist: &[bool],
    condense: Option<(&dyn Condense, &Model, Option<u128>)>,
) -> Result<Vec<Arc<ParsedFile>>, Error> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(known.iter().filter(|k| k.is_none()).count().div_ceil(32))
    .max(1);
    // Read in the source's cheapest order (pack order for git), in runs of neighbours per
    // thread: a delta then comes right after its base, which the thread has just decoded.
    let mut sequence: Vec<usize> = (0..jobs.len()).filter(|i| known[*i].is_none()).collect();
    sequence.sort_by_key(|i| jobs[*i].2.order);
    let chunk = (sequence.len() / (threads * 8)).clamp(16, 1024);
    let next = AtomicUsize::new(0);
    // Files from summaries and the cache count as much as files read now, so that a limit
    // holds the same warm and cold.
    let budget = Budget { used: AtomicU64::new(0), max: options.max_model_size };
    budget.spend(known.iter().flatten().map(|p| p.bytes).sum())?;
    type Parsed = Result<Vec<(usize, Arc<ParsedFile>)>, Error>;
    let results: Vec<Parsed> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let reader = snapshot.reader();
                    let mut condenser =
                        condense.map(|(condense, frame, fingerprint)| (condense.start(frame), fingerprint));
                    let mut done = Vec::new();
                    'chunks: loop {
                        let first = next.fetch_add(chunk, Ordering::Relaxed);
                        for &index in sequence.get(first..).unwrap_or_default().iter().take(chunk) {
                            let (_, classified, entry) = &jobs[index];
                            let cacheable = match (classified, &entry.blob) {
                                (Classified::Model { place, .. }, Some(blob)) if entry.kind == EntryKind::File => {
                                    Some((*place, *blob))
                                }
                                _ => None,
                            };
                            if let Some((condense, fingerprint)) = &mut condenser {
                                // Condensed in this frame before (the other side of a check)?
                                let path: Arc<str> = Arc::from(jobs[index].0.as_str());
                                let key = cacheable.zip(*fingerprint).map(|((_, blob), f)| (blob, path.clone(), f));
                                if let Some(parsed) = key.as_ref().and_then(|key| cache.get_condensed(key)) {
                                    budget.spend(parsed.bytes)?;
                                    done.push((index, parsed));
                                    continue;
                                }
                                let parsed = match cacheable.and_then(|(place, blob)| cache.get(&blob, place)) {
                                    Some(parsed) => {
                                        budget.spend(parsed.bytes)?;
                                        parsed
                                    }
                                    None => {
                                        let parsed = parse_file(&reader, classified, entry, options, &budget)?;
                                        crate::progress::file_read();
                                        Arc::new(parsed)
                                    }
                                };
                                let scope = match classified {
                                    Classified::Model { zone, team, .. } => Scope {
                                        zone: zone.clone().unwrap_or_else(|| Arc::from("")),
                                        team: team.clone(),
                                    },
                                    _ => Scope { zone: Arc::from(""), team: None },
                                };
                                let condensed = condense(&path, entry.blob, &scope, parsed);
                                if let Some(key) = key {
                                    cache.insert_condensed(key, condensed.clone());
                                }
                                done.push((index, condensed));
                                continue;
                            }
                            if let Some(parsed) = cacheable.and_then(|(place, blob)| cache.get(&blob, place)) {
                                budget.spend(parsed.bytes)?;
                                done.push((index, parsed));
                                continue;
                            }
                            let parsed = Arc::new(parse_file(&reader, classified, entry, options, &budget)?);
                            crate::progress::file_read();
                            if let Some((place, blob)) = cacheable {
                                cache.insert(blob, place, parsed.clone(), persist[index]);
                            }
                            done.push((index, parsed));
                        }
                        if first + chunk >= sequence.len() {
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
    let mut parsed = known;
    for result in results {
        for (index, file) in result? {
            parsed[index] = Some(file);
        }
    }
    Ok(parsed.into_iter().map(Option::unwrap_or_default).collect())
}

fn file_problem(rule: Rule, message: String, help: Option<String>) -> ParsedFile {
    ParsedFile {
        documents: Vec::new(),
        problems: vec![FileProblem { rule, pos: Pos::new(1, 1), message, help }],
        ..ParsedFile::default()
    }
}

/// Reads and parses one file. Only repository failures are errors; bad content is a problem.
fn parse_file(
    reader: &source::Reader<'_>,
    classified: &Classified,
    entry: &SourceEntry,
    options: &Options,
    budget: &Budget,
) -> Result<ParsedFile, Error> {
    if entry.kind == EntryKind::Symlink {
        return Ok(symlink());
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
    if entry.kind == EntryKind::Special {
        return Ok(not_regular("not a regular file"));
    }
    let bytes = match reader.read(entry, options.max_file_size)? {
        source::Read::Bytes(bytes) => bytes,
        source::Read::TooLarge(size) => return Ok(too_large(size, options.max_file_size)),
        source::Read::Symlink => return Ok(symlink()),
        source::Read::NotRegular(what) => return Ok(not_regular(what)),
    };
    budget.spend(bytes.len() as u64)?;
    let parsed = parse_bytes(&bytes, place, options);
    source::recycle(bytes);
    Ok(parsed)
}

fn symlink() -> ParsedFile {
    file_problem(
        Rule::FileSymlink,
        "symbolic links are not followed inside a model".into(),
        Some("Replace the link with the file or folder itself.".into()),
    )
}

fn too_large(size: u64, max: u64) -> ParsedFile {
    file_problem(
        Rule::FileTooLarge,
        format!("the file is {size} bytes, over the limit of {max} bytes; it was not read"),
        Some("Split the file, or raise the limit with --max-file-size.".into()),
    )
}

fn not_regular(what: &str) -> ParsedFile {
    file_problem(
        Rule::FileNotRegular,
        format!("this model path is {what}, not a regular file; it was not opened"),
        Some("Replace it with a regular file, or remove it.".into()),
    )
}

/// Parses the bytes of a file that sits at `place` of the layout.
pub fn parse_bytes(bytes: &[u8], place: Place, options: &Options) -> ParsedFile {
    let mut parsed = parse_text(bytes, place, options);
    parsed.bytes = bytes.len() as u64;
    parsed
}

fn parse_text(bytes: &[u8], place: Place, options: &Options) -> ParsedFile {
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
    // Errors that abandon a document lose its objects; keep the names it seems to define.
    let lost = parsed
        .errors
        .iter()
        .any(|e| matches!(e.kind, yaml::ErrorKind::Syntax | yaml::ErrorKind::AliasLimit | yaml::ErrorKind::TooDeep));
    let salvaged = if lost { salvage_names(text) } else { Vec::new() };
    let mut problems: Vec<FileProblem> = parsed
        .errors
        .into_iter()
        .map(|e| FileProblem {
            rule: match e.kind {
                yaml::ErrorKind::Syntax => Rule::YamlSyntax,
                yaml::ErrorKind::DuplicateKey => Rule::YamlDuplicateKey,
                yaml::ErrorKind::AliasLimit => Rule::YamlAliasLimit,
                yaml::ErrorKind::TooDeep => Rule::YamlTooDeep,
                yaml::ErrorKind::Tag => Rule::YamlTag,
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
    if place != Place::TeamContent && parsed.documents.len() > 1 {
        problems.push(FileProblem {
            rule: Rule::LayoutMultipleDocuments,
            pos: parsed.documents[1].pos,
            message: "this file holds one document; the documents after the first are ignored".into(),
            help: Some("Move the other documents to their own files.".into()),
        });
    }
    let take = if place == Place::TeamContent { usize::MAX } else { 1 };
    let documents =
        parsed.documents.iter().take(take).filter_map(|node| decode::document(&mut problems, node, place)).collect();
    problems.sort_by_key(|p| p.pos);
    limit_problems(&mut problems, options.max_file_problems);
    ParsedFile { documents, problems, cached_local: None, salvaged, bytes: 0, text: true }
}

/// The values of top-level `name:` lines (a document's own name), at most a thousand: what a
/// file that could not be parsed seems to define.
fn salvage_names(text: &str) -> Vec<crate::model::Str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("name:"))
        .map(|rest| rest.split('#').next().unwrap_or_default().trim().trim_matches(['"', '\'']))
        .filter(|name| !name.is_empty())
        .take(1000)
        .map(crate::model::Str::from)
        .collect()
}

/// Keeps the first `max` problems of a file (in file order) and counts the rest in one more.
fn limit_problems(problems: &mut Vec<FileProblem>, max: usize) {
    if problems.len() <= max {
        return;
    }
    let more = problems.len() - max;
    let pos = problems[max].pos;
    problems.truncate(max);
    problems.shrink_to_fit();
    problems.push(FileProblem {
        rule: Rule::FileTooManyProblems,
        pos,
        message: format!(
            "{more} more {} found in this file from here on {} not reported (the limit is {max} per file)",
            if more == 1 { "problem" } else { "problems" },
            if more == 1 { "is" } else { "are" },
        ),
        help: Some("Fix the problems above and run again, or raise the limit with --max-file-problems.".into()),
    });
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

/// The model root `.datasurface.yaml` names at the repository root of `rev` (`root:
/// models/acme`); `Ok(None)` without that file. A pull request's check reads it from the
/// base, so a change cannot move its own policy. A file that cannot be read as such is an
/// error naming its line and column.
pub fn configured_root(repo: &GitRepo, rev: &str) -> Result<Option<String>, String> {
    let snapshot = repo.snapshot(rev, "").map_err(|e| e.to_string())?;
    let Some(text) = snapshot.root_file(".datasurface.yaml", 64 * 1024) else { return Ok(None) };
    let parsed = yaml::parse(&text, yaml::Limits::default());
    if let Some(error) = parsed.errors.first() {
        return Err(format!(".datasurface.yaml:{}:{}: {}", error.pos.line, error.pos.col, error.message));
    }
    let root = match parsed.documents.first().map(|d| &d.value) {
        None => return Ok(None),
        Some(yaml::Value::Map(entries)) => {
            if let Some(unknown) = entries.iter().find(|e| e.key != "root") {
                return Err(format!(
                    ".datasurface.yaml:{}:{}: unknown setting `{}` (the only one is `root`)",
                    unknown.key_pos.line, unknown.key_pos.col, unknown.key
                ));
            }
            match entries.iter().find(|e| e.key == "root").map(|e| (&e.value.value, e.value.pos)) {
                Some((yaml::Value::Scalar(root, _), _)) => root.trim_matches('/').to_string(),
                None => return Ok(None),
                Some((_, pos)) => {
                    return Err(format!(".datasurface.yaml:{}:{}: `root` must be a folder path", pos.line, pos.col));
                }
            }
        }
        Some(_) => return Err(".datasurface.yaml:1:1: it must be a mapping such as `root: models/acme`".into()),
    };
    if !root.is_empty() && root.split('/').any(|part| part == ".." || part == "." || part.is_empty()) {
        return Err(format!(".datasurface.yaml: `root: {root}` must be a folder inside the repository"));
    }
    Ok(Some(root))
}

/// The folder that holds `path`'s git work tree, if any, found without opening the repository.
pub fn enclosing_worktree(path: &Path) -> Option<PathBuf> {
    let path = path.canonicalize().ok()?;
    path.ancestors().find(|dir| dir.join(".git").exists()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::folder_of;

    #[test]
    fn folders_of_files() {
        assert_eq!(folder_of("", "zones/usa/teams/nw/a.yaml"), Some("zones/usa/teams/nw"));
        assert_eq!(folder_of("model", "model/zones/usa/teams/nw/sub/a.yaml"), Some("model/zones/usa/teams/nw"));
        assert_eq!(folder_of("", "zones/usa/teams/nw/team.yaml"), Some("zones/usa/teams/nw"));
        assert_eq!(folder_of("", "zones/usa/zone.yaml"), None);
        assert_eq!(folder_of("", "ecosystem.yaml"), None);
        assert_eq!(folder_of("", "zones/usa/teams/nw"), None);
        assert_eq!(folder_of("", "myzones/usa/teams/nw/a.yaml"), None);
    }
}
