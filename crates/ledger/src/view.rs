//! [`ChainView`]: what the node's services (API, gateway, indexer) may see and do of the chain.
//!
//! They read the committed chain, submit transactions and follow commits; they never see the
//! blocks consensus is still voting on, never execute, and never commit. Behind a trait so
//! that the services are written against this contract rather than the [`Ledger`]'s internals,
//! and so that a test can give them a chain of its own making.

use crate::{Executed, Finalized, Ledger, SubmitError};
use alx_storage::StorageError;
use alx_types::{Address, Block, Hash, Payload, Receipt, SignedTx, block::Height};
use commonware_cryptography::ed25519::PrivateKey;
use std::sync::Arc;

/// The committed chain as a service sees it.
pub trait ChainView: Send + Sync {
    /// The last committed block with the state after it and its receipts.
    fn committed(&self) -> Arc<Executed>;

    /// The genesis block.
    fn genesis(&self) -> Arc<Block>;

    /// The committed block at `height`, if there is one.
    ///
    /// # Errors
    /// If storage fails.
    fn block(&self, height: Height) -> Result<Option<Block>, StorageError>;

    /// The height of the committed block with this hash.
    ///
    /// # Errors
    /// If storage fails.
    fn height_of(&self, hash: &Hash) -> Result<Option<Height>, StorageError>;

    /// The receipts of the committed block at `height` (empty when there is none).
    ///
    /// # Errors
    /// If storage fails.
    fn receipts(&self, height: Height) -> Result<Vec<Receipt>, StorageError>;

    /// Where a committed transaction is: its block's height and its index in the block.
    ///
    /// # Errors
    /// If storage fails.
    fn tx_location(&self, hash: &Hash) -> Result<Option<(Height, u32)>, StorageError>;

    /// The height and receipt of a committed transaction.
    ///
    /// # Errors
    /// If storage fails.
    fn tx_receipt(&self, hash: &Hash) -> Result<Option<(Height, Receipt)>, StorageError>;

    /// The proof of `epoch`'s validator set taken when its boundary block committed (JSON of
    /// `alx_types::api::EpochSetProof`), if this node committed that block.
    ///
    /// # Errors
    /// If storage fails.
    fn epoch_set(&self, epoch: u64) -> Result<Option<Vec<u8>>, StorageError>;

    /// Every commit from now on, in order (a receiver that falls behind is told it lagged).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Finalized>;

    /// Checks signed transactions and admits them to the mempool: one result per transaction,
    /// in order. Signature checks are CPU work: call it off the async threads.
    fn submit(&self, txs: Vec<SignedTx>) -> Vec<Result<Hash, SubmitError>>;

    /// Signs `payload` with the node's own `key` at its next free nonce and submits it.
    ///
    /// # Errors
    /// If the transaction is refused.
    fn submit_own(&self, key: &PrivateKey, payload: Payload) -> Result<Hash, SubmitError>;

    /// The nonce `sender`'s next transaction should use: past the committed `account_nonce`
    /// and past its transactions waiting in the mempool.
    fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64;

    /// Transactions waiting in the mempool.
    fn mempool_len(&self) -> usize;

    /// Whether a transaction is waiting in the mempool.
    fn mempool_contains(&self, hash: &Hash) -> bool;
}

impl ChainView for Ledger {
    fn committed(&self) -> Arc<Executed> {
        Self::committed(self)
    }

    fn genesis(&self) -> Arc<Block> {
        Self::genesis(self)
    }

    fn block(&self, height: Height) -> Result<Option<Block>, StorageError> {
        self.store().block(height)
    }

    fn height_of(&self, hash: &Hash) -> Result<Option<Height>, StorageError> {
        self.store().height_of(hash)
    }

    fn receipts(&self, height: Height) -> Result<Vec<Receipt>, StorageError> {
        self.store().receipts(height)
    }

    fn tx_location(&self, hash: &Hash) -> Result<Option<(Height, u32)>, StorageError> {
        self.store().tx_location(hash)
    }

    fn tx_receipt(&self, hash: &Hash) -> Result<Option<(Height, Receipt)>, StorageError> {
        Self::tx_receipt(self, hash)
    }

    fn epoch_set(&self, epoch: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.store().epoch_set(epoch)
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Finalized> {
        Self::subscribe(self)
    }

    fn submit(&self, txs: Vec<SignedTx>) -> Vec<Result<Hash, SubmitError>> {
        // The randomness only blinds batch signature verification; it decides nothing.
        Self::submit(self, txs, &mut commonware_utils::rng::sys_rng())
    }

    fn submit_own(&self, key: &PrivateKey, payload: Payload) -> Result<Hash, SubmitError> {
        Self::submit_own(self, key, payload, &mut commonware_utils::rng::sys_rng())
    }

    fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        Self::next_nonce(self, sender, account_nonce)
    }

    fn mempool_len(&self) -> usize {
        Self::mempool_len(self)
    }

    fn mempool_contains(&self, hash: &Hash) -> bool {
        Self::mempool_contains(self, hash)
    }
}
