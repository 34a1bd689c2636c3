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
//! 3. **Influence part** (adapter models): each training example's (contribution's) influence
//!    on the answer, as the integer score the receipt records; the least score is subtracted
//!    from each (the least influential example weighs 0), and no example's share of the part
//!    passes four times an even share ([`influence_shares`], water-filled).
//! 4. Each part is normalized to 10,000 bps by [`to_bps`]; the parts that exist count equally
//!    (their bps are summed and normalized again); when none does there are no shares, and the
//!    settlement gives the data share to the datanets' owners.
//! 5. **Credits**: the data share of a fee is `floor(fee · data_bps / 10,000)` (computed
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

/// How many times an even share one example's influence share may reach.
pub const INFLUENCE_CAP_TIMES_MEAN: u128 = 4;

/// The influence part: each example's recorded score minus the least score, as shares capped
/// at [`INFLUENCE_CAP_TIMES_MEAN`] times an even share (`c = floor(4 · 10,000 / n)` bps for
/// `n` examples; no cap when `c ≥ 10,000`). The cap is water-filled: examples whose
/// proportional share of what is left would pass `c` get `c` each, and the rest share the
/// remainder in proportion, until none passes. Empty with fewer than two examples or when every
/// score is the same.
#[must_use]
pub fn influence_shares(scores: &BTreeMap<Key, i64>) -> BTreeMap<Key, u32> {
    let Some(least) = scores.values().min().copied() else {
        return BTreeMap::new();
    };
    // i64 differences fit u64, so their sum over any count fits u128.
    let paid: BTreeMap<Key, u128> =
        scores.iter().map(|(k, q)| (*k, u128::from(q.abs_diff(least)))).collect();
    let cap = INFLUENCE_CAP_TIMES_MEAN * BPS / paid.len() as u128;
    if cap >= BPS {
        return to_bps(&paid);
    }
    let mut capped = std::collections::BTreeSet::new();
    loop {
        let rest: u128 = paid.iter().filter(|(k, _)| !capped.contains(*k)).map(|(_, w)| w).sum();
        let budget = BPS - cap * capped.len() as u128;
        // Share of `w` in what is left: `w · budget / rest`, over the cap when `w · budget > cap · rest`.
        let over: Vec<Key> = paid
            .iter()
            .filter(|(k, w)| !capped.contains(*k) && **w * budget > cap * rest)
            .map(|(k, _)| *k)
            .collect();
        if over.is_empty() {
            // Capped: c of 10,000 each; the rest: w · budget / rest. Over the common
            // denominator `rest`, the raw weights are c · rest and w · budget (summing to
            // 10,000 · rest); with nothing left to share, the capped split it evenly.
            let raw = paid
                .iter()
                .map(|(k, w)| {
                    let weight = if capped.contains(k) {
                        if rest == 0 { 1 } else { cap * rest }
                    } else {
                        w * budget
                    };
                    (*k, weight)
                })
                .collect();
            return to_bps(&raw);
        }
        capped.extend(over);
    }
}

/// The shares of an answer: its parts combined, each counting equally (see the module docs).
/// What a receipt's `shares` must equal. `influence` is the influence part (already
/// normalized by [`influence_shares`]; empty for a model without one).
#[must_use]
pub fn combine(
    ranked: &[Key],
    spans: &BTreeMap<Key, u32>,
    influence: &BTreeMap<Key, u32>,
) -> BTreeMap<Key, u32> {
    let mut raw: BTreeMap<Key, u128> = BTreeMap::new();
    for (key, bps) in retrieval_shares(ranked).iter().chain(spans).chain(influence) {
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
        let none = BTreeMap::new();
        let both = combine(&[(0, 1), (0, 2), (0, 3)], &spans, &none);
        assert_eq!(both.values().sum::<u32>(), 10_000);
        assert_eq!(both[&(0, 5)], 5_000);
        // Ranks 3:2:1 of the other half; 1/6 of 5,000 leaves a remainder point.
        assert_eq!((both[&(0, 1)], both[&(0, 2)], both[&(0, 3)]), (2_500, 1_667, 833));
        assert_eq!(combine(&[], &spans, &none), spans);
        assert!(combine(&[], &none, &none).is_empty());
        assert_eq!(combine(&[(1, 1), (1, 1)], &none, &none)[&(1, 1)], 10_000);
        // Three parts count a third each.
        let influence: BTreeMap<Key, u32> = [((0, 9), 10_000)].into_iter().collect();
        let all = combine(&[(0, 1)], &spans, &influence);
        assert_eq!((all[&(0, 1)], all[&(0, 5)], all[&(0, 9)]), (3_334, 3_333, 3_333));
    }

    #[test]
    fn influence_subtracts_the_least_and_caps_at_four_even_shares() {
        let scores: BTreeMap<Key, i64> =
            [((0, 1), -5), ((0, 2), -5), ((0, 3), 0), ((0, 4), 1_000_000)].into_iter().collect();
        // Four examples: the cap is 10,000, none; differences 0, 0, 5, 1,000,005.
        let bps = influence_shares(&scores);
        assert_eq!(bps.get(&(0, 3)), None, "5 of 1,000,010 rounds to nothing");
        assert_eq!(bps[&(0, 4)], 10_000);
        // Ten examples: the cap is 4,000. One dominant example is held to it; the other nine
        // (all but the least) share the rest in proportion.
        let many: BTreeMap<Key, i64> =
            (0..10).map(|c| ((0, c), if c == 0 { 900 } else { 100 + c as i64 })).collect();
        let bps = influence_shares(&many);
        assert_eq!(bps[&(0, 0)], 4_000);
        assert_eq!(bps.values().sum::<u32>(), 10_000);
        assert_eq!(bps.get(&(0, 1)), None, "the least influential");
        assert!(bps[&(0, 9)] > bps[&(0, 2)]);
        // Only one example above the least: it takes the whole part (nothing else to share).
        let lone: BTreeMap<Key, i64> = (0..10).map(|c| ((0, c), i64::from(c == 3))).collect();
        assert_eq!(influence_shares(&lone)[&(0, 3)], 10_000);
        assert!(influence_shares(&BTreeMap::new()).is_empty());
        assert!(influence_shares(&[((0, 1), 7)].into_iter().collect()).is_empty());
        let extreme: BTreeMap<Key, i64> =
            [((0, 1), i64::MIN), ((0, 2), i64::MAX)].into_iter().collect();
        assert_eq!(influence_shares(&extreme)[&(0, 2)], 10_000);
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
