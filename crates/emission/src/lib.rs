//! The deterministic emission controller: how much each block mints, and who gets it.
//!
//! ```text
//!  ScheduleParams ─► Schedule ─► emission_at(height, minted_so_far) ─► Amount ─┐
//!  (curve + cap)                 minted_through(height) (closed form)           │
//!                                                                               ▼
//!  SplitBps ─► Split ─► split(amount) ─► Allocation (6 classes, sums exactly)
//!  SubnetSplitBps ─► SubnetSplit ─► split(subnet share) ─► owner / miners / validators
//! ```
//!
//! A [`Schedule`] is a [`Curve`] (Morpheus-style linear decay, Bitcoin-style halving by
//! height, or Bittensor-style halving by minted supply) under a hard cap: the block that
//! reaches the cap mints only the remainder, and nothing after. [`Split`] and [`SubnetSplit`]
//! divide an amount by basis points with the largest-remainder rule, so the parts always sum
//! to the amount. [`presets`] holds the Morpheus and Bittensor curves.
//!
//! Pure: integer arithmetic only (`u128` base units), no floats, no clock, no randomness, no
//! I/O, no panics on input. Parameters are validated once, when built or deserialized.
//!
//! ```
//! use alx_emission::{EmissionParams, Split, SubnetSplit, presets};
//! use alx_types::{Amount, Height, datanet::BLOCKS_PER_DAY};
//!
//! let params = EmissionParams {
//!     schedule: presets::morpheus(BLOCKS_PER_DAY)?,
//!     split: Split::DEFAULT,
//!     subnet_split: SubnetSplit::DEFAULT,
//! };
//! // The first block of day 0: 14_400 tokens over 86_400 blocks, remainder to the first ones.
//! let block = params.block(Height(1), Amount::ZERO);
//! assert_eq!(block.total, Amount(166_666_667));
//! assert_eq!(block.allocation.total(), Some(block.total));
//! // Day 0 as a whole is exact.
//! assert_eq!(params.schedule.minted_through(Height(BLOCKS_PER_DAY)), Amount(14_400_000_000_000));
//! # Ok::<(), alx_emission::EmissionError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod controller;
mod curve;
mod error;
pub mod presets;
mod sample;
mod schedule;
mod split;

pub use controller::{BlockEmission, EmissionParams};
pub use error::EmissionError;
pub use sample::{POINTS_MAX, SchedulePoint};
pub use schedule::{CAP_MAX, Curve, Schedule, ScheduleParams};
pub use split::{
    Allocation, BPS_TOTAL, Class, Split, SplitBps, SubnetAllocation, SubnetSplit, SubnetSplitBps,
};
