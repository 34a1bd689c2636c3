//! Influence attribution as a gateway serves it: an adapter whose manifest names influence
//! features scores each answer against its training examples (the planted source first), a
//! juror's recomputation agrees with what a receipt records, and features that are corrupt,
//! miscounted or credit another datanet make the model refuse with `adapter_invalid`.

use crate::adapters::{Blobs, spec};
use alx_gateway::{
    Adapters, Backend, BatchLimits, Catalog, GatewayError, LocalBackend, attribution,
    influence::influence_within,
};
use alx_model::train::{Features, FrozenBase, TrainConfig, Trainer, influence::Sketch};
use alx_types::{
    Hash,
    datanet::DatanetId,
    model::{AdapterManifest, DatanetVersionRef, InfluenceFeatures, ModelSpec},
};
use std::sync::Arc;

/// Three planted documents: disjoint token cycles.
fn documents() -> Vec<Vec<u32>> {
    (0..3u32).map(|d| (0..40).map(|i| 40 + d * 60 + (i * 7 % 23)).collect()).collect()
}

fn config() -> TrainConfig {
    TrainConfig { lr: 1e-2, warmup_steps: 2, ..TrainConfig::new(45) }
}

/// An adapter trained on [`documents`] and its examples' features, as files' bytes.
fn trained(path: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let base = FrozenBase::load(path, 64).unwrap();
    let mut trainer = Trainer::new(&base, config()).unwrap();
    let docs = documents();
    for step in 0..45 {
        trainer.step(&[&docs[step % 3], &docs[(step + 1) % 3]]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (adapter, features) = (dir.path().join("a"), dir.path().join("f"));
    trainer.save_adapter(&adapter).unwrap();
    let sketch = Sketch { dims: 256, seed: 3 };
    let rows = docs.iter().map(|d| trainer.example_features(d, 63, &sketch).unwrap()).collect();
    Features { keys: vec![(7, 1), (7, 2), (7, 5)], rows }.save(&features).unwrap();
    (std::fs::read(adapter).unwrap(), std::fs::read(features).unwrap())
}

fn manifest(base: Hash, adapter: Hash, features: Hash, examples: u64) -> Vec<u8> {
    serde_json::to_vec(&AdapterManifest {
        base_model: base,
        adapter,
        datanets: vec![],
        hyperparameters: serde_json::to_value(config()).unwrap(),
        data: serde_json::json!({}),
        engine: "test".into(),
        held_out_perplexity_before: 1.0,
        held_out_perplexity_after: 1.0,
        steps: 45,
        influence: Some(InfluenceFeatures {
            features,
            examples,
            dims: 256,
            seed: 3,
            damping: 0.1,
            query_tokens: 32,
        }),
    })
    .unwrap()
}

fn drawing_on(mut s: ModelSpec, datanet: u64) -> ModelSpec {
    s.datanets = vec![DatanetVersionRef { datanet: DatanetId(datanet), version: 1 }];
    s
}

#[test]
fn an_answer_owes_its_planted_source_most_and_a_juror_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    alx_model::tiny::write(&path, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    let base = alx_blobs::blake3_hash(&std::fs::read(&path).unwrap());
    let blobs = Arc::new(Blobs::default());
    let (adapter, features) = trained(&path);
    let (adapter, features) = (blobs.put(adapter), blobs.put(features));
    let good = blobs.put(manifest(base, adapter, features, 3));
    let limits = BatchLimits { batch_max: 4, cache_budget_bytes: 64 << 20 };
    let backend = |adapters: Adapters| {
        LocalBackend::new(Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT), limits)
            .with_adapters(adapters)
    };
    let serving = backend(Adapters::new(Some(blobs.clone()), 256 << 20));
    let model_spec = drawing_on(spec("tuned", base, Some(good)), 7);
    let model = serving.model(&model_spec).unwrap().expect("served");
    let keys = [(7, 1), (7, 2), (7, 5)];
    for (source, doc) in documents().iter().enumerate() {
        let scores = model.influence(&doc[..12], &doc[12..30]).unwrap();
        let best = scores.iter().max_by_key(|s| s.1).unwrap();
        assert_eq!(best.0, keys[source], "{scores:?}");
        // What the receipt records, and what a juror (another node, the same files) recomputes.
        let recorded = attribution::recorded_influence(&scores);
        let juror = backend(Adapters::new(Some(blobs.clone()), 256 << 20));
        let again = juror.model(&model_spec).unwrap().unwrap();
        let recomputed = again.influence(&doc[..12], &doc[12..30]).unwrap();
        assert_eq!(influence_within(&recorded, &recomputed), Ok(()));
        // The influence part pays the source most.
        let part = attribution::influence_part(&recorded).unwrap();
        let top = part.iter().max_by_key(|(_, bps)| **bps).unwrap();
        assert_eq!(*top.0, keys[source], "{part:?}");
    }
    assert!(model.influence(&[1, 2], &[]).unwrap().is_empty(), "no answer, no influence");
    // Four requests at once may wait for their influence query; a fifth is refused before it
    // runs (429), and gets in once one ends.
    let places: Vec<_> =
        (0..4).map(|_| model.admit_influence().unwrap().expect("a place")).collect();
    assert!(matches!(model.admit_influence(), Err(GatewayError::Busy(_))));
    drop(places);
    assert!(model.admit_influence().unwrap().is_some());
    // A validator's loader skips the features; a model without them has no influence.
    let scoring = backend(Adapters::new(Some(blobs.clone()), 256 << 20).without_influence());
    let plain = scoring.model(&model_spec).unwrap().unwrap();
    assert!(plain.influence(&[1, 40], &[41, 42]).unwrap().is_empty());
    assert!(plain.admit_influence().unwrap().is_none());

    // Features that are not what the manifest names, or that credit strangers, are refused.
    let refused = |manifest: Hash, datanet: u64| {
        let s = drawing_on(spec("bad", base, Some(manifest)), datanet);
        match serving.model(&s) {
            Err(GatewayError::Unavailable { code, message }) => (code, message),
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("served"),
        }
    };
    let (code, message) = refused(good, 8);
    assert_eq!(code, "adapter_invalid");
    assert!(message.contains("does not draw on"), "{message}");
    let miscounted = blobs.put(manifest(base, adapter, features, 4));
    let (code, message) = refused(miscounted, 7);
    assert_eq!(code, "adapter_invalid");
    assert!(message.contains("3 examples"), "{message}");
    let junk = blobs.put(b"not features".to_vec());
    let (code, message) = refused(blobs.put(manifest(base, adapter, junk, 3)), 7);
    assert_eq!(code, "adapter_invalid");
    assert!(message.contains("influence features"), "{message}");
    let missing = alx_types::hash::from_bytes([9; 32]);
    let (code, _) = refused(blobs.put(manifest(base, adapter, missing, 3)), 7);
    assert_eq!(code, "adapter_unavailable");
    // The good model is served on.
    assert!(serving.model(&model_spec).is_ok());
}
