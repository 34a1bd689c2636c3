//! Counts and maximal matches agree with a naive scan of random corpora (small alphabets and
//! a long repeated word, so repeats and long common prefixes are common), under both
//! samplings, any segmentation, and segments merged (and merges merged) by their suffix
//! arrays.

use crate::{arrange, docs, searcher, segments};
use alx_attribution::{Document, Match, Sampling};
use proptest::prelude::*;

/// Every (document, anchor) of the corpus, as suffix byte slices.
fn anchored_suffixes(corpus: &[Document], sampling: Sampling) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    for (d, doc) in corpus.iter().enumerate() {
        let bytes = doc.text.as_bytes();
        for p in sampling.anchors(bytes) {
            out.push((d, &bytes[p..]));
        }
    }
    out
}

fn naive_count(corpus: &[Document], sampling: Sampling, q: &[u8]) -> u64 {
    anchored_suffixes(corpus, sampling).iter().filter(|(_, s)| s.starts_with(q)).count() as u64
}

fn lcp(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn naive_matches(corpus: &[Document], sampling: Sampling, out: &str, min_len: usize) -> Vec<Match> {
    let suffixes = anchored_suffixes(corpus, sampling);
    let bytes = out.as_bytes();
    let mut frontier = 0;
    let mut matches = Vec::new();
    for p in sampling.anchors(bytes) {
        let rest = &bytes[p..];
        let len = suffixes.iter().map(|(_, s)| lcp(s, rest)).max().unwrap_or(0);
        if p + len > frontier {
            frontier = p + len;
            if len >= min_len {
                let count = naive_count(corpus, sampling, &rest[..len]);
                matches.push(Match { start: p, end: p + len, count });
            }
        }
    }
    matches
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just(" "),
            Just("é"),
            Just(","),
            Just("abababababababababab")
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn sampling() -> impl Strategy<Value = Sampling> {
    prop_oneof![Just(Sampling::EveryByte), Just(Sampling::WordStarts)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn counts_agree_with_naive_scan(
        texts in proptest::collection::vec(text(), 1..6),
        queries in proptest::collection::vec(text(), 1..8),
        split in 0usize..4,
        layout in 0usize..3,
        sampling in sampling(),
    ) {
        let pairs: Vec<(&str, Option<&str>)> = texts.iter().map(|t| (t.as_str(), None)).collect();
        let corpus = docs(&pairs);
        let segs = arrange(segments(&corpus, split, sampling), layout, sampling);
        let s = searcher(&segs, sampling);
        // Queries: random strings and substrings of the corpus.
        let mut all: Vec<String> = queries;
        for t in &texts {
            for (i, _) in t.char_indices().step_by(3) {
                let end = t[i..].char_indices().nth(4).map_or(t.len(), |(j, _)| i + j);
                all.push(t[i..end].to_owned());
            }
        }
        for q in &all {
            let accepted = q.as_bytes().first().is_some_and(|&b| sampling.accepts_first_byte(b));
            match s.count(q) {
                Ok(n) => {
                    prop_assert!(accepted);
                    prop_assert_eq!(n, naive_count(&corpus, sampling, q.as_bytes()), "query {:?}", q);
                    let docs = s.documents(q, usize::MAX).unwrap();
                    prop_assert_eq!(docs.values().sum::<u64>(), n);
                }
                Err(_) => prop_assert!(!accepted),
            }
        }
    }

    #[test]
    fn maximal_matches_agree_with_naive_scan(
        texts in proptest::collection::vec(text(), 1..6),
        output in text(),
        min_len in 1usize..6,
        split in 0usize..4,
        layout in 0usize..3,
        sampling in sampling(),
    ) {
        let pairs: Vec<(&str, Option<&str>)> = texts.iter().map(|t| (t.as_str(), None)).collect();
        let corpus = docs(&pairs);
        let segs = arrange(segments(&corpus, split, sampling), layout, sampling);
        let got = searcher(&segs, sampling).maximal_matches(&output, min_len).unwrap();
        prop_assert_eq!(got, naive_matches(&corpus, sampling, &output, min_len));
    }
}

#[test]
fn matches_never_cross_documents() {
    let corpus = docs(&[("abc", None), ("def", None)]);
    for sampling in [Sampling::EveryByte, Sampling::WordStarts] {
        let segs = segments(&corpus, 0, sampling);
        let s = searcher(&segs, sampling);
        assert_eq!(s.count("cd").unwrap(), 0);
        assert!(s.maximal_matches("abcdef", 4).unwrap().is_empty());
        assert_eq!(
            s.maximal_matches("abcdef", 3).unwrap().len(),
            if sampling == Sampling::EveryByte { 2 } else { 1 }
        );
    }
}

#[test]
fn word_start_queries_count_occurrences_at_word_starts() {
    let corpus = docs(&[("hello yellow ello", None)]);
    let segs = segments(&corpus, 0, Sampling::WordStarts);
    let s = searcher(&segs, Sampling::WordStarts);
    assert_eq!(s.count("ello").unwrap(), 1);
    assert!(s.count(" ello").is_err());
    assert!(s.count("").is_err());
}
