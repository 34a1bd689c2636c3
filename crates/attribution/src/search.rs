//! Queries over all segments of an index: counts, documents, maximal matches and coverage.
//!
//! Every query fans out over the segments and combines their answers with sums, maxima and
//! ordered sets, so the answer does not depend on how the corpus is split into segments.

use crate::{DocKey, IndexError, Sampling, SegmentView};
use serde::Serialize;
use std::collections::BTreeMap;

/// Longest query or output accepted, in bytes.
pub const QUERY_BYTES_MAX: usize = 1 << 20;

/// Default minimum span length `L`, in bytes.
pub const MIN_SPAN_BYTES_DEFAULT: usize = 32;

/// A read-only view of an index: its segments and their sampling.
#[derive(Clone, Debug)]
pub struct Searcher<'a> {
    segments: Vec<SegmentView<'a>>,
    sampling: Sampling,
}

/// A maximal match of an output against the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Match {
    /// First byte of the span in the output.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Occurrences of the span in the index (at anchors).
    pub count: u64,
}

impl Match {
    /// Span length in bytes.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span is empty (never, for returned matches).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The documents holding a span, with their contributors.
pub(crate) type SpanDocs<'a> = BTreeMap<DocKey, Option<&'a str>>;

/// Where one query or output matched: per-segment rank ranges, kept to list documents later.
#[derive(Clone, Debug)]
struct Hit {
    len: usize,
    ranges: Vec<(usize, std::ops::Range<usize>)>,
}

fn check_len(what: &'static str, len: usize) -> Result<(), IndexError> {
    if len > QUERY_BYTES_MAX {
        return Err(IndexError::TooLarge {
            what,
            actual: len as u64,
            limit: QUERY_BYTES_MAX as u64,
        });
    }
    Ok(())
}

impl<'a> Searcher<'a> {
    /// A searcher over `segments`, all built with `sampling`.
    #[must_use]
    pub const fn new(segments: Vec<SegmentView<'a>>, sampling: Sampling) -> Self {
        Self { segments, sampling }
    }

    /// The segments searched.
    #[must_use]
    pub fn segments(&self) -> &[SegmentView<'a>] {
        &self.segments
    }

    fn check_query(&self, query: &str) -> Result<(), IndexError> {
        check_len("query", query.len())?;
        let Some(&first) = query.as_bytes().first() else {
            return Err(IndexError::Query("the query is empty"));
        };
        if !self.sampling.accepts_first_byte(first) {
            return Err(IndexError::Query(
                "a word-start index cannot count a query that starts with whitespace",
            ));
        }
        Ok(())
    }

    /// Exact number of occurrences of `query` in the index (at anchors: see [`Sampling`]).
    pub fn count(&self, query: &str) -> Result<u64, IndexError> {
        self.check_query(query)?;
        Ok(self.segments.iter().map(|s| s.range(query.as_bytes()).len() as u64).sum())
    }

    /// The documents containing `query` (at anchors), with their number of occurrences, at
    /// most `limit` documents, smallest keys first.
    pub fn documents(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<BTreeMap<DocKey, u64>, IndexError> {
        self.check_query(query)?;
        let mut out = BTreeMap::new();
        for seg in &self.segments {
            for rank in seg.range(query.as_bytes()) {
                if let Some(key) = seg.key_of_rank(rank) {
                    *out.entry(key).or_insert(0) += 1;
                }
            }
        }
        while out.len() > limit {
            out.pop_last();
        }
        Ok(out)
    }

    /// The longest match at the start of `rest` over all segments, and the segments where
    /// it reaches that length.
    fn longest(&self, rest: &[u8], lens: &mut Vec<usize>) -> usize {
        lens.clear();
        lens.extend(self.segments.iter().map(|seg| seg.longest_prefix(rest)));
        lens.iter().copied().max().unwrap_or(0)
    }

    fn maximal_hits(&self, output: &str, min_len: usize) -> Result<Vec<(usize, Hit)>, IndexError> {
        check_len("output", output.len())?;
        if min_len == 0 {
            return Err(IndexError::Query("the minimum span length must be at least 1 byte"));
        }
        let bytes = output.as_bytes();
        let mut frontier = 0;
        let mut hits = Vec::new();
        let mut lens = Vec::with_capacity(self.segments.len());
        for start in self.sampling.anchors(bytes) {
            // Only a match reaching past the frontier can be maximal.
            if bytes.len() - start < min_len || bytes.len() <= frontier {
                break;
            }
            let rest = &bytes[start..];
            let len = self.longest(rest, &mut lens);
            let end = start + len;
            if end <= frontier {
                continue;
            }
            frontier = end;
            if len >= min_len {
                // Occurrences are counted only for kept spans: two more searches per segment.
                let ranges = lens
                    .iter()
                    .enumerate()
                    .filter(|&(_, &l)| l == len)
                    .map(|(i, _)| (i, self.segments[i].range(&rest[..len])))
                    .collect();
                hits.push((start, Hit { len, ranges }));
            }
        }
        Ok(hits)
    }

    /// All maximal matches of `output` of at least `min_len` bytes: for each anchor of the
    /// output, the longest span starting there that occurs in the index, kept when it is not
    /// inside a span found from an earlier anchor. Spans are ordered by start.
    pub fn maximal_matches(&self, output: &str, min_len: usize) -> Result<Vec<Match>, IndexError> {
        Ok(self
            .maximal_hits(output, min_len)?
            .into_iter()
            .map(|(start, hit)| Match {
                start,
                end: start + hit.len,
                count: hit.ranges.iter().map(|(_, r)| r.len() as u64).sum(),
            })
            .collect())
    }

    /// Maximal matches with the documents containing each span (at most `max_count`
    /// occurrences are resolved; a span seen more often gets no documents).
    pub(crate) fn matches_with_docs(
        &self,
        output: &str,
        min_len: usize,
        max_count: u64,
    ) -> Result<Vec<(Match, SpanDocs<'a>)>, IndexError> {
        let hits = self.maximal_hits(output, min_len)?;
        let mut out = Vec::with_capacity(hits.len());
        for (start, hit) in hits {
            let count: u64 = hit.ranges.iter().map(|(_, r)| r.len() as u64).sum();
            let mut docs = BTreeMap::new();
            if count <= max_count {
                for (seg, ranks) in &hit.ranges {
                    let seg = &self.segments[*seg];
                    for rank in ranks.clone() {
                        if let Some(d) = seg.doc_of_rank(rank) {
                            let table = seg.docs();
                            docs.entry(table.key(d)).or_insert_with(|| table.contributor(d));
                        }
                    }
                }
            }
            out.push((Match { start, end: start + hit.len, count }, docs));
        }
        Ok(out)
    }

    /// How much of `text` the index already holds: bytes covered by maximal matches of at
    /// least `min_len` bytes, and the coverage in basis points (rounded down).
    pub fn coverage(&self, text: &str, min_len: usize) -> Result<Coverage, IndexError> {
        let matches = self.maximal_matches(text, min_len)?;
        let mut covered = 0usize;
        let mut reach = 0usize;
        for m in &matches {
            let from = m.start.max(reach);
            if m.end > from {
                covered += m.end - from;
            }
            reach = reach.max(m.end);
        }
        let total = text.len();
        let bps = if total == 0 { 0 } else { (covered as u128 * 10_000 / total as u128) as u32 };
        Ok(Coverage { covered_bytes: covered as u64, total_bytes: total as u64, bps })
    }
}

/// Span coverage of a text against an index (see the crate README for the near-duplicate
/// rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Bytes of the text inside at least one maximal match.
    pub covered_bytes: u64,
    /// Bytes of the text.
    pub total_bytes: u64,
    /// `covered_bytes * 10_000 / total_bytes`, rounded down; 0 for an empty text.
    pub bps: u32,
}

impl Coverage {
    /// Whether the text counts as a near-duplicate at `threshold_bps`.
    #[must_use]
    pub const fn is_near_duplicate(&self, threshold_bps: u32) -> bool {
        self.total_bytes > 0 && self.bps >= threshold_bps
    }
}
