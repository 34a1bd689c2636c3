//! Indexes of the finalized chain for looking back, which consensus never reads: the
//! transactions that touched an address (as sender or named in the payload), and the data
//! credits each contribution received from settlements. The explorer's account history and a
//! contribution's earnings over time are served from here.
//!
//! The index lives in its own redb file beside the chain's, written block by block in height
//! order by a background task (the node's `history` sync), never in the commit path: a block
//! is indexed whole in one write transaction or not at all, and re-indexing a height already
//! indexed does nothing. It belongs to one genesis; opened for another, it starts over.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod events;
mod touched;

use alx_storage::runs::Runs;
use alx_types::{
    Address, Amount, Block, Hash, Height, Payload, Receipt, TxStatus,
    datanet::{ContributionId, DatanetId},
    hash::from_bytes,
    model::ModelId,
    usage::UsageOp,
};
use redb::{Database, ReadableTable as _, TableDefinition};
use std::path::Path;

pub use events::{ContributionEvent, contribution_events};
pub use touched::addresses_touched;

/// Where the transactions touching each address were before they moved to sorted runs
/// (dropped at open).
const OLD_BY_ADDRESS: TableDefinition<'_, &[u8; 44], &[u8; 32]> =
    TableDefinition::new("by_address");
/// Records of the address index: address (32) ‖ height (8) ‖ tx index (4), big-endian, then
/// the transaction's hash (32). One per transaction touching the address; two or more per
/// transaction, so they go to sorted runs (`alx_storage::runs`), which take a batch as one
/// sequential write where a B-tree takes microseconds per record.
const ADDRESS_KEY: usize = 44;
const ADDRESS_VALUE: usize = 32;
/// Datanet ‖ contribution ‖ height ‖ tx index ‖ model (8 + 8 + 8 + 4 + 8) → the credit.
const CREDITS: TableDefinition<'_, &[u8; 36], &[u8; CREDIT_VALUE]> =
    TableDefinition::new("credits");
/// Datanet ‖ contribution ‖ height ‖ tx index (28) → event tag (1) ‖ its argument (8) ‖ the
/// sender (32).
const EVENTS: TableDefinition<'_, &[u8; 28], &[u8; 41]> = TableDefinition::new("events");
/// Model ‖ height ‖ tx index (8 + 8 + 4) → what one settlement charged for the model.
const MODEL_FEES: TableDefinition<'_, &[u8; 20], &[u8; FEES_VALUE]> =
    TableDefinition::new("model_fees");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const META_NEXT: &str = "next_height";
const META_GENESIS: &str = "genesis";
/// Amount (16) ‖ provider (32) ‖ first receipt (8) ‖ receipts (4).
const CREDIT_VALUE: usize = 60;
/// Fees (16) ‖ API keys charged (4) ‖ provider (32).
const FEES_VALUE: usize = 52;

/// Most entries one query returns.
pub const PAGE_MAX: usize = 1_000;

/// A failure of the index's database. The index can always be rebuilt from the chain.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database failed.
    #[error("history index: {0}")]
    Database(Box<redb::Error>),
    /// The address index's files failed.
    #[error("history index: {0}")]
    Runs(alx_storage::StorageError),
    /// A block was offered with another number of receipts than transactions.
    #[error("block {height} has {txs} transactions but {receipts} receipts")]
    ReceiptCount {
        /// The block.
        height: u64,
        /// Its transactions.
        txs: usize,
        /// The receipts offered.
        receipts: usize,
    },
    /// A block was offered out of order.
    #[error("block {got} offered to the history index, which expects {expected}")]
    OutOfOrder {
        /// The height expected next.
        expected: u64,
        /// The height offered.
        got: u64,
    },
}

impl<E: Into<redb::Error>> From<E> for HistoryError {
    fn from(e: E) -> Self {
        Self::Database(Box::new(e.into()))
    }
}

/// A transaction's place: its block and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxPlace {
    /// The block.
    pub height: Height,
    /// The index in it.
    pub index: u32,
}

/// A transaction that touched an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TouchedBy {
    /// Where it is.
    pub place: TxPlace,
    /// Its hash.
    pub hash: Hash,
}

/// A settlement's credit to one contribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditEvent {
    /// The settlement transaction's place.
    pub place: TxPlace,
    /// The model whose fees paid it.
    pub model: ModelId,
    /// Base units credited.
    pub amount: Amount,
    /// The provider that settled (the transaction's sender).
    pub provider: Address,
    /// The provider's first receipt number in the batch.
    pub first_receipt: u64,
    /// Receipts in the batch.
    pub receipts: u32,
}

/// What one settlement charged for one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeesEvent {
    /// The settlement transaction's place.
    pub place: TxPlace,
    /// The fees charged for the model (before they are split), in base units.
    pub fees: Amount,
    /// How many API keys were charged for it.
    pub api_keys: u32,
    /// The provider that settled.
    pub provider: Address,
}

/// The rows a run of blocks adds to each table.
#[derive(Default)]
struct Rows {
    by_address: Vec<([u8; 44], [u8; 32])>,
    events: Vec<([u8; 28], [u8; 41])>,
    credits: Vec<([u8; 36], [u8; CREDIT_VALUE])>,
    fees: Vec<([u8; 20], [u8; FEES_VALUE])>,
}

impl Rows {
    /// Sorts each table's rows by key, stably: of two rows with one key, the later in the
    /// chain is inserted last and stays.
    fn sort(&mut self) {
        self.events.sort_by_key(|(key, _)| *key);
        self.credits.sort_by_key(|(key, _)| *key);
        self.fees.sort_by_key(|(key, _)| *key);
    }

    fn add_block(&mut self, block: &Block, receipts: &[Receipt]) {
        let height = block.height().0;
        for (i, (signed, receipt)) in block.txs.iter().zip(receipts).enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
            // Receipt i names transaction i's hash (execution computed it): no rehashing.
            for address in addresses_touched(signed) {
                let mut key = [0; 44];
                key[..32].copy_from_slice(address.as_bytes());
                key[32..40].copy_from_slice(&height.to_be_bytes());
                key[40..].copy_from_slice(&index);
                self.by_address.push((key, receipt.tx_hash.0));
            }
            if receipt.status != TxStatus::Success {
                continue;
            }
            for (datanet, contribution, event) in contribution_events(&signed.tx.payload) {
                let key = array(&be(&[
                    &datanet.0.to_be_bytes(),
                    &contribution.0.to_be_bytes(),
                    &height.to_be_bytes(),
                    &index,
                ]));
                let (tag, argument) = event.tag();
                let value =
                    array(&be(&[&[tag], &argument.to_be_bytes(), signed.tx.sender.as_bytes()]));
                self.events.push((key, value));
            }
            let Payload::Usage(UsageOp::Settle(s)) = &signed.tx.payload else { continue };
            for c in &s.credits {
                let key = array(&be(&[
                    &c.datanet.0.to_be_bytes(),
                    &c.contribution.0.to_be_bytes(),
                    &height.to_be_bytes(),
                    &index,
                    &c.model.0.to_be_bytes(),
                ]));
                let value = array(&be(&[
                    &c.amount.0.to_be_bytes(),
                    signed.tx.sender.as_bytes(),
                    &s.first_receipt.to_be_bytes(),
                    &s.receipts.to_be_bytes(),
                ]));
                self.credits.push((key, value));
            }
            // Charges come in (key, model) order: sum them per model.
            let mut per_model: std::collections::BTreeMap<u64, (u128, u32)> =
                std::collections::BTreeMap::new();
            for c in &s.charges {
                let entry = per_model.entry(c.model.0).or_default();
                entry.0 = entry.0.saturating_add(c.amount.0);
                entry.1 = entry.1.saturating_add(1);
            }
            for (model, (amount, keys)) in per_model {
                let key = array(&be(&[&model.to_be_bytes(), &height.to_be_bytes(), &index]));
                let value = array(&be(&[
                    &amount.to_be_bytes(),
                    &keys.to_be_bytes(),
                    signed.tx.sender.as_bytes(),
                ]));
                self.fees.push((key, value));
            }
        }
    }
}

/// The index.
pub struct History {
    db: Database,
    by_address: Runs,
}

fn be(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array(&bytes[at..at + 8]))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(&bytes[at..at + 4]))
}

impl History {
    /// Opens (or creates) the index at `path` (and its address index in a directory beside
    /// it, the same name ending in `.addresses`) for the chain whose genesis block is
    /// `genesis`; an index of another genesis is emptied.
    ///
    /// # Errors
    /// The database cannot be opened or written.
    pub fn open(path: &Path, genesis: &Hash) -> Result<Self, HistoryError> {
        let db = Database::create(path)?;
        let dir = path.with_extension("addresses");
        let by_address = Runs::open_or_start_over(&dir, ADDRESS_KEY, ADDRESS_VALUE)
            .map_err(HistoryError::Runs)?;
        let tx = db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let same = meta.get(META_GENESIS)?.is_some_and(|g| g.value() == genesis.as_ref());
            // Indexed before addresses had their runs, or the runs started over (damaged or
            // lost): start over so they are filled.
            let old = tx.delete_table(OLD_BY_ADDRESS)?;
            let next = meta.get(META_NEXT)?.map_or(1, |v| u64_at(v.value(), 0));
            if !same || old || by_address.next_height() < next {
                tx.delete_table(CREDITS)?;
                tx.delete_table(MODEL_FEES)?;
                tx.delete_table(EVENTS)?;
                by_address.reset().map_err(HistoryError::Runs)?;
                meta.insert(META_GENESIS, genesis.as_ref())?;
                meta.insert(META_NEXT, 1u64.to_be_bytes().as_slice())?;
            }
            tx.open_table(CREDITS)?;
            tx.open_table(MODEL_FEES)?;
            tx.open_table(EVENTS)?;
        }
        tx.commit()?;
        Ok(Self { db, by_address })
    }

    /// The next height to index (every height below it is indexed).
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn next_height(&self) -> Result<Height, HistoryError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        let next = meta.get(META_NEXT)?.map_or(1, |v| u64_at(v.value(), 0));
        Ok(Height(next))
    }

    /// Indexes `block` with its `receipts`, whole or not at all. A height already indexed is
    /// skipped.
    ///
    /// # Errors
    /// A height past the next one, or the database failing.
    pub fn index_block(&self, block: &Block, receipts: &[Receipt]) -> Result<(), HistoryError> {
        self.index_blocks([(block, receipts)])
    }

    /// Indexes consecutive blocks with their receipts in one write transaction: all of them
    /// or none. Heights already indexed are skipped. One transaction for a run of blocks
    /// writes each touched page of the index once, not once per block, which is what keeps
    /// the index cheap behind a chain under load.
    ///
    /// # Errors
    /// A height past the next one (a gap), a block whose receipts do not match it, or the
    /// database failing.
    pub fn index_blocks<'a>(
        &self,
        blocks: impl IntoIterator<Item = (&'a Block, &'a [Receipt])>,
    ) -> Result<(), HistoryError> {
        let start = self.next_height()?.0;
        let mut next = start;
        let mut rows = Rows::default();
        for (block, receipts) in blocks {
            let height = block.height().0;
            if height < next {
                continue;
            }
            if height > next {
                return Err(HistoryError::OutOfOrder { expected: next, got: height });
            }
            if receipts.len() != block.txs.len() {
                return Err(HistoryError::ReceiptCount {
                    height,
                    txs: block.txs.len(),
                    receipts: receipts.len(),
                });
            }
            rows.add_block(block, receipts);
            next += 1;
        }
        if next == start {
            return Ok(());
        }
        // The address runs first: if the database's write below fails, the next try appends
        // the same records again, which the runs keep once.
        let mut records = Vec::with_capacity(rows.by_address.len() * (ADDRESS_KEY + ADDRESS_VALUE));
        for (key, hash) in &rows.by_address {
            records.extend_from_slice(key);
            records.extend_from_slice(hash);
        }
        self.by_address.append(records, next).map_err(HistoryError::Runs)?;
        let tx = self.db.begin_write()?;
        {
            // Keys in order: each B-tree page is visited once.
            rows.sort();
            let mut events = tx.open_table(EVENTS)?;
            for (key, value) in &rows.events {
                events.insert(key, value)?;
            }
            let mut credits = tx.open_table(CREDITS)?;
            for (key, value) in &rows.credits {
                credits.insert(key, value)?;
            }
            let mut fees = tx.open_table(MODEL_FEES)?;
            for (key, value) in &rows.fees {
                fees.insert(key, value)?;
            }
            tx.open_table(META)?.insert(META_NEXT, next.to_be_bytes().as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Transactions that touched `address`, newest first, strictly before `before` when given;
    /// at most `limit` (capped at [`PAGE_MAX`]).
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn account_txs(
        &self,
        address: &Address,
        before: Option<TxPlace>,
        limit: usize,
    ) -> Result<Vec<TouchedBy>, HistoryError> {
        let low: [u8; 44] = array(&be(&[address.as_bytes(), &[0; 12]]));
        let high: [u8; 44] = match before {
            Some(p) => {
                array(&be(&[address.as_bytes(), &p.height.0.to_be_bytes(), &p.index.to_be_bytes()]))
            }
            None => array(&be(&[address.as_bytes(), &[0xff; 12]])),
        };
        let records = self.by_address.range_rev(&low, &high, limit.min(PAGE_MAX));
        Ok(records
            .iter()
            .map(|r| TouchedBy {
                place: TxPlace { height: Height(u64_at(r, 32)), index: u32_at(r, 40) },
                hash: from_bytes(array(&r[ADDRESS_KEY..])),
            })
            .collect())
    }

    /// The credits `contribution` of `datanet` received, newest first, at most `limit`
    /// (capped at [`PAGE_MAX`]).
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn contribution_credits(
        &self,
        datanet: DatanetId,
        contribution: ContributionId,
        limit: usize,
    ) -> Result<Vec<CreditEvent>, HistoryError> {
        let prefix = be(&[&datanet.0.to_be_bytes(), &contribution.0.to_be_bytes()]);
        let low: [u8; 36] = array(&be(&[&prefix, &[0; 20]]));
        let high: [u8; 36] = array(&be(&[&prefix, &[0xff; 20]]));
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CREDITS)?;
        let mut out = Vec::new();
        for entry in table.range::<&[u8; 36]>(&low..=&high)?.rev().take(limit.min(PAGE_MAX)) {
            let (key, value) = entry?;
            let (key, value) = (key.value(), value.value());
            out.push(CreditEvent {
                place: TxPlace { height: Height(u64_at(key, 16)), index: u32_at(key, 24) },
                model: ModelId(u64_at(key, 28)),
                amount: Amount(u128::from_be_bytes(array(&value[..16]))),
                provider: Address(array(&value[16..48])),
                first_receipt: u64_at(value, 48),
                receipts: u32_at(value, 56),
            });
        }
        Ok(out)
    }
}

impl History {
    /// What settlements charged for `model`, newest first, at most `limit` (capped at
    /// [`PAGE_MAX`]).
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn model_fees(&self, model: ModelId, limit: usize) -> Result<Vec<FeesEvent>, HistoryError> {
        let low: [u8; 20] = array(&be(&[&model.0.to_be_bytes(), &[0; 12]]));
        let high: [u8; 20] = array(&be(&[&model.0.to_be_bytes(), &[0xff; 12]]));
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MODEL_FEES)?;
        let mut out = Vec::new();
        for entry in table.range::<&[u8; 20]>(&low..=&high)?.rev().take(limit.min(PAGE_MAX)) {
            let (key, value) = entry?;
            let (key, value) = (key.value(), value.value());
            out.push(FeesEvent {
                place: TxPlace { height: Height(u64_at(key, 8)), index: u32_at(key, 16) },
                fees: Amount(u128::from_be_bytes(array(&value[..16]))),
                api_keys: u32_at(value, 16),
                provider: Address(array(&value[20..52])),
            });
        }
        Ok(out)
    }
}

/// A contribution's event, where it happened and who sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedEvent {
    /// The transaction's place.
    pub place: TxPlace,
    /// What happened.
    pub event: ContributionEvent,
    /// Who sent the transaction.
    pub by: Address,
}

impl History {
    /// What happened to `contribution` of `datanet`, oldest first, at most [`PAGE_MAX`].
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn contribution_events(
        &self,
        datanet: DatanetId,
        contribution: ContributionId,
    ) -> Result<Vec<PlacedEvent>, HistoryError> {
        let prefix = be(&[&datanet.0.to_be_bytes(), &contribution.0.to_be_bytes()]);
        let low: [u8; 28] = array(&be(&[&prefix, &[0; 12]]));
        let high: [u8; 28] = array(&be(&[&prefix, &[0xff; 12]]));
        let tx = self.db.begin_read()?;
        let table = tx.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in table.range::<&[u8; 28]>(&low..=&high)?.take(PAGE_MAX) {
            let (key, value) = entry?;
            let (key, value) = (key.value(), value.value());
            let Some(event) = ContributionEvent::from_tag(value[0], u64_at(value, 1)) else {
                continue;
            };
            out.push(PlacedEvent {
                place: TxPlace { height: Height(u64_at(key, 16)), index: u32_at(key, 24) },
                event,
                by: Address(array(&value[9..41])),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
