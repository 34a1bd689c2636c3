//! The emission schedule: a curve and a hard cap, fixed at genesis.
//!
//! ```text
//! height 0 (genesis)   mints nothing from the schedule
//! height h ≥ 1         mints emission_at(h, minted_through(h − 1))
//! minted_through(h)  = Σ_{1 ≤ g ≤ h} emission_at(g, minted_through(g − 1))   (closed form)
//!                    ≤ cap, always; the block that reaches the cap mints only the remainder
//! ```

use crate::{
    curve::{Halving, Linear, SupplyHalving},
    error::EmissionError,
};
use alx_types::{Amount, Height};
use serde::{Deserialize, Serialize};

/// The largest cap a schedule accepts: 10^18 ALX (10^27 base units). It is far above any real
/// supply and keeps every closed form's intermediate products inside `u128`.
pub const CAP_MAX: Amount = Amount(1_000_000_000_000_000_000_000_000_000);

/// How the per-block amount evolves with height (or with the amount minted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Curve {
    /// Morpheus-style: day `d` (heights `d·B + 1 ..= (d+1)·B`) mints
    /// `max(0, initial_per_day − d·decrease_per_day)`, spread over its `B` blocks so the day's
    /// sum is exact: every block gets `A / B`, the first `A mod B` blocks one base unit more.
    LinearDecay {
        /// Day 0's total.
        initial_per_day: Amount,
        /// How much less each following day mints (zero: a constant rate until the cap).
        decrease_per_day: Amount,
        /// Blocks in a day (`B`), nonzero.
        blocks_per_day: u64,
    },
    /// Bitcoin-style: height `h` mints `initial_per_block >> ((h − 1) / interval_blocks)`.
    Halving {
        /// What each block of the first interval mints.
        initial_per_block: Amount,
        /// Blocks between halvings, nonzero.
        interval_blocks: u64,
    },
    /// Bittensor-style: a block mints `initial_per_block >> k`, where `k` counts the
    /// thresholds `cap − ⌊cap / 2^j⌋` (j ≥ 1: half the cap, three quarters, …) that the amount
    /// minted before it has reached. This is subtensor's `⌊log2(1 / (1 − issuance/cap))⌋`
    /// evaluated exactly in integers. The era's last block may overshoot a threshold; the next
    /// block is in the new era. Once `initial_per_block >> k` is zero, emission stops.
    SupplyHalving {
        /// What each block mints before half the cap is minted.
        initial_per_block: Amount,
    },
}

/// The genesis parameters of a schedule, as written in a genesis file. Validated into a
/// [`Schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleParams {
    /// The per-block curve.
    pub curve: Curve,
    /// The most the schedule ever mints, in total.
    pub cap: Amount,
}

/// A validated emission schedule. Serializes as its [`ScheduleParams`]; deserializing
/// validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleParams", into = "ScheduleParams")]
pub struct Schedule {
    params: ScheduleParams,
}

impl Schedule {
    /// Validates `params`: the cap is in `1..=CAP_MAX`, divisors are nonzero, and the first
    /// period's amount is nonzero and at most the cap.
    pub fn new(params: ScheduleParams) -> Result<Self, EmissionError> {
        let cap = params.cap;
        if cap.is_zero() {
            return Err(EmissionError::ZeroCap);
        }
        if cap > CAP_MAX {
            return Err(EmissionError::CapTooLarge { cap, max: CAP_MAX });
        }
        let (field, initial) = match params.curve {
            Curve::LinearDecay { initial_per_day, blocks_per_day, .. } => {
                if blocks_per_day == 0 {
                    return Err(EmissionError::ZeroBlocksPerDay);
                }
                ("initial_per_day", initial_per_day)
            }
            Curve::Halving { initial_per_block, interval_blocks } => {
                if interval_blocks == 0 {
                    return Err(EmissionError::ZeroInterval);
                }
                ("initial_per_block", initial_per_block)
            }
            Curve::SupplyHalving { initial_per_block } => ("initial_per_block", initial_per_block),
        };
        if initial.is_zero() {
            return Err(EmissionError::ZeroInitial { field });
        }
        if initial > cap {
            return Err(EmissionError::InitialAboveCap { field, initial, cap });
        }
        Ok(Self { params })
    }

    /// The parameters this schedule was built from.
    #[must_use]
    pub const fn params(&self) -> ScheduleParams {
        self.params
    }

    /// The most this schedule ever mints.
    #[must_use]
    pub const fn cap(&self) -> Amount {
        self.params.cap
    }

    /// What the block at `height` mints, given `minted_so_far` by the blocks before it. Zero at
    /// genesis (height 0) and once the cap is reached; never more than `cap − minted_so_far`.
    ///
    /// For the height-based curves `minted_so_far` only clamps at the cap; for
    /// [`Curve::SupplyHalving`] it also picks the era. Called with
    /// `minted_so_far = minted_through(height − 1)`, it equals
    /// `minted_through(height) − minted_through(height − 1)`.
    #[must_use]
    pub fn emission_at(&self, height: Height, minted_so_far: Amount) -> Amount {
        let Some(index) = height.0.checked_sub(1) else {
            return Amount::ZERO;
        };
        let room = self.params.cap.0.saturating_sub(minted_so_far.0);
        let amount = match self.model() {
            Model::Linear(curve) => curve.block_amount(index),
            Model::Halving(curve) => curve.block_amount(index),
            Model::Supply(curve) => curve.block_amount(minted_so_far.0),
        };
        Amount(amount.min(room))
    }

    /// The total minted by heights `1..=height`, in closed form (no loop over blocks): at most
    /// 128 iterations for the halving curves, none for the linear decay. Never above the cap.
    #[must_use]
    pub fn minted_through(&self, height: Height) -> Amount {
        let cap = self.params.cap.0;
        let minted = match self.model() {
            Model::Linear(curve) => curve.minted_through(height.0),
            Model::Halving(curve) => curve.minted_through(height.0),
            Model::Supply(curve) => Some(curve.minted_through(height.0)),
        };
        // `None` means the uncapped sum is beyond `u128::MAX / 2`, hence beyond the cap.
        Amount(minted.map_or(cap, |m| m.min(cap)))
    }

    /// Everything this schedule will ever mint: `minted_through(u64::MAX)`. Equal to the cap
    /// unless the curve reaches zero first.
    #[must_use]
    pub fn total(&self) -> Amount {
        self.minted_through(Height(u64::MAX))
    }

    /// The curve's arithmetic in raw base units.
    const fn model(&self) -> Model {
        match self.params.curve {
            Curve::LinearDecay { initial_per_day, decrease_per_day, blocks_per_day } => {
                Model::Linear(Linear {
                    initial: initial_per_day.0,
                    decrease: decrease_per_day.0,
                    blocks_per_day,
                })
            }
            Curve::Halving { initial_per_block, interval_blocks } => {
                Model::Halving(Halving { initial: initial_per_block.0, interval: interval_blocks })
            }
            Curve::SupplyHalving { initial_per_block } => Model::Supply(SupplyHalving {
                initial: initial_per_block.0,
                cap: self.params.cap.0,
            }),
        }
    }
}

/// A validated curve's arithmetic.
enum Model {
    Linear(Linear),
    Halving(Halving),
    Supply(SupplyHalving),
}

impl TryFrom<ScheduleParams> for Schedule {
    type Error = EmissionError;

    fn try_from(params: ScheduleParams) -> Result<Self, Self::Error> {
        Self::new(params)
    }
}

impl From<Schedule> for ScheduleParams {
    fn from(schedule: Schedule) -> Self {
        schedule.params
    }
}
