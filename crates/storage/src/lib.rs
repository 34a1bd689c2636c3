//! Durable storage of a node: the committed chain state, finalized blocks with their receipts,
//! and the indexes the API serves (block by digest, transaction by hash).
//!
//! One [redb](https://docs.rs/redb) database, written by one ACID transaction per finalized
//! block: the block, its receipts, its state changes and the new committed height land together
//! or not at all, and a commit returns only once it is on disk. So after a crash (`kill -9`,
//! power loss) the store holds exactly the blocks it acknowledged, and the state root recomputed
//! from it equals the root in the last committed block's header.
//!
//! The transaction-hash index is the exception: sorted runs in a directory of their own beside
//! the chain's file, written behind the commits (`tx_index.rs`, `runs.rs`), and rebuilt from
//! the receipts when they are behind.
//!
//! No business rules live here: the state machine decides what to write.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use alx_types::{Block, Hash, Receipt, block::Height, hash};
use commonware_codec::{DecodeExt as _, Encode as _, FixedSize as _};
use redb::{Database, ReadableTable as _, ReadableTableMetadata as _, TableDefinition};
use std::path::Path;

const STATE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("state");
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const RECEIPTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("receipts");
const BLOCK_INDEX: TableDefinition<'_, &[u8; 32], u64> = TableDefinition::new("block_index");
/// Where the transaction-hash index lived before it had its own file (dropped at open).
const OLD_TX_INDEX: TableDefinition<'_, &[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// Per epoch from 1: the proof of its validator set at the boundary block that chose it (an
/// `alx_types::api::EpochSetProof` as JSON), for light clients. Only the latest state is
/// kept, so the proof is taken when the boundary block commits.
const EPOCH_SETS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("epoch_sets");

const META_HEIGHT: &str = "committed_height";
const META_GENESIS: &str = "genesis_hash";

/// A storage failure. Any write failure is fatal for the node: it must stop rather than run on
/// uncertain state.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("database: {0}")]
    Database(Box<redb::Error>),
    /// Stored bytes did not decode: the store is corrupt.
    #[error("corrupt {what} at {at}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Where.
        at: String,
    },
    /// The store belongs to another genesis.
    #[error("this store was created for genesis {stored}, not {given}")]
    GenesisMismatch {
        /// Stored genesis hash (hex).
        stored: String,
        /// Given genesis hash (hex).
        given: String,
    },
    /// The transaction-hash index could not be written.
    #[error("transaction index: {0}")]
    TxIndex(String),
    /// Files of sorted runs could not be read or written, or are damaged.
    #[error("sorted runs: {0}")]
    Runs(String),
    /// A block was committed out of order.
    #[error("block {got} committed after height {committed}")]
    OutOfOrder {
        /// Last committed height.
        committed: Height,
        /// Height given.
        got: Height,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                Self::Database(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The result of storage operations.
pub type Result<T> = std::result::Result<T, StorageError>;

/// A state change: a key and its new value, or `None` for a deletion.
pub type StateChange = (Vec<u8>, Option<Vec<u8>>);

/// The node's durable store.
pub struct Store {
    /// First, so it is dropped first: its writer stops before the database closes.
    txs: tx_index::TxIndex,
    db: Database,
}

impl Store {
    /// Opens (or creates) the store at `path`, with its transaction index beside it (a
    /// directory of the same name ending in `.txs`), which is brought level with the chain
    /// first.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        {
            // Create every table so readers never meet a missing one.
            tx.open_table(STATE)?;
            tx.open_table(BLOCKS)?;
            tx.open_table(RECEIPTS)?;
            tx.open_table(BLOCK_INDEX)?;
            tx.open_table(META)?;
        }
        tx.delete_table(OLD_TX_INDEX)?;
        tx.commit()?;
        let committed = committed_height(&db)?.map(|h| h.0);
        let txs = tx_index::TxIndex::open(&path.with_extension("txs"), &db, committed)?;
        Ok(Self { txs, db })
    }

    /// Height of the last committed block, or `None` before genesis was written.
    pub fn committed_height(&self) -> Result<Option<Height>> {
        committed_height(&self.db)
    }

    /// Writes the genesis state (height 0). `genesis_hash` identifies the genesis file; opening
    /// the store later with another genesis is refused by [`Store::check_genesis`].
    pub fn commit_genesis(&self, genesis_hash: &Hash, changes: &[StateChange]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut state = tx.open_table(STATE)?;
            apply_changes(&mut state, changes)?;
            let mut meta = tx.open_table(META)?;
            meta.insert(META_GENESIS, genesis_hash.as_ref())?;
            meta.insert(META_HEIGHT, 0u64.to_be_bytes().as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Refuses a store made for another genesis.
    pub fn check_genesis(&self, genesis_hash: &Hash) -> Result<()> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        if let Some(stored) = meta.get(META_GENESIS)?
            && stored.value() != genesis_hash.as_ref()
        {
            return Err(StorageError::GenesisMismatch {
                stored: hex(stored.value()),
                given: hex(genesis_hash.as_ref()),
            });
        }
        Ok(())
    }

    /// Commits a finalized block with its receipts and state changes, atomically and durably;
    /// its transactions are found by hash once it returns (their index entries reach their
    /// own file soon after).
    /// Committing a height that is already committed does nothing (delivery of finalized
    /// blocks is at-least-once); skipping a height is an error.
    pub fn commit_block(
        &self,
        block: &Block,
        receipts: &[Receipt],
        changes: &[StateChange],
        epoch_set: Option<(u64, &[u8])>,
    ) -> Result<bool> {
        let height = block.height().0;
        let committed = self.committed_height()?.map_or(0, |h| h.0);
        if height <= committed {
            return Ok(false);
        }
        if height != committed + 1 {
            return Err(StorageError::OutOfOrder {
                committed: Height(committed),
                got: block.height(),
            });
        }
        if receipts.len() != block.txs.len() {
            return Err(corrupt("receipts", &height.to_string()));
        }
        self.txs.check()?;
        let tx = self.db.begin_write()?;
        {
            let mut state = tx.open_table(STATE)?;
            apply_changes(&mut state, changes)?;
            tx.open_table(BLOCKS)?.insert(height, block.encode().as_ref())?;
            let mut encoded = Vec::with_capacity(receipts.len() * Receipt::SIZE);
            for r in receipts {
                encoded.extend_from_slice(&r.encode());
            }
            tx.open_table(RECEIPTS)?.insert(height, encoded.as_slice())?;
            tx.open_table(BLOCK_INDEX)?.insert(&block.digest().0, height)?;
            tx.open_table(META)?.insert(META_HEIGHT, height.to_be_bytes().as_slice())?;
            if let Some((epoch, record)) = epoch_set {
                tx.open_table(EPOCH_SETS)?.insert(epoch, record)?;
            }
        }
        tx.commit()?;
        // Receipt i names transaction i's hash (execution computed it): no rehashing.
        self.txs.record(height, receipts)?;
        Ok(true)
    }

    /// The record of `epoch`'s validator set stored with its boundary block, if any.
    pub fn epoch_set(&self, epoch: u64) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(EPOCH_SETS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(epoch)?.map(|v| v.value().to_vec()))
    }

    /// Every committed state entry, in key order.
    pub fn state_entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(STATE)?;
        let mut out = Vec::with_capacity(table.len()? as usize);
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The committed block at `height`.
    pub fn block(&self, height: Height) -> Result<Option<Block>> {
        let tx = self.db.begin_read()?;
        let Some(bytes) = tx.open_table(BLOCKS)?.get(height.0)? else {
            return Ok(None);
        };
        Block::decode(bytes.value().to_vec())
            .map(Some)
            .map_err(|_| corrupt("block", &height.to_string()))
    }

    /// The height of the committed block with this digest.
    pub fn height_of(&self, digest: &Hash) -> Result<Option<Height>> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(BLOCK_INDEX)?.get(&digest.0)?.map(|v| Height(v.value())))
    }

    /// The receipts of the committed block at `height`.
    pub fn receipts(&self, height: Height) -> Result<Vec<Receipt>> {
        Ok(stored_receipts(&self.db, height.0)?.unwrap_or_default())
    }

    /// Where a committed transaction is: its block height and index.
    ///
    /// The place is checked against the receipt stored there, which names its transaction's
    /// hash: an index that disagrees with its chain is reported, never believed.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<(Height, u32)>> {
        let Some((height, index)) = self.txs.get(&hash.0)? else { return Ok(None) };
        let tx = self.db.begin_read()?;
        let receipts = tx.open_table(RECEIPTS)?;
        let receipt = receipts.get(height)?.and_then(|bytes| {
            let at = index as usize * Receipt::SIZE;
            let chunk = bytes.value().get(at..at + Receipt::SIZE)?;
            Receipt::decode(commonware_codec::Copying(chunk)).ok()
        });
        match receipt {
            Some(r) if r.tx_hash == *hash => Ok(Some((Height(height), index))),
            _ => Err(corrupt("transaction index", &hash::to_hex(hash))),
        }
    }
}

/// The receipts stored for `height`, or `None` if there are none.
fn stored_receipts(db: &Database, height: u64) -> Result<Option<Vec<Receipt>>> {
    let tx = db.begin_read()?;
    let Some(bytes) = tx.open_table(RECEIPTS)?.get(height)? else {
        return Ok(None);
    };
    bytes
        .value()
        .chunks(Receipt::SIZE)
        .map(|c| {
            Receipt::decode(commonware_codec::Copying(c))
                .map_err(|_| corrupt("receipt", &height.to_string()))
        })
        .collect::<Result<_>>()
        .map(Some)
}

fn committed_height(db: &Database) -> Result<Option<Height>> {
    let tx = db.begin_read()?;
    let meta = tx.open_table(META)?;
    let Some(v) = meta.get(META_HEIGHT)? else {
        return Ok(None);
    };
    let bytes: [u8; 8] = v.value().try_into().map_err(|_| corrupt("height", META_HEIGHT))?;
    Ok(Some(Height(u64::from_be_bytes(bytes))))
}

fn apply_changes(table: &mut redb::Table<'_, &[u8], &[u8]>, changes: &[StateChange]) -> Result<()> {
    for (k, v) in changes {
        match v {
            Some(v) => {
                table.insert(k.as_slice(), v.as_slice())?;
            }
            None => {
                table.remove(k.as_slice())?;
            }
        }
    }
    Ok(())
}

fn corrupt(what: &'static str, at: &str) -> StorageError {
    StorageError::Corrupt { what, at: at.to_owned() }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub mod runs;
mod tx_index;

#[cfg(test)]
mod tests;
