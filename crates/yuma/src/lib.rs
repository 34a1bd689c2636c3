//! Yuma Consensus as Bittensor's subtensor computes it at epoch time, bit for bit.
//!
//! Validators set weights on the miners of a subnet; once per tempo the epoch turns the
//! stake-weighted weights into consensus, incentive (miners), bonds and dividends (validators)
//! and splits the epoch's emission between them. This crate is subtensor's sparse production
//! path (`epoch_mechanism`, snapshot `14bc6f9f`) re-implemented with the same fixed-point
//! types (`I32F32`, `I64F64`, `I96F32` from `substrate_fixed`, the crate subtensor uses) and
//! the same order of rounding, in both bond modes (legacy and Yuma3) with liquid alpha on or
//! off. See `epoch` for the steps and `bonds` for the two modes.
//!
//! ```text
//!  Params ─┐
//!          ├─► epoch(&params, &mut state, emission) ─► EpochOutput
//!  SubnetState (stake, permits, weights, bonds, blocks) ◄─ permits, bonds, last epoch block
//! ```
//!
//! Pure: no I/O, no clock, no randomness, no floats in the computation (the conformance
//! module prints exact values as JSON numbers), no panics on input: a [`SubnetState`] is
//! validated once when built and every operation keeps it valid.
//!
//! ```
//! use alx_yuma::{Params, StateInit, SubnetState, epoch};
//!
//! let mut state = SubnetState::new(StateInit {
//!     current_block: 1,
//!     stake: vec![100, 0],
//!     validator_permit: vec![true, false],
//!     block_at_registration: vec![0, 0],
//!     last_update: vec![0, 0],
//!     weights: vec![vec![], vec![]],
//!     bonds: vec![vec![], vec![]],
//!     ..StateInit::default()
//! })?;
//! state.set_weights(vec![(0, vec![(1, u16::MAX)])])?;
//! let out = epoch(&Params::subtensor_defaults(), &mut state, 1_000);
//! assert_eq!(out.server_emission, vec![0, 500]);
//! assert_eq!(out.validator_emission, vec![500, 0]);
//! # Ok::<(), alx_yuma::YumaError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bonds;
pub mod conformance;
mod epoch;
mod error;
mod fixed_point;
pub mod limits;
mod median;
mod params;
mod sparse;
mod state;

pub use epoch::{EpochOutput, epoch};
pub use error::YumaError;
pub use fixed_point::to_u16_proportion;
pub use params::{Params, activity_cutoff_for_tempo};
pub use state::{Row, StateInit, SubnetState};
pub use substrate_fixed::types::I32F32;
