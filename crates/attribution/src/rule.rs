//! The rule that turns an answer into credits: which contributions were retrieved into its
//! prompt (and in which rank), which spans of its output each datanet version holds, and how
//! the data share of its fee is split among them. Integers only; the gateway that issues a
//! receipt and `alx receipt verify` (which recomputes a receipt's shares from its citations
//! and the spans of its output) call these functions, and nothing else computes them. The crate
//! README states the rule; `tests/golden/rule.json`, computed by an independent implementation
//! of that statement, pins it.
//!
//! 1. **Retrieval part**: the `k` cited passages, best first, weigh `k - rank` each (a
//!    contribution cited twice sums its weights).
//! 2. **Span part**: each datanet version's span attribution of the output (basis points per
//!    contribution, [`crate::Searcher::attribute`]) weighted by the output bytes it covers.
//! 3. Each part is normalized to 10,000 bps by [`to_bps`]; when both exist they count half
//!    each (their bps are summed and normalized again); when one exists it counts whole; when
//!    neither does there are no shares, and the settlement gives the data share to the
//!    datanets' owners.
//! 4. **Credits**: the data share of a fee is `floor(fee · data_bps / 10,000)` (computed
//!    without overflow); each share gets `floor(data · bps / 10,000)`; contributions the
//!    caller excludes get nothing, and what is not credited goes to the datanets' owners (the
//!    chain pays a flagged near-duplicate's credit to the protection fund).

use std::collections::BTreeMap;

/// Basis points in a whole.
const BPS: u128 = 10_000;

/// A contribution of a datanet: `(datanet, contribution)`.
pub type Key = (u64, u64);

/// One datanet version's span attribution of an output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanReport {
    /// The datanet.
    pub datanet: u64,
    /// Output bytes its spans cover.
    pub covered_bytes: u64,
    /// Basis points per contribution (summing to 10,000, or empty).
    pub shares: Vec<(u64, u32)>,
}

/// Basis points of `raw` weights: `floor(w · 10,000 / total)` each, then the points left one
/// each to the largest remainders, ties to the smaller key. Empty when every weight is 0; keys
/// left with 0 bps are dropped.
#[must_use]
pub fn to_bps<K: Ord + Copy>(raw: &BTreeMap<K, u128>) -> BTreeMap<K, u32> {
    // Weights whose sum would pass 2^100 are first shifted right by the same number of bits
    // (a deterministic rescaling), so that `w · 10,000` never overflows.
    let wide = raw.values().fold(0u128, |a, w| a | *w);
    let bits = 128 - wide.leading_zeros();
    let count_bits = 64 - (raw.len() as u64).leading_zeros();
    let shift = (bits + count_bits).saturating_sub(100);
    let raw: Vec<(K, u128)> = raw.iter().map(|(k, w)| (*k, *w >> shift)).collect();
    let total: u128 = raw.iter().map(|(_, w)| *w).sum();
    if total == 0 {
        return BTreeMap::new();
    }
    let mut out: BTreeMap<K, u32> =
        raw.iter().map(|(k, w)| (*k, u32::try_from(w * BPS / total).unwrap_or(0))).collect();
    let given: u32 = out.values().sum();
    let mut rest: Vec<(u128, K)> = raw.iter().map(|(k, w)| (w * BPS % total, *k)).collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = usize::try_from(BPS).unwrap_or(0).saturating_sub(given as usize);
    for (_, k) in rest.into_iter().take(left) {
        if let Some(v) = out.get_mut(&k) {
            *v += 1;
        }
    }
    out.retain(|_, v| *v > 0);
    out
}

/// `floor(w · m / d)` for small `m` and `d` (basis points), without overflowing u128.
fn mul_div(w: u128, m: u128, d: u128) -> u128 {
    w / d * m + (w % d) * m / d
}

/// The span part: each report's shares weighted by the bytes it covers, normalized.
#[must_use]
pub fn span_shares(reports: &[SpanReport]) -> BTreeMap<Key, u32> {
    let mut raw: BTreeMap<Key, u128> = BTreeMap::new();
    for report in reports {
        for &(contribution, bps) in &report.shares {
            let w = u128::from(bps).saturating_mul(u128::from(report.covered_bytes));
            let e = raw.entry((report.datanet, contribution)).or_default();
            *e = e.saturating_add(w);
        }
    }
    to_bps(&raw)
}

/// The retrieval part: rank weights `k - rank` of the cited contributions, best first.
#[must_use]
pub fn retrieval_shares(ranked: &[Key]) -> BTreeMap<Key, u32> {
    let k = ranked.len() as u128;
    let mut by_rank: BTreeMap<Key, u128> = BTreeMap::new();
    for (rank, key) in ranked.iter().enumerate() {
        *by_rank.entry(*key).or_default() += k - rank as u128;
    }
    to_bps(&by_rank)
}

/// The shares of an answer: both parts combined (see the module docs). What a receipt's
/// `shares` must equal.
#[must_use]
pub fn combine(ranked: &[Key], spans: &BTreeMap<Key, u32>) -> BTreeMap<Key, u32> {
    let mut raw: BTreeMap<Key, u128> = BTreeMap::new();
    for (key, bps) in retrieval_shares(ranked).iter().chain(spans) {
        *raw.entry(*key).or_default() += u128::from(*bps);
    }
    to_bps(&raw)
}

/// The data share of `fee` for a model giving `data_bps` of its fees to data.
#[must_use]
pub fn data_share(fee: u128, data_bps: u32) -> u128 {
    mul_div(fee, u128::from(data_bps.min(10_000)), BPS)
}

/// Each share's credit of `data` (floor), skipping keys `excluded` names and zero credits, in
/// key order.
#[must_use]
pub fn credits(
    data: u128,
    shares: &BTreeMap<Key, u32>,
    excluded: impl Fn(Key) -> bool,
) -> Vec<(Key, u128)> {
    shares
        .iter()
        .filter(|(k, _)| !excluded(**k))
        .map(|(k, bps)| (*k, mul_div(data, u128::from(*bps), BPS)))
        .filter(|(_, amount)| *amount > 0)
        .collect()
}

/// Merges the hits of several datanet versions into one ranking: score descending, then the
/// lower datanet, then the order within a datanet; at most `k`.
#[must_use]
pub fn merge_ranked<T: Clone>(lists: &[(u64, Vec<(u64, T)>)], k: usize) -> Vec<(u64, T)> {
    let mut all: Vec<(u64, u64, usize, &T)> = Vec::new();
    for (datanet, hits) in lists {
        for (position, (score, item)) in hits.iter().enumerate() {
            all.push((*score, *datanet, position, item));
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    all.into_iter().take(k).map(|(_, datanet, _, item)| (datanet, item.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_a_whole_and_split_half_and_half() {
        let spans: BTreeMap<Key, u32> = [((0, 5), 10_000)].into_iter().collect();
        let both = combine(&[(0, 1), (0, 2), (0, 3)], &spans);
        assert_eq!(both.values().sum::<u32>(), 10_000);
        assert_eq!(both[&(0, 5)], 5_000);
        // Ranks 3:2:1 of the other half; 1/6 of 5,000 leaves a remainder point.
        assert_eq!((both[&(0, 1)], both[&(0, 2)], both[&(0, 3)]), (2_500, 1_667, 833));
        assert_eq!(combine(&[], &spans), spans);
        assert!(combine(&[], &BTreeMap::new()).is_empty());
        assert_eq!(combine(&[(1, 1), (1, 1)], &BTreeMap::new())[&(1, 1)], 10_000);
    }

    #[test]
    fn ties_go_to_the_smaller_key() {
        let raw: BTreeMap<Key, u128> =
            [((0, 2), 1), ((0, 1), 1), ((0, 3), 1)].into_iter().collect();
        let bps = to_bps(&raw);
        assert_eq!((bps[&(0, 1)], bps[&(0, 2)], bps[&(0, 3)]), (3_334, 3_333, 3_333));
    }

    #[test]
    fn huge_weights_and_fees_do_not_overflow() {
        let raw: BTreeMap<Key, u128> =
            [((0, 1), u128::MAX / 2), ((0, 2), u128::MAX / 2)].into_iter().collect();
        assert_eq!(to_bps(&raw).values().sum::<u32>(), 10_000);
        assert_eq!(data_share(u128::MAX, 10_000), u128::MAX);
        assert_eq!(data_share(19_999, 5_000), 9_999);
        let shares: BTreeMap<Key, u32> = [((0, 1), 5_000), ((0, 2), 5_000)].into_iter().collect();
        let paid = credits(u128::MAX, &shares, |k| k == (0, 2));
        assert_eq!(paid, vec![((0, 1), u128::MAX / 2)]);
    }

    #[test]
    fn merged_rankings_prefer_score_then_the_lower_datanet() {
        let lists = vec![(2, vec![(9, 'a'), (5, 'b')]), (1, vec![(9, 'c'), (1, 'd')])];
        assert_eq!(merge_ranked(&lists, 3), vec![(1, 'c'), (2, 'a'), (2, 'b')]);
    }
}
