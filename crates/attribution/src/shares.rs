//! Attribution: who an output draws on, in integer basis points, with the spans as evidence.
//!
//! For each maximal span `s` of the output (length `len_s` bytes, `count_s` occurrences in the
//! index, found in the set of documents `D_s`):
//!
//! ```text
//! weight_s = len_s * 2^32 / count_s                         (0 when count_s > max_count)
//! raw[c]  += weight_s * |documents of contribution c in D_s| / |D_s|      (each floor)
//! ```
//!
//! Longer spans weigh more and rarer spans weigh more: a span every document holds is common
//! knowledge. Copying one's text into many documents does not pay: the count grows, so the
//! span's weight shrinks as its split widens. Per contributor, `raw` sums over their
//! contributions (contributions without a contributor are grouped under `None`).
//!
//! Basis points: `bps[c] = floor(raw[c] * 10_000 / total)`; the `10_000 - Σ bps` points left
//! go one each to the largest remainders `raw[c] * 10_000 mod total`, ties to the smallest key.
//! So the shares sum to exactly 10,000 when any span is attributed, and there are no shares at
//! all (zero to everyone) when none is. Only integers, sums and ordered maps are involved: the
//! same output and corpus give the same shares on every machine, however the index is split
//! into segments.

use crate::{ContributionId, IndexError, Searcher};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Basis points in a whole.
pub const BPS_TOTAL: u32 = 10_000;

/// Fixed-point scale of span weights.
const WEIGHT_SCALE: u64 = 1 << 32;

/// Parameters of an attribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributionConfig {
    /// Shortest span counted, in bytes (`L`).
    pub min_len: usize,
    /// Spans found more often than this earn nothing (and their documents are not listed).
    pub max_count: u64,
}

impl AttributionConfig {
    /// `L` = 32 bytes, spans seen more than 1,024 times are common knowledge.
    pub const DEFAULT: Self = Self { min_len: crate::MIN_SPAN_BYTES_DEFAULT, max_count: 1024 };
}

/// One contribution holding a span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpanSource {
    /// The contribution.
    pub contribution: ContributionId,
    /// Its documents holding the span.
    pub documents: u32,
}

/// A span of the output and where it comes from: the evidence behind the shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First byte of the span in the output.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Matched length in bytes.
    pub len: usize,
    /// Occurrences in the index.
    pub count: u64,
    /// Its weight (0 when seen more than `max_count` times).
    pub weight: u64,
    /// The contributions holding it (empty when seen more than `max_count` times).
    pub sources: Vec<SpanSource>,
}

/// A share of one contribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContributionShare {
    /// The contribution.
    pub contribution: ContributionId,
    /// Its share in basis points.
    pub bps: u32,
}

/// A share of one contributor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContributorShare {
    /// The contributor (`None`: contributions that name none).
    pub contributor: Option<String>,
    /// Its share in basis points.
    pub bps: u32,
}

/// The attribution of one output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// Output length in bytes.
    pub output_bytes: usize,
    /// The maximal spans, ordered by start.
    pub spans: Vec<Span>,
    /// Shares per contribution, by contribution id; empty when nothing is attributed.
    pub contributions: Vec<ContributionShare>,
    /// Shares per contributor, by name; empty when nothing is attributed.
    pub contributors: Vec<ContributorShare>,
}

impl Searcher<'_> {
    /// Attributes `output` to the contributions of the index.
    pub fn attribute(
        &self,
        output: &str,
        config: &AttributionConfig,
    ) -> Result<Attribution, IndexError> {
        self.attribute_excluding(output, config, &BTreeSet::new())
    }

    /// Attributes `output`, giving no share to the contributions in `excluded` (flagged
    /// near-duplicates): they still appear as span sources, as evidence, and still dilute
    /// the spans they share, so excluding one never raises anyone else's share of that span.
    pub fn attribute_excluding(
        &self,
        output: &str,
        config: &AttributionConfig,
        excluded: &BTreeSet<ContributionId>,
    ) -> Result<Attribution, IndexError> {
        let found = self.matches_with_docs(output, config.min_len, config.max_count)?;
        let mut names: BTreeMap<ContributionId, Option<String>> = BTreeMap::new();
        let mut raw: BTreeMap<ContributionId, u128> = BTreeMap::new();
        let mut spans = Vec::with_capacity(found.len());
        for (m, docs) in found {
            let weight =
                if docs.is_empty() { 0 } else { m.len() as u64 * WEIGHT_SCALE / m.count.max(1) };
            let mut per_contribution: BTreeMap<ContributionId, u32> = BTreeMap::new();
            for (key, contributor) in &docs {
                *per_contribution.entry(key.contribution).or_insert(0) += 1;
                names.entry(key.contribution).or_insert_with(|| contributor.map(str::to_owned));
            }
            let total_docs = docs.len() as u128;
            for (&c, &n) in per_contribution.iter().filter(|(c, _)| !excluded.contains(c)) {
                *raw.entry(c).or_insert(0) += u128::from(weight) * u128::from(n) / total_docs;
            }
            spans.push(Span {
                start: m.start,
                end: m.end,
                len: m.len(),
                count: m.count,
                weight,
                sources: per_contribution
                    .into_iter()
                    .map(|(contribution, documents)| SpanSource { contribution, documents })
                    .collect(),
            });
        }
        let mut by_contributor: BTreeMap<Option<String>, u128> = BTreeMap::new();
        for (c, &r) in &raw {
            *by_contributor.entry(names.get(c).cloned().flatten()).or_insert(0) += r;
        }
        Ok(Attribution {
            output_bytes: output.len(),
            spans,
            contributions: to_bps(&raw)
                .into_iter()
                .map(|(contribution, bps)| ContributionShare { contribution, bps })
                .collect(),
            contributors: to_bps(&by_contributor)
                .into_iter()
                .map(|(contributor, bps)| ContributorShare { contributor, bps })
                .collect(),
        })
    }
}

/// Integer basis points by the largest-remainder rule (ties to the smallest key). Keys with a
/// zero weight get no entry; an all-zero input gives no entries.
#[must_use]
pub fn to_bps<K: Ord + Clone>(raw: &BTreeMap<K, u128>) -> BTreeMap<K, u32> {
    let total: u128 = raw.values().sum();
    let mut out = BTreeMap::new();
    if total == 0 {
        return out;
    }
    let scale = u128::from(BPS_TOTAL);
    let mut given = 0u32;
    let mut remainders: Vec<(u128, &K)> = Vec::with_capacity(raw.len());
    for (k, &r) in raw {
        if r == 0 {
            continue;
        }
        let bps = (r * scale / total) as u32;
        given += bps;
        out.insert(k.clone(), bps);
        remainders.push((r * scale % total, k));
    }
    // Largest remainder first; equal remainders keep key order (the sort is stable).
    remainders.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (_, k) in remainders.into_iter().take((BPS_TOTAL - given) as usize) {
        if let Some(bps) = out.get_mut(k) {
            *bps += 1;
        }
    }
    out.retain(|_, bps| *bps > 0);
    out
}
