//! Schedules that reproduce published emission curves, in ALX base units (10^9 per token).
//!
//! Both take the chain's blocks per day (`alx_types::datanet::BLOCKS_PER_DAY`, 86_400 at one
//! block per second) so that the curve keeps its calendar shape at any block pace.

use crate::{
    error::EmissionError,
    schedule::{Curve, Schedule, ScheduleParams},
};
use alx_types::{Amount, amount::BASE_UNITS_PER_ALX};

/// Morpheus: 14_400 tokens on day 0.
pub const MORPHEUS_INITIAL_PER_DAY: Amount = Amount(14_400 * BASE_UNITS_PER_ALX);
/// Morpheus: each day mints 2.468994701 tokens less than the one before.
pub const MORPHEUS_DECREASE_PER_DAY: Amount = Amount(2_468_994_701);
/// Morpheus: the 42M token cap of its first 16-year epoch.
pub const MORPHEUS_CAP: Amount = Amount(42_000_000 * BASE_UNITS_PER_ALX);

/// Bittensor: 1 token per 12 s block is 7_200 tokens a day.
pub const BITTENSOR_PER_DAY: Amount = Amount(7_200 * BASE_UNITS_PER_ALX);
/// Bittensor: the 21M token cap.
pub const BITTENSOR_CAP: Amount = Amount(21_000_000 * BASE_UNITS_PER_ALX);

/// Morpheus's linear decay: 14_400 tokens on day 0, 2.468994701 fewer each day, zero from day
/// 5_833 on, 41_999_999.998839372 tokens in all (under the 42M cap).
pub fn morpheus(blocks_per_day: u64) -> Result<Schedule, EmissionError> {
    Schedule::new(ScheduleParams {
        curve: Curve::LinearDecay {
            initial_per_day: MORPHEUS_INITIAL_PER_DAY,
            decrease_per_day: MORPHEUS_DECREASE_PER_DAY,
            blocks_per_day,
        },
        cap: MORPHEUS_CAP,
    })
}

/// Bittensor's supply halving (subtensor's `get_block_emission_for_issuance`): 7_200 tokens a
/// day, halved each time the minted total reaches 10.5M, 15.75M, 18.375M, … of the 21M cap.
/// The per-block amount is `⌊7_200 tokens / blocks_per_day⌋`: exactly 1 token at 7_200 blocks
/// a day (Bittensor's 12 s blocks), 0.083333333 at 86_400.
pub fn bittensor(blocks_per_day: u64) -> Result<Schedule, EmissionError> {
    if blocks_per_day == 0 {
        return Err(EmissionError::ZeroBlocksPerDay);
    }
    Schedule::new(ScheduleParams {
        curve: Curve::SupplyHalving {
            initial_per_block: Amount(BITTENSOR_PER_DAY.0 / u128::from(blocks_per_day)),
        },
        cap: BITTENSOR_CAP,
    })
}
