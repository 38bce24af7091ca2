//! The persisted global index: what a warm check needs to know about the folders it does not
//! read, so that its cost follows the change, not the model.
//!
//! A cold check of two revisions lints the whole head. Afterwards (with `--cache-dir`) this
//! module stores, keyed by the head's model-root tree id, a [`Root`]:
//! - every team folder's key (path, tree id, zone blob), its file count and bytes, and the lint
//!   problems located in it;
//! - the files outside team folders (the *frame*: ecosystem, zones) with their blobs, and the
//!   problems located there;
//! - [`SHARDS`] content-addressed [`Shard`]s: for every global name (a datastore or workspace
//!   name, case folded), the folders that define it and the folders whose sinks name it.
//!
//! A later check of base B and head H picks the stored root M closest to both (fewest
//! differing folders), and reads only: the frame, the folders that differ from M (`D`), the
//! folders whose global facts those changes can alter (`A`: every definer and consumer of a
//! name whose definitions changed), the definers of every name those folders use (`R`, for
//! the rules' lookups), the consumers of the changed datastores (compat's impact), and the
//! folders with problems (for excerpts). Lint runs on that partial model; problems in `D` and
//! `A` are taken from it, every other folder's from M. The verdict is byte-identical to a cold
//! check (`tests/warm_index.rs` checks it on random changes), because the partial model holds
//! everything the global rules read about the re-linted folders, and the folders not
//! re-linted depend on nothing that changed.
//!
//! Whatever the index cannot vouch for falls back to the full path, with the reason under
//! `DATASURFACE_TIMINGS`: a changed frame file or `team.yaml`, added or removed team folders,
//! an unknown datastore or container anywhere (their suggestions and messages read every
//! name), a missing or damaged entry, or a part larger than a quarter of the model.
//!
//! Entries are postcard-encoded, checksummed and key-checked by `load::DiskCache`; a shard is
//! named by the hash of its content and verified against it when read. The index is bounded
//! like the rest of the cache (`--cache-max-size`) and safe to delete: without it a check
//! takes the full path and writes it again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::load::{self, FolderKey, ParseCache, Snapshot};
use crate::model::{BlobId, Document, Model, ParsedFile};
use crate::problem::Problem;
use crate::rules::Rule;

/// Names are spread over this many shards; a warm check reads those its names fall in.
pub const SHARDS: usize = 4096;
/// How many recently indexed trees a warm check considers as its starting point.
const RECENT: usize = 8;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Root {
    pub tree: BlobId,
    /// Files outside team folders, in path order, with their blobs.
    pub frame: Vec<(String, Option<BlobId>)>,
    /// Every team folder, in path order; shards name folders by their position here.
    pub folders: Vec<Record>,
    /// Lint problems outside team folders, or without a location.
    pub outside: Vec<Problem>,
    /// The content hash of each shard (0: empty).
    pub shards: Vec<u64>,
    /// Whether lint reported an unknown datastore or container: their messages read every
    /// name of the model, so such a model is always checked in full.
    pub whole_model_messages: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub key: FolderKey,
    pub files: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

/// For each name (sorted): the folders defining it and the folders referring to it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub names: Vec<(String, Vec<u32>, Vec<u32>)>,
}

fn fnv(bytes: impl IntoIterator<Item = u8>, seed: u64) -> u64 {
    bytes.into_iter().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

const FNV: u64 = 0xcbf2_9ce4_8422_2325;

fn shard_of(name: &str) -> usize {
    (fnv(name.bytes(), FNV) % SHARDS as u64) as usize
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn root_name(prefix: &str, tree: &BlobId) -> String {
    // The version names the layout of `Root`: an entry of another layout is never asked for.
    format!("root v1 {prefix:?} {}", hex(tree))
}

fn recent_name(prefix: &str) -> String {
    format!("recent {prefix:?}")
}

fn shard_hash(shard: &Shard) -> u64 {
    let bytes = postcard::to_allocvec(shard).unwrap_or_default();
    fnv(bytes, FNV).max(1)
}

/// What one folder says about global names: `(name, Some(fact hash))` for a definition,
/// `(name, None)` for a reference.
type Touches = Vec<(String, Option<u64>)>;

/// The names the files of one folder define and use, each definition with a hash of
/// everything the global rules read of it (its summary, with positions, and its path).
fn touches<'a>(files: impl IntoIterator<Item = (&'a str, &'a ParsedFile)>) -> Touches {
    let mut out = Vec::new();
    for (path, parsed) in files {
        let hash = |what: &[u8]| fnv(path.bytes().chain([0]).chain(what.iter().copied()), FNV);
        for name in &parsed.salvaged {
            out.push((format!("d:{}", name.to_ascii_lowercase()), Some(hash(format!("salvaged {name}").as_bytes()))));
        }
        for document in &parsed.documents {
            match document {
                Document::Datastore(store) => {
                    let summary = postcard::to_allocvec(&super::summarize_datastore(store)).unwrap_or_default();
                    out.push((format!("d:{}", store.name.to_ascii_lowercase()), Some(hash(&summary))));
                }
                Document::Workspace(workspace) => {
                    let whole = postcard::to_allocvec(&**workspace).unwrap_or_default();
                    out.push((format!("w:{}", workspace.name.to_ascii_lowercase()), Some(hash(&whole))));
                    for sink in workspace.dataset_groups.iter().flat_map(|g| &g.sinks) {
                        out.push((format!("d:{}", sink.datastore.to_ascii_lowercase()), None));
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn folder_files<'m>(model: &'m Model, folder: &str) -> &'m [crate::model::SourceFile] {
    let prefix = format!("{folder}/");
    let start = model.files.partition_point(|f| *f.path < *prefix.as_str());
    let end = start + model.files[start..].iter().take_while(|f| f.path.starts_with(&prefix)).count();
    &model.files[start..end]
}

fn model_touches(model: &Model, folder: &str) -> Touches {
    touches(folder_files(model, folder).iter().map(|f| (&*f.path, &*f.parsed)))
}

fn whole_model_message(problem: &Problem) -> bool {
    problem.rule == Rule::RefUnknown
        && (problem.detail.starts_with("datastore ") || problem.detail.starts_with("container "))
}

/// The team folder a problem is located in, if any.
fn problem_folder<'p>(prefix: &str, problem: &'p Problem) -> Option<&'p str> {
    load::folder_of(prefix, &problem.location.as_ref()?.file)
}

/// Stores the index of a fully linted model `model` (every folder present, read or
/// summarized) with its lint `problems`, under the model's tree id.
pub fn record(cache: &ParseCache, snapshot: &Snapshot, model: &Model, problems: &[Problem]) {
    let (Some(disk), Some(tree)) = (cache.disk(), snapshot.tree_id()) else { return };
    let prefix = snapshot.prefix();
    // A tree names its content: an index stored for it already says the same.
    if disk.has_named(&root_name(prefix, &tree)) {
        return;
    }
    let mut by_folder: HashMap<&str, Vec<Problem>> = HashMap::new();
    let mut outside = Vec::new();
    for problem in problems {
        match problem_folder(prefix, problem) {
            Some(folder) => by_folder.entry(folder).or_default().push(problem.clone()),
            None => outside.push(problem.clone()),
        }
    }
    let mut folders = Vec::with_capacity(model.folders.len());
    let mut names: BTreeMap<String, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    for (position, folder) in model.folders.iter().enumerate() {
        let files = folder_files(model, &folder.path);
        for (name, fact) in model_touches(model, &folder.path) {
            let entry = names.entry(name).or_default();
            let list = if fact.is_some() { &mut entry.0 } else { &mut entry.1 };
            if list.last() != Some(&(position as u32)) {
                list.push(position as u32);
            }
        }
        folders.push(Record {
            key: FolderKey::of(folder),
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.parsed.bytes).sum(),
            problems: by_folder.remove(folder.path.as_str()).unwrap_or_default(),
        });
    }
    let mut shards: Vec<Shard> = vec![Shard::default(); SHARDS];
    for (name, (definers, referrers)) in names {
        shards[shard_of(&name)].names.push((name, definers, referrers));
    }
    let frame: Vec<(String, Option<BlobId>)> = model
        .files
        .iter()
        .filter(|f| load::folder_of(prefix, &f.path).is_none())
        .map(|f| (f.path.to_string(), f.blob))
        .collect();
    let root = Root {
        tree,
        frame,
        folders,
        whole_model_messages: problems.iter().any(whole_model_message),
        outside,
        shards: shards.iter().map(|s| if s.names.is_empty() { 0 } else { shard_hash(s) }).collect(),
    };
    for (shard, hash) in shards.iter().zip(&root.shards) {
        if *hash != 0 && !disk.has_named(&format!("shard {hash:016x}")) {
            disk.put_named(&format!("shard {hash:016x}"), shard);
        }
    }
    store_root(disk, prefix, &root);
}

/// The index stored for the model tree `tree` under `prefix`, if any (for tests: an index
/// updated change by change must equal one built from scratch).
pub fn stored(cache: &ParseCache, prefix: &str, tree: &BlobId) -> Option<Root> {
    cache.disk()?.get_named(&root_name(prefix, tree))
}

fn store_root(disk: &load::DiskCache, prefix: &str, root: &Root) {
    disk.put_named(&root_name(prefix, &root.tree), root);
    let mut recent: Vec<BlobId> = disk.get_named(&recent_name(prefix)).unwrap_or_default();
    recent.retain(|t| *t != root.tree);
    recent.insert(0, root.tree);
    recent.truncate(RECENT);
    disk.put_named(&recent_name(prefix), &recent);
}

fn load_shards(
    disk: &load::DiskCache,
    root: &Root,
    shards: &mut HashMap<usize, Shard>,
    names: &mut dyn Iterator<Item = &String>,
) -> Option<()> {
    for name in names {
        let s = shard_of(name);
        if let std::collections::hash_map::Entry::Vacant(slot) = shards.entry(s) {
            slot.insert(read_shard(disk, root.shards[s])?);
        }
    }
    Some(())
}

fn read_shard(disk: &load::DiskCache, hash: u64) -> Option<Shard> {
    if hash == 0 {
        return Some(Shard::default());
    }
    let shard: Shard = disk.get_named(&format!("shard {hash:016x}"))?;
    (shard_hash(&shard) == hash).then_some(shard)
}

/// What a warm check produced: both partial models, the head's lint problems (all of them,
/// as a cold lint reports them) and the head's file count.
pub struct Part {
    pub base: Model,
    pub head: Model,
    pub problems: Vec<Problem>,
    pub files: usize,
    pub fresh_local: Vec<Problem>,
    next: Option<Root>,
    shards: Vec<(u64, Shard)>,
}

impl Part {
    /// Stores the head's index (the changed folders' records and shards, the rest shared).
    pub fn remember(&self, cache: &ParseCache, head: &Snapshot) {
        let (Some(disk), Some(root)) = (cache.disk(), &self.next) else { return };
        for (hash, shard) in &self.shards {
            disk.put_named(&format!("shard {hash:016x}"), shard);
        }
        store_root(disk, head.prefix(), root);
    }
}

/// Why the warm path was not taken (printed under `DATASURFACE_TIMINGS`).
fn fallback(reason: &str) -> Option<Part> {
    if std::env::var_os("DATASURFACE_TIMINGS").is_some() {
        eprintln!("warm index: full check ({reason})");
    }
    None
}

type Folders = Vec<(String, BlobId, Option<BlobId>)>;

/// Files by path from the repository root: blob and parsed form.
type Files = HashMap<String, (Option<BlobId>, std::sync::Arc<ParsedFile>)>;

fn folder_keys(snapshot: &Snapshot, folders: Folders) -> BTreeMap<String, FolderKey> {
    let prefix = snapshot.prefix();
    folders
        .into_iter()
        .map(|(rel, tree, zone_blob)| {
            let path = if prefix.is_empty() { rel } else { format!("{prefix}/{rel}") };
            (path.clone(), FolderKey { path, tree, zone_blob })
        })
        .collect()
}

/// A warm check of `base` and `head` from the index, or `None` (take the full path). `full`
/// are the folders that differ between base and head.
pub fn check(
    base: &Snapshot,
    head: &Snapshot,
    options: &load::Options,
    cache: &ParseCache,
    full: &HashSet<String>,
) -> Result<Option<Part>, load::Error> {
    let (Some(disk), Some(head_tree), Some(base_tree)) = (cache.disk(), head.tree_id(), base.tree_id()) else {
        return Ok(None);
    };
    if base.prefix() != head.prefix() {
        return Ok(fallback("base and head have different model roots"));
    }
    let mut timer = crate::timing::Timer::new();
    let prefix = head.prefix();
    let head_keys = folder_keys(head, head.team_folders()?);
    let base_keys = folder_keys(base, base.team_folders()?);
    if !head_keys.keys().eq(base_keys.keys()) {
        return Ok(fallback("team folders were added or removed"));
    }
    // The stored root closest to both sides.
    let mut candidates: Vec<BlobId> = vec![head_tree, base_tree];
    candidates.extend(disk.get_named::<Vec<BlobId>>(&recent_name(prefix)).unwrap_or_default());
    // A folder of M that differs from it in the head or the base.
    let differs = |r: &Record| head_keys.get(&r.key.path) != Some(&r.key) || base_keys.get(&r.key.path) != Some(&r.key);
    let mut seen = HashSet::new();
    let mut best: Option<(usize, Root)> = None;
    for tree in candidates.into_iter().filter(|t| seen.insert(*t)) {
        let Some(root) = disk.get_named::<Root>(&root_name(prefix, &tree)) else { continue };
        if root.tree != tree || root.folders.len() != head_keys.len() || root.shards.len() != SHARDS {
            continue;
        }
        if !root.folders.iter().zip(head_keys.keys()).all(|(r, path)| r.key.path == *path) {
            continue;
        }
        let differing = root.folders.iter().filter(|r| differs(r)).count();
        if best.as_ref().is_none_or(|(d, _)| differing < *d) {
            best = Some((differing, root));
        }
    }
    let Some((_, root)) = best else { return Ok(fallback("no index of a nearby revision")) };
    if root.whole_model_messages {
        return Ok(fallback("the model has unknown datastores or containers"));
    }
    timer.mark("index root");
    let d: BTreeSet<u32> = root.folders.iter().enumerate().filter(|(_, r)| differs(r)).map(|(i, _)| i as u32).collect();
    let path_of = |i: u32| root.folders[i as usize].key.path.clone();
    // A part bigger than a quarter of the model is read faster as a whole.
    // DATASURFACE_WARM_INDEX=always (for tests on small models) takes any part.
    let always = std::env::var("DATASURFACE_WARM_INDEX").is_ok_and(|v| v == "always");
    let too_big = |n: usize| !always && n > 8 && n * 4 > root.folders.len();
    if too_big(d.len()) {
        return Ok(fallback("too many folders changed"));
    }

    // Stage 1: the frame and the changed folders, on both sides.
    let d_paths: HashSet<String> = d.iter().map(|i| path_of(*i)).collect();
    let condense = Some(&super::Condenser as &dyn load::Condense);
    // The changed folders' files in M, from its summaries.
    let (mut in_m, mut summaries_of_d): (Files, HashMap<u32, _>) = Default::default();
    for &i in &d {
        let Some(before) = cache.get_folder(&root.folders[i as usize].key) else {
            return Ok(fallback("a changed folder's earlier summary is not in the cache"));
        };
        in_m.extend(before.files.iter().map(|(p, b, f)| (p.clone(), (*b, f.clone()))));
        summaries_of_d.insert(i, before);
    }
    // Files that neither side changed since M come from M's summaries, unread.
    let head_blobs = head.blobs_under(&d_paths)?;
    let base_blobs = base.blobs_under(&d_paths)?;
    let unchanged: Files = in_m
        .iter()
        .filter(|(path, (blob, _))| {
            blob.is_some() && head_blobs.get(*path) == Some(blob) && base_blobs.get(*path) == Some(blob)
        })
        .map(|(path, file)| (path.clone(), file.clone()))
        .collect();
    let part = load::Only { folders: &d_paths, known: &unchanged };
    let head1 = load::load_part(head, options, cache, full, Some(&part), condense)?;
    let base1 = load::load_part(base, options, cache, full, Some(&part), condense)?;
    timer.mark("changed folders");
    for model in [&head1, &base1] {
        let frame: Vec<(&str, Option<BlobId>)> = model
            .files
            .iter()
            .filter(|f| load::folder_of(prefix, &f.path).is_none())
            .map(|f| (&*f.path, f.blob))
            .collect();
        if !frame.iter().copied().eq(root.frame.iter().map(|(p, b)| (p.as_str(), *b))) {
            return Ok(fallback("a file outside team folders changed"));
        }
    }
    // The files of the changed folders now, on both sides.
    let (mut in_head, mut in_base): (Files, Files) = Default::default();
    let mut new_touches: Vec<(u32, Touches)> = Vec::new();
    let mut old_touches: Vec<(u32, Touches)> = Vec::new();
    for &i in &d {
        let record = &root.folders[i as usize];
        let before = &summaries_of_d[&i];
        // Which file of a folder is "first" matters to some rules unless team.yaml is there.
        let team_yaml = |files: Vec<(&str, Option<BlobId>, bool)>| {
            files
                .into_iter()
                .find(|(p, _, _)| p.ends_with("/team.yaml") && p.len() == record.key.path.len() + 10)
                .map(|(_, b, defines)| (b, defines))
        };
        let old_team =
            team_yaml(before.files.iter().map(|(p, b, f)| (p.as_str(), *b, !f.documents.is_empty())).collect());
        if !old_team.is_some_and(|(_, defines)| defines) {
            return Ok(fallback("a changed folder has no readable team.yaml"));
        }
        for (model, files) in [(&head1, &mut in_head), (&base1, &mut in_base)] {
            let now = folder_files(model, &record.key.path);
            if team_yaml(now.iter().map(|f| (&*f.path, f.blob, !f.parsed.documents.is_empty())).collect()) != old_team {
                return Ok(fallback("a team.yaml changed"));
            }
            files.extend(now.iter().map(|f| (f.path.to_string(), (f.blob, f.parsed.clone()))));
        }
        old_touches.push((i, touches(before.files.iter().map(|(p, _, f)| (p.as_str(), &**f)))));
        new_touches.push((i, model_touches(&head1, &record.key.path)));
    }
    let blob = |files: &Files, path: &str| files.get(path).map(|(b, _)| *b);
    let all_paths: BTreeSet<&String> = in_m.keys().chain(in_head.keys()).chain(in_base.keys()).collect();
    let changed_files: BTreeSet<String> = all_paths
        .iter()
        .filter(|p| blob(&in_m, p) != blob(&in_head, p) || blob(&in_m, p) != blob(&in_base, p))
        .map(|p| p.to_string())
        .collect();
    let file_touches = |files: &Files, path: &str| -> Touches {
        files.get(path).map(|(_, f)| touches([(path, &**f)])).unwrap_or_default()
    };
    let definitions =
        |t: &Touches| -> BTreeSet<(String, u64)> { t.iter().filter_map(|(n, h)| h.map(|h| (n.clone(), h))).collect() };
    // Names whose definitions changed, and every name the changed files touch.
    let mut changed_names: BTreeSet<String> = BTreeSet::new();
    let mut d_names: BTreeSet<String> = BTreeSet::new();
    for path in &changed_files {
        let old = file_touches(&in_m, path);
        for side in [&in_head, &in_base] {
            let new = file_touches(side, path);
            changed_names.extend(definitions(&new).symmetric_difference(&definitions(&old)).map(|(n, _)| n.clone()));
            d_names.extend(new.into_iter().map(|(n, _)| n));
        }
        d_names.extend(old.into_iter().map(|(n, _)| n));
    }
    // The datastores of files that differ between base and head: compat names their consumers.
    let mut compared: BTreeSet<String> = BTreeSet::new();
    for path in all_paths.iter().filter(|p| blob(&in_head, p) != blob(&in_base, p)) {
        for side in [&in_head, &in_base] {
            compared.extend(definitions(&file_touches(side, path)).into_iter().map(|(n, _)| n));
        }
    }
    let mut shards: HashMap<usize, Shard> = HashMap::new();
    if load_shards(disk, &root, &mut shards, &mut d_names.iter().chain(&compared)).is_none() {
        return Ok(fallback("a shard of the index is missing or damaged"));
    }
    let find = |shards: &HashMap<usize, Shard>, name: &str| -> (Vec<u32>, Vec<u32>) {
        shards
            .get(&shard_of(name))
            .and_then(|s| s.names.binary_search_by(|(n, _, _)| n.as_str().cmp(name)).ok().map(|i| &s.names[i]))
            .map(|(_, a, b)| (a.clone(), b.clone()))
            .unwrap_or_default()
    };
    // A: every folder defining or using a name whose definitions changed; in them, the files
    // that touch such a name are linted again (E), with the changed files.
    let mut a: BTreeSet<u32> = BTreeSet::new();
    for name in &changed_names {
        let (definers, referrers) = find(&shards, name);
        a.extend(definers.into_iter().chain(referrers));
    }
    let mut e_files: BTreeSet<String> = changed_files.clone();
    let mut e_names: BTreeSet<String> = d_names.clone();
    for &i in &a {
        let files: Vec<(String, std::sync::Arc<ParsedFile>)> = if d.contains(&i) {
            let prefix = format!("{}/", root.folders[i as usize].key.path);
            in_head.iter().filter(|(p, _)| p.starts_with(&prefix)).map(|(p, (_, f))| (p.clone(), f.clone())).collect()
        } else {
            let Some(summary) = cache.get_folder(&root.folders[i as usize].key) else {
                return Ok(fallback("an affected folder's summary is not in the cache"));
            };
            summary.files.iter().map(|(p, _, f)| (p.clone(), f.clone())).collect()
        };
        for (path, parsed) in files {
            let t = touches([(path.as_str(), &*parsed)]);
            if t.iter().any(|(n, _)| changed_names.contains(n)) {
                e_names.extend(t.into_iter().map(|(n, _)| n));
                e_files.insert(path);
            }
        }
    }
    if load_shards(disk, &root, &mut shards, &mut e_names.iter()).is_none() {
        return Ok(fallback("a shard of the index is missing or damaged"));
    }
    // Read: the changed and affected folders, the definers of every name the re-linted files
    // touch (for the rules' lookups), and the consumers of what base and head compare.
    let mut l: BTreeSet<u32> = d.union(&a).copied().collect();
    for name in &e_names {
        l.extend(find(&shards, name).0);
    }
    for name in compared.iter().filter(|n| n.starts_with("d:")) {
        l.extend(find(&shards, name).1);
    }
    // Excerpts: folders whose problems the report shows.
    l.extend(root.folders.iter().enumerate().filter(|(_, r)| !r.problems.is_empty()).map(|(i, _)| i as u32));
    if too_big(l.len()) {
        return Ok(fallback("the change reaches too many folders"));
    }
    timer.mark("index plan");

    // Stage 2: the partial models.
    let l_paths: HashSet<String> = l.iter().map(|i| path_of(*i)).collect();
    let part = load::Only { folders: &l_paths, known: &unchanged };
    let head2 = load::load_part(head, options, cache, full, Some(&part), condense)?;
    let base2 = load::load_part(base, options, cache, full, Some(&part), condense)?;
    drop((head1, base1));
    // The limits hold for the whole model, as in a cold check.
    let unread: Vec<&Record> = root.folders.iter().filter(|r| !l_paths.contains(&r.key.path)).collect();
    let (unread_files, unread_bytes) = unread.iter().fold((0u64, 0u64), |(f, b), r| (f + r.files, b + r.bytes));
    for model in [&head2, &base2] {
        let files = model.files.len() as u64 + unread_files;
        let bytes = model.files.iter().map(|f| f.parsed.bytes).sum::<u64>() + unread_bytes;
        if files > options.max_model_files as u64 || bytes > options.max_model_size {
            return Ok(fallback("the model is over a limit"));
        }
    }
    timer.mark("partial load");
    // Files read only for their facts are linted too, but their problems are thrown away:
    // hollow their workspaces (no sinks; only their names count, for duplicates), so that
    // their references to folders not read cost nothing.
    let mut linted = head2.clone();
    for workspace in &mut linted.workspaces {
        if !e_files.contains(&*linted.files[workspace.file.0 as usize].path) {
            let mut hollow = (*workspace.value).clone();
            hollow.dataset_groups.clear();
            workspace.value = std::sync::Arc::new(hollow);
        }
    }
    let lint = crate::validate::lint_detailed(&linted);
    drop(linted);
    let fresh_file = |problem: &Problem| problem.location.as_ref().is_some_and(|l| e_files.contains(&*l.file));
    let mut problems: Vec<Problem> = Vec::new();
    let mut fresh_by_folder: HashMap<String, Vec<Problem>> = HashMap::new();
    let mut outside = Vec::new();
    for problem in lint.problems {
        match problem_folder(prefix, &problem) {
            Some(folder) if fresh_file(&problem) => {
                fresh_by_folder.entry(folder.to_string()).or_default().push(problem.clone());
                problems.push(problem);
            }
            Some(_) => {}
            None => {
                outside.push(problem.clone());
                problems.push(problem);
            }
        }
    }
    if problems.iter().any(whole_model_message) {
        return Ok(fallback("the change names an unknown datastore or container"));
    }
    for record in &root.folders {
        problems.extend(record.problems.iter().filter(|p| !fresh_file(p)).cloned());
    }
    crate::validate::sort(&mut problems);
    timer.mark("partial lint");

    // The head's index: the changed folders' records and names, the rest as in M.
    let next = (root.tree != head_tree).then(|| {
        let mut next = root.clone();
        next.tree = head_tree;
        next.outside = outside;
        for &i in d.union(&a) {
            let record = &mut next.folders[i as usize];
            record.key = head_keys[&record.key.path].clone();
            record.problems.retain(|p| !fresh_file(p));
            record.problems.extend(fresh_by_folder.remove(&record.key.path).unwrap_or_default());
            crate::validate::sort(&mut record.problems);
            let files = folder_files(&head2, &record.key.path);
            if d.contains(&i) {
                record.files = files.len() as u64;
                record.bytes = files.iter().map(|f| f.parsed.bytes).sum();
            }
        }
        next
    });
    let mut written = Vec::new();
    let next = next.and_then(|mut next| {
        // Only names whose defining or referring folders changed: (folder, defines) pairs.
        let membership = |all: &[(u32, Touches)]| -> BTreeSet<(String, u32, bool)> {
            all.iter().flat_map(|(i, t)| t.iter().map(move |(n, fact)| (n.clone(), *i, fact.is_some()))).collect()
        };
        let mut touched: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for (name, _, _) in membership(&old_touches).symmetric_difference(&membership(&new_touches)) {
            touched.entry(shard_of(name)).or_default().insert(name.clone());
        }
        for (s, names) in touched {
            // Every shard is read whole before it changes: one left unread would lose names.
            let mut shard = shards.get(&s).cloned().or_else(|| read_shard(disk, root.shards[s]))?;
            for name in names {
                let at = shard.names.binary_search_by(|(n, _, _)| n.as_str().cmp(&name));
                let (mut definers, mut referrers) = match at {
                    Ok(at) => (shard.names[at].1.clone(), shard.names[at].2.clone()),
                    Err(_) => (Vec::new(), Vec::new()),
                };
                definers.retain(|i| !d.contains(i));
                referrers.retain(|i| !d.contains(i));
                for (i, t) in &new_touches {
                    for (_, fact) in t.iter().filter(|(n, _)| *n == name) {
                        let list = if fact.is_some() { &mut definers } else { &mut referrers };
                        if !list.contains(i) {
                            list.push(*i);
                        }
                    }
                }
                definers.sort_unstable();
                referrers.sort_unstable();
                let empty = definers.is_empty() && referrers.is_empty();
                match (at, empty) {
                    (Ok(at), true) => {
                        shard.names.remove(at);
                    }
                    (Ok(at), false) => shard.names[at] = (name, definers, referrers),
                    (Err(at), false) => shard.names.insert(at, (name, definers, referrers)),
                    (Err(_), true) => {}
                }
            }
            let hash = if shard.names.is_empty() { 0 } else { shard_hash(&shard) };
            next.shards[s] = hash;
            if hash != 0 {
                written.push((hash, shard));
            }
        }
        Some(next)
    });
    let files = head2.files.len() + unread_files as usize;
    Ok(Some(Part { base: base2, head: head2, problems, files, fresh_local: lint.fresh_local, next, shards: written }))
}
