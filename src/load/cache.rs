//! The persistent parse cache: parsed files and team-folder summaries on disk, keyed by git
//! blob and tree ids.
//!
//! A key names everything a parse depends on: the blob (or tree) id, the file's place in the
//! layout, the parse limits, the cache format and the datasurface version. The same key
//! therefore always means the same bytes parsed the same way, and an entry is never stale.
//! Each entry holds its full key, written before the payload and compared with the key asked
//! for when read, so an entry copied or renamed over another one's file is refused, not
//! served for the wrong content. Entries are written to a temporary file and renamed into
//! place, checked with a checksum when read, and any entry that does not read back cleanly
//! is deleted and parsed again. The folder is bounded by a size limit (oldest entries go
//! first) and is safe to delete at any time.
//!
//! The cache is trusted like the binary: whoever can write the folder can make datasurface
//! believe a file says what it does not. Share a cache only between runs that are equally
//! trusted (docs/check.md, "The cache").
//!
//! The encoding is postcard (a maintained, compact serde format).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Place;
use crate::model::{BlobId, ParsedFile};

/// Bump when the model types or their encoding change.
const FORMAT: u32 = 2;
/// The first bytes of every entry.
const MAGIC: &[u8; 4] = b"DSC2";
/// Largest entry read back: a bound on what a damaged file can make us allocate.
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    /// What every key shares: format, version and the parse limits.
    salt: String,
    written: AtomicU64,
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DiskCache {
    /// Opens (creating) the cache under `dir`. The load options that change what a file parses
    /// to (its limits) are part of every key, so that different settings never share entries.
    pub fn open(dir: &Path, max_bytes: u64, options: &super::Options) -> std::io::Result<DiskCache> {
        let dir = dir.join(format!("v{FORMAT}-{}", env!("CARGO_PKG_VERSION")));
        std::fs::create_dir_all(&dir)?;
        let limits = &options.limits;
        let salt = format!(
            "{}-{}-{}-{}",
            limits.max_depth, limits.max_alias_nodes, options.max_file_size, options.max_file_problems
        );
        Ok(DiskCache { dir, max_bytes, salt, written: AtomicU64::new(0) })
    }

    /// The full key of a parsed file, as stored in its entry.
    fn file_key(&self, blob: &BlobId, place: Place) -> String {
        format!("file v{FORMAT} {} blob {} place {place:?} limits {}", env!("CARGO_PKG_VERSION"), hex(blob), self.salt)
    }

    fn path(&self, blob: &BlobId, place: Place) -> PathBuf {
        let hex = hex(blob);
        self.dir.join(&hex[..2]).join(format!("{}-{place:?}-{}.bin", &hex[2..], self.salt))
    }

    pub fn get(&self, blob: &BlobId, place: Place) -> Option<ParsedFile> {
        read_entry(&self.path(blob, place), &self.file_key(blob, place))
    }

    pub fn put(&self, blob: &BlobId, place: Place, parsed: &ParsedFile) {
        self.write_entry(&self.path(blob, place), &self.file_key(blob, place), parsed);
    }

    /// The full key of a team-folder summary.
    fn folder_key(&self, key: &super::folders::FolderKey) -> String {
        let zone = key.zone_blob.map_or("none".to_string(), |z| hex(&z));
        format!(
            "folder v{FORMAT} {} tree {} zone {zone} path {:?} limits {}",
            env!("CARGO_PKG_VERSION"),
            hex(&key.tree),
            key.path,
            self.salt
        )
    }

    fn folder_path(&self, key: &super::folders::FolderKey) -> PathBuf {
        let path_hash = checksum(key.path.as_bytes());
        let zone = key.zone_blob.map_or("none".to_string(), |z| hex(&z));
        let tree = hex(&key.tree);
        self.dir.join(&tree[..2]).join(format!("{}-{zone}-{path_hash:016x}-{}.folder", &tree[2..], self.salt))
    }

    /// A team-folder summary, if one was stored under exactly this key.
    pub fn get_folder(&self, key: &super::folders::FolderKey) -> Option<super::folders::FolderEntry> {
        let path = self.folder_path(key);
        let entry = read_entry::<super::folders::FolderEntry>(&path, &self.folder_key(key))?;
        if entry.key != *key {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(entry)
    }

    pub fn put_folder(&self, entry: &super::folders::FolderEntry) {
        self.write_entry(&self.folder_path(&entry.key), &self.folder_key(&entry.key), entry);
    }

    /// The full key of a named entry (the warm index: `crate::warm::index`).
    fn named_key(&self, name: &str) -> String {
        format!("index v{FORMAT} {} {name} limits {}", env!("CARGO_PKG_VERSION"), self.salt)
    }

    fn named_path(&self, name: &str) -> PathBuf {
        let hash = format!("{:016x}", checksum(name.as_bytes()));
        self.dir.join(format!("i{}", &hash[..1])).join(format!("{}-{}.index", &hash[1..], self.salt))
    }

    /// An entry stored under exactly `name`, if any (checksummed and key-checked like every
    /// entry; damaged ones are deleted).
    pub fn get_named<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        read_entry(&self.named_path(name), &self.named_key(name))
    }

    /// Whether an entry is stored under `name` (without reading it).
    pub fn has_named(&self, name: &str) -> bool {
        self.named_path(name).is_file()
    }

    pub fn put_named<T: serde::Serialize>(&self, name: &str, value: &T) {
        self.write_entry(&self.named_path(name), &self.named_key(name), value);
    }

    /// Writes `MAGIC`, the key's length and the key, the payload, then a checksum of all that.
    fn write_entry(&self, path: &Path, key: &str, value: &impl serde::Serialize) {
        let Ok(payload) = postcard::to_allocvec(value) else { return };
        let mut bytes = Vec::with_capacity(payload.len() + key.len() + 16);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&checksum(&bytes).to_le_bytes());
        self.write(path, &bytes);
    }

    fn write(&self, path: &Path, bytes: &[u8]) {
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        // Write beside, then rename: readers never see half an entry.
        let temporary = parent.join(format!(".tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
        if std::fs::write(&temporary, bytes).is_ok() && std::fs::rename(&temporary, path).is_ok() {
            self.written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        } else {
            let _ = std::fs::remove_file(&temporary);
        }
    }

    /// After writing, keeps the folder under its size limit by deleting the oldest entries
    /// (to 80% of the limit, so that pruning is not needed again at once).
    pub fn prune(&self) {
        if self.written.swap(0, Ordering::Relaxed) == 0 {
            return;
        }
        let mut entries = Vec::new();
        let mut total = 0;
        for shard in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            for entry in std::fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                if let Ok(metadata) = entry.metadata() {
                    total += metadata.len();
                    let modified = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
                    entries.push((modified, metadata.len(), entry.path()));
                }
            }
        }
        if total <= self.max_bytes {
            return;
        }
        entries.sort();
        let target = self.max_bytes / 10 * 8;
        for (_, len, path) in entries {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// Reads an entry back if it was written for exactly `key`; deletes it when it is damaged,
/// from an incompatible build, or stored under another key (the caller then parses again).
fn read_entry<T: serde::de::DeserializeOwned>(path: &Path, key: &str) -> Option<T> {
    let bytes = super::source::read_regular(path, MAX_ENTRY_BYTES).ok()?;
    let super::source::Read::Bytes(bytes) = bytes else {
        let _ = std::fs::remove_file(path);
        return None;
    };
    let decoded = decode_entry(&bytes, key);
    if decoded.is_none() {
        let _ = std::fs::remove_file(path);
    }
    decoded
}

fn decode_entry<T: serde::de::DeserializeOwned>(bytes: &[u8], key: &str) -> Option<T> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if checksum(body).to_le_bytes() != *sum {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (length, rest) = rest.split_at_checked(4)?;
    let length = u32::from_le_bytes(length.try_into().ok()?) as usize;
    let (stored_key, payload) = rest.split_at_checked(length)?;
    if stored_key != key.as_bytes() {
        return None;
    }
    postcard::from_bytes(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ParsedFile {
        super::super::parse_bytes(text.as_bytes(), Place::TeamContent, &crate::load::Options::default())
    }

    #[test]
    fn entries_round_trip_and_damage_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 30, &crate::load::Options::default()).unwrap();
        let file = parsed(
            "kind: Datastore\nname: s\ncapture: {kind: kafka, container: k}\ndatasets:\n  - name: d\n    schema:\n      columns:\n        - {name: id, type: \"decimal(9,2)\"}\n",
        );
        let blob = [7u8; 20];
        assert!(cache.get(&blob, Place::TeamContent).is_none());
        cache.put(&blob, Place::TeamContent, &file);
        let back = cache.get(&blob, Place::TeamContent).unwrap();
        assert_eq!(format!("{back:?}"), format!("{file:?}"), "positions and all");
        assert!(cache.get(&blob, Place::Team).is_none(), "the place is part of the key");
        // A damaged entry is deleted and reads as a miss.
        let path = cache.path(&blob, Place::TeamContent);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert!(cache.get(&blob, Place::TeamContent).is_none());
        assert!(!path.exists());
    }

    #[test]
    fn an_entry_copied_over_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 30, &crate::load::Options::default()).unwrap();
        let clean = parsed("kind: Workspace\nname: w\ncontainer: c\n");
        let broken = parsed("kind: Workspace\nname: w\ncontainr: c\n");
        assert!(clean.problems.is_empty() && !broken.problems.is_empty());
        let (clean_blob, broken_blob) = ([1u8; 20], [2u8; 20]);
        cache.put(&clean_blob, Place::TeamContent, &clean);
        cache.put(&broken_blob, Place::TeamContent, &broken);
        // A shared cache poisoned by copying the clean entry over the broken one's file.
        std::fs::copy(cache.path(&clean_blob, Place::TeamContent), cache.path(&broken_blob, Place::TeamContent))
            .unwrap();
        assert!(cache.get(&broken_blob, Place::TeamContent).is_none(), "served under another key");
        assert!(cache.get(&clean_blob, Place::TeamContent).is_some());
        // The same holds across places and limits.
        cache.put(&clean_blob, Place::Team, &broken);
        std::fs::copy(cache.path(&clean_blob, Place::Team), cache.path(&clean_blob, Place::TeamContent)).unwrap();
        assert!(cache.get(&clean_blob, Place::TeamContent).is_none());
        let other = crate::load::Options { max_file_size: 1234, ..crate::load::Options::default() };
        let other_cache = DiskCache::open(dir.path(), 1 << 30, &other).unwrap();
        other_cache.put(&clean_blob, Place::Team, &broken);
        std::fs::copy(other_cache.path(&clean_blob, Place::Team), cache.path(&clean_blob, Place::Team)).unwrap();
        assert!(cache.get(&clean_blob, Place::Team).is_none());
    }

    #[test]
    fn pruning_keeps_the_folder_under_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 2_000, &crate::load::Options::default()).unwrap();
        let file = parsed("kind: Workspace\nname: w\ncontainer: c\n");
        for i in 0..100u8 {
            cache.put(&[i; 20], Place::TeamContent, &file);
        }
        cache.prune();
        let total: u64 = walk(dir.path());
        assert!(total > 1_000 && total <= 2_000, "pruned to 80% of the limit, not emptied: {total}");
    }

    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| if e.path().is_dir() { walk(&e.path()) } else { e.metadata().unwrap().len() })
            .sum()
    }
}
