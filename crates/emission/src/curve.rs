//! The uncapped curves, in base units, indexed by block count.
//!
//! Block index `i` is the `i`-th block after genesis (height `i + 1`); `blocks` counts blocks
//! (heights `1..=blocks`). The cap is applied by [`crate::Schedule`], not here. Every function
//! is integer-only; the bounds that make the unchecked operations safe are stated next to them
//! and rest on the validation in [`crate::Schedule::new`] (initial amount ≤ cap ≤
//! [`crate::CAP_MAX`], divisors nonzero).

/// A `u128` shifted right by this much is zero: no curve has more halvings than this.
const HALVINGS_MAX: u32 = u128::BITS;

/// `value >> shift`, zero once every bit is shifted out.
const fn halve(value: u128, shift: u128) -> u128 {
    if shift >= HALVINGS_MAX as u128 { 0 } else { value >> shift }
}

/// Morpheus-style linear decay: day `d` mints `max(0, initial − d·decrease)`, spread over the
/// day's blocks so that the day's sum is exact.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Linear {
    /// Day 0's amount.
    pub(crate) initial: u128,
    /// How much less each following day mints.
    pub(crate) decrease: u128,
    /// Blocks per day, nonzero.
    pub(crate) blocks_per_day: u64,
}

impl Linear {
    /// Day `day`'s amount, floored at zero.
    pub(crate) fn day_amount(self, day: u128) -> u128 {
        match day.checked_mul(self.decrease) {
            Some(cut) if cut < self.initial => self.initial - cut,
            _ => 0,
        }
    }

    /// How many days mint something: `ceil(initial / decrease)`, or unbounded without decay.
    fn days_positive(self) -> u128 {
        if self.decrease == 0 { u128::MAX } else { self.initial.div_ceil(self.decrease) }
    }

    /// What block `index` mints. Remainder rule: a day's amount `A` over `B` blocks gives every
    /// block `A / B`, and the first `A mod B` blocks of the day one base unit more.
    pub(crate) fn block_amount(self, index: u64) -> u128 {
        let per_day = u128::from(self.blocks_per_day);
        let (day, position) = (u128::from(index) / per_day, u128::from(index) % per_day);
        let amount = self.day_amount(day);
        amount / per_day + u128::from(position < amount % per_day)
    }

    /// What the first `count` blocks of a day minting `amount` mint together (`count` below
    /// the blocks per day). Bounded by `amount`.
    fn day_prefix(self, amount: u128, count: u128) -> u128 {
        let per_day = u128::from(self.blocks_per_day);
        count * (amount / per_day) + count.min(amount % per_day)
    }

    /// What the first `blocks` blocks mint together, or `None` if that is above `u128::MAX / 2`
    /// and so above every accepted cap: `D·I` overflows only when the sum, whose terms average
    /// more than `I/2`, is above `u128::MAX / 2`.
    pub(crate) fn minted_through(self, blocks: u64) -> Option<u128> {
        let per_day = u128::from(self.blocks_per_day);
        let (full, partial) = (u128::from(blocks) / per_day, u128::from(blocks) % per_day);
        // Whole days that mint something: Σ_{d<D} (I − d·r) = D·I − r·(D−1)·D/2.
        let days = full.min(self.days_positive());
        let whole = days.checked_mul(self.initial)?;
        // D ≤ ceil(I/r) gives r·(D−1) < I, so the product below is < D·I, which fits, and
        // (D−1)·D is even, so the halving is exact.
        let cut = self.decrease.checked_mul(days.saturating_sub(1))?;
        let decay = cut.checked_mul(days)? / 2;
        let mut total = whole.checked_sub(decay)?;
        if full < self.days_positive() {
            total = total.checked_add(self.day_prefix(self.day_amount(full), partial))?;
        }
        Some(total)
    }
}

/// Bitcoin-style halving by height: block `i` mints `initial >> (i / interval)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Halving {
    /// What each block of the first interval mints.
    pub(crate) initial: u128,
    /// Blocks between halvings, nonzero.
    pub(crate) interval: u64,
}

impl Halving {
    /// What block `index` mints.
    pub(crate) fn block_amount(self, index: u64) -> u128 {
        halve(self.initial, u128::from(index / self.interval))
    }

    /// What the first `blocks` blocks mint together, or `None` if that exceeds `u128`.
    /// At most [`HALVINGS_MAX`] iterations: every later era mints zero.
    pub(crate) fn minted_through(self, blocks: u64) -> Option<u128> {
        let interval = u128::from(self.interval);
        let (eras, partial) =
            (u128::from(blocks / self.interval), u128::from(blocks % self.interval));
        let mut total: u128 = 0;
        let mut era: u128 = 0;
        while era < eras && halve(self.initial, era) > 0 {
            total = total.checked_add(interval.checked_mul(halve(self.initial, era))?)?;
            era += 1;
        }
        total.checked_add(partial.checked_mul(halve(self.initial, eras))?)
    }
}

/// Bittensor-style halving by supply: the per-block amount is `initial >> k`, where `k` is how
/// many thresholds `cap·(1 − 2^−j)` (j ≥ 1) the amount minted so far has reached. The first
/// halving comes when half the cap is minted, the next at three quarters, and so on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SupplyHalving {
    /// What each block mints before the first halving.
    pub(crate) initial: u128,
    /// The cap the thresholds are fractions of.
    pub(crate) cap: u128,
}

impl SupplyHalving {
    /// The era of `minted` (below the cap): the largest `k` with `cap − minted ≤ ⌊cap / 2^k⌋`,
    /// which is `⌊log2(1 / (1 − minted/cap))⌋` computed exactly. At most [`HALVINGS_MAX`]
    /// iterations: `⌊cap / 2^k⌋` reaches zero, and the remainder is at least one.
    fn era(self, minted: u128) -> u128 {
        let remaining = self.cap - minted;
        let mut era: u128 = 0;
        while remaining <= halve(self.cap, era + 1) {
            era += 1;
        }
        era
    }

    /// The amount minted at which era `era` ends: `cap − ⌊cap / 2^(era+1)⌋`.
    fn era_end(self, era: u128) -> u128 {
        self.cap - halve(self.cap, era + 1)
    }

    /// What the next block mints when `minted` has been minted so far, before the cap clamp.
    pub(crate) fn block_amount(self, minted: u128) -> u128 {
        if minted >= self.cap { 0 } else { halve(self.initial, self.era(minted)) }
    }

    /// What the first `blocks` blocks mint together, capped. Jumps a whole era at a time, so at
    /// most one iteration per era: [`HALVINGS_MAX`] in all.
    pub(crate) fn minted_through(self, blocks: u64) -> u128 {
        let mut minted: u128 = 0;
        let mut left = u128::from(blocks);
        while left > 0 && minted < self.cap {
            let era = self.era(minted);
            let rate = halve(self.initial, era);
            if rate == 0 {
                break;
            }
            // minted < era_end (it is in this era), so at least one block; the era's last block
            // may overshoot the end (and even the cap, which clamps it).
            let blocks_in_era = (self.era_end(era) - minted).div_ceil(rate);
            let steps = blocks_in_era.min(left);
            minted =
                steps.checked_mul(rate).and_then(|m| m.checked_add(minted)).unwrap_or(self.cap);
            minted = minted.min(self.cap);
            left -= steps;
        }
        minted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_spreads_each_day_exactly() {
        let curve = Linear { initial: 10, decrease: 3, blocks_per_day: 4 };
        let blocks: Vec<u128> = (0..20).map(|i| curve.block_amount(i)).collect();
        // Days mint 10, 7, 4, 1, 0; remainders go to the first blocks of each day.
        assert_eq!(blocks, [3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        let mut sum = 0;
        for (i, b) in blocks.iter().enumerate() {
            assert_eq!(curve.minted_through(i as u64), Some(sum), "through {i}");
            sum += b;
        }
        assert_eq!(curve.minted_through(u64::MAX), Some(22));
    }

    #[test]
    fn halving_by_height() {
        let curve = Halving { initial: 8, interval: 2 };
        let blocks: Vec<u128> = (0..10).map(|i| curve.block_amount(i)).collect();
        assert_eq!(blocks, [8, 8, 4, 4, 2, 2, 1, 1, 0, 0]);
        assert_eq!(curve.minted_through(3), Some(20));
        assert_eq!(curve.minted_through(u64::MAX), Some(30));
    }

    #[test]
    fn supply_halving_thresholds() {
        // Thresholds at 50, 75, 88 (100 − ⌊100/8⌋), 94, 97, 99.
        let curve = SupplyHalving { initial: 10, cap: 100 };
        let expect = [(0, 10), (49, 10), (50, 5), (74, 5), (75, 2), (87, 2), (88, 1), (99, 0)];
        for (minted, amount) in expect {
            assert_eq!(curve.block_amount(minted), amount, "at {minted}");
        }
        let mut minted = 0;
        for blocks in 0..80 {
            assert_eq!(curve.minted_through(blocks), minted, "through {blocks}");
            minted += curve.block_amount(minted).min(100 - minted);
        }
    }
}
