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
mod reward_ledger;
mod staking;
pub mod staking_pools;
pub mod staking_rewards;
mod state;
mod subnet_epoch;
mod subnet_evals;
mod subnet_hyper;
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
pub use reward_ledger::{REWARD_EPOCHS_KEPT, SourceLine, SourceRecord};
pub use staking_pools::{Accrued, PoolRecord, apportion};
pub use state::{CorruptState, State};
pub use subnet_evals::{EVALS_REVEALED_KEPT, EvalSeal};
pub use withheld::DemandRecord;

#[cfg(test)]
mod tests {
    /// Every key prefix of the state is its own: two domains sharing one would read each
    /// other's records (the sources are scanned, so a new module's prefix is checked too).
    #[test]
    fn key_prefixes_are_distinct() {
        let sources = [
            include_str!("audit.rs"),
            include_str!("auth.rs"),
            include_str!("availability.rs"),
            include_str!("challenges.rs"),
            include_str!("datanet_records.rs"),
            include_str!("datanets.rs"),
            include_str!("disputes.rs"),
            include_str!("due.rs"),
            include_str!("emission.rs"),
            include_str!("execute.rs"),
            include_str!("genesis.rs"),
            include_str!("keys.rs"),
            include_str!("model_records.rs"),
            include_str!("models.rs"),
            include_str!("reward_ledger.rs"),
            include_str!("staking.rs"),
            include_str!("staking_pools.rs"),
            include_str!("subnet_hyper.rs"),
            include_str!("state.rs"),
            include_str!("subnet_epoch.rs"),
            include_str!("subnet_evals.rs"),
            include_str!("subnet_records.rs"),
            include_str!("subnet_views.rs"),
            include_str!("subnets.rs"),
            include_str!("usage.rs"),
            include_str!("withheld.rs"),
        ];
        let mut seen = std::collections::BTreeMap::new();
        for line in sources.iter().flat_map(|s| s.lines()) {
            let line = line.trim();
            let Some((name, value)) = line
                .strip_prefix("const ")
                .or_else(|| line.strip_prefix("pub(crate) const "))
                .and_then(|rest| rest.split_once(": u8 = "))
            else {
                continue;
            };
            if !name.starts_with("PREFIX_") {
                continue;
            }
            let value = value.trim_end_matches(';').to_owned();
            if let Some(other) = seen.insert(value.clone(), name.to_owned()) {
                panic!("{name} and {other} share the prefix {value}");
            }
        }
        assert!(seen.len() >= 30, "only {} prefixes found", seen.len());
    }
}
