//! Integration tests of alx-emission: the presets against their published figures, the
//! schedule's closed forms against block-by-block sums, exact splits, and refused parameters.

mod bad_input;
mod presets;
mod schedule;
mod split;

use alx_emission::{Curve, Schedule, ScheduleParams};
use alx_types::{Amount, Height};
use proptest::prelude::*;

/// Builds a schedule the test knows to be valid.
pub(crate) fn schedule(curve: Curve, cap: u128) -> Schedule {
    Schedule::new(ScheduleParams { curve, cap: Amount(cap) })
        .unwrap_or_else(|e| panic!("refused {curve:?} cap {cap}: {e}"))
}

/// What the block at `height` mints when every block before it minted by the schedule
/// (nothing at genesis, height 0).
pub(crate) fn block_at(schedule: &Schedule, height: u64) -> Amount {
    let before = schedule.minted_through(Height(height.saturating_sub(1)));
    schedule.emission_at(Height(height), before)
}

/// The first-period amount of a curve.
const fn initial(curve: &Curve) -> u128 {
    match *curve {
        Curve::LinearDecay { initial_per_day: a, .. }
        | Curve::Halving { initial_per_block: a, .. }
        | Curve::SupplyHalving { initial_per_block: a } => a.0,
    }
}

/// Valid schedules with small parameters: many days, eras and cap crossings within a few
/// hundred blocks.
pub(crate) fn small_schedule() -> impl Strategy<Value = Schedule> {
    let curve = prop_oneof![
        (1u128..100_000, 0u128..5_000, 1u64..40).prop_map(|(i, d, b)| Curve::LinearDecay {
            initial_per_day: Amount(i),
            decrease_per_day: Amount(d),
            blocks_per_day: b,
        }),
        (1u128..100_000, 1u64..40)
            .prop_map(|(i, n)| Curve::Halving { initial_per_block: Amount(i), interval_blocks: n }),
        (1u128..100_000).prop_map(|i| Curve::SupplyHalving { initial_per_block: Amount(i) }),
    ];
    (curve, 0u128..2_000_000).prop_map(|(curve, extra)| schedule(curve, initial(&curve) + extra))
}

/// Log-uniform values in `lo..=hi`: every magnitude is as likely as any other.
fn spread(lo: u128, hi: u128) -> impl Strategy<Value = u128> {
    (0u32..128)
        .prop_flat_map(move |bits| 0..=(u128::MAX >> (127 - bits)))
        .prop_map(move |v| v.clamp(lo, hi))
}

/// Log-uniform `u64` values in `1..=u64::MAX`.
fn spread_u64() -> impl Strategy<Value = u64> {
    spread(1, u128::from(u64::MAX)).prop_map(|v| u64::try_from(v).unwrap_or(u64::MAX))
}

/// Valid schedules with parameters anywhere in the accepted range, up to `CAP_MAX` and
/// `u64::MAX` blocks per day or per interval, every magnitude equally likely.
pub(crate) fn any_schedule() -> impl Strategy<Value = Schedule> {
    let cap_max = alx_emission::CAP_MAX.0;
    let curve = prop_oneof![
        (spread(1, cap_max), spread(0, cap_max), spread_u64()).prop_map(|(i, d, b)| {
            Curve::LinearDecay {
                initial_per_day: Amount(i),
                decrease_per_day: Amount(d),
                blocks_per_day: b,
            }
        }),
        (spread(1, cap_max), spread_u64())
            .prop_map(|(i, n)| Curve::Halving { initial_per_block: Amount(i), interval_blocks: n }),
        spread(1, cap_max).prop_map(|i| Curve::SupplyHalving { initial_per_block: Amount(i) }),
    ];
    (curve, spread(1, cap_max)).prop_map(|(curve, cap)| schedule(curve, cap.max(initial(&curve))))
}

/// Log-uniform heights in `1..=u64::MAX`.
pub(crate) fn any_height() -> impl Strategy<Value = u64> {
    spread_u64()
}
