//! The adapters of registered models: a model registers its adapter's manifest by hash
//! (`alx_types::model::AdapterManifest`); the manifest names the adapter file by hash. Both
//! come from the blob store (or the node's data peers), are checked against their hashes (a
//! store is not trusted, and the chain accepts any hash), and the adapter is read for the base
//! model's shape. Loaded adapters are kept in a least-recently-used cache under a memory
//! budget, keyed by the manifest and the base (another model registering the same manifest
//! over another base can neither poison nor borrow the entry); an adapter that proved invalid
//! for a base is remembered as such (its bytes can never change), so a bad registration costs
//! one read, not one per request, and one that could not be read is not tried again for
//! [`UNAVAILABLE_RETRY`]. Loads run one at a time: concurrent requests for an adapter wait
//! for the one load, and a flood of requests cannot hold many files in memory at once.
//!
//! ```text
//! spec.adapter ─► manifest bytes ─ BLAKE3 ─ JSON ─ base matches? ─► adapter bytes ─ BLAKE3
//!             ─► alx_model::Adapter (shapes, rank, finite values) ─► LRU ─► the request
//! ```

use crate::GatewayError;
use alx_model::{
    Adapter, LlamaParams,
    train::{AdapterInfluence, DIMS_MAX, FEATURES_BYTES_MAX, Features, TrainConfig},
};
use alx_types::{Hash, hash::to_hex, model::AdapterManifest, model::ModelSpec};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
};

/// The largest manifest read, in bytes (they are a few hundred).
pub const MANIFEST_BYTES_MAX: usize = 64 << 10;
/// Invalid adapters remembered at most (past it, the oldest are forgotten and re-read).
const INVALID_REMEMBERED_MAX: usize = 1_024;
/// How long an adapter that could not be read is answered from memory before a new attempt
/// (the default of [`Adapters::retrying_after`]).
pub const UNAVAILABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// A cache key: the manifest and the base it is served over.
type Key = (Hash, Hash);

/// Where adapter blobs come from.
pub trait AdapterSource: Send + Sync {
    /// The bytes of blob `hash`, at most `max_bytes` of them, or `None` when neither this node
    /// nor its peers hold it (blocking: called on a gateway worker). The caller checks the
    /// hash.
    ///
    /// # Errors
    /// If the store fails, or the blob is larger than `max_bytes`.
    fn fetch(&self, hash: &Hash, max_bytes: usize) -> Result<Option<Vec<u8>>, String>;
}

/// The blob store of the node and its data peers, as an [`AdapterSource`].
pub struct BlobAdapters {
    blobs: alx_blobs::BlobStore,
    peers: alx_blobs::Peers,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters").field("memory_bytes", &self.memory_bytes).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BlobAdapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobAdapters").field("store", &self.blobs.backend()).finish_non_exhaustive()
    }
}

impl BlobAdapters {
    /// Reads from `blobs`, fetching what it lacks from `peers`; the store's IO runs on the
    /// current tokio runtime.
    ///
    /// # Errors
    /// Outside a tokio runtime.
    pub fn new(blobs: alx_blobs::BlobStore, peers: alx_blobs::Peers) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("the adapter source needs a tokio runtime: {e}"))?;
        Ok(Self { blobs, peers, runtime })
    }
}

impl AdapterSource for BlobAdapters {
    fn fetch(&self, hash: &Hash, max_bytes: usize) -> Result<Option<Vec<u8>>, String> {
        self.runtime.block_on(async {
            let size = match self.blobs.head(hash).await.map_err(|e| e.to_string())? {
                Some(size) => size,
                None if self.peers.is_empty() => return Ok(None),
                None => {
                    if !self.peers.fetch_into(&self.blobs, hash).await.map_err(|e| e.to_string())? {
                        return Ok(None);
                    }
                    self.blobs.head(hash).await.map_err(|e| e.to_string())?.unwrap_or(0)
                }
            };
            if size > max_bytes as u64 {
                return Err(format!("{size} bytes, more than the {max_bytes} allowed"));
            }
            let bytes = self.blobs.get_verified(hash).await.map_err(|e| e.to_string())?;
            Ok(bytes.map(|b| b.to_vec()))
        })
    }
}

/// Loaded adapters, by manifest hash.
pub struct Adapters {
    source: Option<Arc<dyn AdapterSource>>,
    memory_bytes: u64,
    cache: Mutex<Cache>,
    /// Held while an adapter is read: one load at a time.
    loading: Mutex<()>,
    retry: std::time::Duration,
    /// Whether influence features are read (a validator scoring models needs none).
    influence: bool,
}

#[derive(Default)]
struct Cache {
    /// Uses so far: the clock of recency.
    tick: u64,
    held: BTreeMap<Key, Held>,
    bytes: u64,
    /// Adapters found invalid, with why, and when (tick), to forget the oldest.
    invalid: BTreeMap<Key, (String, u64)>,
    /// Adapters that could not be read, with the error and when.
    unavailable: BTreeMap<Key, (GatewayErrorText, std::time::Instant)>,
}

/// An unavailability, as it is answered again.
#[derive(Clone)]
struct GatewayErrorText {
    message: String,
    code: &'static str,
}

struct Held {
    loaded: Loaded,
    last_used: u64,
    bytes: u64,
}

/// An adapter read for a base, with what scores its answers' influence (if its manifest
/// names influence features).
#[derive(Clone)]
pub struct Loaded {
    /// The adapter.
    pub adapter: Arc<Adapter>,
    /// Its training examples' influence features, with its weights and configuration.
    pub influence: Option<Arc<AdapterInfluence>>,
}

impl Loaded {
    fn memory_bytes(&self) -> u64 {
        let influence = self.influence.as_ref().map_or(0, |i| i.memory_bytes());
        (self.adapter.memory_bytes() + influence) as u64
    }
}

impl Adapters {
    /// Adapters from `source` (none: every adapter model is unavailable), at most
    /// `memory_bytes` of them held.
    #[must_use]
    pub fn new(source: Option<Arc<dyn AdapterSource>>, memory_bytes: u64) -> Self {
        Self {
            source,
            memory_bytes,
            cache: Mutex::new(Cache::default()),
            loading: Mutex::new(()),
            retry: UNAVAILABLE_RETRY,
            influence: true,
        }
    }

    /// Reads adapters without their influence features (`Loaded::influence` stays `None`).
    #[must_use]
    pub const fn without_influence(mut self) -> Self {
        self.influence = false;
        self
    }

    /// Tries an adapter that could not be read again only after `retry`.
    #[must_use]
    pub const fn retrying_after(mut self, retry: std::time::Duration) -> Self {
        self.retry = retry;
        self
    }

    /// Adapters held and their bytes (for `/metrics` and benchmarks).
    #[must_use]
    pub fn held(&self) -> (usize, u64) {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        (cache.held.len(), cache.bytes)
    }

    /// The adapter of `spec` (registered as `manifest_hash`) for a base of `params`, loaded
    /// if needed.
    ///
    /// # Errors
    /// [`GatewayError::Unavailable`]: `adapter_unavailable` when it cannot be read (tried
    /// again next time), `adapter_invalid` when its bytes are wrong (remembered).
    pub fn get(
        &self,
        spec: &ModelSpec,
        manifest_hash: &Hash,
        params: &LlamaParams,
    ) -> Result<Loaded, GatewayError> {
        let loaded = self.cached_or_loaded(spec, manifest_hash, params)?;
        // Per model, not per cached adapter: two models may register one manifest.
        if let Some(i) = &loaded.influence
            && let Some((d, c)) =
                i.keys().iter().find(|(d, _)| !spec.datanets.iter().any(|r| r.datanet.0 == *d))
        {
            return Err(invalid(
                spec,
                format!(
                    "its influence features credit contribution {c} of datanet {d}, which the \
                     model does not draw on"
                ),
            ));
        }
        Ok(loaded)
    }

    fn cached_or_loaded(
        &self,
        spec: &ModelSpec,
        manifest_hash: &Hash,
        params: &LlamaParams,
    ) -> Result<Loaded, GatewayError> {
        let key = (*manifest_hash, spec.base_model);
        if let Some(known) = self.known(spec, &key) {
            return known;
        }
        let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        // Another request may have loaded it while this one waited.
        if let Some(known) = self.known(spec, &key) {
            return known;
        }
        match self.load(spec, manifest_hash, params) {
            Ok(adapter) => Ok(self.keep(key, adapter)),
            Err(Failure::Invalid(why)) => {
                let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                if cache.invalid.len() >= INVALID_REMEMBERED_MAX {
                    let oldest = cache.invalid.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k);
                    if let Some(oldest) = oldest {
                        cache.invalid.remove(&oldest);
                    }
                }
                let tick = cache.tick;
                cache.invalid.insert(key, (why.clone(), tick));
                Err(invalid(spec, why))
            }
            Err(Failure::Other(e)) => {
                if let GatewayError::Unavailable { message, code } = &e {
                    let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                    let now = std::time::Instant::now();
                    cache
                        .unavailable
                        .retain(|_, (_, at)| now.duration_since(*at) < UNAVAILABLE_RETRY);
                    if cache.unavailable.len() < INVALID_REMEMBERED_MAX {
                        let text = GatewayErrorText { message: message.clone(), code };
                        cache.unavailable.insert(key, (text, now));
                    }
                }
                Err(e)
            }
        }
    }

    /// What the cache knows of `key`: the adapter, or why it cannot be served.
    fn known(&self, spec: &ModelSpec, key: &Key) -> Option<Result<Loaded, GatewayError>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.tick += 1;
        let tick = cache.tick;
        if let Some(held) = cache.held.get_mut(key) {
            held.last_used = tick;
            return Some(Ok(held.loaded.clone()));
        }
        if let Some((why, _)) = cache.invalid.get(key) {
            return Some(Err(invalid(spec, why.clone())));
        }
        match cache.unavailable.get(key) {
            Some((text, at)) if at.elapsed() < self.retry => Some(Err(GatewayError::Unavailable {
                message: text.message.clone(),
                code: text.code,
            })),
            _ => None,
        }
    }

    /// Reads and checks the manifest, then the adapter, then its influence features.
    fn load(
        &self,
        spec: &ModelSpec,
        manifest_hash: &Hash,
        params: &LlamaParams,
    ) -> Result<Loaded, Failure> {
        let manifest = self.blob(spec, manifest_hash, MANIFEST_BYTES_MAX)?;
        let manifest: AdapterManifest = serde_json::from_slice(&manifest)
            .map_err(|e| Failure::Invalid(format!("its manifest is not one: {e}")))?;
        if manifest.base_model != spec.base_model {
            return Err(Failure::Invalid(format!(
                "it was trained on base model {}, the model registers base {}",
                to_hex(&manifest.base_model),
                to_hex(&spec.base_model)
            )));
        }
        let alpha = alpha(&manifest.hyperparameters).ok_or_else(|| {
            Failure::Invalid("its manifest has no hyperparameters.lora.alpha".into())
        })?;
        let bytes = self.blob(spec, &manifest.adapter, alx_model::ADAPTER_BYTES_MAX)?;
        let adapter = Adapter::from_safetensors(&bytes, alpha, params)
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let influence = match &manifest.influence {
            Some(f) if self.influence => {
                Some(Arc::new(self.influence(spec, &manifest, f, bytes, params)?))
            }
            _ => None,
        };
        Ok(Loaded { adapter: Arc::new(adapter), influence })
    }

    /// The influence features a manifest names, checked: their shape, and examples of the
    /// model's own datanets only (the credits they earn go to those contributions).
    fn influence(
        &self,
        spec: &ModelSpec,
        manifest: &AdapterManifest,
        f: &alx_types::model::InfluenceFeatures,
        adapter: Vec<u8>,
        params: &LlamaParams,
    ) -> Result<AdapterInfluence, Failure> {
        let dims = usize::try_from(f.dims).unwrap_or(usize::MAX);
        if !(1..=DIMS_MAX).contains(&dims) {
            return Err(Failure::Invalid(format!(
                "{} influence features, not 1 to {DIMS_MAX}",
                f.dims
            )));
        }
        let config: TrainConfig = serde_json::from_value(manifest.hyperparameters.clone())
            .map_err(|e| Failure::Invalid(format!("its manifest's hyperparameters: {e}")))?;
        let bytes = self.blob(spec, &f.features, FEATURES_BYTES_MAX)?;
        let features = Features::from_safetensors(&bytes, dims)
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        if features.keys.len() as u64 != f.examples {
            return Err(Failure::Invalid(format!(
                "its influence features hold {} examples, the manifest says {}",
                features.keys.len(),
                f.examples
            )));
        }
        let scoring = crate::influence::scoring(f);
        AdapterInfluence::new(config, adapter, features, scoring, params)
            .map_err(|e| Failure::Invalid(e.to_string()))
    }

    /// A blob checked against its hash.
    fn blob(&self, spec: &ModelSpec, hash: &Hash, max_bytes: usize) -> Result<Vec<u8>, Failure> {
        let Some(source) = &self.source else {
            return Err(Failure::Other(unavailable(spec, hash, "this node reads no blob store")));
        };
        let bytes = source
            .fetch(hash, max_bytes)
            .map_err(|e| Failure::Other(unavailable(spec, hash, &e)))?
            .ok_or_else(|| {
                Failure::Other(unavailable(spec, hash, "neither this node nor its peers hold it"))
            })?;
        if alx_blobs::blake3_hash(&bytes) != *hash {
            // A store returning other bytes is the store's fault, not the adapter's: not
            // remembered as invalid.
            return Err(Failure::Other(unavailable(spec, hash, "the store returned other bytes")));
        }
        Ok(bytes)
    }

    /// Holds `adapter`, evicting the least recently used ones past the budget. One larger than
    /// the whole budget is served but not held.
    fn keep(&self, key: Key, loaded: Loaded) -> Loaded {
        let bytes = loaded.memory_bytes();
        if bytes > self.memory_bytes {
            tracing::warn!(
                adapter = %to_hex(&key.0),
                bytes,
                budget = self.memory_bytes,
                hint = "raise [gateway] adapter_memory_mib",
                "an adapter larger than the adapter memory budget is reloaded on every request"
            );
            return loaded;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(raced) = cache.held.get(&key) {
            return raced.loaded.clone();
        }
        while cache.bytes + bytes > self.memory_bytes {
            let Some(oldest) = cache.held.iter().min_by_key(|(_, h)| h.last_used).map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(gone) = cache.held.remove(&oldest) {
                cache.bytes -= gone.bytes;
                tracing::debug!(adapter = %to_hex(&oldest.0), "adapter evicted");
            }
        }
        let tick = cache.tick;
        cache.bytes += bytes;
        cache.held.insert(key, Held { loaded: loaded.clone(), last_used: tick, bytes });
        loaded
    }
}

enum Failure {
    /// The registered bytes themselves are wrong: remembered.
    Invalid(String),
    /// Anything else (missing, store failure): tried again next time.
    Other(GatewayError),
}

/// `hyperparameters.lora.alpha` of a manifest written by `alx model finetune`.
fn alpha(hyperparameters: &serde_json::Value) -> Option<f32> {
    #[allow(clippy::cast_possible_truncation)]
    hyperparameters.get("lora")?.get("alpha")?.as_f64().map(|a| a as f32)
}

fn unavailable(spec: &ModelSpec, hash: &Hash, why: &str) -> GatewayError {
    GatewayError::Unavailable {
        message: format!(
            "the adapter of model {:?} cannot be read (blob {}: {why}); its owner uploads it \
             with `alx model register --adapter MANIFEST`, or a node holding it serves it",
            spec.name,
            to_hex(hash)
        ),
        code: "adapter_unavailable",
    }
}

fn invalid(spec: &ModelSpec, why: String) -> GatewayError {
    GatewayError::Unavailable {
        message: format!(
            "the adapter registered by model {:?} is not usable: {why}; the model's owner \
             registers a corrected one",
            spec.name
        ),
        code: "adapter_invalid",
    }
}
