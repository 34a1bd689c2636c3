//! The state machine of the Alexandria chain: `apply(state, block) -> (state', receipts)`.
//!
//! Pure and deterministic: no clock, no randomness, no I/O, no floats, ordered maps only.
//! Everything it stores lives in one authenticated key-value map ([`auth::AuthState`]) whose
//! root goes into every block header. Signature checks happen outside (in batches); this crate
//! receives their results.
//!
//! Modules by domain: [`execute`] (transactions and blocks), `staking`, [`genesis`], [`keys`]
//! (the state layout).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod auth;
pub mod execute;
pub mod genesis;
pub mod keys;
mod staking;
mod state;

pub use execute::{BlockContext, BlockOutcome, ExecuteError};
pub use genesis::{Genesis, GenesisAccount, GenesisError, GenesisValidator, Params};
pub use keys::{Account, Validator};
pub use state::{CorruptState, State};
