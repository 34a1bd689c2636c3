//! The influence features `alx model finetune` writes beside an adapter: one sketched gradient
//! per contribution trained on (the sum over its documents in the training split), with the
//! trained adapter, written as `influence.safetensors` and named by hash in the manifest. The
//! gateway scores each answer against them (`alx_gateway::influence`); `alx model
//! verify-adapter` recomputes them with the adapter.

use crate::Globals;
use alx_model::{
    Model,
    train::{
        Corpus, ExampleKey, Features, FrozenBase, Sample, Scoring, TrainConfig, Trainer,
        influence::EXAMPLES_MAX,
    },
};
use alx_types::model::InfluenceFeatures;
use std::{collections::BTreeMap, path::Path};

/// The tokens of each contribution's documents in the training split (each ended by the
/// end-of-text token, as the corpus trains on them), by contribution.
pub(crate) fn examples(
    model: &Model,
    corpus: &Corpus,
    keys: &[ExampleKey],
    docs: &[Sample],
) -> anyhow::Result<BTreeMap<ExampleKey, Vec<Vec<u32>>>> {
    let mut out: BTreeMap<ExampleKey, Vec<Vec<u32>>> = BTreeMap::new();
    for ((key, sample), trained) in keys.iter().zip(docs).zip(&corpus.trained) {
        if !trained {
            continue;
        }
        let mut tokens = Corpus::sample_tokens(model.tokenizer(), model.chat_template(), sample)?;
        tokens.extend(model.tokenizer().eos());
        if tokens.len() >= 2 {
            out.entry(*key).or_default().push(tokens);
        }
    }
    Ok(out)
}

/// Computes and writes the features of `examples` with the adapter at `adapter` over `base`;
/// `None` (and a note on stderr) when there are more contributions than an index holds.
pub(crate) fn features(
    g: &Globals,
    (base, train, adapter): (&FrozenBase, &TrainConfig, &Path),
    examples: &BTreeMap<ExampleKey, Vec<Vec<u32>>>,
    window: usize,
    scoring: &Scoring,
    path: &Path,
) -> anyhow::Result<Option<InfluenceFeatures>> {
    if examples.len() > EXAMPLES_MAX || examples.is_empty() {
        eprintln!(
            "note: {} contributions trained on; influence features take 1 to {EXAMPLES_MAX}, so \
             the model's receipts will credit retrieval and spans only",
            examples.len()
        );
        return Ok(None);
    }
    let mut trainer = Trainer::new(base, train.clone())?;
    trainer.load_adapter(adapter)?;
    let bar = (!g.json).then(|| {
        let bar = indicatif::ProgressBar::new(examples.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} contributions  influence features  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut rows = Vec::with_capacity(examples.len());
    for documents in examples.values() {
        let mut row = vec![0f32; scoring.sketch.dims];
        for tokens in documents {
            let g = trainer.example_features(tokens, window, &scoring.sketch)?;
            row.iter_mut().zip(g).for_each(|(r, x)| *r += x);
        }
        rows.push(row);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let keys: Vec<ExampleKey> = examples.keys().copied().collect();
    Features { keys, rows }.save(path)?;
    Ok(Some(InfluenceFeatures {
        features: super::model::file_hash(path)?,
        examples: examples.len() as u64,
        dims: scoring.sketch.dims as u64,
        seed: scoring.sketch.seed,
        damping: scoring.damping,
        query_tokens: scoring.query_tokens as u64,
    }))
}
