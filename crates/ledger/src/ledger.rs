//! The ledger: the committed chain (durable, in [`Store`]), the executed-but-not-final blocks
//! consensus is voting on, and the mempool.
//!
//! ```text
//!   submit ──► mempool ──► propose: execute on parent's state ──► pending[digest]
//!                          verify:  re-execute, compare roots  ──► pending[digest]
//!   finalized (in height order) ──► commit: store block + receipts + state changes durably
//!                                   ──► committed = pending[digest]; prune; notify
//! ```
//!
//! States are cheap to clone (persistent maps), so every pending block keeps its own post-state
//! and any of them can be the parent of the next proposal. Only [`Ledger::commit`] writes
//! to disk, and only once a block is final.

use crate::{
    mempool::{AdmitError, Mempool, MempoolConfig},
    signatures::{KeyCache, verify_signatures},
};
use alx_state::{BlockContext, CorruptState, ExecuteError, Genesis, GenesisError, State};
use alx_storage::{StorageError, Store};
use alx_types::{
    Address, Block, ErrorCode, Hash, Receipt, SignedTx, block::Height, hash::to_hex,
    merkle::list_root,
};
use commonware_codec::Encode as _;
use commonware_parallel::Rayon;
use rand_core::CryptoRng;
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

/// A block with the state after it and its receipts.
#[derive(Clone)]
pub struct Executed {
    /// The block.
    pub block: Arc<Block>,
    /// The state after it (root computed).
    pub state: State,
    /// Its receipts.
    pub receipts: Vec<Receipt>,
}

/// A finalized, committed block, as announced to subscribers.
#[derive(Clone, Debug)]
pub struct Finalized {
    /// The block.
    pub block: Arc<Block>,
    /// Its receipts.
    pub receipts: Arc<Vec<Receipt>>,
}

/// Ledger failures. All but `Submit` are fatal for a node.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored state is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptState),
    /// The genesis file is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// A block could not be executed.
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    /// Executing a finalized block gave another state root than its header: this node's state
    /// machine disagrees with the validators that finalized it.
    #[error("state root mismatch at height {height}: block says {expected}, execution gave {got}")]
    RootMismatch {
        /// Height.
        height: Height,
        /// Root in the header.
        expected: String,
        /// Root computed.
        got: String,
    },
    /// The verification thread pool could not start.
    #[error("cannot start verification threads: {0}")]
    Threads(String),
    /// The committed state cannot describe the next epoch (corrupt or inconsistent).
    #[error("epoch transition failed: {0}")]
    Epoch(String),
    /// A finalized block does not extend the committed chain.
    #[error("finalized block at height {height} does not extend the committed chain")]
    NotExtending {
        /// Height.
        height: Height,
    },
}

/// Why a submitted transaction was refused before reaching the mempool.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// A check a block would also fail.
    #[error("{}: {detail}", .code.as_str())]
    Invalid {
        /// The receipt code the transaction would get.
        code: ErrorCode,
        /// Details.
        detail: String,
    },
    /// Refused by the mempool.
    #[error(transparent)]
    Mempool(#[from] AdmitError),
}

struct Inner {
    committed: Arc<Executed>,
    pending: BTreeMap<Hash, Arc<Executed>>,
}

/// Sender keys kept decompressed.
const KEY_CACHE_MAX: usize = 100_000;

/// Pending executions kept at most (forks and pipelined blocks). Each holds its own copy of
/// the state tree's 4 MiB node array, so this bounds their memory to 256 MiB; an evicted
/// execution is redone from the ancestry if it is needed again.
const PENDING_MAX: usize = 64;

/// The ledger of one node.
pub struct Ledger {
    store: Store,
    /// Threads for batch signature verification (all cores).
    strategy: Rayon,
    /// Decompressed sender keys.
    keys: KeyCache,
    /// Where locally admitted transactions go to be gossiped (set by the validator).
    gossip: Mutex<Option<tokio::sync::mpsc::Sender<Vec<SignedTx>>>>,
    inner: Mutex<Inner>,
    mempool: Mutex<Mempool>,
    /// Held while the node signs and submits one of its own transactions.
    own: Mutex<()>,
    events: tokio::sync::broadcast::Sender<Finalized>,
    genesis: Arc<Block>,
}

impl Ledger {
    /// Opens the ledger stored at `path`, creating it from `genesis` if new. Refuses a store
    /// made for another genesis, and one whose state does not match its last block's root.
    pub fn open(
        path: &Path,
        genesis: &Genesis,
        mempool: MempoolConfig,
    ) -> Result<Self, LedgerError> {
        let mut genesis_state = State::from_genesis(genesis)?;
        let root = genesis_state.root();
        let genesis_block = Arc::new(genesis_block(genesis.validators[0].address, root));
        let store = Store::open(path)?;
        store.check_genesis(&genesis_block.digest())?;
        let committed = match store.committed_height()? {
            None => {
                let changes = genesis_state.take_changes();
                store.commit_genesis(&genesis_block.digest(), &changes)?;
                Executed { block: genesis_block.clone(), state: genesis_state, receipts: vec![] }
            }
            Some(height) => {
                let mut state = State::from_entries(store.state_entries()?)?;
                let block = if height.0 == 0 {
                    genesis_block.clone()
                } else {
                    Arc::new(store.block(height)?.ok_or(StorageError::Corrupt {
                        what: "last block",
                        at: height.to_string(),
                    })?)
                };
                check_root(&block, &mut state)?;
                let receipts = store.receipts(height)?;
                Executed { block, state, receipts }
            }
        };
        let (events, _) = tokio::sync::broadcast::channel(256);
        let threads = std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN);
        let strategy = Rayon::new(threads).map_err(|e| LedgerError::Threads(e.to_string()))?;
        Ok(Self {
            store,
            strategy,
            keys: KeyCache::new(KEY_CACHE_MAX),
            gossip: Mutex::new(None),
            inner: Mutex::new(Inner { committed: Arc::new(committed), pending: BTreeMap::new() }),
            mempool: Mutex::new(Mempool::new(mempool)),
            own: Mutex::new(()),
            events,
            genesis: genesis_block,
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one
        // assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The nonce a new transaction of `sender` should take: the committed one, past the
    /// sender's transactions already waiting in the mempool.
    #[must_use]
    pub fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        self.pool().next_free_nonce(sender, account_nonce)
    }

    fn pool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The thread pool for batch signature verification.
    #[must_use]
    pub const fn strategy(&self) -> &Rayon {
        &self.strategy
    }

    /// Checks signatures in a batch on all cores.
    pub fn verify_signatures(&self, txs: &[SignedTx], rng: &mut impl CryptoRng) -> Vec<bool> {
        verify_signatures(txs, rng, &self.strategy, &self.keys)
    }

    /// The genesis block (height 0).
    #[must_use]
    pub fn genesis(&self) -> Arc<Block> {
        self.genesis.clone()
    }

    /// The last committed block and the state after it.
    #[must_use]
    pub fn committed(&self) -> Arc<Executed> {
        self.inner().committed.clone()
    }

    /// The durable store (for reads of history).
    #[must_use]
    pub const fn store(&self) -> &Store {
        &self.store
    }

    /// Subscribes to finalized blocks as they are committed.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Finalized> {
        self.events.subscribe()
    }

    /// The state after block `digest`, if it is committed or executed and pending.
    #[must_use]
    pub fn state_after(&self, digest: &Hash) -> Option<State> {
        let inner = self.inner();
        if inner.committed.block.digest() == *digest {
            return Some(inner.committed.state.clone());
        }
        inner.pending.get(digest).map(|e| e.state.clone())
    }

    /// A pending execution of block `digest`.
    #[must_use]
    pub fn pending(&self, digest: &Hash) -> Option<Arc<Executed>> {
        self.inner().pending.get(digest).cloned()
    }

    /// Records an execution so later blocks can build on it.
    pub fn insert_pending(&self, executed: Executed) {
        let mut inner = self.inner();
        if inner.pending.len() >= PENDING_MAX {
            // Keep the newest: forks that old will not be finalized.
            let lowest =
                inner.pending.iter().min_by_key(|(_, e)| e.block.height()).map(|(d, _)| *d);
            if let Some(d) = lowest {
                inner.pending.remove(&d);
            }
        }
        inner.pending.insert(executed.block.digest(), Arc::new(executed));
    }

    /// Transactions for a block on `parent`.
    #[must_use]
    pub fn select_txs(&self, parent: &State, max: usize) -> Vec<SignedTx> {
        self.pool().select(parent, max)
    }

    /// Number of transactions waiting.
    #[must_use]
    pub fn mempool_len(&self) -> usize {
        self.pool().len()
    }

    /// True if the transaction waits in this node's mempool.
    #[must_use]
    pub fn mempool_contains(&self, hash: &Hash) -> bool {
        self.pool().contains(hash)
    }

    /// The committed transaction `hash`'s height and receipt, if it is committed.
    pub fn tx_receipt(&self, hash: &Hash) -> Result<Option<(Height, Receipt)>, StorageError> {
        let Some((height, index)) = self.store.tx_location(hash)? else { return Ok(None) };
        Ok(self.store.receipts(height)?.get(index as usize).cloned().map(|r| (height, r)))
    }

    /// Signs `payload` with `key` at the sender's next free nonce (past its transactions
    /// already waiting here), paying the chain's minimum fee, and submits it. For the node's
    /// own transactions (settlements, data reports): they share one key, and one lock keeps
    /// two of them from taking the same nonce.
    pub fn submit_own(
        &self,
        key: &commonware_cryptography::ed25519::PrivateKey,
        payload: alx_types::Payload,
        rng: &mut impl CryptoRng,
    ) -> Result<Hash, SubmitError> {
        use commonware_cryptography::Signer as _;
        let _own = self.own.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let committed = self.committed();
        let state = &committed.state;
        let sender = Address::from_public_key(&key.public_key());
        let account_nonce = state.account(&sender).ok().flatten().map_or(0, |a| a.nonce);
        let nonce = self.pool().next_free_nonce(&sender, account_nonce);
        let mut tx = alx_types::Transaction {
            chain_id: *state.chain_id(),
            sender,
            nonce,
            fee: state.params().min_fee,
            payload,
        };
        // A transaction over 8 KiB (a large challenge) pays the minimum per started 8 KiB; the
        // fee's own encoding is fixed-width, so raising it does not change the size.
        {
            use commonware_codec::EncodeSize as _;
            tx.fee = alx_types::tx::min_fee_for_size(tx.encode_size() + 64, tx.fee);
        }
        self.submit(vec![tx.sign(key)], rng).remove(0)
    }

    /// Sends locally admitted transactions to `gossip` from now on.
    pub fn set_gossip(&self, gossip: tokio::sync::mpsc::Sender<Vec<SignedTx>>) {
        *self.gossip.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(gossip);
    }

    /// Checks and admits transactions from a client (signatures verified as one batch), then
    /// gossips the admitted ones to the other validators. One result per transaction, in order.
    pub fn submit(
        &self,
        txs: Vec<SignedTx>,
        rng: &mut impl CryptoRng,
    ) -> Vec<Result<Hash, SubmitError>> {
        let gossip = self.gossip.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        // A lone validator without candidates (the embedded default) has nobody to tell.
        let Some(gossip) = gossip.filter(|_| self.has_peers()) else {
            return self.admit(txs, rng);
        };
        let copies = txs.clone();
        let results = self.admit(txs, rng);
        let admitted: Vec<SignedTx> = copies
            .into_iter()
            .zip(&results)
            .filter_map(|(tx, r)| r.is_ok().then_some(tx))
            .collect();
        if !admitted.is_empty() {
            // Best effort: a full queue drops the batch; the origin still includes it.
            let _ = gossip.try_send(admitted);
        }
        results
    }

    /// True if the committed state names any node besides one validator: another member of
    /// the active set, or a bonded candidate outside it (which follows the chain). When the
    /// state cannot say, it assumes peers, so gossip is never wrongly skipped.
    fn has_peers(&self) -> bool {
        let committed = self.committed();
        let state = &committed.state;
        let (Ok(set), Ok(candidates)) = (state.active_set(), state.ranked_candidates()) else {
            return true;
        };
        set.len() > 1 || candidates.iter().any(|(a, _)| set.binary_search(a).is_err())
    }

    /// Admits transactions gossiped by a peer: the same checks, never forwarded again.
    pub fn submit_from_peer(
        &self,
        txs: Vec<SignedTx>,
        rng: &mut impl CryptoRng,
    ) -> Vec<Result<Hash, SubmitError>> {
        self.admit(txs, rng)
    }

    fn admit(
        &self,
        txs: Vec<SignedTx>,
        rng: &mut impl CryptoRng,
    ) -> Vec<Result<Hash, SubmitError>> {
        let committed = self.committed();
        let state = &committed.state;
        let sigs = self.verify_signatures(&txs, rng);
        let mut accounts = std::collections::BTreeMap::new();
        let mut pool = self.pool();
        txs.into_iter()
            .zip(sigs)
            .map(|(tx, sig_ok)| {
                let invalid = |code, detail: String| Err(SubmitError::Invalid { code, detail });
                if !sig_ok {
                    return invalid(
                        ErrorCode::BadSignature,
                        "signature does not verify for the sender".into(),
                    );
                }
                if tx.tx.chain_id != *state.chain_id() {
                    return invalid(
                        ErrorCode::WrongChainId,
                        format!(
                            "transaction is for {}, this chain is {}",
                            tx.tx.chain_id,
                            state.chain_id()
                        ),
                    );
                }
                let min_fee = tx.min_fee(state.params().min_fee);
                if tx.tx.fee < min_fee {
                    return invalid(
                        ErrorCode::FeeTooLow,
                        format!("fee {} is below the minimum {min_fee}", tx.tx.fee),
                    );
                }
                // Batches repeat senders: read each account once.
                let account = *accounts.entry(tx.tx.sender).or_insert_with(|| {
                    state.account(&tx.tx.sender).ok().flatten().unwrap_or_default()
                });
                if account.balance < tx.tx.fee {
                    return invalid(
                        ErrorCode::InsufficientFee,
                        format!("balance {} cannot pay the fee {}", account.balance, tx.tx.fee),
                    );
                }
                let hash = tx.hash();
                pool.admit(tx, account.nonce)?;
                Ok(hash)
            })
            .collect()
    }

    /// Commits a finalized block: executes it if no pending execution exists, checks its state
    /// root, writes it durably, then makes it the committed tip. Idempotent for heights already
    /// committed (returns `false` for those).
    pub fn commit(
        &self,
        block: &Arc<Block>,
        rng: &mut impl CryptoRng,
    ) -> Result<bool, LedgerError> {
        let committed = self.committed();
        let height = block.height();
        if height <= committed.block.height() {
            return Ok(false);
        }
        if block.header.parent != committed.block.digest()
            || height != committed.block.height().next()
        {
            return Err(LedgerError::NotExtending { height });
        }
        let executed = match self.pending(&block.digest()) {
            Some(e) => e,
            None => {
                let sigs = self.verify_signatures(&block.txs, rng);
                let (state, receipts) = execute(&committed.state, block, &sigs)?;
                Arc::new(Executed { block: block.clone(), state, receipts })
            }
        };
        let mut state = executed.state.clone();
        check_root(block, &mut state)?;
        let changes = state.take_changes();
        let epoch_set = epoch_set_record(block, &state);
        let epoch_set = epoch_set.as_ref().map(|(epoch, record)| (*epoch, record.as_slice()));
        self.store.commit_block(block, &executed.receipts, &changes, epoch_set)?;
        let new =
            Arc::new(Executed { block: block.clone(), state, receipts: executed.receipts.clone() });
        {
            let mut inner = self.inner();
            inner.committed = new.clone();
            inner.pending.retain(|_, e| e.block.height() > height);
        }
        let senders: std::collections::BTreeSet<Address> =
            block.txs.iter().map(|t| t.tx.sender).collect();
        self.pool().prune(senders, &new.state);
        // No subscriber is fine.
        let _ = self
            .events
            .send(Finalized { block: block.clone(), receipts: Arc::new(new.receipts.clone()) });
        Ok(true)
    }
}

/// On an epoch's last block, the next epoch's set and its proof against the block's state root
/// (the state's root is computed), for light clients; `None` on other blocks.
fn epoch_set_record(block: &Block, state: &State) -> Option<(u64, Vec<u8>)> {
    let length = state.params().epoch_length;
    let height = block.height().0;
    if length == 0 || height % length != length - 1 {
        return None;
    }
    let epoch = height / length + 1;
    let (value, proof) = state.prove_active_set();
    let record = alx_types::api::EpochSetProof {
        epoch,
        boundary: block.height(),
        validators: hex::encode(value.unwrap_or_default()),
        proof,
    };
    // A struct of strings and numbers always serializes.
    serde_json::to_vec(&record).ok().map(|bytes| (epoch, bytes))
}

/// Refuses a state whose root differs from the one `block`'s header commits to.
fn check_root(block: &Block, state: &mut State) -> Result<(), LedgerError> {
    let got = state.root();
    if got == block.header.state_root {
        return Ok(());
    }
    Err(LedgerError::RootMismatch {
        height: block.height(),
        expected: to_hex(&block.header.state_root),
        got: to_hex(&got),
    })
}

/// Executes `block`'s transactions on a copy of `parent`, returning the state after and the
/// receipts. Does not check the header's roots: callers compare them.
pub fn execute(
    parent: &State,
    block: &Block,
    signatures_valid: &[bool],
) -> Result<(State, Vec<Receipt>), ExecuteError> {
    let mut state = parent.clone();
    let ctx = BlockContext { height: block.height(), proposer: block.header.proposer };
    let outcome = state.execute_block(&ctx, &block.txs, signatures_valid)?;
    Ok((state, outcome.receipts))
}

/// The root of a block's receipts.
#[must_use]
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    let hashes: Vec<Hash> =
        receipts.iter().map(|r| alx_types::hash::sha256(&[&r.encode()])).collect();
    list_root(&hashes)
}

/// The genesis block (height 0) every node builds identically from the genesis state: its
/// proposer is the first genesis validator, its state root the genesis state's.
#[must_use]
pub fn genesis_block(first_validator: Address, state_root: Hash) -> Block {
    Block::new(
        alx_types::BlockHeader {
            parent: alx_types::hash::ZERO,
            height: alx_types::Height(0),
            epoch: 0,
            view: 0,
            parent_view: 0,
            proposer: first_validator,
            timestamp_ms: 0,
            tx_root: alx_types::hash::ZERO,
            receipts_root: alx_types::hash::ZERO,
            state_root,
        },
        Vec::new(),
    )
}
