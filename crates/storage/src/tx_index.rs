//! The transaction-hash index: where each committed transaction is (its block's height and its
//! index there), for `GET /api/txs/{hash}` and the gateway's settlement checks.
//!
//! Hashes are random, so one block's entries land on pages all over a B-tree: written in the
//! block's own commit, each cost microseconds and every block rewrote most of the index's
//! pages, most of a commit's cost under load. So the index is kept as sorted runs in a
//! directory of its own (`runs.rs`: each batch one sequential file, merged geometrically),
//! written by a background thread, one run per turn, covering every block committed since the
//! last (group commit).
//!
//! Entries committed to the chain but not yet to a run are answered from memory, so a lookup
//! finds every committed transaction at every moment. At open the runs catch up with the
//! chain's receipts (after a crash between the two commits, or a store from before the runs
//! existed); runs ahead of their chain (a chain replaced under them) start over.

use crate::{Result, StorageError, runs::Runs, stored_receipts};
use alx_types::Receipt;
use redb::Database;
use std::{
    collections::{HashMap, VecDeque},
    path::Path,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
};

/// A record: the hash (the key), then height (8) ‖ index (4), big-endian.
const KEY: usize = 32;
const VALUE: usize = 12;

/// Entries held in memory at most while the thread writes; a commit past it waits for the
/// thread (at ~80 bytes an entry, 40 MiB; 64 blocks of 8,192 transactions).
const PENDING_MAX: usize = 1 << 19;
/// Blocks written in one transaction at most while catching up at open.
const CATCH_UP_RUN: u64 = 256;

/// A block's transaction hashes, in block order.
type BlockHashes = (u64, Arc<Vec<[u8; 32]>>);

#[derive(Default)]
struct Pending {
    by_hash: HashMap<[u8; 32], (u64, u32)>,
    blocks: VecDeque<BlockHashes>,
    /// Why the thread stopped writing, if it did: every later commit fails with it.
    failed: Option<String>,
    stop: bool,
}

struct Shared {
    runs: Runs,
    pending: Mutex<Pending>,
    changed: Condvar,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Every update under the lock leaves it consistent: a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The index and the thread that writes it.
pub(crate) struct TxIndex {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl TxIndex {
    /// Opens the index in directory `dir` and brings it level with the chain in `chain`,
    /// whose last committed height is `committed` (`None`: a new chain, so a new index).
    pub(crate) fn open(dir: &Path, chain: &Database, committed: Option<u64>) -> Result<Self> {
        let runs = Runs::open_or_start_over(dir, KEY, VALUE)?;
        let committed = committed.unwrap_or(0);
        if runs.next_height() > committed + 1 {
            runs.reset()?;
        }
        let mut next = runs.next_height();
        while next <= committed {
            let last = committed.min(next + CATCH_UP_RUN - 1);
            let blocks = (next..=last)
                .map(|h| Ok((h, Arc::new(stored_hashes(chain, h)?))))
                .collect::<Result<Vec<_>>>()?;
            write_run(&runs, &blocks)?;
            next = last + 1;
        }
        runs.compact()?;
        let shared = Arc::new(Shared {
            runs,
            pending: Mutex::new(Pending::default()),
            changed: Condvar::new(),
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("alx-tx-index".to_owned())
                .spawn(move || write_behind(&shared))
                .map_err(|e| StorageError::TxIndex(format!("cannot start its thread: {e}")))?
        };
        Ok(Self { shared, writer: Some(writer) })
    }

    /// Records the transactions of the block just committed at `height`; they are found from
    /// now on and reach the file soon after. Waits while too many entries wait for the file.
    pub(crate) fn record(&self, height: u64, receipts: &[Receipt]) -> Result<()> {
        let hashes: Vec<[u8; 32]> = receipts.iter().map(|r| r.tx_hash.0).collect();
        let mut pending = self.shared.pending();
        while pending.failed.is_none() && pending.by_hash.len() >= PENDING_MAX {
            pending = self.shared.changed.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(why) = &pending.failed {
            return Err(StorageError::TxIndex(why.clone()));
        }
        for (i, hash) in hashes.iter().enumerate() {
            // Block size limits keep indexes far below u32::MAX.
            pending.by_hash.insert(*hash, (height, i as u32));
        }
        pending.blocks.push_back((height, Arc::new(hashes)));
        drop(pending);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Fails if the writer stopped: a commit checks it before it writes, so a block is not
    /// committed only to be refused after.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.shared.pending().failed {
            Some(why) => Err(StorageError::TxIndex(why.clone())),
            None => Ok(()),
        }
    }

    /// Where the committed transaction `hash` is: (height, index).
    pub(crate) fn get(&self, hash: &[u8; 32]) -> Result<Option<(u64, u32)>> {
        if let Some(place) = self.shared.pending().by_hash.get(hash) {
            return Ok(Some(*place));
        }
        Ok(self.shared.runs.get(hash).map(|value| {
            let height = u64::from_be_bytes(value[..8].try_into().unwrap_or_default());
            (height, u32::from_be_bytes(value[8..].try_into().unwrap_or_default()))
        }))
    }
}

impl Drop for TxIndex {
    /// Writes what is pending, then stops the thread.
    fn drop(&mut self) {
        self.shared.pending().stop = true;
        self.shared.changed.notify_all();
        if let Some(writer) = self.writer.take() {
            // A panicked writer has nothing left to write.
            let _ = writer.join();
        }
    }
}

/// Marks the index failed if the writer thread unwinds, so commits stop with an error instead
/// of waiting for a writer that is gone.
struct FailOnPanic<'a>(&'a Shared);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.pending().failed = Some("its writer thread panicked".to_owned());
            self.0.changed.notify_all();
        }
    }
}

/// The writer thread: each turn writes every block waiting as one run, lets go of their
/// entries in memory, then merges runs (commits go on meanwhile).
fn write_behind(shared: &Shared) {
    let _guard = FailOnPanic(shared);
    loop {
        let run: Vec<BlockHashes> = {
            let mut pending = shared.pending();
            while pending.blocks.is_empty() && !pending.stop {
                pending = shared.changed.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            if pending.blocks.is_empty() {
                return;
            }
            pending.blocks.iter().cloned().collect()
        };
        let written = write_run(&shared.runs, &run).and_then(|()| {
            forget(shared, &run);
            shared.runs.compact()
        });
        if let Err(e) = written {
            // Entries not written stay in memory (lookups still find them); commits stop
            // with the error, and the next start catches the runs up from the chain.
            shared.pending().failed = Some(e.to_string());
            shared.changed.notify_all();
            return;
        }
    }
}

/// Drops from memory the entries of `run`, now in the runs (an entry for the same hash from a
/// later block stays).
fn forget(shared: &Shared, run: &[BlockHashes]) {
    let mut pending = shared.pending();
    for (height, hashes) in run {
        pending.blocks.pop_front();
        for hash in hashes.iter() {
            if pending.by_hash.get(hash).is_some_and(|(h, _)| h == height) {
                pending.by_hash.remove(hash);
            }
        }
    }
    drop(pending);
    shared.changed.notify_all();
}

/// Writes consecutive blocks' entries as one run, which reaches past the last of them.
fn write_run(runs: &Runs, blocks: &[BlockHashes]) -> Result<()> {
    let Some(last) = blocks.last().map(|(h, _)| *h) else { return Ok(()) };
    let mut records = Vec::with_capacity(blocks.iter().map(|(_, b)| b.len()).sum::<usize>() * 44);
    for (height, hashes) in blocks {
        for (i, hash) in hashes.iter().enumerate() {
            records.extend_from_slice(hash);
            records.extend_from_slice(&height.to_be_bytes());
            // Block size limits keep indexes far below u32::MAX.
            records.extend_from_slice(&(i as u32).to_be_bytes());
        }
    }
    runs.add(records, last + 1)
}

/// The transaction hashes of the committed block at `height`, from its receipts.
fn stored_hashes(chain: &Database, height: u64) -> Result<Vec<[u8; 32]>> {
    let receipts = stored_receipts(chain, height)?
        .ok_or_else(|| StorageError::Corrupt { what: "receipts", at: height.to_string() })?;
    Ok(receipts.iter().map(|r| r.tx_hash.0).collect())
}
