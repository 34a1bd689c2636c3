//! Coverage of a text of any size, with the contribution that covers the most of it: what a
//! validator reports about a new contribution (see `alx_types::availability`).
//!
//! A query is at most [`QUERY_BYTES_MAX`] bytes, so a longer text is searched in windows of that
//! size that overlap by `2 · min_len` bytes. Any byte inside a match of at least `min_len` bytes
//! in the whole text is inside such a match within some window (the part of the match on the
//! window's side of a boundary is at least `min_len` long on one side or the other), so the
//! covered bytes, merged across windows, are the same as one search of the whole text would
//! give. Windows end on character boundaries; everything is integer arithmetic over the index's
//! own answers, so every node measures the same numbers.
//!
//! The main source is the contribution whose documents hold the most matched bytes (spans that
//! occur more than [`SOURCE_OCCURRENCES_MAX`] times are common phrases and name no source; ties
//! go to the lower id).

use crate::{ContributionId, IndexError, QUERY_BYTES_MAX, Searcher};
use std::collections::BTreeMap;

/// A span seen more often than this is a common phrase: it covers bytes but names no source.
pub const SOURCE_OCCURRENCES_MAX: u64 = 64;

/// How much of a text an index holds, and where most of it comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourcedCoverage {
    /// Bytes of the text inside at least one match.
    pub covered_bytes: u64,
    /// Bytes of the text.
    pub total_bytes: u64,
    /// The contribution holding the most matched bytes, and how many.
    pub main_source: Option<(ContributionId, u64)>,
}

impl SourcedCoverage {
    /// `covered / total` in basis points, rounded down; 0 for nothing.
    #[must_use]
    pub fn bps(&self) -> u16 {
        if self.total_bytes == 0 {
            return 0;
        }
        let bps = u128::from(self.covered_bytes) * 10_000 / u128::from(self.total_bytes);
        u16::try_from(bps.min(10_000)).unwrap_or(10_000)
    }
}

/// The contribution with the most matched bytes in `tally` (ties: the lower id).
#[must_use]
pub fn main_source(tally: &BTreeMap<ContributionId, u64>) -> Option<(ContributionId, u64)> {
    // Most bytes first, then the lower id: iterate in id order and keep strict improvements.
    let mut best: Option<(ContributionId, u64)> = None;
    for (&id, &bytes) in tally {
        if best.is_none_or(|(_, b)| bytes > b) {
            best = Some((id, bytes));
        }
    }
    best
}

/// The windows `[start, end)` a text of `len` bytes is searched in.
fn windows(text: &str, window: usize, overlap: usize) -> Vec<(usize, usize)> {
    let len = text.len();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let mut end = (start + window).min(len);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push((start, end));
        if end >= len {
            return out;
        }
        let mut next = end.saturating_sub(overlap).max(start + 1);
        while !text.is_char_boundary(next) {
            next += 1;
        }
        start = next;
    }
}

impl Searcher<'_> {
    /// Coverage of `text` (any size) by matches of at least `min_len` bytes, with the
    /// per-contribution tally of matched bytes added to `tally` (share one tally across the
    /// documents of one contribution; [`main_source`] of it names the main source).
    pub fn sourced_coverage(
        &self,
        text: &str,
        min_len: usize,
        tally: &mut BTreeMap<ContributionId, u64>,
    ) -> Result<SourcedCoverage, IndexError> {
        self.sourced_coverage_in(text, min_len, QUERY_BYTES_MAX, tally)
    }

    fn sourced_coverage_in(
        &self,
        text: &str,
        min_len: usize,
        window: usize,
        tally: &mut BTreeMap<ContributionId, u64>,
    ) -> Result<SourcedCoverage, IndexError> {
        let total_bytes = text.len() as u64;
        if text.is_empty() {
            return Ok(SourcedCoverage { total_bytes, ..SourcedCoverage::default() });
        }
        let overlap = min_len.saturating_mul(2).min(window / 2);
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for (start, end) in windows(text, window, overlap) {
            for (m, docs) in
                self.matches_with_docs(&text[start..end], min_len, SOURCE_OCCURRENCES_MAX)?
            {
                covered.push((start + m.start, start + m.end));
                let mut seen = std::collections::BTreeSet::new();
                for key in docs.keys() {
                    if seen.insert(key.contribution) {
                        *tally.entry(key.contribution).or_default() += m.len() as u64;
                    }
                }
            }
        }
        covered.sort_unstable();
        let (mut bytes, mut reach) = (0usize, 0usize);
        for (s, e) in covered {
            let from = s.max(reach);
            if e > from {
                bytes += e - from;
            }
            reach = reach.max(e);
        }
        Ok(SourcedCoverage {
            covered_bytes: bytes as u64,
            total_bytes,
            main_source: main_source(tally),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_text_and_overlap() {
        let text = "é".repeat(50); // 100 bytes, boundaries every 2
        let w = windows(&text, 31, 8);
        assert_eq!(w.first().map(|w| w.0), Some(0));
        assert_eq!(w.last().map(|w| w.1), Some(100));
        for pair in w.windows(2) {
            assert!(pair[1].0 < pair[0].1, "windows overlap: {pair:?}");
            assert!(pair[0].1 - pair[1].0 >= 8, "by at least the overlap: {pair:?}");
        }
        for (s, e) in &w {
            assert!(text.is_char_boundary(*s) && text.is_char_boundary(*e));
        }
        assert_eq!(windows("short", 1 << 20, 64), vec![(0, 5)]);
    }

    #[test]
    fn ties_go_to_the_lower_id() {
        let tally: BTreeMap<_, _> =
            [(ContributionId(5), 10), (ContributionId(2), 10), (ContributionId(9), 3)].into();
        assert_eq!(main_source(&tally), Some((ContributionId(2), 10)));
        assert_eq!(main_source(&BTreeMap::new()), None);
    }

    #[test]
    fn a_windowed_search_covers_what_one_search_covers() {
        use crate::{DocKey, Document, Index, Sampling};
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::create(dir.path(), Sampling::WordStarts).unwrap();
        let corpus =
            "the quick brown fox jumps over the lazy dog near the river bank today ".repeat(20);
        index
            .append(&[Document {
                key: DocKey { contribution: ContributionId(3), ordinal: 0 },
                contributor: None,
                text: corpus.clone(),
            }])
            .unwrap();
        let searcher = index.searcher();
        let text = format!("{} and some new words here {}", &corpus[..500], &corpus[700..1200]);
        let mut whole_tally = BTreeMap::new();
        let whole = searcher.sourced_coverage_in(&text, 32, 1 << 20, &mut whole_tally).unwrap();
        for window in [97, 150, 400] {
            let mut tally = BTreeMap::new();
            let windowed = searcher.sourced_coverage_in(&text, 32, window, &mut tally).unwrap();
            assert_eq!(windowed.covered_bytes, whole.covered_bytes, "window {window}");
            assert_eq!(windowed.main_source.map(|s| s.0), Some(ContributionId(3)));
        }
        assert!(whole.bps() > 9_000, "{whole:?}");
    }
}
