//! Schedules that reproduce published emission curves, in ALX base units (10^9 per token), and
//! the presets a genesis is made with: a curve and its class splits ([`Preset`]).
//!
//! Both take the chain's blocks per day (`alx_types::datanet::BLOCKS_PER_DAY`, 86_400 at one
//! block per second) so that the curve keeps its calendar shape at any block pace.

use crate::{
    EmissionParams, Split, SplitBps, SubnetSplit,
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

/// Morpheus' classes mapped onto ours: capital (stakers) → chain validators and their stakers;
/// code (the builders of what users run) → subnets, where models compete; compute → compute;
/// community (who brings users and content) → data contributors; its 4% protection fund →
/// ours. 24/24/24/24 + 4%, nothing to the treasury.
pub const MORPHEUS_SPLIT: Split = Split::const_new(SplitBps {
    subnets: 2_400,
    data_contributors: 2_400,
    compute: 2_400,
    chain_validators: 2_400,
    protection_fund: 400,
    community_treasury: 0,
});

/// Bittensor's emission goes to subnets only (dTAO: validators and stakers are paid inside
/// each subnet): every block to our subnets class, then 18% owner / 41% miners / 41% validators
/// inside each subnet.
pub const BITTENSOR_SPLIT: Split = Split::const_new(SplitBps {
    subnets: 10_000,
    data_contributors: 0,
    compute: 0,
    chain_validators: 0,
    protection_fund: 0,
    community_treasury: 0,
});

/// A named emission setup a genesis can be made with: a curve and the class splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// DESIGN.md's split (subnets 40%, data 24%, compute 16%, validators 12%, protection 4%,
    /// treasury 4%; 18/41/41 inside a subnet) on Morpheus' curve: the dev chain's default.
    Alexandria,
    /// Morpheus' curve and its classes ([`MORPHEUS_SPLIT`]); 18/41/41 inside a subnet.
    Morpheus,
    /// Bittensor's curve and its split: everything to subnets, 18/41/41 inside each.
    Bittensor,
}

impl Preset {
    /// Every preset, in the order `--help` lists them.
    pub const ALL: [Self; 3] = [Self::Alexandria, Self::Morpheus, Self::Bittensor];

    /// Its name on the command line and in the API.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Alexandria => "alexandria",
            Self::Morpheus => "morpheus",
            Self::Bittensor => "bittensor",
        }
    }

    /// The preset named `name`, if any.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Its parameters at `blocks_per_day`.
    ///
    /// # Errors
    /// A pace the curve cannot take (zero blocks a day).
    pub fn params(self, blocks_per_day: u64) -> Result<EmissionParams, EmissionError> {
        Ok(match self {
            Self::Alexandria => EmissionParams {
                schedule: morpheus(blocks_per_day)?,
                split: Split::DEFAULT,
                subnet_split: SubnetSplit::DEFAULT,
            },
            Self::Morpheus => EmissionParams {
                schedule: morpheus(blocks_per_day)?,
                split: MORPHEUS_SPLIT,
                subnet_split: SubnetSplit::DEFAULT,
            },
            Self::Bittensor => EmissionParams {
                schedule: bittensor(blocks_per_day)?,
                split: BITTENSOR_SPLIT,
                subnet_split: SubnetSplit::DEFAULT,
            },
        })
    }

    /// The preset `params` are, at `blocks_per_day`, if they are one.
    #[must_use]
    pub fn of(params: &EmissionParams, blocks_per_day: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.params(blocks_per_day).is_ok_and(|q| q == *params))
    }
}
