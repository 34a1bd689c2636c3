//! The weights this node can serve: GGUF files in its model directory, known by their BLAKE3
//! hash (what models register on chain), loaded on first use and kept.

use alx_model::{LoadConfig, Model};
use alx_types::Hash;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

/// Model files by content hash, and the ones loaded.
pub struct Catalog {
    dir: PathBuf,
    files: Mutex<BTreeMap<Hash, PathBuf>>,
    loaded: Mutex<BTreeMap<Hash, Arc<Model>>>,
    load: LoadConfig,
    /// Held while a model loads: concurrent first requests wait for one load instead of
    /// each loading a copy.
    loading: Mutex<()>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// BLAKE3 of a file, cached next to it as `NAME.blake3` (keyed by size and mtime) so a
/// restart does not rehash gigabytes.
fn hash_file(path: &Path) -> std::io::Result<Hash> {
    let meta = std::fs::metadata(path)?;
    let stamp = format!(
        "{}:{}",
        meta.len(),
        meta.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    );
    let cache = path.with_extension("gguf.blake3");
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some((s, h)) = text.trim().split_once(' ')
        && s == stamp
        && let Some(hash) = alx_types::hash::parse_hex(h)
    {
        return Ok(hash);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    let hash = alx_types::hash::from_bytes(*hasher.finalize().as_bytes());
    let _ = std::fs::write(&cache, format!("{stamp} {}\n", alx_types::hash::to_hex(&hash)));
    Ok(hash)
}

impl Catalog {
    /// The catalog of `dir` (created if missing).
    pub fn new(dir: &Path, load: LoadConfig) -> Self {
        let _ = std::fs::create_dir_all(dir);
        Self {
            dir: dir.to_owned(),
            files: Mutex::new(BTreeMap::new()),
            loaded: Mutex::new(BTreeMap::new()),
            load,
            loading: Mutex::new(()),
        }
    }

    /// The directory scanned for `*.gguf`.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rescans the directory (cheap when hashes are cached).
    pub fn scan(&self) -> std::io::Result<usize> {
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "gguf") {
                match hash_file(&path) {
                    Ok(hash) => {
                        found.insert(hash, path);
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), err = %e, "cannot hash model file")
                    }
                }
            }
        }
        let n = found.len();
        *self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = found;
        Ok(n)
    }

    /// Whether weights with this hash are here (rescanning once if not).
    pub fn has(&self, hash: &Hash) -> bool {
        let known = || {
            self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(hash)
        };
        known() || (self.scan().is_ok() && known())
    }

    /// The file with these weights, if it is here (rescanning once if not).
    pub fn path(&self, hash: &Hash) -> Option<PathBuf> {
        let lookup = || {
            self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(hash).cloned()
        };
        lookup().or_else(|| {
            let _ = self.scan();
            lookup()
        })
    }

    /// How models are loaded.
    #[must_use]
    pub const fn load_config(&self) -> &LoadConfig {
        &self.load
    }

    /// The model with these weights, loading it on first use (blocking: call off the async
    /// threads).
    pub fn get(&self, hash: &Hash) -> Result<Option<Arc<Model>>, alx_model::Error> {
        let loaded = || {
            self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(hash).cloned()
        };
        if let Some(m) = loaded() {
            return Ok(Some(m));
        }
        let _loading = self.loading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(m) = loaded() {
            return Ok(Some(m));
        }
        // A file copied in since the last scan is found without a restart.
        let Some(path) = self.path(hash) else { return Ok(None) };
        let model = Arc::new(Model::load(&path, &self.load)?);
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(*hash, model.clone());
        Ok(Some(model))
    }
}
