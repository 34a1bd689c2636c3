//! Serving adapters: the unmerged update computes what training computed, sequences with
//! different adapters (or none) batch together without changing a token, a merged model
//! matches the unmerged one, and every malformed adapter file is refused.

use std::sync::Arc;

use alx_model::{
    Adapter, Model, PerplexityConfig, WeightFormat, step_batch,
    train::{FrozenBase, TrainConfig, Trainer},
};

use crate::support::{greedy, load_config, tiny_file};

fn spec() -> alx_model::tiny::TinySpec {
    alx_model::tiny::TinySpec { context_length: 128, ..alx_model::tiny::TinySpec::DEFAULT }
}

/// A cycle of tokens starting at `offset`: what one adapter learns.
fn cycle(offset: u32) -> Vec<u32> {
    (0..65).map(|i| offset + (i * 7 % 23)).collect()
}

/// The bytes of an adapter trained for a few steps on `tokens`, and the trainer's loss on
/// them afterwards.
fn trained(base: &FrozenBase, tokens: &[u32], seed: u64) -> (Vec<u8>, f32) {
    let mut config = TrainConfig { lr: 2e-2, warmup_steps: 2, ..TrainConfig::new(60) };
    config.lora.seed = seed;
    let mut trainer = Trainer::new(base, config).unwrap();
    for _ in 0..60 {
        trainer.step(&[tokens]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adapter.safetensors");
    trainer.save_adapter(&path).unwrap();
    (std::fs::read(path).unwrap(), trainer.loss(tokens).unwrap())
}

fn mean_nll(model: &Model, tokens: &[u32], adapter: Option<&Adapter>) -> f32 {
    let window = std::num::NonZeroUsize::new(tokens.len()).unwrap();
    let p = model.perplexity_adapted(tokens, &PerplexityConfig { window }, adapter).unwrap();
    #[allow(clippy::cast_precision_loss)]
    let mean = (p.nll_sum / p.tokens_scored as f64) as f32;
    mean
}

#[test]
fn the_served_update_is_the_trained_one_batched_or_merged() {
    let file = tiny_file(&spec());
    let base = FrozenBase::load(&file.path, 128).unwrap();
    let (one, two) = (cycle(40), cycle(90));
    let (bytes_one, trained_loss) = trained(&base, &one, 1);
    let (bytes_two, _) = trained(&base, &two, 2);
    let alpha = TrainConfig::new(1).lora.alpha;

    let model = Model::load(&file.path, &load_config(WeightFormat::F32)).unwrap();
    let params = &model.info().params;
    let a1 = Arc::new(Adapter::from_safetensors(&bytes_one, alpha, params).unwrap());
    let a2 = Arc::new(Adapter::from_safetensors(&bytes_two, alpha, params).unwrap());
    assert_eq!((a1.rank(), a1.updated()), (8, 4 * params.layers));

    // Served unmerged, the adapter computes the training forward's loss; the base does not.
    let served = mean_nll(&model, &one, Some(&a1));
    assert!((served - trained_loss).abs() < 1e-3, "{served} vs {trained_loss}");
    let bare = mean_nll(&model, &one, None);
    assert!(bare > served + 0.1, "the adapter learned the cycle: {bare} vs {served}");

    // Merged into the weights (f32): the same numbers, to rounding.
    let merged = Model::load_merged(&file.path, &load_config(WeightFormat::F32), &a1).unwrap();
    let merged_nll = mean_nll(&merged, &one, None);
    assert!((merged_nll - served).abs() < 1e-3, "{merged_nll} vs {served}");
    // Merged into the native (quantized) weights: Q8_0 keeps the update.
    let native = Model::load_merged(&file.path, &load_config(WeightFormat::Native), &a1).unwrap();
    let native_nll = mean_nll(&native, &one, None);
    assert!((native_nll - served).abs() < 0.05, "{native_nll} vs {served}");

    // One batch, three sequences: the base, adapter one, adapter two. Each gets exactly the
    // tokens it gets alone.
    let prompt = &one[..8];
    let config = greedy(12);
    let alone: Vec<Vec<u32>> = [None, Some(a1.clone()), Some(a2.clone())]
        .into_iter()
        .map(|a| {
            let mut g = model.generation_adapted(prompt, &config, a).unwrap();
            g.prefill(usize::MAX).unwrap();
            while !g.is_done() {
                step_batch(&mut [&mut g]).into_iter().for_each(|r| drop(r.unwrap()));
            }
            g.tokens().to_vec()
        })
        .collect();
    let mut gens: Vec<_> = [None, Some(a1.clone()), Some(a2)]
        .into_iter()
        .map(|a| model.generation_adapted(prompt, &config, a).unwrap())
        .collect();
    for g in &mut gens {
        g.prefill(usize::MAX).unwrap();
    }
    while gens.iter().any(|g| !g.is_done()) {
        let mut batch: Vec<_> = gens.iter_mut().collect();
        for r in step_batch(&mut batch) {
            r.unwrap();
        }
    }
    let batched: Vec<Vec<u32>> = gens.iter().map(|g| g.tokens().to_vec()).collect();
    assert_eq!(batched, alone);
    assert_ne!(alone[0], alone[1], "the adapter changes the answer");
    assert_eq!(&alone[1][..6], &one[8..14], "adapter one continues its cycle");

    // An adapter of another model's shape is refused, not run.
    let other = alx_model::tiny::TinySpec { layers: 1, ..spec() };
    let other_file = tiny_file(&other);
    let small = Model::load(&other_file.path, &load_config(WeightFormat::F32)).unwrap();
    let err = small.generation_adapted(prompt, &config, Some(a1)).unwrap_err();
    assert!(matches!(err, alx_model::Error::BadAdapter { .. }), "{err}");
    let err = Adapter::from_safetensors(&bytes_one, alpha, &small.info().params).unwrap_err();
    assert!(err.to_string().contains("no place for"), "{err}");
}

#[test]
fn malformed_adapters_are_refused() {
    let file = tiny_file(&spec());
    let model = Model::load(&file.path, &load_config(WeightFormat::F32)).unwrap();
    let params = &model.info().params;
    let (out, width) = (params.heads * params.head_dim, params.hidden);
    let save = |tensors: Vec<(&str, candle_core::Tensor)>| -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.safetensors");
        let map: std::collections::HashMap<String, candle_core::Tensor> =
            tensors.into_iter().map(|(n, t)| (n.to_owned(), t)).collect();
        candle_core::safetensors::save(&map, &path).unwrap();
        std::fs::read(path).unwrap()
    };
    let cpu = &candle_core::Device::Cpu;
    let zeros = |r: usize, c: usize| {
        candle_core::Tensor::zeros((r, c), candle_core::DType::F32, cpu).unwrap()
    };
    let good = save(vec![
        ("blk.0.attn_q.lora_a", zeros(4, width)),
        ("blk.0.attn_q.lora_b", zeros(out, 4)),
    ]);
    assert!(Adapter::from_safetensors(&good, 8.0, params).is_ok());

    let nan = candle_core::Tensor::full(f32::NAN, (out, 4), cpu).unwrap();
    let huge = candle_core::Tensor::full(1e30f32, (out, 4), cpu).unwrap();
    let long_name = "x".repeat(100_000);
    let mut header_bomb = (2u64 << 20).to_le_bytes().to_vec();
    header_bomb.extend(b"{}");
    let cases: Vec<(Vec<u8>, f32, &str)> = vec![
        (good[..good.len() / 2].to_vec(), 8.0, "not a safetensors file"),
        (b"garbage".to_vec(), 8.0, "not a safetensors file"),
        (good.clone(), f32::NAN, "alpha"),
        (good.clone(), 0.0, "alpha"),
        (save(vec![("blk.0.attn_q.lora_a", zeros(4, width))]), 8.0, "must come together"),
        (
            save(vec![
                ("blk.0.attn_q.lora_a", zeros(4, width + 1)),
                ("blk.0.attn_q.lora_b", zeros(out, 4)),
            ]),
            8.0,
            "this model takes",
        ),
        (
            save(vec![
                ("blk.0.attn_q.lora_a", zeros(4, width)),
                ("blk.0.attn_q.lora_b", zeros(out, 3)),
            ]),
            8.0,
            "this model takes",
        ),
        (
            save(vec![("blk.0.attn_q.lora_a", zeros(4, width)), ("blk.0.attn_q.lora_b", nan)]),
            8.0,
            "not finite",
        ),
        (
            save(vec![
                ("blk.0.attn_q.lora_a", zeros(4, width)),
                ("blk.0.attn_q.lora_b", zeros(out, 4)),
                ("blk.0.attn_k.lora_a", zeros(2, width)),
                ("blk.0.attn_k.lora_b", zeros(params.kv_heads * params.head_dim, 2)),
            ]),
            8.0,
            "rank",
        ),
        (
            save(vec![
                ("blk.0.attn_q.lora_a", zeros(4, width)),
                ("blk.0.attn_q.lora_b", zeros(out, 4)),
                ("blk.0.ffn_up.lora_a", zeros(4, width)),
            ]),
            8.0,
            "no place for",
        ),
        (
            save(vec![
                ("blk.99.attn_q.lora_a", zeros(4, width)),
                ("blk.99.attn_q.lora_b", zeros(out, 4)),
            ]),
            8.0,
            "no place for",
        ),
        (save(vec![("other", zeros(1, 1))]), 8.0, "no place for"),
        (good.clone(), 1e9, "alpha"),
        (
            save(vec![("blk.0.attn_q.lora_a", zeros(4, width)), ("blk.0.attn_q.lora_b", huge)]),
            8.0,
            "over",
        ),
        (save(vec![(long_name.as_str(), zeros(1, 1))]), 8.0, "no place for"),
        (header_bomb, 8.0, "header over 1 MiB"),
    ];
    for (i, (bytes, alpha, expected)) in cases.into_iter().enumerate() {
        let err = Adapter::from_safetensors(&bytes, alpha, params).unwrap_err();
        assert!(matches!(err, alx_model::Error::BadAdapter { .. }), "case {i}: {err}");
        assert!(err.to_string().contains(expected), "case {i}: {err}");
        assert!(err.to_string().len() < 400, "case {i}: a bounded message");
    }
}

/// `alx bench finetune` and `alx bench adapters` run on the tiny model and report their
/// figures (the real measurements are SmolLM2's, in BENCHMARKS.md).
#[test]
fn the_finetune_and_adapter_benchmarks_run() {
    use alx_model::{bench_adapters, bench_finetune};
    let file = tiny_file(&alx_model::tiny::TinySpec {
        context_length: 256,
        ..alx_model::tiny::TinySpec::DEFAULT
    });
    let mut options = bench_finetune::FinetuneBenchOptions::new();
    (options.window, options.micro_batches, options.train.total_steps) = (32, 2, 2);
    let report = bench_finetune::run(&file.path, &options).unwrap();
    assert!(report.train_tokens_per_s > 0.0 && report.forward_tokens_per_s > 0.0, "{report:?}");
    assert!(report.loss_first.is_finite() && report.loss_last.is_finite(), "{report:?}");
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["train_tokens_per_s"].is_f64());

    let options = bench_adapters::AdaptersBenchOptions {
        resident: vec![1, 3],
        batch: 2,
        prompt_tokens: 8,
        output_tokens: 4,
        rounds: 2,
        ..bench_adapters::AdaptersBenchOptions::new()
    };
    let report = bench_adapters::run(&file.path, &options).unwrap();
    assert_eq!(report.resident.iter().map(|r| r.adapters).collect::<Vec<_>>(), [1, 3]);
    assert!(report.resident.iter().all(|r| r.decode_tokens_per_s > 0.0), "{report:?}");
    assert_eq!(report.resident[1].memory_bytes, 3 * report.adapter_memory_bytes);
    assert!(report.merged_decode_tokens_per_s > 0.0 && report.adapter_file_bytes > 0);
}
