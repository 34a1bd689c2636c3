//! The mempool: signed transactions waiting for a block.
//!
//! - **Bounded**: at most `capacity` transactions, and `per_sender_max` per sender, so one
//!   account cannot fill it; at most [`LARGE_TXS_MAX`] transactions over the usual size
//!   limit (challenges, disputes and answers, up to 128 KiB each), so the held bytes stay
//!   bounded too.
//! - **Deduplicated** by transaction hash; a second transaction with the same sender and nonce
//!   replaces the first only if it pays a strictly higher fee.
//! - **Nonce-ordered** per sender: a block takes a sender's transactions in nonce order starting
//!   at the sender's nonce in the parent state, never with a gap.
//! - **Fee-prioritized**: across senders, the next transaction with the highest fee goes first
//!   (ties by address, so selection is deterministic). When full, a transaction that pays more
//!   than the cheapest sender tail (a sender's highest-nonce transaction) evicts that tail; tails
//!   go first so no sender is left with a nonce gap.
//! - Signatures are verified once, in batches, on admission (see `Ledger::submit`).

use alx_state::State;
use alx_types::{Address, Amount, Hash, SignedTx, limits::TX_SIZE_MAX};
use commonware_codec::EncodeSize as _;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};

/// Most transactions over [`TX_SIZE_MAX`] held at once (8 MiB at their largest).
pub const LARGE_TXS_MAX: usize = 64;

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
    /// The mempool holds the most large transactions it may.
    #[error("mempool holds {0} large transactions (challenges, disputes, answers); retry later")]
    LargeFull(usize),
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
    /// Membership only, never iterated: a hash set (randomly keyed) is a third of a B-tree's
    /// cost at a full pool's size.
    hashes: HashSet<Hash>,
    /// Each sender's tail (highest-nonce transaction) by fee: the eviction order.
    tails: BTreeSet<(Amount, Address)>,
    /// Hashes of the large transactions admitted (some may have left since).
    large: BTreeSet<Hash>,
    cfg: MempoolConfig,
}

impl Mempool {
    /// An empty mempool.
    #[must_use]
    pub fn new(cfg: MempoolConfig) -> Self {
        Self {
            senders: BTreeMap::new(),
            hashes: HashSet::new(),
            tails: BTreeSet::new(),
            large: BTreeSet::new(),
            cfg,
        }
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

    /// The sender's first nonce from `account_nonce` on with no transaction waiting: where
    /// its next transaction goes without replacing or leaving a gap.
    #[must_use]
    pub fn next_free_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        let mut next = account_nonce;
        if let Some(queue) = self.senders.get(sender) {
            while queue.contains_key(&next) {
                next += 1;
            }
        }
        next
    }

    /// Admits a transaction whose signature, chain id and fee were already checked.
    /// `account_nonce` is the sender's next nonce in the committed state.
    pub fn admit(&mut self, tx: SignedTx, account_nonce: u64) -> Result<(), AdmitError> {
        let cfg = self.cfg;
        let hash = tx.hash();
        if self.hashes.contains(&hash) {
            return Err(AdmitError::Duplicate);
        }
        let (sender, nonce, fee) = (tx.tx.sender, tx.tx.nonce, tx.tx.fee);
        if nonce < account_nonce {
            return Err(AdmitError::NonceTooLow { expected: account_nonce, got: nonce });
        }
        if nonce - account_nonce >= cfg.per_sender_max as u64 {
            return Err(AdmitError::NonceTooHigh { expected: account_nonce, got: nonce });
        }
        let large = tx.encode_size() > TX_SIZE_MAX;
        if large {
            let hashes = &self.hashes;
            self.large.retain(|h| hashes.contains(h));
            if self.large.len() >= LARGE_TXS_MAX {
                return Err(AdmitError::LargeFull(LARGE_TXS_MAX));
            }
        }
        let queue = self.senders.get(&sender);
        match queue.and_then(|q| q.get(&nonce)) {
            Some(existing) if existing.tx.fee >= fee => return Err(AdmitError::Underpriced),
            Some(_) => {}
            None => {
                let queued = queue.map_or(0, BTreeMap::len);
                if queued >= cfg.per_sender_max {
                    return Err(AdmitError::SenderFull(queued));
                }
                if self.hashes.len() >= cfg.capacity {
                    self.evict_for(sender, nonce, fee)?;
                }
            }
        }
        self.with_queue(sender, |queue, hashes| {
            if let Some(old) = queue.insert(nonce, tx) {
                hashes.remove(&old.hash());
            }
            hashes.insert(hash);
        });
        if large {
            self.large.insert(hash);
        }
        Ok(())
    }

    /// Makes room for a transaction paying `fee` by evicting the cheapest sender tail, if it
    /// pays less and evicting it leaves no gap before `nonce`.
    fn evict_for(&mut self, sender: Address, nonce: u64, fee: Amount) -> Result<(), AdmitError> {
        let full = AdmitError::Full(self.cfg.capacity);
        let &(tail_fee, victim) = self.tails.iter().next().ok_or_else(|| full.clone())?;
        let own_lower_tail = victim == sender
            && self
                .senders
                .get(&sender)
                .and_then(|q| q.keys().next_back())
                .is_some_and(|&n| n < nonce);
        if tail_fee >= fee || own_lower_tail {
            return Err(full);
        }
        self.with_queue(victim, |queue, hashes| {
            if let Some((_, evicted)) = queue.pop_last() {
                hashes.remove(&evicted.hash());
            }
        });
        Ok(())
    }

    /// Changes one sender's queue, keeping the tail index and empty queues in order.
    fn with_queue(
        &mut self,
        sender: Address,
        change: impl FnOnce(&mut BTreeMap<u64, SignedTx>, &mut HashSet<Hash>),
    ) {
        let queue = self.senders.entry(sender).or_default();
        let before = queue.last_key_value().map(|(_, tail)| tail.tx.fee);
        change(queue, &mut self.hashes);
        let after = queue.last_key_value().map(|(_, tail)| tail.tx.fee);
        if after.is_none() {
            self.senders.remove(&sender);
        }
        // A sender's transactions usually pay the same fee: its entry in the eviction order
        // then stays as it is.
        if before != after {
            if let Some(fee) = before {
                self.tails.remove(&(fee, sender));
            }
            if let Some(fee) = after {
                self.tails.insert((fee, sender));
            }
        }
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
            if !self.senders.contains_key(&sender) {
                continue;
            }
            let next = committed.account(&sender).ok().flatten().map_or(0, |a| a.nonce);
            self.with_queue(sender, |queue, hashes| {
                // Split the stale prefix off in one piece rather than removing one by one.
                let fresh = queue.split_off(&next);
                for (_, tx) in std::mem::replace(queue, fresh) {
                    hashes.remove(&tx.hash());
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
    use alx_types::{Transaction, tx::Payload};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    fn key(i: u64) -> PrivateKey {
        PrivateKey::from_seed(i)
    }

    fn addr(i: u64) -> Address {
        Address::from_public_key(&key(i).public_key())
    }

    fn tx(from: u64, nonce: u64, fee: u128) -> SignedTx {
        Transaction {
            chain_id: "alx-test".parse().unwrap(),
            sender: addr(from),
            nonce,
            fee: Amount(fee),
            payload: Payload::Transfer { to: addr(99), amount: Amount(1) },
        }
        .sign(&key(from))
    }

    fn state() -> State {
        State::from_genesis(&Genesis {
            chain_id: "alx-test".parse().unwrap(),
            params: Params { min_fee: Amount(1), epoch_length: 10, validators_max: 4 },
            accounts: (0..4)
                .map(|i| GenesisAccount { address: addr(i), balance: Amount(1_000) })
                .collect(),
            validators: vec![GenesisValidator {
                address: addr(0),
                stake: Amount(1),
                p2p_addr: "127.0.0.1:1".parse().unwrap(),
            }],
            emission: None,
            providers: vec![],
        })
        .unwrap()
    }

    #[test]
    fn selection_is_nonce_ordered_per_sender_and_fee_first_across_senders() {
        let mut pool = Mempool::new(MempoolConfig { capacity: 100, per_sender_max: 10 });
        for t in [tx(1, 1, 50), tx(1, 0, 5), tx(2, 0, 20), tx(3, 1, 100)] {
            pool.admit(t, 0).unwrap();
        }
        let picked: Vec<(Address, u64)> =
            pool.select(&state(), 10).iter().map(|t| (t.tx.sender, t.tx.nonce)).collect();
        // Sender 3 has a gap (no nonce 0): never picked. Sender 2's 20 beats sender 1's 5; then
        // sender 1's nonce 1 (fee 50) follows its nonce 0.
        assert_eq!(picked, vec![(addr(2), 0), (addr(1), 0), (addr(1), 1)]);
        assert_eq!(pool.select(&state(), 1).len(), 1);
    }

    #[test]
    fn duplicates_replacements_and_windows() {
        let mut pool = Mempool::new(MempoolConfig { capacity: 100, per_sender_max: 3 });
        pool.admit(tx(1, 0, 10), 0).unwrap();
        assert_eq!(pool.admit(tx(1, 0, 10), 0), Err(AdmitError::Duplicate));
        assert_eq!(pool.admit(tx(1, 0, 9), 0), Err(AdmitError::Underpriced));
        pool.admit(tx(1, 0, 11), 0).unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(
            pool.admit(tx(1, 0, 30), 1),
            Err(AdmitError::NonceTooLow { expected: 1, got: 0 })
        );
        assert_eq!(
            pool.admit(tx(1, 3, 30), 0),
            Err(AdmitError::NonceTooHigh { expected: 0, got: 3 })
        );
    }

    #[test]
    fn a_full_pool_evicts_the_cheapest_tail_only_for_a_better_fee() {
        let mut pool = Mempool::new(MempoolConfig { capacity: 3, per_sender_max: 10 });
        pool.admit(tx(1, 0, 10), 0).unwrap();
        pool.admit(tx(1, 1, 5), 0).unwrap();
        pool.admit(tx(2, 0, 8), 0).unwrap();
        assert_eq!(pool.admit(tx(3, 0, 5), 0), Err(AdmitError::Full(3)));
        // Sender 1's tail (nonce 1, fee 5) is the cheapest: evicted, no gap left behind.
        pool.admit(tx(3, 0, 6), 0).unwrap();
        assert_eq!(pool.len(), 3);
        let picked: Vec<(Address, u64)> =
            pool.select(&state(), 10).iter().map(|t| (t.tx.sender, t.tx.nonce)).collect();
        assert!(picked.contains(&(addr(1), 0)) && !picked.contains(&(addr(1), 1)));
        // A sender never evicts its own lower tail to queue a higher nonce.
        let mut own = Mempool::new(MempoolConfig { capacity: 1, per_sender_max: 10 });
        own.admit(tx(1, 0, 1), 0).unwrap();
        assert_eq!(own.admit(tx(1, 1, 100), 0), Err(AdmitError::Full(1)));
    }
}
