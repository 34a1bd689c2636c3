//! The closed form `minted_through` against block-by-block sums of `emission_at`, and the cap.

use crate::{any_height, any_schedule, block_at, schedule, small_schedule};
use alx_emission::{Curve, Schedule};
use alx_types::{Amount, Height};
use proptest::prelude::*;

/// Heights checked block by block in the loop properties.
const BLOCKS: u64 = 400;

proptest! {
    /// Summing `emission_at` block by block, from genesis, gives `minted_through` at every
    /// height, never passes the cap, and mints nothing at genesis.
    #[test]
    fn closed_form_matches_block_sums(schedule in small_schedule()) {
        let mut minted = Amount::ZERO;
        prop_assert_eq!(schedule.emission_at(Height(0), minted), Amount::ZERO);
        prop_assert_eq!(schedule.minted_through(Height(0)), Amount::ZERO);
        for height in 1..=BLOCKS {
            let block = schedule.emission_at(Height(height), minted);
            minted = minted.checked_add(block).unwrap();
            prop_assert!(minted <= schedule.cap());
            prop_assert_eq!(schedule.minted_through(Height(height)), minted, "height {}", height);
        }
    }

    /// The same identity one block at a time at arbitrary heights, with parameters of every
    /// magnitude: `minted_through(h) = minted_through(h − 1) + emission_at(h, that)`, and the
    /// total never passes the cap.
    #[test]
    fn closed_form_step_anywhere(schedule in any_schedule(), height in any_height()) {
        let before = schedule.minted_through(Height(height - 1));
        let now = schedule.minted_through(Height(height));
        let block = schedule.emission_at(Height(height), before);
        prop_assert_eq!(before.checked_add(block), Some(now));
        prop_assert!(now <= schedule.cap());
        prop_assert!(schedule.total() <= schedule.cap());
        prop_assert!(now <= schedule.total());
    }

    /// The minted total never decreases with height.
    #[test]
    fn minted_is_monotone(schedule in any_schedule(), a in any_height(), b in any_height()) {
        let (low, high) = (a.min(b), a.max(b));
        prop_assert!(schedule.minted_through(Height(low)) <= schedule.minted_through(Height(high)));
    }

    /// Whatever the caller claims was minted before, a block never mints past the cap.
    #[test]
    fn emission_never_passes_cap(
        schedule in any_schedule(),
        height in any_height(),
        minted in 0..=alx_emission::CAP_MAX.0,
    ) {
        let block = schedule.emission_at(Height(height), Amount(minted));
        prop_assert!(block.0 <= schedule.cap().0.saturating_sub(minted));
    }

    /// A schedule survives a JSON round trip unchanged.
    #[test]
    fn json_round_trip(schedule in any_schedule()) {
        let text = serde_json::to_string(&schedule).unwrap();
        let back: Schedule = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, schedule);
    }
}

#[test]
fn block_reaching_the_cap_mints_the_remainder_then_nothing() {
    // A constant 4 per day over 2 blocks (2 a block) under a cap of 9: blocks 1-4 mint 2,
    // block 5 the remaining 1, every later block 0.
    let flat = Curve::LinearDecay {
        initial_per_day: Amount(4),
        decrease_per_day: Amount(0),
        blocks_per_day: 2,
    };
    let halving = Curve::Halving { initial_per_block: Amount(2), interval_blocks: u64::MAX };
    for curve in [flat, halving] {
        let schedule = schedule(curve, 9);
        let blocks: Vec<u128> = (1..=8).map(|h| block_at(&schedule, h).0).collect();
        assert_eq!(blocks, [2, 2, 2, 2, 1, 0, 0, 0], "{curve:?}");
        assert_eq!(schedule.minted_through(Height(5)), Amount(9));
        assert_eq!(schedule.minted_through(Height(u64::MAX)), Amount(9));
        assert_eq!(schedule.emission_at(Height(u64::MAX), Amount(9)), Amount::ZERO);
    }
}

#[test]
fn supply_halving_overshoot_is_clamped_at_the_cap() {
    // 7 a block under a cap of 10: the first block mints 7 (era 0, remaining 10 > 5), the
    // second is in era 1 (remaining 3 ≤ 5) and mints 3 (7 >> 1 = 3, exactly the remainder).
    let schedule = schedule(Curve::SupplyHalving { initial_per_block: Amount(7) }, 10);
    let blocks: Vec<u128> = (1..=4).map(|h| block_at(&schedule, h).0).collect();
    assert_eq!(blocks, [7, 3, 0, 0]);
    assert_eq!(schedule.total(), Amount(10));
}

#[test]
fn huge_heights_need_no_loop_over_blocks() {
    // Each call is a closed form; this would take centuries block by block.
    let linear = schedule(
        Curve::LinearDecay {
            initial_per_day: Amount(1_000),
            decrease_per_day: Amount(0),
            blocks_per_day: 1,
        },
        alx_emission::CAP_MAX.0,
    );
    // 1_000 a block for u64::MAX blocks is below the cap: no clamp.
    assert_eq!(linear.total(), Amount(1_000 * u128::from(u64::MAX)));
    let halving = schedule(
        Curve::Halving { initial_per_block: Amount(1 << 80), interval_blocks: u64::MAX / 200 },
        alx_emission::CAP_MAX.0,
    );
    assert_eq!(halving.total(), halving.cap());
}
