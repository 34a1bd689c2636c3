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
//! to the amount.
//!
//! Pure: integer arithmetic only (`u128` base units), no floats, no clock, no randomness, no
//! I/O, no panics on input. Parameters are validated once, when built or deserialized.
//!
//! ```
//! use alx_emission::{Curve, Schedule, ScheduleParams};
//! use alx_types::{Amount, Height};
//!
//! let schedule = Schedule::new(ScheduleParams {
//!     curve: Curve::Halving { initial_per_block: Amount(8), interval_blocks: 2 },
//!     cap: Amount(100),
//! })?;
//! assert_eq!(schedule.emission_at(Height(3), Amount(16)), Amount(4));
//! assert_eq!(schedule.minted_through(Height(3)), Amount(20));
//! assert_eq!(schedule.total(), Amount(30));
//! # Ok::<(), alx_emission::EmissionError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod controller;
mod curve;
mod error;
mod schedule;
mod split;

pub use controller::{BlockEmission, EmissionParams};
pub use error::EmissionError;
pub use schedule::{CAP_MAX, Curve, Schedule, ScheduleParams};
pub use split::{
    Allocation, BPS_TOTAL, Class, Split, SplitBps, SubnetAllocation, SubnetSplit, SubnetSplitBps,
};
