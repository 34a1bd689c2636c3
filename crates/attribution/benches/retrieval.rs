//! Retrieval on a generated 20 MB datanet (the size the goal names: < 5 ms a
//! question): a question against the inverted index, and building the index once.
//!
//! The corpus is pseudo-prose over a 20,000-word vocabulary with a Zipf-like skew (a few
//! words in most paragraphs, most words rare), in documents of ten paragraphs; questions mix
//! common and rare words, as real ones do.

#![allow(missing_docs, clippy::unwrap_used)]

use alx_attribution::{ContributionId, DocKey, RetrievalConfig, RetrievalIndex};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn vocabulary(rng: &mut Lcg, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let len = 3 + rng.next() as usize % 8;
            (0..len).map(|_| char::from(b'a' + (rng.next() % 26) as u8)).collect()
        })
        .collect()
}

/// A word, skewed to the front of the vocabulary (rank ∝ u³).
fn word<'a>(rng: &mut Lcg, words: &'a [String]) -> &'a str {
    let u = (rng.next() % 1_000) as usize;
    &words[u * u * u * words.len() / 1_000_000_000]
}

fn corpus(bytes: usize) -> (Vec<String>, Vec<String>) {
    let mut rng = Lcg(0x9E37_79B9_7F4A_7C15);
    let words = vocabulary(&mut rng, 20_000);
    let mut docs = Vec::new();
    let mut total = 0;
    while total < bytes {
        let mut doc = String::new();
        for _ in 0..10 {
            for _ in 0..90 {
                doc.push_str(word(&mut rng, &words));
                doc.push(' ');
            }
            doc.push_str(".\n\n");
        }
        total += doc.len();
        docs.push(doc);
    }
    (words, docs)
}

fn bench(c: &mut Criterion) {
    let (words, docs) = corpus(20 << 20);
    let documents = || {
        docs.iter().enumerate().map(|(i, text)| {
            (
                DocKey { contribution: ContributionId(i as u64), ordinal: 0 },
                Some("c"),
                text.as_str(),
            )
        })
    };
    let index = RetrievalIndex::build(documents());
    let mut rng = Lcg(7);
    let questions: Vec<String> = (0..64)
        .map(|_| {
            let mut q = String::from("How do I");
            for _ in 0..6 {
                q.push(' ');
                q.push_str(word(&mut rng, &words));
            }
            q.push('?');
            q
        })
        .collect();
    let config = RetrievalConfig::DEFAULT;
    let prefix = module_path!();
    let mut i = 0;
    c.bench_function(&format!("{prefix}::search/corpus_mb=20 question_terms=6"), |b| {
        b.iter(|| {
            i = (i + 1) % questions.len();
            black_box(index.search(black_box(&questions[i]), &config))
        });
    });
    let mut group = c.benchmark_group(format!("{prefix}::build"));
    group.sample_size(10);
    group.bench_function("corpus_mb=20", |b| {
        b.iter(|| black_box(RetrievalIndex::build(documents())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
