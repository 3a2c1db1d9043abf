//! Data fingerprints: a file or a folder hashed by content (BLAKE3, streamed, files
//! hashed in parallel), with a cache keyed by path, size and modification time so an
//! unchanged dataset is not read again.

use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct DataError(pub String);

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DataError {}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the dataset root, `/`-separated (the file name for a single file).
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// A dataset's fingerprint: one hash over its sorted manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub hash: String,
    pub bytes: u64,
    pub manifest: Vec<Entry>,
}

impl Fingerprint {
    /// The manifest as the JSON document stored beside the run.
    pub fn manifest_json(&self) -> Value {
        let files: Vec<Value> =
            self.manifest.iter().map(|e| json!({"path": e.path, "size": e.size, "blake3": e.blake3})).collect();
        json!({"hash": self.hash, "files": files.len(), "bytes": self.bytes, "manifest": files})
    }
}

/// Earlier file hashes by absolute path, valid while size and mtime are unchanged.
#[derive(Default)]
pub struct Cache {
    entries: Map<String, Value>,
    changed: bool,
}

impl Cache {
    /// Loads a cache file; a missing or unreadable one starts empty (it is only a cache).
    pub fn load(path: &Path) -> Cache {
        let entries = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        Cache { entries, changed: false }
    }

    /// Writes the cache back if it changed (atomically: temp file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(&self.entries).expect("JSON values serialise"))?;
        std::fs::rename(tmp, path)
    }

    fn get(&self, abs: &str, size: u64, mtime: i128) -> Option<String> {
        let e = self.entries.get(abs)?;
        (e["size"].as_u64() == Some(size) && e["mtime_ns"].as_str() == Some(&mtime.to_string()))
            .then(|| e["blake3"].as_str().map(str::to_owned))
            .flatten()
    }

    fn put(&mut self, abs: String, size: u64, mtime: i128, hash: &str) {
        self.entries.insert(abs, json!({"size": size, "mtime_ns": mtime.to_string(), "blake3": hash}));
        self.changed = true;
    }
}

struct File {
    rel: String,
    abs: PathBuf,
    size: u64,
    mtime: i128,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i128)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<File>) -> Result<(), DataError> {
    let read =
        std::fs::read_dir(dir).map_err(|e| DataError(format!("cannot read the folder {}: {e}", dir.display())))?;
    for entry in read {
        let entry = entry.map_err(|e| DataError(format!("cannot read the folder {}: {e}", dir.display())))?;
        let path = entry.path();
        // Follows symbolic links: a dataset is what the command reads.
        let meta = std::fs::metadata(&path).map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push(File { rel, abs: path.clone(), size: meta.len(), mtime: mtime_ns(&meta) });
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<String, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
    let mut h = blake3::Hasher::new();
    h.update_reader(f).map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))?;
    Ok(h.finalize().to_hex().to_string())
}

/// Fingerprints a file or a folder (recursively), reusing `cache` where it can.
pub fn fingerprint(path: &Path, cache: &mut Cache) -> Result<Fingerprint, DataError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| DataError(format!("the data path {} cannot be read ({e}); check --data", path.display())))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, path, &mut files)?;
    } else {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        files.push(File { rel: name, abs: path.to_owned(), size: meta.len(), mtime: mtime_ns(&meta) });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let abs: Vec<String> = files
        .iter()
        .map(|f| std::fs::canonicalize(&f.abs).unwrap_or_else(|_| f.abs.clone()).display().to_string())
        .collect();
    let mut hashes: Vec<Option<String>> = files.iter().zip(&abs).map(|(f, a)| cache.get(a, f.size, f.mtime)).collect();
    // Hash what the cache does not know, a file per worker at a time.
    let todo: Vec<usize> = (0..files.len()).filter(|&i| hashes[i].is_none()).collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(todo.len()));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(todo.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    let r = hash_file(&files[i].abs);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
                }
            });
        }
    });
    for (i, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let h = r?;
        cache.put(abs[i].clone(), files[i].size, files[i].mtime, &h);
        hashes[i] = Some(h);
    }
    let mut whole = blake3::Hasher::new();
    let mut manifest = Vec::with_capacity(files.len());
    let mut bytes = 0;
    for (f, h) in files.iter().zip(hashes) {
        let h = h.expect("every file hashed");
        whole.update(f.rel.as_bytes());
        whole.update(&[0]);
        whole.update(&f.size.to_le_bytes());
        whole.update(h.as_bytes());
        whole.update(b"\n");
        bytes += f.size;
        manifest.push(Entry { path: f.rel.clone(), size: f.size, blake3: h });
    }
    Ok(Fingerprint { hash: whole.finalize().to_hex().to_string(), bytes, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_hash_by_content_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("train")).unwrap();
        std::fs::write(root.join("train/a.csv"), "x,y\n1,2\n").unwrap();
        std::fs::write(root.join("labels.txt"), "cat\n").unwrap();
        let mut cache = Cache::default();
        let fp = fingerprint(&root, &mut cache).unwrap();
        assert_eq!(fp.manifest.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), vec!["labels.txt", "train/a.csv"]);
        assert_eq!(fp.bytes, 12);
        assert_eq!(fp.manifest[0].blake3, blake3::hash(b"cat\n").to_hex().to_string());
        // Same content elsewhere: same hash. Changed content: another.
        let copy = dir.path().join("copy");
        std::fs::create_dir_all(copy.join("train")).unwrap();
        std::fs::write(copy.join("train/a.csv"), "x,y\n1,2\n").unwrap();
        std::fs::write(copy.join("labels.txt"), "cat\n").unwrap();
        assert_eq!(fingerprint(&copy, &mut Cache::default()).unwrap().hash, fp.hash);
        std::fs::write(copy.join("labels.txt"), "dog\n").unwrap();
        assert_ne!(fingerprint(&copy, &mut Cache::default()).unwrap().hash, fp.hash);
    }

    #[test]
    fn the_cache_spares_unchanged_files_and_notices_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.bin");
        std::fs::write(&file, vec![7u8; 1 << 20]).unwrap();
        let cache_path = dir.path().join("cache.json");
        let mut cache = Cache::load(&cache_path);
        let first = fingerprint(&file, &mut cache).unwrap();
        cache.save(&cache_path).unwrap();
        // Poison the cached hash: an unchanged file is taken from the cache, not re-read.
        let text = std::fs::read_to_string(&cache_path).unwrap().replace(&first.manifest[0].blake3, "cached");
        std::fs::write(&cache_path, text).unwrap();
        let mut cache = Cache::load(&cache_path);
        assert_eq!(fingerprint(&file, &mut cache).unwrap().manifest[0].blake3, "cached");
        // A change of size (or time) is read again.
        std::fs::write(&file, vec![7u8; (1 << 20) + 1]).unwrap();
        let again = fingerprint(&file, &mut cache).unwrap();
        assert_eq!(again.manifest[0].blake3, blake3::hash(&vec![7u8; (1 << 20) + 1]).to_hex().to_string());
    }

    #[test]
    fn a_missing_path_is_a_clear_error() {
        let err = fingerprint(Path::new("/no/such/data"), &mut Cache::default()).unwrap_err().to_string();
        assert!(err.contains("/no/such/data") && err.contains("--data"), "{err}");
    }
}
