//! All-position logits against incremental decoding, and perplexity against the logits.

use std::num::NonZeroUsize;

use alx_model::{
    Error, LoadConfig, Model, PerplexityConfig, Positions, WeightFormat, tiny::TinySpec,
};

use crate::support::{load_config, tiny_file, tiny_model};

const TOKENS: [u32; 14] = [1, 40, 41, 42, 43, 100, 200, 250, 17, 18, 19, 260, 270, 33];

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn all_position_logits_match_incremental_decoding() {
    for weights in [WeightFormat::F32, WeightFormat::Q8_0, WeightFormat::Native] {
        let model = tiny_model(weights);
        // Native rounds each activation row to 16 bits; a last-bit difference in a hidden
        // state (candle's f32 attention blocks its sums by batch size) can move one rounding
        // step, about 1e-4 of a logit here.
        let tol = if weights == WeightFormat::Native { 2e-3 } else { 1e-4 };
        let all = model.logits(&TOKENS).expect("logits");
        assert_eq!(all.rows(), TOKENS.len());
        // Prefill 5 tokens with all positions, then one token at a time.
        let mut session = model.session();
        let prefill = session.feed(&TOKENS[..5], Positions::All).expect("prefill");
        for i in 0..5 {
            let d = max_diff(prefill.row(i).expect("row"), all.row(i).expect("row"));
            assert!(d < tol, "{weights:?} prefill row {i}: {d}");
        }
        for (i, &token) in TOKENS.iter().enumerate().skip(5) {
            let step = session.feed(&[token], Positions::Last).expect("step");
            assert_eq!(step.rows(), 1);
            let d = max_diff(step.last(), all.row(i).expect("row"));
            assert!(d < tol.max(1e-3), "{weights:?} position {i}: {d}");
        }
        // The last-position pass agrees with the all-position pass.
        let last = model.session().feed(&TOKENS, Positions::Last).expect("last");
        assert!(max_diff(last.last(), all.last()) < tol);
    }
}

/// Past several blocks of the decode step's split softmax (256 positions each), every
/// incremental step still agrees with the all-position pass, with one thread and with two.
#[test]
fn incremental_decoding_agrees_across_attention_blocks() {
    let spec = TinySpec { context_length: 700, ..TinySpec::DEFAULT };
    let file = tiny_file(&spec);
    let tokens: Vec<u32> = (0..600u32).map(|i| (i * 37 + 11) % 250 + 1).collect();
    for threads in [1, 2] {
        let config = LoadConfig {
            threads: NonZeroUsize::new(threads).expect("threads"),
            ..load_config(WeightFormat::F32)
        };
        let model = Model::load(&file.path, &config).expect("load");
        let all = model.logits(&tokens).expect("logits");
        let mut session = model.session();
        session.feed(&tokens[..2], Positions::Last).expect("prefill");
        for (i, &token) in tokens.iter().enumerate().skip(2) {
            let step = session.feed(&[token], Positions::Last).expect("step");
            let d = max_diff(step.last(), all.row(i).expect("row"));
            assert!(d < 1e-3, "{threads} threads, position {i}: {d}");
        }
    }
}

/// Sum of negative log-likelihoods and tokens scored, from the logits, window by window.
fn nll_from_logits(model: &Model, tokens: &[u32], window: usize) -> (f64, usize) {
    let mut nll = 0.0;
    let mut scored = 0;
    for chunk in tokens.chunks(window) {
        let logits = model.logits(chunk).expect("logits");
        for (i, &target) in chunk.iter().enumerate().skip(1) {
            let row = logits.row(i - 1).expect("row");
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            nll += max + sum.ln() - f64::from(row[target as usize]);
            scored += 1;
        }
    }
    (nll, scored)
}

fn check_perplexity(model: &Model, tokens: &[u32], window: usize) {
    let (nll, scored) = nll_from_logits(model, tokens, window);
    let config = PerplexityConfig { window: NonZeroUsize::new(window).expect("window") };
    let ppl = model.perplexity(tokens, &config).expect("perplexity");
    assert_eq!(ppl.tokens_scored, scored);
    assert!((ppl.nll_sum - nll).abs() < 1e-3 * nll, "{} vs {nll}", ppl.nll_sum);
    assert!((ppl.perplexity - (nll / scored as f64).exp()).abs() < 1e-3 * ppl.perplexity);
}

#[test]
fn perplexity_is_the_mean_log_likelihood_of_the_logits() {
    check_perplexity(&tiny_model(WeightFormat::F32), &TOKENS, 5);
    // A window wider than one pass of logits (128 rows).
    let file = tiny_file(&TinySpec { context_length: 512, ..TinySpec::DEFAULT });
    let model = Model::load(&file.path, &load_config(WeightFormat::F32)).expect("load");
    let tokens: Vec<u32> = (0..300).map(|i| 3 + (i * 7_919) % 280).collect();
    check_perplexity(&model, &tokens, 300);
    check_perplexity(&model, &tokens, 129);
}

#[test]
fn perplexity_rejects_what_it_cannot_score() {
    let model = tiny_model(WeightFormat::Q8_0);
    let config = PerplexityConfig { window: NonZeroUsize::new(8).expect("8") };
    assert!(matches!(model.perplexity(&[1], &config), Err(Error::TooFewTokens { .. })));
    let too_wide = PerplexityConfig { window: NonZeroUsize::new(65).expect("65") };
    assert!(matches!(model.perplexity(&TOKENS, &too_wide), Err(Error::InvalidConfig { .. })));
    assert!(matches!(model.perplexity(&[1, 99_999], &config), Err(Error::TokenOutOfRange { .. })));
}
