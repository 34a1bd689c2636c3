//! Generation on the tiny model: determinism, sampling, stops, limits, streaming.

use alx_model::{Error, FinishReason, GenerateConfig, Model, Penalties, Sampling, WeightFormat};

use crate::support::{greedy, tiny_model};

const PROMPT: [u32; 6] = [1, 40, 50, 60, 70, 80];

fn seeded(seed: u64) -> GenerateConfig {
    GenerateConfig {
        max_tokens: 24,
        sampling: Sampling::Random { temperature: 1.0, top_p: 0.95, seed },
        stop: vec![],
        penalties: Default::default(),
    }
}

fn run(model: &Model, config: &GenerateConfig) -> alx_model::Completion {
    model.generate(&PROMPT, config, |_| {}).expect("generate")
}

#[test]
fn greedy_is_deterministic_across_runs_and_loads() {
    let model = tiny_model(WeightFormat::Q8_0);
    let first = run(&model, &greedy(20));
    assert_eq!(first.tokens.len(), 20);
    assert!(!first.text.is_empty());
    assert_eq!(first, run(&model, &greedy(20)));
    assert_eq!(first, run(&tiny_model(WeightFormat::Q8_0), &greedy(20)));
}

#[test]
fn seeded_sampling_is_deterministic() {
    let model = tiny_model(WeightFormat::Q8_0);
    let a = run(&model, &seeded(42));
    assert_eq!(a, run(&model, &seeded(42)));
    let others: Vec<_> = (43..47).map(|seed| run(&model, &seeded(seed)).tokens).collect();
    assert!(others.iter().any(|t| *t != a.tokens), "different seeds never differ");
}

#[test]
fn max_tokens_bounds_the_output() {
    let model = tiny_model(WeightFormat::Q8_0);
    for n in [1, 2, 7] {
        let c = run(&model, &greedy(n));
        assert_eq!((c.tokens.len(), c.finish_reason), (n, FinishReason::Length));
        assert_eq!(c.prompt_tokens, PROMPT.len());
    }
}

#[test]
fn stop_sequences_end_the_output_before_them() {
    let model = tiny_model(WeightFormat::Q8_0);
    let full = run(&model, &greedy(30)).text;
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() >= 8, "output too short for the test: {full:?}");
    let stop: String = chars[4..7].iter().collect();
    let expected = &full[..full.find(&stop).expect("stop occurs")];
    assert!(!expected.is_empty(), "degenerate output {full:?}");
    eprintln!("greedy {full:?}, stop {stop:?}");
    let config =
        GenerateConfig { stop: vec!["never appears".to_owned(), stop.clone()], ..greedy(30) };
    let mut streamed = String::new();
    let c = model.generate(&PROMPT, &config, |piece| streamed.push_str(piece)).expect("generate");
    assert_eq!(c.text, expected, "stop {stop:?} in {full:?}");
    assert_eq!(streamed, expected);
    assert_eq!(c.finish_reason, FinishReason::Stop);
    assert!(c.tokens.len() < 30);
}

#[test]
fn streaming_yields_nonempty_pieces_that_add_up() {
    let model = tiny_model(WeightFormat::Q8_0);
    let whole = run(&model, &seeded(7));
    let mut generation = model.generation(&PROMPT, &seeded(7)).expect("start");
    let pieces: Vec<String> = generation.by_ref().map(|p| p.expect("piece")).collect();
    assert!(pieces.iter().all(|p| !p.is_empty()));
    assert_eq!(pieces.concat(), whole.text);
    assert_eq!(generation.tokens(), whole.tokens);
    assert_eq!(generation.finish_reason(), Some(whole.finish_reason));
    assert!(generation.next().is_none());
}

#[test]
fn requests_that_cannot_run_are_rejected() {
    let model = tiny_model(WeightFormat::Q8_0);
    let context = model.context_length();
    let long = vec![40; context - 5];
    let err = model.generation(&long, &greedy(10)).expect_err("overflow");
    assert!(matches!(
        err,
        Error::ContextOverflow { prompt_tokens: 59, max_tokens: 10, context_length: 64 }
    ));
    assert!(err.is_bad_request());
    assert!(model.generation(&long, &greedy(5)).is_ok());
    let cases = [
        model.generation(&[], &greedy(5)).expect_err("empty"),
        model.generation(&PROMPT, &greedy(0)).expect_err("zero"),
        model.generation(&[1, 9_999], &greedy(5)).expect_err("vocab"),
        model
            .generation(&PROMPT, &GenerateConfig { stop: vec![String::new()], ..greedy(5) })
            .expect_err("stop"),
        model
            .generation(
                &PROMPT,
                &GenerateConfig {
                    sampling: Sampling::Random { temperature: -1.0, top_p: 1.0, seed: 0 },
                    ..greedy(5)
                },
            )
            .expect_err("temperature"),
        model
            .generation(
                &PROMPT,
                &GenerateConfig {
                    penalties: Penalties { frequency: 2.5, ..Penalties::NONE },
                    ..greedy(5)
                },
            )
            .expect_err("frequency"),
        model
            .generation(
                &PROMPT,
                &GenerateConfig {
                    penalties: Penalties { repetition: 0.5, window: 8, ..Penalties::NONE },
                    ..greedy(5)
                },
            )
            .expect_err("repetition"),
    ];
    for err in cases {
        assert!(err.is_bad_request(), "{err:?}");
    }
}

#[test]
fn a_session_refuses_to_overflow_and_stays_usable() {
    let model = tiny_model(WeightFormat::Q8_0);
    let mut session = model.session();
    session.feed(&[40; 60], alx_model::Positions::Last).expect("feed");
    let err = session.feed(&[40; 5], alx_model::Positions::Last).expect_err("overflow");
    assert!(matches!(err, Error::ContextOverflow { .. }));
    assert_eq!(session.len(), 60);
    session.feed(&[40; 4], alx_model::Positions::Last).expect("fits");
    assert_eq!(session.len(), 64);
}

#[test]
fn bench_runs_on_the_tiny_model() {
    let file = crate::support::tiny_file(&alx_model::tiny::TinySpec {
        context_length: 512,
        ..alx_model::tiny::TinySpec::DEFAULT
    });
    let options = alx_model::bench::BenchOptions {
        decode_tokens: 8,
        perplexity_tokens: 300,
        perplexity_window: std::num::NonZeroUsize::new(128).expect("128"),
        ..alx_model::bench::BenchOptions::DEFAULT
    };
    let report = alx_model::bench::run(&file.path, &options).expect("bench");
    assert!(report.prompt_tokens > 10);
    assert_eq!(report.decode_tokens, 8);
    assert!(report.prefill_tokens_per_s > 0.0 && report.decode_tokens_per_s > 0.0);
    assert_eq!(report.perplexity_tokens, 300 - 3);
    assert!(report.perplexity.is_finite() && report.perplexity > 1.0);
    let json = serde_json::to_value(&report).expect("serialize");
    assert!(json.get("decode_tokens_per_s").is_some());
}

#[test]
fn penalties_break_repetition_and_change_nothing_when_off() {
    let model = tiny_model(WeightFormat::Q8_0);
    let distinct = |c: &alx_model::Completion| {
        c.tokens.iter().collect::<std::collections::BTreeSet<_>>().len()
    };
    let plain = run(&model, &greedy(40));
    let off =
        GenerateConfig { penalties: Penalties { window: 64, ..Penalties::NONE }, ..greedy(40) };
    assert_eq!(run(&model, &off), plain, "penalties that are off changed the output");
    // A strong presence penalty forbids every token already generated in the window, so the
    // output of a model that repeats itself gets more distinct tokens.
    let strict = GenerateConfig {
        penalties: Penalties { presence: 2.0, frequency: 2.0, repetition: 2.0, window: 64 },
        ..greedy(40)
    };
    let penalized = run(&model, &strict);
    assert!(
        distinct(&penalized) > distinct(&plain),
        "penalties did not diversify: {} vs {} distinct tokens",
        distinct(&penalized),
        distinct(&plain)
    );
    assert_eq!(penalized, run(&model, &strict), "penalized greedy decoding is deterministic");
}

/// Runs `prompts` through `step_batch`, the first `start_together` at once and each later one
/// joining after the others ran a few steps (continuous batching), and returns each text.
pub(crate) fn batched(
    model: &Model,
    prompts: &[Vec<u32>],
    config: &GenerateConfig,
) -> Vec<(String, Vec<u32>)> {
    let mut gens: Vec<alx_model::Generation<'_>> = Vec::new();
    let mut texts = vec![String::new(); prompts.len()];
    let mut joined = 0;
    let mut steps = 0;
    loop {
        // One newcomer every third step, prefilled in chunks of 2 tokens meanwhile.
        if joined < prompts.len() && steps % 3 == 0 {
            gens.push(model.generation_pending(&prompts[joined], config).expect("pending"));
            joined += 1;
        }
        for g in &mut gens {
            if !g.is_prefilled() {
                g.prefill(2).expect("prefill");
            }
        }
        let mut batch: Vec<&mut alx_model::Generation<'_>> = gens.iter_mut().collect();
        for (i, piece) in alx_model::step_batch(&mut batch).into_iter().enumerate() {
            texts[i].push_str(&piece.expect("step"));
        }
        steps += 1;
        if joined == prompts.len() && gens.iter().all(alx_model::Generation::is_done) {
            break;
        }
        assert!(steps < 10_000, "the batch never finished");
    }
    gens.iter().zip(texts).map(|(g, t)| (t, g.tokens().to_vec())).collect()
}

#[test]
fn a_batch_gives_every_sequence_the_tokens_it_gets_alone() {
    let model = tiny_model(WeightFormat::Q8_0);
    let prompts: Vec<Vec<u32>> =
        (0..6u32).map(|i| (0..(3 + i * 2)).map(|j| 1 + (i * 31 + j * 7) % 90).collect()).collect();
    for config in [greedy(17), seeded(5)] {
        let together = batched(&model, &prompts, &config);
        for (prompt, (text, tokens)) in prompts.iter().zip(&together) {
            let alone = model.generate(prompt, &config, |_| {}).expect("alone");
            assert_eq!((&alone.text, &alone.tokens), (text, tokens), "prompt {prompt:?}");
        }
    }
}

#[test]
fn embeddings_are_unit_length_deterministic_and_refuse_bad_input() {
    let model = tiny_model(WeightFormat::Q8_0);
    let a = model.embed(&PROMPT).expect("embed");
    assert_eq!(a.len(), model.info().params.hidden);
    let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    assert_eq!(a, model.embed(&PROMPT).expect("again"));
    assert_ne!(a, model.embed(&PROMPT[..3]).expect("shorter"));
    assert!(model.embed(&[]).expect_err("empty").is_bad_request());
    assert!(model.embed(&[1, 9_999]).expect_err("vocab").is_bad_request());
}
