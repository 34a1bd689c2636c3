//! The chain side of a node, independent of runtime and network: the ledger opened with the
//! config's mempool limits, and the validator's settings from the config's timeouts, for
//! `alx_consensus::validator::start`. [`crate::run`] uses them on the tokio runtime over TCP;
//! `alx-sim` on commonware's deterministic runtime over the simulated network, so the simulator
//! runs the node's wiring rather than a copy of it.

use crate::NodeConfig;
use alx_consensus::{AppConfig, Ledger, LedgerError, MempoolConfig, Timeouts, ValidatorConfig};
use alx_state::Genesis;
use commonware_cryptography::ed25519::PrivateKey;
use std::{path::Path, sync::Arc};

impl NodeConfig {
    /// The mempool's limits (`[mempool]`).
    #[must_use]
    pub const fn mempool_config(&self) -> MempoolConfig {
        MempoolConfig {
            capacity: self.mempool.capacity,
            per_sender_max: self.mempool.per_sender_max,
        }
    }

    /// The validator's settings (`[consensus]`), signing with `signer`, its consensus storage
    /// under `partition_prefix`.
    #[must_use]
    pub fn validator_config(&self, signer: PrivateKey, partition_prefix: &str) -> ValidatorConfig {
        let (leader, certification, empty_block_interval) = self.timeouts();
        ValidatorConfig {
            signer,
            partition_prefix: partition_prefix.to_owned(),
            app: AppConfig {
                empty_block_interval,
                block_txs_max: self.consensus.block_txs_max,
                proposals: alx_consensus::Proposals::Honest,
            },
            timeouts: Timeouts { leader, certification },
        }
    }
}

/// Opens the ledger in `store` (created from `genesis` the first time).
///
/// # Errors
/// If the store cannot be opened, or holds another chain than `genesis`.
pub fn open_ledger(
    cfg: &NodeConfig,
    store: &Path,
    genesis: &Genesis,
) -> Result<Arc<Ledger>, LedgerError> {
    Ledger::open(store, genesis, cfg.mempool_config()).map(Arc::new)
}
