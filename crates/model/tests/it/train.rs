//! LoRA fine-tuning on the tiny model: the training forward is the inference forward (a fresh
//! adapter changes nothing), training lowers the loss, and a run resumed from a checkpoint
//! continues bit for bit as one that never stopped.

use alx_model::{
    PerplexityConfig, WeightFormat,
    train::{FrozenBase, TrainConfig, Trainer},
};

use crate::support::{load_config, tiny_file};

/// A text of 65 tokens the tiny model has never seen: a cycle the adapter can learn.
fn text() -> Vec<u32> {
    (0..65).map(|i| 40 + (i * 7 % 23)).collect()
}

fn spec() -> alx_model::tiny::TinySpec {
    alx_model::tiny::TinySpec { context_length: 128, ..alx_model::tiny::TinySpec::DEFAULT }
}

fn config(steps: u64) -> TrainConfig {
    TrainConfig { lr: 1e-2, warmup_steps: 2, ..TrainConfig::new(steps) }
}

#[test]
fn a_fresh_adapter_computes_what_the_base_model_does() {
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let trainer = Trainer::new(&base, config(10)).unwrap();
    let tokens = text();
    let trained_forward = trainer.loss(&tokens).unwrap();
    let model = alx_model::Model::load(&file.path, &load_config(WeightFormat::F32)).unwrap();
    let window = std::num::NonZeroUsize::new(tokens.len()).unwrap();
    let p = model.perplexity(&tokens, &PerplexityConfig { window }).unwrap();
    #[allow(clippy::cast_precision_loss)]
    let inference = (p.nll_sum / p.tokens_scored as f64) as f32;
    assert!((trained_forward - inference).abs() < 1e-3, "{trained_forward} vs {inference}");
}

#[test]
fn training_lowers_the_loss_and_resumes_bit_for_bit() {
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let tokens = text();
    let (a, b) = tokens.split_at(33);
    let batches: [&[u32]; 2] = [a, b];
    let mut trainer = Trainer::new(&base, config(24)).unwrap();
    let before = trainer.loss(&tokens).unwrap();
    let mut reports = Vec::new();
    for _ in 0..8 {
        reports.push(trainer.step(&batches).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("step8.safetensors");
    trainer.save_checkpoint(&checkpoint).unwrap();
    let mut continued = Vec::new();
    for _ in 0..16 {
        continued.push(trainer.step(&batches).unwrap());
    }
    let after = trainer.loss(&tokens).unwrap();
    assert!(after < before * 0.8, "loss {before} → {after}");
    assert!(reports.iter().all(|r| r.grad_norm.is_finite() && r.lr > 0.0));
    assert_eq!(reports[0].lr, 1e-2 / 2.0, "half way through the warm-up");

    // A new trainer from the checkpoint: the same 16 steps, to the bit.
    let mut resumed = Trainer::new(&base, config(24)).unwrap();
    resumed.load_checkpoint(&checkpoint).unwrap();
    assert_eq!(resumed.steps(), 8);
    for expected in &continued {
        assert_eq!(&resumed.step(&batches).unwrap(), expected);
    }
    assert_eq!(resumed.loss(&tokens).unwrap(), after);

    // The adapter alone is saved, and a checkpoint of another shape is refused.
    trainer.save_adapter(&dir.path().join("adapter.safetensors")).unwrap();
    let mut other = TrainConfig {
        lora: alx_model::train::LoraConfig { rank: 4, ..config(24).lora },
        ..config(24)
    };
    other.lr = 1e-2;
    let mut mismatched = Trainer::new(&base, other).unwrap();
    assert!(mismatched.load_checkpoint(&checkpoint).is_err());
}

#[test]
fn the_schedule_warms_up_then_decays_to_its_floor() {
    let c = TrainConfig {
        lr: 1.0,
        warmup_steps: 4,
        total_steps: 14,
        min_lr_ratio: 0.1,
        ..TrainConfig::new(14)
    };
    let lrs: Vec<f64> = (0..16).map(|s| c.lr_at(s)).collect();
    assert_eq!(&lrs[..4], &[0.25, 0.5, 0.75, 1.0]);
    assert!((lrs[4] - 1.0).abs() < 1e-12, "the peak after the warm-up");
    assert!(lrs[4..].windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
    assert!((lrs[14] - 0.1).abs() < 1e-12 && (lrs[15] - 0.1).abs() < 1e-12);
}

/// A whole run over documents: held-out perplexity falls, the adapter is written, and a run
/// stopped half way resumes from its checkpoint to the same adapter.
#[test]
fn a_run_over_documents_lowers_held_out_perplexity_and_resumes() {
    use alx_model::train::{Corpus, FinetuneOptions, finetune};
    let file = tiny_file(&spec());
    let model = alx_model::Model::load(&file.path, &load_config(WeightFormat::F32)).unwrap();
    let documents: Vec<String> = (0..24)
        .map(|i| format!("the world is the world {i}; the system is the world and the user is the system {i}."))
        .collect();
    let corpus = Corpus::new(model.tokenizer(), &documents, 24, 2_500).unwrap();
    assert!(!corpus.train.is_empty() && !corpus.held_out.is_empty());
    assert!(corpus.train.iter().chain(&corpus.held_out).all(|w| w.len() >= 2 && w.len() <= 25));
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let options = FinetuneOptions { train: config(20), micro_batches: 2, checkpoint_every: 5 };
    let dir = tempfile::tempdir().unwrap();
    let (adapter, checkpoint) =
        (dir.path().join("a.safetensors"), dir.path().join("c.safetensors"));
    let mut events = 0;
    let report =
        finetune(&base, &corpus, &options, (&adapter, &checkpoint), |_| events += 1).unwrap();
    assert_eq!((report.steps, events), (20, 21));
    assert!(
        report.held_out_perplexity_after < report.held_out_perplexity_before * 0.9,
        "{report:?}"
    );
    let whole = std::fs::read(&adapter).unwrap();

    // A run that crashes at step 12 (its last checkpoint at 10) and is run again: it resumes
    // from the checkpoint and ends with the same adapter, to the byte.
    let dir2 = tempfile::tempdir().unwrap();
    let (adapter2, checkpoint2) =
        (dir2.path().join("a.safetensors"), dir2.path().join("c.safetensors"));
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finetune(&base, &corpus, &options, (&adapter2, &checkpoint2), |e| {
            if let alx_model::train::Event::Step { report, .. } = e {
                assert!(report.step < 12, "the process dies");
            }
        })
    }));
    assert!(crashed.is_err());
    let resumed = finetune(&base, &corpus, &options, (&adapter2, &checkpoint2), |e| {
        if let alx_model::train::Event::Start { from_step, .. } = e {
            assert_eq!(*from_step, 10);
        }
    })
    .unwrap();
    assert_eq!(resumed.steps, 20);
    assert_eq!(std::fs::read(&adapter2).unwrap(), whole, "resumed to the same adapter");
}

/// Dropout masks come from the seed, the step and the micro-batch: a run with dropout trains
/// differently from one without, and a run resumed from a checkpoint draws the same masks.
#[test]
fn dropout_is_seeded_and_resumes_bit_for_bit() {
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let tokens = text();
    let batches: [&[u32]; 2] = [&tokens[..33], &tokens[33..]];
    let mut with = config(10);
    with.lora.dropout = 0.2;
    let run = |config: &TrainConfig, steps: usize, from: Option<&std::path::Path>| {
        let mut trainer = Trainer::new(&base, config.clone()).unwrap();
        if let Some(checkpoint) = from {
            trainer.load_checkpoint(checkpoint).unwrap();
        }
        let reports: Vec<_> = (0..steps).map(|_| trainer.step(&batches).unwrap()).collect();
        (trainer, reports)
    };
    let (_, plain) = run(&config(10), 6, None);
    let (whole, dropped) = run(&with, 6, None);
    assert_ne!(plain, dropped, "dropout changes the training");
    let (half, _) = run(&with, 3, None);
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("c.safetensors");
    half.save_checkpoint(&checkpoint).unwrap();
    let (resumed, rest) = run(&with, 3, Some(&checkpoint));
    assert_eq!(&rest[..], &dropped[3..]);
    assert_eq!(resumed.loss(&tokens).unwrap(), whole.loss(&tokens).unwrap());
}

#[test]
fn hyperparameters_out_of_range_are_refused() {
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    type Edit = Box<dyn Fn(&mut TrainConfig)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|c| c.lora.rank = 0), "rank"),
        (Box::new(|c| c.lora.rank = 100_000), "rank"),
        (Box::new(|c| c.lora.alpha = f32::NAN), "alpha"),
        (Box::new(|c| c.lora.dropout = 1.0), "dropout"),
        (Box::new(|c| c.lora.targets.clear()), "projection"),
        (Box::new(|c| c.lr = -1.0), "learning rate"),
        (Box::new(|c| c.lr = f64::INFINITY), "learning rate"),
        (Box::new(|c| c.total_steps = 0), "steps"),
        (Box::new(|c| c.warmup_steps = 11), "warm-up"),
        (Box::new(|c| c.weight_decay = 2.0), "weight decay"),
        (Box::new(|c| c.clip_norm = 0.0), "clip norm"),
    ];
    for (i, (edit, expected)) in cases.into_iter().enumerate() {
        let mut c = config(10);
        edit(&mut c);
        let err = Trainer::new(&base, c).err().expect("refused");
        assert!(err.to_string().contains(expected), "case {i}: {err}");
    }
}

/// A datanet of a few documents whose hashes all fall on one side still gets both splits; a
/// single document cannot.
#[test]
fn a_small_corpus_gets_both_splits() {
    use alx_model::train::Corpus;
    let model =
        alx_model::Model::load(&tiny_file(&spec()).path, &load_config(WeightFormat::F32)).unwrap();
    let docs: Vec<String> = (0..3).map(|i| format!("the world {i} is the system")).collect();
    for bps in [0, 1, 9_999, 10_000] {
        let corpus = Corpus::new(model.tokenizer(), &docs, 8, bps).unwrap();
        assert!(!corpus.train.is_empty() && !corpus.held_out.is_empty(), "{bps} bps");
    }
    let err = Corpus::new(model.tokenizer(), &docs[..1], 8, 1_000).unwrap_err();
    assert!(err.to_string().contains("at least two documents"), "{err}");
}

/// Four planted documents (disjoint token cycles), and an adapter trained 60 steps on them.
fn four_documents_learned(base: &FrozenBase) -> (Vec<Vec<u32>>, Trainer<'_>) {
    let docs: Vec<Vec<u32>> =
        (0..4u32).map(|d| (0..40).map(|i| 40 + d * 50 + (i * 7 % 23)).collect()).collect();
    let mut trainer = Trainer::new(base, config(60)).unwrap();
    for step in 0..60 {
        trainer.step(&[&docs[step % 4], &docs[(step + 1) % 4]]).unwrap();
    }
    (docs, trainer)
}

/// Influence on the tiny model: an adapter trained on four planted documents, and a query that
/// continues one of them, owes that one most.
#[test]
fn influence_ranks_the_planted_source_first() {
    use alx_model::train::influence::{InfluenceIndex, Method, Sketch};
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let (docs, trainer) = four_documents_learned(&base);
    let sketch = Sketch { dims: 512, seed: 1 };
    let features: Vec<Vec<f32>> =
        docs.iter().map(|d| trainer.example_features(d, 64, &sketch).unwrap()).collect();
    let index = InfluenceIndex::new(sketch, features, Some(0.1)).unwrap();
    let methods = [Method::Trak { damping: 0.1 }, Method::GradCos, Method::GradDot];
    let mut right = [0; 3];
    for (source, doc) in docs.iter().enumerate() {
        let query = &doc[10..30];
        let phi = trainer.sketched_gradient(query, 1, &sketch).unwrap();
        for (m, method) in methods.iter().enumerate() {
            let scores = index.scores(&phi, *method).unwrap();
            let best = (0..4).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
            right[m] += usize::from(best == source);
        }
    }
    // TRAK finds every source; the plain gradient products, which a document with large
    // gradients dominates, miss one (why TRAK is the estimator served).
    assert_eq!(right, [4, 3, 3]);
    // The same inputs give the same features: the sketch is seeded.
    let again = trainer.example_features(&docs[0], 64, &sketch).unwrap();
    assert_eq!(again, trainer.example_features(&docs[0], 64, &sketch).unwrap());
}

/// What a gateway holds for an adapter model: its weights, configuration and the examples'
/// features, read back from files; the quantized scores it records rank the source first.
#[test]
fn a_served_adapter_scores_influence_from_its_files() {
    use alx_model::train::{AdapterInfluence, Features, Scoring, influence::Sketch};
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let (docs, trainer) = four_documents_learned(&base);
    let sketch = Sketch { dims: 512, seed: 1 };
    let dir = tempfile::tempdir().unwrap();
    let (adapter_path, features_path) =
        (dir.path().join("adapter.safetensors"), dir.path().join("features.safetensors"));
    trainer.save_adapter(&adapter_path).unwrap();
    let keys = vec![(0, 3), (0, 8), (1, 0), (1, 2)];
    let rows = docs.iter().map(|d| trainer.example_features(d, 64, &sketch).unwrap()).collect();
    Features { keys: keys.clone(), rows }.save(&features_path).unwrap();
    let adapter = std::fs::read(&adapter_path).unwrap();
    let read = |dims| Features::from_safetensors(&std::fs::read(&features_path).unwrap(), dims);
    let model = alx_model::Model::load(&file.path, &load_config(WeightFormat::F32)).unwrap();
    let params = model.info().params.clone();
    let scoring = Scoring { sketch, damping: 0.1, query_tokens: 128 };
    let new = |config, adapter: &[u8], scoring| {
        AdapterInfluence::new(config, adapter.to_vec(), read(512).unwrap(), scoring, &params)
    };
    let served = new(config(60), &adapter, scoring).unwrap();
    assert_eq!(served.examples(), 4);
    for (source, doc) in docs.iter().enumerate() {
        // A prompt of 10 tokens, the answer the 20 after it.
        let scores = served.answer_scores(&base, &doc[..10], &doc[10..30]).unwrap();
        assert_eq!(scores, served.scores(&base, &doc[..30], 10).unwrap(), "a window of 30");
        assert_eq!(scores.iter().map(|s| s.0).collect::<Vec<_>>(), keys);
        let best = scores.iter().max_by_key(|s| s.1).unwrap();
        assert_eq!(best.0, keys[source], "{scores:?}");
        assert_eq!(scores.iter().map(|s| s.1.abs()).max(), Some(1_000_000));
        assert_eq!(scores, served.scores(&base, &doc[..30], 10).unwrap(), "deterministic");
    }
    assert!(served.answer_scores(&base, &docs[0], &[]).unwrap().is_empty(), "no answer");
    // An adapter its configuration does not describe, bytes that are no adapter, or a scoring
    // out of range are refused.
    let mut other = config(60);
    other.lora.rank = 4;
    assert!(new(other, &adapter, scoring).is_err());
    assert!(new(config(60), b"junk", scoring).is_err());
    assert!(new(config(60), &adapter, Scoring { damping: f64::NAN, ..scoring }).is_err());
    assert!(new(config(60), &adapter, Scoring { query_tokens: 4_096, ..scoring }).is_err());
    assert!(read(256).is_err(), "another width");
}
