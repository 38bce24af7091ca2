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
                let object = repo.find_object(id).map_err(|e| git(&e))?;
                Ok(Read::Bytes(object.detach().data))
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
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
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
        let id = repo
            .rev_parse_single(rev)
            .map_err(|e| Error::RevNotFound { rev: rev.to_string(), message: e.to_string() })?;
        let tree = id
            .object()
            .and_then(|o| o.peel_to_tree())
            .map_err(|e| Error::RevNotFound { rev: rev.to_string(), message: e.to_string() })?;
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
        let id = repo
            .rev_parse_single(rev)
            .map_err(|e| Error::RevNotFound { rev: rev.to_string(), message: e.to_string() })?;
        Ok(id.to_string())
    }
}
