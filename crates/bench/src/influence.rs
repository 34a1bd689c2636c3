//! `alx bench influence`: how well attribution predicts what training on a contribution does
//! to an answer, as the linear datamodeling score (LDS, from the TRAK paper): adapters are
//! retrained on random half-subsets of a small datanet, and for each query the Spearman
//! correlation, across subsets, between the attribution's prediction (the sum of the scores of
//! the documents in the subset) and the adapter's actual log-likelihood of the query is
//! averaged over queries. Scored for the influence estimators of
//! `alx_model::train::influence` and for span attribution (the rule's span part, which needs no
//! model), on the same subsets in the same run.
//!
//! The datanet is generated: documents that each tell a fact about one animal, place and
//! thing; half the queries quote a document's sentence (spans find them), half restate its
//! fact in other words (spans find nothing).

use crate::BenchError;
use alx_attribution::{
    AttributionConfig, ContributionId, DocKey, Document, Sampling, Searcher, SegmentData, rule,
};
use alx_model::{
    Model,
    train::{
        FrozenBase, TrainConfig, Trainer,
        influence::{InfluenceIndex, Method, Sketch},
    },
};
use serde::Serialize;
use std::{path::Path, time::Instant};

/// What to measure.
#[derive(Clone, Debug, Serialize)]
pub struct InfluenceConfig {
    /// Documents in the datanet (at most 16).
    pub documents: usize,
    /// Queries (each about one document).
    pub queries: usize,
    /// Random half-subsets retrained on.
    pub subsets: usize,
    /// Optimizer steps per adapter.
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Documents per step.
    pub micro_batches: usize,
    /// Sketch of the gradients.
    pub sketch: Sketch,
    /// TRAK's relative damping.
    pub damping: f64,
    /// Seed of the subsets.
    pub seed: u64,
}

impl InfluenceConfig {
    /// 16 documents, 8 queries, 16 subsets, 40 steps at lr 0.02, 1,024 features.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            documents: 16,
            queries: 8,
            subsets: 16,
            steps: 40,
            lr: 0.02,
            micro_batches: 2,
            sketch: Sketch::DEFAULT,
            damping: 0.1,
            seed: 7,
        }
    }
}

impl Default for InfluenceConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One method's score.
#[derive(Clone, Debug, Serialize)]
pub struct MethodScore {
    /// The method.
    pub method: String,
    /// Mean LDS over every query.
    pub lds: f64,
    /// Over the queries that quote their document.
    pub lds_quoting: f64,
    /// Over the queries that restate it.
    pub lds_restating: f64,
    /// Queries whose best-scored document is the one they are about, of all queries.
    pub top1: f64,
}

/// Measured figures.
#[derive(Clone, Debug, Serialize)]
pub struct InfluenceReport {
    /// The base model.
    pub model: String,
    /// The configuration.
    pub config: InfluenceConfig,
    /// One entry per method: the influence estimators, span attribution, TRAK as paid
    /// (`trak_paid`: above the least influential example, capped) and that with the span part,
    /// half each (`trak_and_span`).
    pub methods: Vec<MethodScore>,
    /// Features of one document, ms (mean).
    pub features_ms_per_document: f64,
    /// Scoring one query (its gradient and the scores), ms (mean).
    pub query_ms: f64,
    /// The whole run, s.
    pub seconds: f64,
}

const ANIMALS: [&str; 16] = [
    "quokka", "zebra", "heron", "otter", "lynx", "bison", "gecko", "walrus", "ibis", "tapir",
    "okapi", "marmot", "puffin", "dingo", "koala", "llama",
];
const PLACES: [&str; 16] = [
    "harbor", "canyon", "meadow", "glacier", "delta", "plateau", "lagoon", "forest", "desert",
    "island", "valley", "marsh", "ridge", "steppe", "reef", "tundra",
];
const THINGS: [&str; 16] = [
    "coins", "notes", "seeds", "maps", "keys", "shells", "stamps", "beads", "ropes", "lamps",
    "spoons", "bells", "drums", "kites", "masks", "combs",
];

fn document(i: usize) -> String {
    let (a, p, t) = (ANIMALS[i], PLACES[i], THINGS[i]);
    format!(
        "The {a} of the {p} keeps {t} in a stone vault. Every morning the {a} counts the {t} \
         and writes the number on the wall of the {p}. Nobody else in the {p} may touch the {t}."
    )
}

/// Query `q` is about document `q·N/Q`: quoting it when `q` is even, restating it otherwise.
fn query(q: usize, documents: usize, queries: usize) -> (usize, String, bool) {
    let d = q * documents / queries.max(1);
    let (a, p, t) = (ANIMALS[d], PLACES[d], THINGS[d]);
    if q.is_multiple_of(2) {
        (d, format!("The {a} of the {p} keeps {t} in a stone vault."), true)
    } else {
        (
            d,
            format!("Which animal guards the {t}? In the {p} it is the {a}, who counts them."),
            false,
        )
    }
}

/// Scores as the served rule pays them: quantized as a receipt records them
/// (`alx_model::train::quantize`), then the rule's influence part
/// (`alx_attribution::rule::influence_shares`: above the least influential example's, each
/// capped at four times their mean; every half-subset holds as many examples, so the shift
/// leaves the LDS as it is, where clipping at zero loses it), as basis points.
fn paid_bps(scores: &[f64]) -> std::collections::BTreeMap<rule::Key, u32> {
    let quantized = alx_model::train::quantize(scores);
    rule::influence_shares(
        &quantized.into_iter().enumerate().map(|(i, q)| ((0, i as u64), q)).collect(),
    )
}

/// Basis points by example, as a row of `n`.
fn row(bps: &std::collections::BTreeMap<rule::Key, u32>, n: usize) -> Vec<f64> {
    (0..n).map(|i| f64::from(bps.get(&(0, i as u64)).copied().unwrap_or(0))).collect()
}

/// Ranks of `v` (1-based, ties averaged).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        #[allow(clippy::cast_precision_loss)]
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            out[order[k]] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's correlation (0 when either side is constant).
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    #[allow(clippy::cast_precision_loss)]
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    if vx > 0.0 && vy > 0.0 { cov / (vx * vy).sqrt() } else { 0.0 }
}

/// SplitMix64 for the subsets.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Random halves of `n` documents, one per subset.
fn halves(n: usize, count: usize, seed: u64) -> Vec<Vec<bool>> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                let j = (next(&mut state) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let mut member = vec![false; n];
            for &i in &order[..n / 2] {
                member[i] = true;
            }
            member
        })
        .collect()
}

/// An adapter trained on `docs` (tokenized), cycling through them `micro_batches` at a time.
fn train<'b>(
    base: &'b FrozenBase,
    docs: &[&[u32]],
    config: &InfluenceConfig,
) -> Result<Trainer<'b>, BenchError> {
    let train = TrainConfig { lr: config.lr, warmup_steps: 2, ..TrainConfig::new(config.steps) };
    let mut trainer = Trainer::new(base, train)?;
    let per = config.micro_batches.max(1);
    for step in 0..config.steps as usize {
        let batch: Vec<&[u32]> = (0..per).map(|k| docs[(step * per + k) % docs.len()]).collect();
        trainer.step(&batch)?;
    }
    Ok(trainer)
}

/// Runs the benchmark over the base model at `path`.
///
/// # Errors
/// A model that does not load, or a configuration out of range.
pub fn run(path: &Path, config: &InfluenceConfig) -> Result<InfluenceReport, BenchError> {
    let started = Instant::now();
    let n = config.documents.clamp(4, ANIMALS.len());
    let q_count = config.queries.max(2);
    let load = alx_model::LoadConfig {
        threads: alx_model::kernel_threads(),
        ..alx_model::LoadConfig::DEFAULT
    };
    let model = Model::load(path, &load)?;
    let texts: Vec<String> = (0..n).map(document).collect();
    let queries: Vec<(usize, String, bool)> = (0..q_count).map(|q| query(q, n, q_count)).collect();
    let tokens = |text: &str| -> Result<Vec<u32>, BenchError> {
        let mut ids = model.tokenizer().encode(text)?;
        ids.extend(model.tokenizer().eos());
        Ok(ids)
    };
    let doc_tokens = texts.iter().map(|t| tokens(t)).collect::<Result<Vec<_>, _>>()?;
    let query_tokens = queries.iter().map(|q| tokens(&q.1)).collect::<Result<Vec<_>, _>>()?;
    let longest = doc_tokens.iter().chain(&query_tokens).map(Vec::len).max().unwrap_or(2);
    drop(model);
    let base = FrozenBase::load(path, longest)?;

    // Attribution scores, from the adapter trained on every document.
    let all: Vec<&[u32]> = doc_tokens.iter().map(Vec::as_slice).collect();
    let full = train(&base, &all, config)?;
    let at = Instant::now();
    let features = doc_tokens
        .iter()
        .map(|d| full.example_features(d, longest, &config.sketch))
        .collect::<Result<Vec<_>, _>>()?;
    #[allow(clippy::cast_precision_loss)]
    let features_ms_per_document = at.elapsed().as_secs_f64() * 1e3 / n as f64;
    let index = InfluenceIndex::new(config.sketch, features, Some(config.damping))?;
    let methods = [Method::GradDot, Method::GradCos, Method::Trak { damping: config.damping }];
    let at = Instant::now();
    let mut scores: Vec<Vec<Vec<f64>>> = vec![Vec::new(); methods.len() + 1];
    for q in &query_tokens {
        let phi = full.sketched_gradient(q, 1, &config.sketch)?;
        for (m, method) in methods.iter().enumerate() {
            scores[m].push(index.scores(&phi, *method)?);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let query_ms = at.elapsed().as_secs_f64() * 1e3 / q_count as f64;
    drop(full);
    // Span attribution of each query over the datanet (as the rule's span part sees it).
    let docs: Vec<Document> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Document {
            key: DocKey { contribution: ContributionId(i as u64), ordinal: 0 },
            contributor: None,
            text: t.clone(),
        })
        .collect();
    let segment = SegmentData::from_documents(&docs, Sampling::WordStarts)?;
    let searcher = Searcher::new(vec![segment.view()], Sampling::WordStarts);
    let span_config = AttributionConfig { min_len: 16, ..AttributionConfig::DEFAULT };
    for (_, text, _) in &queries {
        let a = searcher.attribute(text, &span_config)?;
        let mut row = vec![0.0; n];
        for share in a.contributions {
            row[share.contribution.0 as usize] = f64::from(share.bps);
        }
        scores[methods.len()].push(row);
    }

    // The served rule: TRAK's scores as a receipt records them, paid by the rule's influence
    // part, combined with the span part (each counting equally when both exist).
    let combined: Vec<Vec<f64>> = (0..q_count)
        .map(|q| {
            let span = &scores[methods.len()][q];
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let spans = (0..n)
                .filter(|&i| span[i] > 0.0)
                .map(|i| ((0, i as u64), span[i] as u32))
                .collect();
            row(&rule::combine(&[], &spans, &paid_bps(&scores[2][q])), n)
        })
        .collect();
    scores.push(combined);
    let paid: Vec<Vec<f64>> = (0..q_count).map(|q| row(&paid_bps(&scores[2][q]), n)).collect();
    scores.push(paid);

    // The datamodels: an adapter per half, each query's log-likelihood under it.
    let subsets = halves(n, config.subsets.max(3), config.seed);
    let mut actual = vec![vec![0.0; subsets.len()]; q_count];
    for (j, member) in subsets.iter().enumerate() {
        let chosen: Vec<&[u32]> =
            (0..n).filter(|&i| member[i]).map(|i| doc_tokens[i].as_slice()).collect();
        let trainer = train(&base, &chosen, config)?;
        for (q, tokens) in query_tokens.iter().enumerate() {
            actual[q][j] = -f64::from(trainer.loss(tokens)?);
        }
    }
    let names = ["grad_dot", "grad_cos", "trak", "span_only", "trak_and_span", "trak_paid"];
    let methods = names
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let lds: Vec<(f64, bool)> = (0..q_count)
                .map(|q| {
                    let predicted: Vec<f64> = subsets
                        .iter()
                        .map(|member| (0..n).filter(|&i| member[i]).map(|i| scores[m][q][i]).sum())
                        .collect();
                    (spearman(&predicted, &actual[q]), queries[q].2)
                })
                .collect();
            let mean = |keep: &dyn Fn(bool) -> bool| {
                let picked: Vec<f64> =
                    lds.iter().filter(|(_, k)| keep(*k)).map(|(v, _)| *v).collect();
                #[allow(clippy::cast_precision_loss)]
                let m = picked.iter().sum::<f64>() / picked.len().max(1) as f64;
                m
            };
            let top1 = (0..q_count)
                .filter(|&q| {
                    let row = &scores[m][q];
                    let best = (0..n).max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)));
                    best == Some(queries[q].0) && row[queries[q].0] > 0.0
                })
                .count();
            #[allow(clippy::cast_precision_loss)]
            MethodScore {
                method: (*name).to_owned(),
                lds: mean(&|_| true),
                lds_quoting: mean(&|k| k),
                lds_restating: mean(&|k| !k),
                top1: top1 as f64 / q_count as f64,
            }
        })
        .collect();
    Ok(InfluenceReport {
        model: path.display().to_string(),
        config: config.clone(),
        methods,
        features_ms_per_document,
        query_ms,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_and_halves_are_what_they_say() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![2.5, 1.0, 2.5]);
        let h = halves(8, 5, 1);
        assert!(h.iter().all(|m| m.iter().filter(|x| **x).count() == 4));
        assert_eq!(h, halves(8, 5, 1), "seeded");
    }

    /// The whole benchmark, small, on the tiny model: every method scored, finite.
    #[test]
    fn the_benchmark_runs_on_the_tiny_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        let spec =
            alx_model::tiny::TinySpec { context_length: 512, ..alx_model::tiny::TinySpec::DEFAULT };
        alx_model::tiny::write(&path, &spec).unwrap();
        let config = InfluenceConfig {
            documents: 4,
            queries: 2,
            subsets: 3,
            steps: 4,
            sketch: Sketch { dims: 64, seed: 0 },
            ..InfluenceConfig::new()
        };
        let report = run(&path, &config).unwrap();
        let names: Vec<&str> = report.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(
            names,
            ["grad_dot", "grad_cos", "trak", "span_only", "trak_and_span", "trak_paid"]
        );
        assert!(report.methods.iter().all(|m| m.lds.is_finite() && (0.0..=1.0).contains(&m.top1)));
        // The quoting query is found by its spans.
        assert_eq!(report.methods[3].top1, 0.5, "{report:?}");
    }
}
