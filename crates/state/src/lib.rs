//! The state machine of the Alexandria chain: `apply(state, block) -> (state', receipts)`.
//!
//! Pure and deterministic: no clock, no randomness, no I/O, no floats, ordered maps only.
//! Everything it stores lives in one authenticated key-value map ([`auth::AuthState`]) whose
//! root goes into every block header. Signature checks happen outside (in batches); this crate
//! receives their results.
//!
//! Modules by domain: [`execute`] (transactions and blocks), `staking`, `datanets` (with their
//! records in `datanet_records`; `availability`: validators' reports on contributions' data),
//! `models` and `usage` (records in `model_records`), `due` (work scheduled for a height),
//! [`emission`], `subnets` (registration and weights; `subnet_epoch`: emission and Yuma epochs;
//! records in `subnet_records`; read views in `subnet_views`), [`genesis`], [`keys`] (the state
//! layout).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod audit;
pub mod auth;
mod availability;
mod challenges;
mod datanet_records;
mod datanets;
mod disputes;
mod due;
pub mod emission;
pub mod execute;
pub mod genesis;
pub mod keys;
mod model_records;
mod models;
mod staking;
mod state;
mod subnet_epoch;
mod subnet_records;
mod subnet_views;
mod subnets;
mod usage;
mod withheld;

pub use audit::SupplyAudit;
pub use challenges::{ProviderBond, SettlementRecord};
pub use datanet_records::{Contribution, ContributionStatus, Datanet, DatanetVersion};
pub use datanets::contribution_leaf;
pub use disputes::{DisputeRecord, Subject};
pub use execute::{BlockContext, BlockOutcome, ExecuteError};
pub use genesis::{
    Genesis, GenesisAccount, GenesisError, GenesisProvider, GenesisValidator, Params,
};
pub use keys::{Account, Validator};
pub use model_records::{ApiKey, Model, Rewards, prepaid_key, rewards_key};
pub use state::{CorruptState, State};
pub use withheld::DemandRecord;
