//! Who an answer owes: the passages retrieved into its prompt and the spans of its output
//! found in the model's datanet versions, combined into one split of the data fee.
//!
//! The rule (integers only, the same on every machine):
//!
//! 1. Retrieval: the `k` cited passages get weights `k - rank` (the best counts most).
//! 2. Spans: each datanet version's attribution of the output (basis points per
//!    contribution, `alx-attribution`) weighted by the bytes of the output it covers.
//! 3. Each part is normalized to 10,000; when both exist they count half each; when one
//!    exists it counts whole; when neither does there are no shares and the settlement gives
//!    the data fee to the datanets' owners.
//! 4. Basis points by largest remainder, ties to the lower (datanet, contribution).
//!
//! Flagged near-duplicates are left out of span shares by the index and of credits here.

use alx_indexer::{DatanetIndexes, Passage};
use alx_state::State;
use alx_types::{
    Amount,
    model::{BPS, ModelId, ModelSpec},
    usage::Credit,
    usage_api::{Citation, ShareEntry},
};
use std::collections::BTreeMap;

/// Passages retrieved into prompts, at most.
pub const RETRIEVED_PASSAGES: usize = 3;
/// Longest excerpt kept in a citation, in bytes.
const EXCERPT_BYTES: usize = 160;

/// (datanet, contribution).
pub type Key = (u64, u64);

/// Retrieved passages with their datanet.
pub fn retrieve(indexes: &DatanetIndexes, spec: &ModelSpec, query: &str) -> Vec<(u64, Passage)> {
    let mut all: Vec<(u64, Passage)> = Vec::new();
    for d in &spec.datanets {
        match indexes.retrieve(d.datanet, d.version, query, RETRIEVED_PASSAGES) {
            Ok(found) => all.extend(found.into_iter().map(|p| (d.datanet, p))),
            Err(e) => {
                tracing::warn!(datanet = d.datanet, version = d.version, err = %e, "retrieval skipped")
            }
        }
    }
    all.sort_by(|a, b| {
        b.1.score
            .total_cmp(&a.1.score)
            .then(a.0.cmp(&b.0))
            .then(a.1.contribution.cmp(&b.1.contribution))
    });
    all.truncate(RETRIEVED_PASSAGES);
    all
}

/// Citations of retrieved passages.
pub fn citations(passages: &[(u64, Passage)]) -> Vec<Citation> {
    passages
        .iter()
        .enumerate()
        .map(|(rank, (datanet, p))| {
            let mut end = p.text.len().min(EXCERPT_BYTES);
            while !p.text.is_char_boundary(end) {
                end -= 1;
            }
            Citation {
                datanet: *datanet,
                contribution: p.contribution,
                contributor: p.contributor.clone(),
                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                excerpt: p.text[..end].to_owned(),
            }
        })
        .collect()
}

/// Basis points by largest remainder; ties to the smaller key. Empty when all weights are 0.
fn to_bps(raw: &BTreeMap<Key, u128>) -> BTreeMap<Key, u32> {
    let total: u128 = raw.values().sum();
    if total == 0 {
        return BTreeMap::new();
    }
    let scale = u128::from(BPS);
    let mut out: BTreeMap<Key, u32> = raw
        .iter()
        .map(|(k, w)| (*k, u32::try_from(w.saturating_mul(scale) / total).unwrap_or(0)))
        .collect();
    let given: u32 = out.values().sum();
    let mut rest: Vec<(u128, Key)> =
        raw.iter().map(|(k, w)| (w.saturating_mul(scale) % total, *k)).collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, k) in rest.into_iter().take(usize::from(BPS).saturating_sub(given as usize)) {
        if let Some(v) = out.get_mut(&k) {
            *v += 1;
        }
    }
    out.retain(|_, v| *v > 0);
    out
}

/// Span shares of `output` per (datanet, contribution), weighted by covered bytes.
pub fn span_shares(
    indexes: &DatanetIndexes,
    state: &State,
    spec: &ModelSpec,
    output: &str,
) -> BTreeMap<Key, u32> {
    let mut reports = Vec::new();
    for d in &spec.datanets {
        match indexes.attribute(state, d.datanet, Some(d.version), output, None) {
            Ok(r) => reports.push(r),
            Err(e) => tracing::debug!(datanet = d.datanet, err = %e, "no span attribution"),
        }
    }
    span_weights(&reports)
}

/// Span shares from each datanet version's attribution report: each report's contribution
/// shares weighted by the output bytes it covers, normalized. Anyone holding the reports (from
/// `POST /api/attribution`) recomputes a receipt's span part with this.
#[must_use]
pub fn span_weights(
    reports: &[alx_types::attribution_api::AttributionReport],
) -> BTreeMap<Key, u32> {
    let mut raw: BTreeMap<Key, u128> = BTreeMap::new();
    for report in reports {
        for share in &report.contributions {
            let Ok(contribution) = share.id.parse::<u64>() else { continue };
            *raw.entry((report.datanet, contribution)).or_default() +=
                u128::from(share.bps) * report.covered_bytes as u128;
        }
    }
    to_bps(&raw)
}

/// The combined shares (see the module docs).
pub fn combine(retrieved: &[(u64, Passage)], spans: &BTreeMap<Key, u32>) -> BTreeMap<Key, u32> {
    let ranked: Vec<Key> = retrieved.iter().map(|(d, p)| (*d, p.contribution)).collect();
    combine_ranked(&ranked, spans)
}

/// The combined shares from the cited contributions in rank order (best first) and the span
/// shares: what a receipt's `shares` must equal.
#[must_use]
pub fn combine_ranked(ranked: &[Key], spans: &BTreeMap<Key, u32>) -> BTreeMap<Key, u32> {
    let k = ranked.len() as u128;
    let mut by_rank: BTreeMap<Key, u128> = BTreeMap::new();
    for (rank, key) in ranked.iter().enumerate() {
        *by_rank.entry(*key).or_default() += k - rank as u128;
    }
    let retrieval = to_bps(&by_rank);
    let mut raw: BTreeMap<Key, u128> = BTreeMap::new();
    for (key, bps) in retrieval.iter().chain(spans) {
        *raw.entry(*key).or_default() += u128::from(*bps);
    }
    to_bps(&raw)
}

/// Share entries with contributors, from the state.
pub fn entries(state: &State, shares: &BTreeMap<Key, u32>) -> Vec<ShareEntry> {
    shares
        .iter()
        .map(|(&(datanet, contribution), &bps)| ShareEntry {
            datanet,
            contribution,
            contributor: state
                .contribution(datanet, contribution)
                .ok()
                .flatten()
                .map(|c| c.contributor.to_string())
                .unwrap_or_default(),
            bps,
        })
        .collect()
}

/// The data fee of `fee` paid to each share (floor), skipping flagged contributions: the
/// settlement gives what is not credited to the datanets' owners.
pub fn credits(
    state: &State,
    model: ModelId,
    spec: &ModelSpec,
    fee: Amount,
    shares: &BTreeMap<Key, u32>,
) -> Vec<Credit> {
    let data = fee.0 / u128::from(BPS) * u128::from(spec.split.data_bps)
        + fee.0 % u128::from(BPS) * u128::from(spec.split.data_bps) / u128::from(BPS);
    shares
        .iter()
        .filter(|((d, c), _)| {
            state.contribution(*d, *c).ok().flatten().is_some_and(|c| !c.near_duplicate)
        })
        .map(|(&(datanet, contribution), &bps)| Credit {
            model,
            datanet,
            contribution,
            amount: Amount(
                data / u128::from(BPS) * u128::from(bps)
                    + data % u128::from(BPS) * u128::from(bps) / u128::from(BPS),
            ),
        })
        .filter(|c| !c.amount.is_zero())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_a_whole_and_split_half_and_half() {
        let spans: BTreeMap<Key, u32> = [((0, 5), 10_000)].into_iter().collect();
        let both = combine_ranked(&[(0, 1), (0, 2), (0, 3)], &spans);
        assert_eq!(both.values().sum::<u32>(), 10_000);
        assert_eq!(both[&(0, 5)], 5_000);
        // Ranks 3:2:1 of the other half; 1/6 of 5,000 leaves a remainder point.
        assert_eq!((both[&(0, 1)], both[&(0, 2)], both[&(0, 3)]), (2_500, 1_667, 833));
        assert_eq!(combine_ranked(&[], &spans), spans);
        assert!(combine_ranked(&[], &BTreeMap::new()).is_empty());
        let only = combine_ranked(&[(1, 1), (1, 1)], &BTreeMap::new());
        assert_eq!(only[&(1, 1)], 10_000);
    }

    #[test]
    fn ties_go_to_the_smaller_key() {
        let raw: BTreeMap<Key, u128> =
            [((0, 2), 1), ((0, 1), 1), ((0, 3), 1)].into_iter().collect();
        let bps = to_bps(&raw);
        assert_eq!((bps[&(0, 1)], bps[&(0, 2)], bps[&(0, 3)]), (3_334, 3_333, 3_333));
    }
}
