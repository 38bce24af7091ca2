//! Where model files come from: a folder on disk, or a tree of a git revision.

use std::path::{Path, PathBuf};

use super::{EntryKind, Error, SourceEntry};
use crate::model::BlobId;

/// A model root to read: a folder, or a folder of a git revision.
pub enum Snapshot {
    Folder {
        root: PathBuf,
        /// The model root relative to the repository root, `""` when they are the same.
        prefix: String,
    },
    Git {
        repo: Box<gix::ThreadSafeRepository>,
        /// The tree of the model root; `None` when the revision has no such folder.
        tree: Option<gix::ObjectId>,
        prefix: String,
        rev: String,
    },
    /// Files held in memory, by path relative to the model root (tests, fuzzing, tools).
    Memory { files: Vec<(String, Vec<u8>)> },
}

/// Memory for decoded delta bases, per reading thread.
const PACK_CACHE_BYTES: usize = 96 * 1024 * 1024;

/// Reads file contents; one per worker thread.
pub enum Reader<'s> {
    Folder(&'s Path),
    Git(Box<gix::Repository>),
    Memory(&'s [(String, Vec<u8>)]),
}

/// What reading one file gave, within the limits.
#[derive(Debug)]
pub enum Read {
    /// The bytes, at most the size limit.
    Bytes(Vec<u8>),
    /// The file is larger than the limit (its size, as far as known); nothing was kept.
    TooLarge(u64),
    /// The path is a symbolic link (found when opening it, after the listing).
    Symlink,
    /// Not a regular file: a FIFO, a device, a socket, a folder; what it is.
    NotRegular(&'static str),
}

thread_local! {
    /// One buffer per reader thread for blob bytes, handed back once a file is parsed: a
    /// fresh buffer for each of a million blobs costs the kernel a zeroed page each time.
    static SPARE: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

/// Gives bytes from `Reader::read` back for the thread's next read (small buffers only).
pub fn recycle(bytes: Vec<u8>) {
    if bytes.capacity() <= 1 << 20 {
        SPARE.set(Some(bytes));
    }
}

impl Reader<'_> {
    /// Reads a file's bytes if it is a regular file of at most `max` bytes. Folders are read
    /// without following symbolic links and never past the limit, whatever the listing said
    /// (a file may have grown since); git blobs are measured by their object header first.
    pub fn read(&self, entry: &SourceEntry, max: u64) -> Result<Read, Error> {
        match self {
            Reader::Folder(root) => read_regular(&root.join(&entry.rel), max),
            Reader::Git(repo) => {
                let Some(blob) = entry.blob else {
                    return Err(Error::Git { message: format!("{} has no blob id", entry.rel) });
                };
                let id = gix::ObjectId::from_bytes_or_panic(&blob);
                let git = |e: &dyn std::fmt::Display| Error::Git { message: format!("{}: {e}", entry.rel) };
                let header = repo.find_header(id).map_err(|e| git(&e))?;
                if header.kind() != gix::object::Kind::Blob {
                    return Ok(Read::NotRegular("not a blob"));
                }
                if header.size() > max {
                    return Ok(Read::TooLarge(header.size()));
                }
                // Copy the bytes out and let the object go: its decoding buffer returns to
                // the repository's pool, so each blob does not grow a fresh one from zeroed
                // pages (a quarter of a large lint's CPU went to the kernel zeroing them).
                let object = repo.find_object(id).map_err(|e| git(&e))?;
                let mut bytes = SPARE.take().unwrap_or_default();
                bytes.clear();
                bytes.extend_from_slice(&object.data);
                Ok(Read::Bytes(bytes))
            }
            Reader::Memory(files) => {
                let bytes = files.iter().find(|(p, _)| *p == entry.rel).map(|(_, b)| &b[..]).unwrap_or_default();
                Ok(if bytes.len() as u64 > max {
                    Read::TooLarge(bytes.len() as u64)
                } else {
                    Read::Bytes(bytes.to_vec())
                })
            }
        }
    }
}

/// Opens `path` without following a symbolic link at its end and without blocking on a FIFO,
/// checks on the open file that it is a regular file, and reads at most `max` bytes of it.
pub fn read_regular(path: &Path, max: u64) -> Result<Read, Error> {
    use std::io::Read as _;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let file = match read_options().open(path) {
        Ok(file) => file,
        // O_NOFOLLOW refuses a link with ELOOP.
        #[cfg(unix)]
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => return Ok(Read::Symlink),
        Err(error) => return Err(io(error)),
    };
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Ok(Read::NotRegular(special_kind(&metadata.file_type())));
    }
    if metadata.len() > max {
        return Ok(Read::TooLarge(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Ok(Read::TooLarge(bytes.len() as u64));
    }
    Ok(Read::Bytes(bytes))
}

/// What a file that is neither regular nor a link is, in words.
pub fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() { "a folder" } else { "not a regular file" }
}

impl Snapshot {
    /// A folder on disk. Paths in reports are made relative to the enclosing git work tree,
    /// when there is one, so that forges can place annotations.
    pub fn folder(path: &Path) -> Result<Snapshot, Error> {
        if !path.is_dir() {
            return Err(Error::NotAFolder { path: path.to_path_buf() });
        }
        let root = path.canonicalize().map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let prefix = super::enclosing_worktree(&root)
            .and_then(|worktree| root.strip_prefix(worktree).ok().map(path_to_slash))
            .unwrap_or_default();
        Ok(Snapshot::Folder { root, prefix })
    }

    /// The git tree of the model root: names the whole model's content (`None` for folders).
    pub fn tree_id(&self) -> Option<BlobId> {
        match self {
            Snapshot::Git { tree: Some(tree), .. } => tree.as_slice().try_into().ok(),
            _ => None,
        }
    }

    pub fn prefix(&self) -> &str {
        match self {
            Snapshot::Folder { prefix, .. } | Snapshot::Git { prefix, .. } => prefix,
            Snapshot::Memory { .. } => "",
        }
    }

    /// A description for messages: the folder, or `rev:root`.
    pub fn describe(&self) -> String {
        match self {
            Snapshot::Folder { root, .. } => root.display().to_string(),
            Snapshot::Git { rev, prefix, .. } if prefix.is_empty() => format!("revision {rev}"),
            Snapshot::Git { rev, prefix, .. } => format!("{prefix}/ at revision {rev}"),
            Snapshot::Memory { .. } => "(in memory)".into(),
        }
    }

    pub fn reader(&self) -> Reader<'_> {
        match self {
            Snapshot::Folder { root, .. } => Reader::Folder(root),
            Snapshot::Git { repo, .. } => {
                let mut repo = repo.to_thread_local();
                // Packed blobs are deltas against each other: a roomy cache of decoded bases
                // saves re-inflating whole delta chains for every file.
                repo.objects.set_pack_cache(|| {
                    Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(PACK_CACHE_BYTES))
                });
                Reader::Git(Box::new(repo))
            }
            Snapshot::Memory { files } => Reader::Memory(files),
        }
    }

    /// Every file under the model root, with paths relative to it, sorted.
    pub fn entries(&self) -> Result<Vec<SourceEntry>, Error> {
        self.entries_except(&std::collections::HashSet::new(), usize::MAX)
    }

    /// Every file under the model root except those in the folders of `skip` (relative to
    /// the model root; a git walk does not even open them), sorted by path. Listing stops with
    /// an error once more than `max_files` model files (YAML files and links) were found.
    pub fn entries_except(
        &self,
        skip: &std::collections::HashSet<String>,
        max_files: usize,
    ) -> Result<Vec<SourceEntry>, Error> {
        let mut entries = Vec::new();
        let mut counted = 0usize;
        let mut count = |entry: &SourceEntry| -> Result<(), Error> {
            if entry.kind != EntryKind::File || super::classify(&entry.rel) != super::Classified::Ignored {
                counted += 1;
                if counted > max_files {
                    return Err(super::too_many_files(max_files));
                }
            }
            Ok(())
        };
        match self {
            Snapshot::Folder { root, .. } => walk(root, root, &mut entries, &mut count)?,
            Snapshot::Git { repo, tree: Some(tree), .. } => {
                let repo = repo.to_thread_local();
                let packs = pack_indices(&repo);
                // An explicit stack, not recursion: a hostile repository may nest deeply.
                let mut stack = vec![(String::new(), *tree)];
                while let Some((prefix, tree)) = stack.pop() {
                    let tree = repo.find_tree(tree).map_err(git_error)?;
                    for entry in tree.iter() {
                        let entry = entry.map_err(git_error)?;
                        let name = String::from_utf8_lossy(entry.filename());
                        let rel = if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") };
                        let mode = entry.mode();
                        let kind = if mode.is_tree() {
                            if !skip.contains(&rel) {
                                stack.push((rel, entry.object_id()));
                            }
                            continue;
                        } else if mode.is_link() {
                            EntryKind::Symlink
                        } else if mode.is_blob() {
                            EntryKind::File
                        } else {
                            // Submodules hold no model files of this repository.
                            continue;
                        };
                        let wanted = kind == EntryKind::File && super::classify(&rel) != super::Classified::Ignored;
                        // Reading blobs in pack order decodes each delta right after its base.
                        let order = if wanted { pack_order(&packs, entry.oid()) } else { u64::MAX };
                        let blob = entry.oid().as_bytes().try_into().ok();
                        // The size is read from the object header later, on a reader thread.
                        let entry = SourceEntry { rel, kind, size: 0, blob, order };
                        count(&entry)?;
                        entries.push(entry);
                    }
                }
            }
            Snapshot::Git { tree: None, .. } => {}
            Snapshot::Memory { files } => {
                for (rel, bytes) in files {
                    let entry = SourceEntry {
                        rel: rel.clone(),
                        kind: EntryKind::File,
                        size: bytes.len() as u64,
                        blob: None,
                        order: 0,
                    };
                    count(&entry)?;
                    entries.push(entry);
                }
            }
        }
        entries.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(entries)
    }

    /// The team folders (`zones/<zone>/teams/<team>`, relative to the model root), their tree
    /// ids and the blob of their zone's `zone.yaml`; empty for folders on disk, which have no
    /// content ids.
    /// The blob of every file under the team folders `folders` (paths from the repository
    /// root), by path from the repository root; nothing else is walked.
    pub fn blobs_under(
        &self,
        folders: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, Option<BlobId>>, Error> {
        let prefix = self.prefix();
        let join = |rel: &str| if prefix.is_empty() { rel.to_string() } else { format!("{prefix}/{rel}") };
        let skip: std::collections::HashSet<String> = self
            .team_folders()?
            .into_iter()
            .map(|(rel, _, _)| rel)
            .filter(|rel| !folders.contains(&join(rel)))
            .collect();
        Ok(self
            .entries_except(&skip, usize::MAX)?
            .into_iter()
            .map(|e| (join(&e.rel), e.blob))
            .filter(|(path, _)| super::folder_of(prefix, path).is_some_and(|f| folders.contains(f)))
            .collect())
    }

    pub fn team_folders(&self) -> Result<Vec<(String, BlobId, Option<BlobId>)>, Error> {
        let Snapshot::Git { repo, tree: Some(tree), .. } = self else {
            return Ok(Vec::new());
        };
        let repo = repo.to_thread_local();
        let subtrees = |tree: &gix::Tree<'_>| -> Result<Vec<(String, gix::ObjectId)>, Error> {
            let mut out = Vec::new();
            for entry in tree.iter() {
                let entry = entry.map_err(git_error)?;
                if entry.mode().is_tree() {
                    out.push((entry.filename().to_string(), entry.object_id()));
                }
            }
            Ok(out)
        };
        let root = repo.find_tree(*tree).map_err(git_error)?;
        let Some(zones) = root.find_entry("zones").filter(|e| e.mode().is_tree()).map(|e| e.object_id()) else {
            return Ok(Vec::new());
        };
        let mut folders = Vec::new();
        for (zone, zone_tree) in subtrees(&repo.find_tree(zones).map_err(git_error)?)? {
            let zone_tree = repo.find_tree(zone_tree).map_err(git_error)?;
            let zone_blob = zone_tree
                .find_entry("zone.yaml")
                .filter(|e| e.mode().is_blob())
                .and_then(|e| e.object_id().as_bytes().try_into().ok());
            let Some(teams) = zone_tree.find_entry("teams").filter(|e| e.mode().is_tree()).map(|e| e.object_id())
            else {
                continue;
            };
            for (team, team_tree) in subtrees(&repo.find_tree(teams).map_err(git_error)?)? {
                if let Ok(id) = team_tree.as_bytes().try_into() {
                    folders.push((format!("zones/{zone}/teams/{team}"), id, zone_blob));
                }
            }
        }
        Ok(folders)
    }

    /// A small file beside the model (`.datasurface.yaml`), by its path relative to the
    /// snapshot's root: a regular file or blob (never a link) of at most `max` bytes, as text.
    pub fn root_file(&self, rel: &str, max: u64) -> Option<String> {
        let bytes = match self {
            Snapshot::Folder { root, .. } => match read_regular(&root.join(rel), max).ok()? {
                Read::Bytes(bytes) => bytes,
                _ => return None,
            },
            Snapshot::Git { repo, tree: Some(tree), .. } => {
                let repo = repo.to_thread_local();
                let entry = repo.find_tree(*tree).ok()?.lookup_entry_by_path(rel).ok()??;
                if !entry.mode().is_blob() {
                    return None;
                }
                let header = repo.find_header(entry.object_id()).ok()?;
                if header.size() > max {
                    return None;
                }
                entry.object().ok()?.detach().data
            }
            Snapshot::Git { tree: None, .. } => return None,
            Snapshot::Memory { files } => files.iter().find(|(p, _)| p == rel)?.1.clone(),
        };
        String::from_utf8(bytes).ok()
    }

    /// The text of a model file for excerpts in reports (by its path from the repository
    /// root), taken only from what the loader accepted: `model` must hold the file as text
    /// (`ParsedFile::text`: a regular file within the size limit, UTF-8). It is read again
    /// under the same limits: a git blob by the id the loader read, a file on disk without
    /// following links and never past `max_file_size` bytes. A link, a special file, a file
    /// refused for its size or anything outside the model therefore never shows.
    pub fn excerpt(&self, model: &crate::model::Model, repo_path: &str, max_file_size: u64) -> Option<String> {
        let index = model.files.binary_search_by(|f| (*f.path).cmp(repo_path)).ok()?;
        let file = &model.files[index];
        if !file.parsed.text {
            return None;
        }
        let prefix = self.prefix();
        let rel = if prefix.is_empty() { repo_path } else { repo_path.strip_prefix(prefix)?.strip_prefix('/')? };
        let entry = SourceEntry { rel: rel.to_string(), kind: EntryKind::File, size: 0, blob: file.blob, order: 0 };
        let bytes = match self.reader().read(&entry, max_file_size).ok()? {
            Read::Bytes(bytes) => bytes,
            _ => return None,
        };
        String::from_utf8(bytes).ok().filter(|text| !text.contains('\0'))
    }
}

/// A file whose bytes or kind differ between two snapshots of a model root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathChange {
    /// The path relative to the model root.
    pub rel: String,
    pub kind: PathChangeKind,
    /// For an addition whose content is a file removed elsewhere in the same change: that
    /// file's path (relative to the model root).
    pub renamed_from: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathChangeKind {
    Added,
    Removed,
    Modified,
}

/// What a file is, for comparing two snapshots: its kind (file, link, submodule) and its
/// content (a git object id, or for a folder the path to compare bytes with).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stamp {
    Git { mode: gix::objs::tree::EntryMode, id: gix::ObjectId },
    Disk { kind: &'static str, size: u64, path: PathBuf },
}

/// Every file (of any name, hidden ones too) that differs between the model roots of `base`
/// and `head`, sorted by path. Git trees are walked together and only into subtrees whose ids
/// differ, so a change costs what it touches, not the model; folders are compared byte by byte.
pub fn changed_paths(base: &Snapshot, head: &Snapshot) -> Result<Vec<PathChange>, Error> {
    let mut changes = match (base, head) {
        (Snapshot::Git { repo, tree: base_tree, .. }, Snapshot::Git { tree: head_tree, .. }) => {
            git_changes(&repo.to_thread_local(), *base_tree, *head_tree)?
        }
        _ => {
            let (before, after) = (stamps(base)?, stamps(head)?);
            let mut changes = Vec::new();
            for (rel, stamp) in &after {
                match before.get(rel) {
                    None => changes.push((rel.clone(), PathChangeKind::Added, Some(stamp.clone()))),
                    Some(old) if !same_content(old, stamp) => {
                        changes.push((rel.clone(), PathChangeKind::Modified, Some(stamp.clone())))
                    }
                    Some(_) => {}
                }
            }
            for (rel, stamp) in &before {
                if !after.contains_key(rel) {
                    changes.push((rel.clone(), PathChangeKind::Removed, Some(stamp.clone())));
                }
            }
            changes
        }
    };
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    // An added file with the content of a removed one is that file, renamed or moved.
    let removed: Vec<(String, Stamp)> = changes
        .iter()
        .filter(|(_, kind, _)| *kind == PathChangeKind::Removed)
        .filter_map(|(rel, _, stamp)| Some((rel.clone(), stamp.clone()?)))
        .collect();
    Ok(changes
        .into_iter()
        .map(|(rel, kind, stamp)| {
            let renamed_from = match (kind, &stamp) {
                (PathChangeKind::Added, Some(stamp)) => {
                    removed.iter().find(|(_, old)| same_content(old, stamp)).map(|(path, _)| path.clone())
                }
                _ => None,
            };
            PathChange { rel, kind, renamed_from }
        })
        .collect())
}

fn same_content(a: &Stamp, b: &Stamp) -> bool {
    match (a, b) {
        (Stamp::Git { .. }, Stamp::Git { .. }) => a == b,
        (Stamp::Disk { kind: ka, size: sa, path: pa }, Stamp::Disk { kind: kb, size: sb, path: pb }) => {
            ka == kb && sa == sb && (*ka != "file" || same_bytes(pa, pb))
        }
        _ => false,
    }
}

/// Compares two files in chunks, without holding either (a file may be of any size).
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read as _;
    let open = |p: &Path| read_options().open(p).ok();
    let (Some(mut a), Some(mut b)) = (open(a), open(b)) else { return false };
    let (mut buf_a, mut buf_b) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = match a.read(&mut buf_a) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if b.read_exact(&mut buf_b[..n]).is_err() || buf_a[..n] != buf_b[..n] {
            return false;
        }
        if n == 0 {
            return b.read(&mut buf_b[..1]).is_ok_and(|m| m == 0);
        }
    }
}

/// Every path under a folder snapshot's root, hidden ones too, with what it is.
fn stamps(snapshot: &Snapshot) -> Result<std::collections::BTreeMap<String, Stamp>, Error> {
    let mut out = std::collections::BTreeMap::new();
    match snapshot {
        Snapshot::Folder { root, .. } => {
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let read_dir = std::fs::read_dir(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
                for item in read_dir {
                    let item = item.map_err(|source| Error::Io { path: dir.clone(), source })?;
                    let path = item.path();
                    let metadata =
                        std::fs::symlink_metadata(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
                    if metadata.is_dir() {
                        // A repository inside the folder is not part of the model.
                        if item.file_name() != ".git" {
                            stack.push(path);
                        }
                        continue;
                    }
                    let kind = if metadata.file_type().is_symlink() {
                        "link"
                    } else if metadata.is_file() {
                        "file"
                    } else {
                        special_kind(&metadata.file_type())
                    };
                    let rel = path.strip_prefix(root).map(path_to_slash).unwrap_or_default();
                    out.insert(rel, Stamp::Disk { kind, size: metadata.len(), path });
                }
            }
        }
        Snapshot::Git { .. } => return Err(Error::Git { message: "cannot compare a revision with a folder".into() }),
        Snapshot::Memory { files } => {
            // Files in memory are compared by content alone.
            for (rel, bytes) in files {
                let id =
                    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes).map_err(git_error)?;
                out.insert(rel.clone(), Stamp::Git { mode: gix::objs::tree::EntryKind::Blob.into(), id });
            }
        }
    }
    Ok(out)
}

/// Walks two trees of one repository together, into subtrees whose ids differ only.
fn git_changes(
    repo: &gix::Repository,
    base: Option<gix::ObjectId>,
    head: Option<gix::ObjectId>,
) -> Result<Vec<(String, PathChangeKind, Option<Stamp>)>, Error> {
    type Listing = Vec<(String, gix::objs::tree::EntryMode, gix::ObjectId)>;
    let list = |tree: Option<gix::ObjectId>| -> Result<Listing, Error> {
        let Some(tree) = tree else { return Ok(Vec::new()) };
        let tree = repo.find_tree(tree).map_err(git_error)?;
        let mut out = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(git_error)?;
            out.push((String::from_utf8_lossy(entry.filename()).into_owned(), entry.mode(), entry.object_id()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    };
    let is_tree = |mode: gix::objs::tree::EntryMode| mode.is_tree();
    let mut out = Vec::new();
    // An explicit stack, not recursion: a hostile repository may nest deeply.
    let mut stack = vec![(String::new(), base, head)];
    while let Some((prefix, base, head)) = stack.pop() {
        if base == head {
            continue;
        }
        let (before, after) = (list(base)?, list(head)?);
        let join = |name: &str| if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
        let find = |listing: &Listing, name: &str| listing.binary_search_by(|e| e.0.as_str().cmp(name)).ok();
        let mut names: Vec<&str> = before.iter().chain(&after).map(|e| e.0.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let old = find(&before, name).map(|i| &before[i]);
            let new = find(&after, name).map(|i| &after[i]);
            let path = join(name);
            let old_tree = old.filter(|e| is_tree(e.1)).map(|e| e.2);
            let new_tree = new.filter(|e| is_tree(e.1)).map(|e| e.2);
            if old_tree.is_some() || new_tree.is_some() {
                stack.push((path.clone(), old_tree, new_tree));
            }
            let old_file = old.filter(|e| !is_tree(e.1)).map(|e| Stamp::Git { mode: e.1, id: e.2 });
            let new_file = new.filter(|e| !is_tree(e.1)).map(|e| Stamp::Git { mode: e.1, id: e.2 });
            match (old_file, new_file) {
                (None, Some(stamp)) => out.push((path, PathChangeKind::Added, Some(stamp))),
                (Some(stamp), None) => out.push((path, PathChangeKind::Removed, Some(stamp))),
                (Some(a), Some(b)) if a != b => out.push((path, PathChangeKind::Modified, Some(b))),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Options to open a file for reading without following a link or blocking on a FIFO.
fn read_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options
}

/// The pack indices of a repository, to look up where each blob sits in its pack.
/// A repository that cannot be read this way simply gets no pack order.
fn pack_indices(repo: &gix::Repository) -> Vec<gix::odb::pack::index::File> {
    let Ok(entries) = std::fs::read_dir(repo.objects.store_ref().path().join("pack")) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| gix::odb::pack::index::File::at(p, repo.object_hash()).ok()).collect()
}

/// A sort key that puts blobs in pack order (pack, then offset); loose objects last.
fn pack_order(packs: &[gix::odb::pack::index::File], id: &gix::oid) -> u64 {
    packs
        .iter()
        .enumerate()
        .find_map(|(n, index)| index.lookup(id).map(|e| ((n as u64) << 40) | index.pack_offset_at_index(e)))
        .unwrap_or(u64::MAX)
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<SourceEntry>,
    count: &mut dyn FnMut(&SourceEntry) -> Result<(), Error>,
) -> Result<(), Error> {
    let read_dir = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    for item in read_dir {
        let item = item.map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let path = item.path();
        if item.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let metadata = std::fs::symlink_metadata(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let rel = path.strip_prefix(root).map(path_to_slash).unwrap_or_default();
        let entry = if metadata.file_type().is_symlink() {
            SourceEntry { rel, kind: EntryKind::Symlink, size: 0, blob: None, order: 0 }
        } else if metadata.is_dir() {
            walk(root, &path, out, count)?;
            continue;
        } else if metadata.is_file() {
            SourceEntry { rel, kind: EntryKind::File, size: metadata.len(), blob: None, order: 0 }
        } else {
            // A FIFO, device or socket: never opened for reading, but reported when its name
            // makes it a model file.
            SourceEntry { rel, kind: EntryKind::Special, size: 0, blob: None, order: 0 }
        };
        count(&entry)?;
        out.push(entry);
    }
    Ok(())
}

fn path_to_slash(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn git_error(error: impl std::fmt::Display) -> Error {
    Error::Git { message: error.to_string() }
}

/// An opened git repository, and where the user stood in it.
pub struct GitRepo {
    repo: gix::ThreadSafeRepository,
    /// The folder the repository was discovered from, relative to its work tree.
    pub cwd_prefix: String,
}

impl GitRepo {
    /// Opens the repository that contains `path` (a work tree folder or a bare repository).
    pub fn discover(path: &Path) -> Result<GitRepo, Error> {
        let repo = gix::discover(path)
            .map_err(|e| Error::NotARepository { path: path.to_path_buf(), message: e.to_string() })?;
        let cwd_prefix = match (repo.workdir(), path.canonicalize()) {
            (Some(workdir), Ok(path)) => workdir
                .canonicalize()
                .ok()
                .and_then(|w| path.strip_prefix(w).ok().map(path_to_slash))
                .unwrap_or_default(),
            _ => String::new(),
        };
        Ok(GitRepo { repo: repo.into_sync(), cwd_prefix })
    }

    /// The model root `root` (relative to the repository root) at revision `rev`.
    pub fn snapshot(&self, rev: &str, root: &str) -> Result<Snapshot, Error> {
        let repo = self.repo.to_thread_local();
        let id = repo.rev_parse_single(rev).map_err(|e| rev_error(&repo, rev, e))?;
        let tree = id.object().and_then(|o| o.peel_to_tree()).map_err(|e| rev_error(&repo, rev, e))?;
        let root = root.trim_matches('/');
        let tree_id = if root.is_empty() {
            Some(tree.id)
        } else {
            match tree.lookup_entry_by_path(root).map_err(git_error)? {
                Some(entry) if entry.mode().is_tree() => Some(entry.object_id()),
                _ => None,
            }
        };
        Ok(Snapshot::Git {
            repo: Box::new(self.repo.clone()),
            tree: tree_id,
            prefix: root.to_string(),
            rev: rev.to_string(),
        })
    }

    /// The full commit id `rev` names, for reports.
    pub fn resolve(&self, rev: &str) -> Result<String, Error> {
        let repo = self.repo.to_thread_local();
        let id = repo.rev_parse_single(rev).map_err(|e| rev_error(&repo, rev, e))?;
        Ok(id.to_string())
    }
}

/// A revision that does not resolve, in words: in a shallow clone the usual cause is history
/// that was never fetched, so say how to fetch it.
fn rev_error(repo: &gix::Repository, rev: &str, error: impl std::fmt::Display) -> Error {
    let message = if repo.is_shallow().unwrap_or(false) {
        "this is a shallow clone and the revision is not in the history it fetched; fetch more of it \
         (`git fetch --unshallow`, or `git fetch --deepen=N`; in GitHub Actions `fetch-depth: 0` on actions/checkout)"
            .to_string()
    } else {
        error.to_string()
    };
    Error::RevNotFound { rev: rev.to_string(), message }
}
