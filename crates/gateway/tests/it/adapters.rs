//! Adapters from the blob store: served over the shared base when their manifest and file
//! check, refused with a clear code when missing, altered by the store, made for another base
//! or malformed (no panic, and the node serves on), held in an LRU under their memory budget,
//! and served merged when the node is told to.

use alx_gateway::{
    AdapterSource, Adapters, Backend, BatchLimits, Catalog, GatewayError, GenerationRequest,
    LocalBackend,
};
use alx_model::{
    GenerateConfig, Sampling,
    train::{FrozenBase, TrainConfig, Trainer},
};
use alx_types::{
    Hash,
    model::{AdapterManifest, ModelSpec},
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::Duration,
};

/// Blobs in memory; `lie` makes it return other bytes for every blob.
#[derive(Default)]
pub(crate) struct Blobs {
    stored: Mutex<BTreeMap<Hash, Vec<u8>>>,
    lie: AtomicBool,
}

impl Blobs {
    pub(crate) fn put(&self, bytes: Vec<u8>) -> Hash {
        let hash = alx_blobs::blake3_hash(&bytes);
        self.stored.lock().unwrap().insert(hash, bytes);
        hash
    }
}

impl AdapterSource for Blobs {
    fn fetch(&self, hash: &Hash, _max_bytes: usize) -> Result<Option<Vec<u8>>, String> {
        let bytes = self.stored.lock().unwrap().get(hash).cloned();
        if self.lie.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(bytes.map(|mut b| {
                b[0] ^= 1;
                b
            }));
        }
        Ok(bytes)
    }
}

/// An adapter trained for a few steps on the tiny model at `path` (seeded, so each seed is a
/// different adapter).
fn adapter_bytes(path: &std::path::Path, seed: u64) -> Vec<u8> {
    let base = FrozenBase::load(path, 64).unwrap();
    let mut config = TrainConfig { lr: 2e-2, warmup_steps: 1, ..TrainConfig::new(3) };
    config.lora.seed = seed;
    let mut trainer = Trainer::new(&base, config).unwrap();
    let tokens: Vec<u32> = (0..33).map(|i| 40 + (i * 5 % 17)).collect();
    for _ in 0..3 {
        trainer.step(&[&tokens]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.safetensors");
    trainer.save_adapter(&file).unwrap();
    std::fs::read(file).unwrap()
}

fn manifest(base: Hash, adapter: Hash) -> Vec<u8> {
    serde_json::to_vec(&AdapterManifest {
        base_model: base,
        adapter,
        datanets: vec![],
        hyperparameters: serde_json::to_value(TrainConfig::new(3)).unwrap(),
        data: serde_json::json!({}),
        engine: "test".into(),
        held_out_perplexity_before: 1.0,
        held_out_perplexity_after: 1.0,
        steps: 3,
        influence: None,
    })
    .unwrap()
}

pub(crate) fn spec(name: &str, base: Hash, adapter: Option<Hash>) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        base_model: base,
        adapter,
        datanets: vec![],
        price_input_per_1k: alx_types::Amount(1),
        price_output_per_1k: alx_types::Amount(1),
        split: alx_types::model::FeeSplit::DEFAULT,
    }
}

fn answer(backend: &LocalBackend, spec: &ModelSpec) -> Vec<u32> {
    let model = backend.model(spec).unwrap().expect("the base is here");
    let request = GenerationRequest {
        prompt: vec![1, 40, 45, 50],
        config: GenerateConfig {
            max_tokens: 6,
            sampling: Sampling::Greedy,
            stop: vec![],
            penalties: Default::default(),
        },
        pieces: None,
        cancel: Arc::new(AtomicBool::new(false)),
    };
    model.generate(request).unwrap().token_ids
}

fn refused(backend: &LocalBackend, spec: &ModelSpec) -> (&'static str, String) {
    match backend.model(spec) {
        Err(GatewayError::Unavailable { code, message }) => (code, message),
        Err(other) => panic!("{}: another error: {other}", spec.name),
        Ok(_) => panic!("{}: served", spec.name),
    }
}

#[test]
fn adapters_are_checked_cached_and_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    alx_model::tiny::write(&path, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    let base = alx_blobs::blake3_hash(&std::fs::read(&path).unwrap());
    let blobs = Arc::new(Blobs::default());
    let (one, two) = (blobs.put(adapter_bytes(&path, 1)), blobs.put(adapter_bytes(&path, 2)));
    let (m1, m2) = (blobs.put(manifest(base, one)), blobs.put(manifest(base, two)));
    let adapter_memory = alx_model::Adapter::from_safetensors(
        &blobs.stored.lock().unwrap()[&one],
        16.0,
        &alx_model::Model::load(&path, &alx_model::LoadConfig::DEFAULT).unwrap().info().params,
    )
    .unwrap()
    .memory_bytes() as u64;
    let limits = BatchLimits { batch_max: 4, cache_budget_bytes: 64 << 20 };
    // Room for one adapter: the second evicts the first.
    let backend =
        LocalBackend::new(Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT), limits)
            .with_adapters(Adapters::new(Some(blobs.clone()), adapter_memory + adapter_memory / 2));

    let bare = answer(&backend, &spec("bare", base, None));
    let first = answer(&backend, &spec("one", base, Some(m1)));
    let second = answer(&backend, &spec("two", base, Some(m2)));
    assert_ne!(first, bare, "the adapter changes the answer");
    assert_ne!(first, second, "each adapter its own answer");
    assert_eq!(backend.adapters_held(), (1, adapter_memory), "the budget holds one");
    assert_eq!(answer(&backend, &spec("one", base, Some(m1))), first, "reloaded, same answer");

    // Missing: the manifest, or the adapter file it names.
    let (code, message) =
        refused(&backend, &spec("ghost", base, Some(alx_types::hash::from_bytes([7; 32]))));
    assert_eq!(code, "adapter_unavailable");
    assert!(message.contains("alx model register --adapter"), "{message}");
    let orphan = blobs.put(manifest(base, alx_types::hash::from_bytes([8; 32])));
    assert_eq!(refused(&backend, &spec("orphan", base, Some(orphan))).0, "adapter_unavailable");

    // Made for another base; not a manifest; not an adapter; an adapter of another shape.
    let elsewhere = blobs.put(manifest(alx_types::hash::from_bytes([9; 32]), one));
    let (code, message) = refused(&backend, &spec("elsewhere", base, Some(elsewhere)));
    assert_eq!(code, "adapter_invalid");
    assert!(message.contains("trained on base"), "{message}");
    let garbage = blobs.put(b"{not json".to_vec());
    assert_eq!(refused(&backend, &spec("garbage", base, Some(garbage))).0, "adapter_invalid");
    let junk = blobs.put(manifest(base, blobs.put(b"not safetensors".to_vec())));
    let (code, message) = refused(&backend, &spec("junk", base, Some(junk)));
    assert_eq!(code, "adapter_invalid");
    assert!(message.contains("safetensors"), "{message}");
    let big_path = dir.path().join("big.gguf.other");
    let big = alx_model::tiny::TinySpec { layers: 3, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&big_path, &big).unwrap();
    let other_shape = blobs.put(manifest(base, blobs.put(adapter_bytes(&big_path, 3))));
    assert_eq!(refused(&backend, &spec("shape", base, Some(other_shape))).0, "adapter_invalid");

    // A store that returns other bytes: refused, and not remembered as invalid (the adapter
    // serves again once the store tells the truth).
    let retrying = Adapters::new(Some(blobs.clone()), 64 << 20).retrying_after(Duration::ZERO);
    let fresh = LocalBackend::new(Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT), limits)
        .with_adapters(retrying);
    blobs.lie.store(true, std::sync::atomic::Ordering::Relaxed);
    let (code, message) = refused(&fresh, &spec("one", base, Some(m1)));
    assert_eq!(code, "adapter_unavailable");
    assert!(message.contains("other bytes"), "{message}");
    blobs.lie.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(answer(&fresh, &spec("one", base, Some(m1))), first);

    // A node without a blob store serves the bare model and refuses adapter models clearly.
    let plain = LocalBackend::new(Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT), limits);
    assert_eq!(answer(&plain, &spec("bare", base, None)), bare);
    assert_eq!(refused(&plain, &spec("one", base, Some(m1))).0, "adapter_unavailable");

    // Another model registering the same manifest over another base neither poisons the
    // entry nor borrows the adapter: the real model still serves.
    let other_path = dir.path().join("other.gguf");
    let other = alx_model::tiny::TinySpec { seed: 5, ..alx_model::tiny::TinySpec::DEFAULT };
    alx_model::tiny::write(&other_path, &other).unwrap();
    let other_base = alx_blobs::blake3_hash(&std::fs::read(&other_path).unwrap());
    let cold = LocalBackend::new(Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT), limits)
        .with_adapters(Adapters::new(Some(blobs.clone()), 64 << 20));
    assert_eq!(refused(&cold, &spec("thief", other_base, Some(m1))).0, "adapter_invalid");
    assert_eq!(answer(&cold, &spec("one", base, Some(m1))), first);
    assert_eq!(refused(&cold, &spec("thief", other_base, Some(m1))).0, "adapter_invalid");

    // Unavailable is remembered for a while: the adapter uploaded meanwhile is served only
    // after the retry delay (no store lookup per request for a missing adapter).
    let late = adapter_bytes(&path, 9);
    let late_manifest = manifest(base, alx_blobs::blake3_hash(&late));
    let late_hash = alx_blobs::blake3_hash(&late_manifest);
    assert_eq!(refused(&cold, &spec("late", base, Some(late_hash))).0, "adapter_unavailable");
    blobs.put(late);
    blobs.put(late_manifest);
    assert_eq!(refused(&cold, &spec("late", base, Some(late_hash))).0, "adapter_unavailable");

    // Merged: its own copy of the base with the adapter folded in, answering as unmerged.
    let merged =
        LocalBackend::new(Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT), limits)
            .with_adapters(Adapters::new(Some(blobs), 64 << 20))
            .with_merged(["one".to_owned()]);
    assert_eq!(answer(&merged, &spec("one", base, Some(m1))), first);
}
