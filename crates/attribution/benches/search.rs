//! Hot paths of the attribution index on a generated 4 MB corpus: exact count, maximal
//! matching and attribution of a ~1,200-byte output, and segment construction. The
//! 10 MB / 100 MB comparison with infini-gram lives in `bench/compare.py`.

#![allow(missing_docs, clippy::unwrap_used)]

use alx_attribution::{
    AttributionConfig, ContributionId, DocKey, Document, Sampling, Searcher, SegmentData,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const WORDS: &[&str] = &[
    "the", "of", "and", "index", "suffix", "array", "model", "data", "river", "stone", "light",
    "garden", "market", "window", "silver", "engine", "forest", "letter", "harbor", "winter",
    "candle", "bridge", "copper", "meadow", "thunder", "pocket", "a", "to", "in", "is",
];

/// Deterministic pseudo-prose with a skewed word distribution (an LCG, squared to favour the
/// first words).
fn corpus(docs: usize, words: usize) -> Vec<Document> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..docs)
        .map(|i| {
            let mut text = String::new();
            for _ in 0..words {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let r = (x >> 33) as usize % WORDS.len();
                text.push_str(WORDS[r * r / WORDS.len()]);
                text.push(' ');
            }
            Document {
                key: DocKey { contribution: ContributionId(i as u64), ordinal: 0 },
                contributor: Some(format!("c{}", i % 50)),
                text,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = corpus(2_000, 400);
    let sampling = Sampling::WordStarts;
    let seg = SegmentData::from_documents(&docs, sampling).unwrap();
    let searcher = Searcher::new(vec![seg.view()], sampling);
    let output = format!(
        "{} zephyr quokka jukebox {} fjord vortex {}",
        &docs[10].text[..400],
        &docs[500].text[..400],
        &docs[1500].text[..350]
    );
    let config = AttributionConfig::DEFAULT;
    let prefix = module_path!();
    c.bench_function(&format!("{prefix}::count/corpus_mb=4 query_bytes=24"), |b| {
        b.iter(|| searcher.count(black_box("suffix array model data")).unwrap());
    });
    c.bench_function(&format!("{prefix}::attribute/corpus_mb=4 output_bytes=1200"), |b| {
        b.iter(|| searcher.attribute(black_box(&output), &config).unwrap());
    });
    let small = &docs[..250];
    c.bench_function(&format!("{prefix}::build/corpus_mb=0.5"), |b| {
        b.iter(|| SegmentData::from_documents(black_box(small), sampling).unwrap());
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
