//! The mempool: signed transactions waiting for a block.
//!
//! - **Bounded**: at most `capacity` transactions, and `per_sender_max` per sender, so one
//!   account cannot fill it.
//! - **Deduplicated** by transaction hash; a second transaction with the same sender and nonce
//!   replaces the first only if it pays a strictly higher fee.
//! - **Nonce-ordered** per sender: a block takes a sender's transactions in nonce order starting
//!   at the sender's nonce in the parent state, never with a gap.
//! - **Fee-prioritized**: across senders, the next transaction with the highest fee goes first
//!   (ties by address, so selection is deterministic).
//! - Signatures are verified once, in batches, on admission (see `Ledger::submit`).

use alx_state::State;
use alx_types::{Address, Hash, SignedTx};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Mempool limits.
#[derive(Clone, Copy, Debug)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub capacity: usize,
    /// Most transactions held per sender (also the largest nonce gap accepted).
    pub per_sender_max: usize,
}

/// Why a transaction was not admitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The mempool is full.
    #[error("mempool is full ({0} transactions); retry later")]
    Full(usize),
    /// The sender has too many transactions waiting.
    #[error("sender has {0} transactions waiting; wait for some to be included")]
    SenderFull(usize),
    /// Already known.
    #[error("transaction already in the mempool")]
    Duplicate,
    /// Same sender and nonce as a waiting transaction with an equal or higher fee.
    #[error("a transaction with this nonce is already waiting with an equal or higher fee")]
    Underpriced,
    /// The nonce was already used.
    #[error("nonce {got} already used; the account's next nonce is {expected}")]
    NonceTooLow {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce is too far ahead of the account's next nonce.
    #[error("nonce {got} is too far ahead of the account's next nonce {expected}")]
    NonceTooHigh {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
}

/// Waiting transactions.
pub struct Mempool {
    senders: BTreeMap<Address, BTreeMap<u64, SignedTx>>,
    hashes: BTreeSet<Hash>,
    cfg: MempoolConfig,
}

impl Mempool {
    /// An empty mempool.
    #[must_use]
    pub fn new(cfg: MempoolConfig) -> Self {
        Self { senders: BTreeMap::new(), hashes: BTreeSet::new(), cfg }
    }

    /// Number of waiting transactions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True if nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// True if this transaction is waiting.
    #[must_use]
    pub fn contains(&self, hash: &Hash) -> bool {
        self.hashes.contains(hash)
    }

    /// Admits a transaction whose signature, chain id and fee were already checked.
    /// `account_nonce` is the sender's next nonce in the committed state.
    pub fn admit(&mut self, tx: SignedTx, account_nonce: u64) -> Result<(), AdmitError> {
        let cfg = self.cfg;
        let hash = tx.hash();
        if self.hashes.contains(&hash) {
            return Err(AdmitError::Duplicate);
        }
        let nonce = tx.tx.nonce;
        if nonce < account_nonce {
            return Err(AdmitError::NonceTooLow { expected: account_nonce, got: nonce });
        }
        if nonce - account_nonce >= cfg.per_sender_max as u64 {
            return Err(AdmitError::NonceTooHigh { expected: account_nonce, got: nonce });
        }
        let queue = self.senders.entry(tx.tx.sender).or_default();
        if let Some(existing) = queue.get(&nonce) {
            if existing.tx.fee >= tx.tx.fee {
                return Err(AdmitError::Underpriced);
            }
            let old = existing.hash();
            self.hashes.remove(&old);
        } else {
            if queue.len() >= cfg.per_sender_max {
                return Err(AdmitError::SenderFull(queue.len()));
            }
            if self.hashes.len() >= cfg.capacity {
                if queue.is_empty() {
                    self.senders.remove(&tx.tx.sender);
                }
                return Err(AdmitError::Full(cfg.capacity));
            }
        }
        queue.insert(nonce, tx);
        self.hashes.insert(hash);
        Ok(())
    }

    /// Picks up to `max` transactions for a block built on `parent`: per sender in nonce order
    /// from the sender's nonce in `parent`, across senders by fee (highest first).
    #[must_use]
    pub fn select(&self, parent: &State, max: usize) -> Vec<SignedTx> {
        // Heap of (fee, reverse address order, nonce) for each sender's next transaction.
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &self.senders {
            let next = parent.account(sender).ok().flatten().map_or(0, |a| a.nonce);
            if let Some(tx) = queue.get(&next) {
                heap.push((tx.tx.fee, std::cmp::Reverse(*sender), next));
            }
        }
        let mut out = Vec::with_capacity(max.min(self.len()));
        while out.len() < max {
            let Some((_, std::cmp::Reverse(sender), nonce)) = heap.pop() else {
                break;
            };
            let queue = &self.senders[&sender];
            out.push(queue[&nonce].clone());
            if let Some(tx) = queue.get(&(nonce + 1)) {
                heap.push((tx.tx.fee, std::cmp::Reverse(sender), nonce + 1));
            }
        }
        out
    }

    /// Drops what a committed state made stale: transactions whose nonce its senders used.
    pub fn prune(&mut self, senders: impl IntoIterator<Item = Address>, committed: &State) {
        for sender in senders {
            let Some(queue) = self.senders.get_mut(&sender) else {
                continue;
            };
            let next = committed.account(&sender).ok().flatten().map_or(0, |a| a.nonce);
            let stale: Vec<u64> = queue.range(..next).map(|(n, _)| *n).collect();
            for n in stale {
                if let Some(tx) = queue.remove(&n) {
                    self.hashes.remove(&tx.hash());
                }
            }
            if queue.is_empty() {
                self.senders.remove(&sender);
            }
        }
    }
}
