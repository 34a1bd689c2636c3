//! Attribution of planted quotes, and determinism across runs and segmentations.

use crate::{docs, searcher, segments};
use alx_attribution::{
    Attribution, AttributionConfig, BPS_TOTAL, ContributionId, Document, Sampling,
};

/// Deterministic pseudo-text: `words` words drawn from `vocab` by a linear congruential
/// generator seeded with `seed`.
fn prose(seed: u64, words: usize, vocab: &[&str]) -> String {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut out = Vec::with_capacity(words);
    for _ in 0..words {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        out.push(vocab[(x >> 33) as usize % vocab.len()]);
    }
    out.join(" ")
}

const CORPUS_WORDS: &[&str] = &[
    "river", "stone", "light", "garden", "market", "window", "silver", "engine", "forest",
    "letter", "harbor", "winter", "candle", "bridge", "copper", "meadow", "thunder", "pocket",
];
const NOVEL_WORDS: &[&str] = &["zephyr", "quokka", "jukebox", "fjord", "vortex", "glyph"];

/// Six contributions from three contributors; contributor `carol` holds contributions 4 and 5.
fn corpus() -> Vec<Document> {
    let texts: Vec<String> = (0..6).map(|i| prose(i, 120, CORPUS_WORDS)).collect();
    let who = ["alice", "bob", "dave", "erin", "carol", "carol"];
    let pairs: Vec<(&str, Option<&str>)> =
        texts.iter().zip(who).map(|(t, w)| (t.as_str(), Some(w))).collect();
    docs(&pairs)
}

fn attribute(docs: &[Document], split: usize, output: &str) -> Attribution {
    let sampling = Sampling::WordStarts;
    let segs = segments(docs, split, sampling);
    searcher(&segs, sampling).attribute(output, &AttributionConfig::DEFAULT).unwrap()
}

fn top_contributor(a: &Attribution) -> Option<&str> {
    a.contributors.iter().max_by_key(|c| c.bps).and_then(|c| c.contributor.as_deref())
}

#[test]
fn quoted_contributor_gets_the_largest_share() {
    let corpus = corpus();
    let quote = &corpus[1].text[100..400];
    let small = &corpus[3].text[50..90];
    let output =
        format!("{} {quote} {} {small}", prose(9, 20, NOVEL_WORDS), prose(8, 5, NOVEL_WORDS));
    let a = attribute(&corpus, 0, &output);
    assert_eq!(top_contributor(&a), Some("bob"), "{a:#?}");
    let top = a.contributions.iter().max_by_key(|c| c.bps).unwrap();
    assert_eq!(top.contribution, ContributionId(1));
    assert_eq!(a.contributions.iter().map(|c| c.bps).sum::<u32>(), BPS_TOTAL);
    assert_eq!(a.contributors.iter().map(|c| c.bps).sum::<u32>(), BPS_TOTAL);
    // The evidence: a span covering most of the quote, found once, in contribution 1.
    let span = a.spans.iter().max_by_key(|s| s.len).unwrap();
    assert!(span.len >= 280, "{span:?}");
    assert_eq!(span.count, 1);
    assert_eq!(span.sources[0].contribution, ContributionId(1));
}

#[test]
fn output_quoting_nobody_gets_no_data_share() {
    let a = attribute(&corpus(), 0, &prose(42, 200, NOVEL_WORDS));
    assert!(a.spans.is_empty());
    assert!(a.contributions.is_empty());
    assert!(a.contributors.is_empty());
    // Short common phrases (below L = 32 bytes) earn nothing either.
    let corpus = corpus();
    let phrase = &corpus[0].text[..20];
    let a = attribute(&corpus, 0, &format!("{} {phrase}", prose(1, 30, NOVEL_WORDS)));
    assert!(a.contributions.is_empty(), "{a:#?}");
}

#[test]
fn contributors_sum_their_contributions() {
    let corpus = corpus();
    let output = format!("{} {}", &corpus[4].text[0..200], &corpus[5].text[0..200]);
    let a = attribute(&corpus, 0, &output);
    assert_eq!(a.contributors.len(), 1);
    assert_eq!(a.contributors[0].contributor.as_deref(), Some("carol"));
    assert_eq!(a.contributors[0].bps, BPS_TOTAL);
}

#[test]
fn copies_split_a_span_and_shrink_it() {
    // The same text in two contributions: each gets half, and the pair earns less against a
    // unique quote than a single copy would.
    let unique = prose(7, 60, CORPUS_WORDS);
    let copied = prose(8, 60, NOVEL_WORDS);
    let corpus = docs(&[(&unique, Some("u")), (&copied, Some("c1")), (&copied, Some("c2"))]);
    let output = format!("{} {}", &unique[..200], &copied[..200]);
    let a = attribute(&corpus, 0, &output);
    let bps = |who: &str| {
        a.contributors.iter().find(|c| c.contributor.as_deref() == Some(who)).map_or(0, |c| c.bps)
    };
    assert_eq!(bps("c1"), bps("c2"));
    assert!(bps("u") > bps("c1") + bps("c2"), "{a:#?}");
}

#[test]
fn shares_are_the_same_for_any_segmentation() {
    let mut corpus = corpus();
    corpus.extend((6..40).map(|i| Document {
        key: alx_attribution::DocKey { contribution: ContributionId(i), ordinal: 0 },
        contributor: Some(format!("c{}", i % 7)),
        text: prose(i % 9, 80, CORPUS_WORDS),
    }));
    let output = format!(
        "{} {} {} {}",
        &corpus[2].text[30..260],
        prose(3, 10, NOVEL_WORDS),
        &corpus[12].text[0..150],
        &corpus[33].text[100..300]
    );
    let one = attribute(&corpus, 0, &output);
    assert!(!one.contributions.is_empty());
    for split in [1, 2, 3, 7, 16] {
        assert_eq!(attribute(&corpus, split, &output), one, "split {split}");
    }
    assert_eq!(attribute(&corpus, 0, &output), one, "same run twice");
}

#[test]
fn coverage_flags_near_duplicates() {
    use alx_attribution::{MIN_SPAN_BYTES_DEFAULT, NEAR_DUPLICATE_BPS_DEFAULT};
    let corpus = corpus();
    let segs = segments(&corpus, 2, Sampling::WordStarts);
    let s = searcher(&segs, Sampling::WordStarts);
    let cov = |t: &str| s.coverage(t, MIN_SPAN_BYTES_DEFAULT).unwrap();

    let copy = cov(&corpus[3].text);
    assert_eq!(copy.bps, BPS_TOTAL);
    assert!(copy.is_near_duplicate(NEAR_DUPLICATE_BPS_DEFAULT));

    let novel = cov(&prose(5, 100, NOVEL_WORDS));
    assert_eq!((novel.covered_bytes, novel.bps), (0, 0));
    assert!(!novel.is_near_duplicate(NEAR_DUPLICATE_BPS_DEFAULT));

    // Half copied, half new: about 5,000 bps, not a near-duplicate.
    let half = format!("{} {}", &corpus[0].text[..400], prose(6, 60, NOVEL_WORDS));
    let c = cov(&half);
    assert!((4_000..6_000).contains(&c.bps), "{c:?}");
    assert!(!c.is_near_duplicate(NEAR_DUPLICATE_BPS_DEFAULT));
    assert_eq!(cov("").bps, 0);
}

#[test]
fn excluded_contributions_get_nothing_but_stay_evidence() {
    let corpus = corpus();
    let output = format!("{} {}", &corpus[1].text[0..300], &corpus[3].text[0..200]);
    let segs = segments(&corpus, 0, Sampling::WordStarts);
    let s = searcher(&segs, Sampling::WordStarts);
    let excluded = [ContributionId(1)].into_iter().collect();
    let a = s.attribute_excluding(&output, &AttributionConfig::DEFAULT, &excluded).unwrap();
    assert!(a.contributions.iter().all(|c| c.contribution != ContributionId(1)), "{a:#?}");
    assert_eq!(top_contributor(&a), Some("erin"));
    assert_eq!(a.contributions.iter().map(|c| c.bps).sum::<u32>(), BPS_TOTAL);
    assert!(a.spans.iter().any(|s| s.sources.iter().any(|x| x.contribution == ContributionId(1))));
    // Excluding everyone quoted leaves no shares at all.
    let all = [ContributionId(1), ContributionId(3)].into_iter().collect();
    let none = s.attribute_excluding(&output, &AttributionConfig::DEFAULT, &all).unwrap();
    assert!(none.contributions.is_empty() && none.contributors.is_empty(), "{none:#?}");
}
