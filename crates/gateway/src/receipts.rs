//! Signed receipts, numbered in order and stored one file each (written to a temporary name,
//! synced, renamed), so a crash never leaves half a receipt and settlement finds every number.
//! Beside them, in `batches/`, what each submitted settlement settles per receipt (one file per
//! attempt: a range refused or lost is submitted again, maybe with other leaves): published
//! with the receipts so anyone can check the settlement's receipt root.

use alx_types::{
    Address, Hash,
    hash::to_hex,
    settled::SettledReceipt,
    settled_batch::SettledBatch,
    usage_api::{ReceiptBody, UsageReceipt},
};
use commonware_cryptography::ed25519::PrivateKey;
use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

/// The receipts this node issued.
pub struct ReceiptStore {
    dir: PathBuf,
    key: PrivateKey,
    /// Receipt id → number, and the next number.
    index: Mutex<(BTreeMap<Hash, u64>, u64)>,
    /// The settlement transactions submitted per first receipt, in the order submitted.
    batches: Mutex<BTreeMap<u64, Vec<Hash>>>,
}

impl std::fmt::Debug for ReceiptStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn file(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.json"))
}

fn batch_file(dir: &Path, first: u64, tx: &Hash) -> PathBuf {
    dir.join("batches").join(format!("{first:020}-{}.json", to_hex(tx)))
}

/// What `batches/` holds per settlement: the receipts are read from their own files.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredBatch {
    #[serde(with = "alx_types::hash::serde_hex")]
    tx_hash: Hash,
    leaves: Vec<SettledReceipt>,
}

/// Writes `bytes` to `path` whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl ReceiptStore {
    /// Opens (or creates) the store in `dir`, signing with `key`.
    pub fn open(dir: &Path, key: PrivateKey) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("batches"))?;
        let mut ids = BTreeMap::new();
        let mut next = 0;
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let Ok(r) = serde_json::from_slice::<UsageReceipt>(&bytes) else {
                tracing::warn!(file = %path.display(), "unreadable receipt file ignored");
                continue;
            };
            next = next.max(r.body.number + 1);
            ids.insert(r.id, r.body.number);
        }
        let mut batches: BTreeMap<u64, Vec<Hash>> = BTreeMap::new();
        for entry in std::fs::read_dir(dir.join("batches"))?.flatten() {
            let name = entry.file_name().into_string().unwrap_or_default();
            let Some((first, tx)) = name.strip_suffix(".json").and_then(|n| n.split_once('-'))
            else {
                continue;
            };
            if let (Ok(first), Some(tx)) = (first.parse::<u64>(), alx_types::hash::parse_hex(tx)) {
                batches.entry(first).or_default().push(tx);
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            key,
            index: Mutex::new((ids, next)),
            batches: Mutex::new(batches),
        })
    }

    /// Signs and stores a receipt, giving it the next number (`body.number` is overwritten,
    /// and never below `floor`, the chain's next unsettled number).
    pub fn issue(&self, mut body: ReceiptBody, floor: u64) -> std::io::Result<UsageReceipt> {
        let mut index = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        body.number = index.1.max(floor);
        let receipt = UsageReceipt::sign(body, &self.key);
        let id = receipt.id;
        let path = file(&self.dir, receipt.body.number);
        write_atomically(
            &path,
            &serde_json::to_vec_pretty(&receipt).map_err(std::io::Error::other)?,
        )?;
        index.0.insert(id, receipt.body.number);
        index.1 = receipt.body.number + 1;
        tracing::debug!(id = %to_hex(&id), number = receipt.body.number, "receipt issued");
        Ok(receipt)
    }

    /// A receipt by number.
    pub fn by_number(&self, number: u64) -> Option<UsageReceipt> {
        let bytes = std::fs::read(file(&self.dir, number)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// A receipt by id.
    pub fn by_id(&self, id: &Hash) -> Option<UsageReceipt> {
        let number =
            *self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.get(id)?;
        self.by_number(number)
    }

    /// The next number to issue.
    pub fn next_number(&self) -> u64 {
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1
    }

    /// Records what the settlement `tx_hash` settles for the receipts from `first` (replacing
    /// an earlier attempt at the same range).
    pub fn put_batch(
        &self,
        first: u64,
        tx_hash: Hash,
        leaves: &[SettledReceipt],
    ) -> std::io::Result<()> {
        let stored = StoredBatch { tx_hash, leaves: leaves.to_vec() };
        write_atomically(
            &batch_file(&self.dir, first, &tx_hash),
            &serde_json::to_vec(&stored).map_err(std::io::Error::other)?,
        )?;
        let mut batches = self.batches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        batches.entry(first).or_default().push(tx_hash);
        Ok(())
    }

    /// The batch holding receipt `number`, from the greatest first receipt at or below it, as
    /// `provider` publishes it: the attempt `committed` says the chain applied, else the last
    /// one submitted.
    pub fn batch(
        &self,
        provider: Address,
        number: u64,
        committed: impl Fn(&Hash) -> bool,
    ) -> Option<SettledBatch> {
        let (first, attempts) = {
            let batches = self.batches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (first, attempts) = batches.range(..=number).next_back()?;
            (*first, attempts.clone())
        };
        let tx = attempts.iter().find(|tx| committed(tx)).or_else(|| attempts.last())?;
        let bytes = std::fs::read(batch_file(&self.dir, first, tx)).ok()?;
        let stored: StoredBatch = serde_json::from_slice(&bytes).ok()?;
        if number >= first.saturating_add(stored.leaves.len() as u64) {
            return None; // Not settled (or not submitted) yet.
        }
        let receipts = stored
            .leaves
            .iter()
            .filter(|l| l.id != alx_types::hash::ZERO)
            .filter_map(|l| self.by_number(l.number))
            .collect();
        Some(SettledBatch {
            provider,
            first_receipt: first,
            tx_hash: stored.tx_hash,
            leaves: stored.leaves,
            receipts,
        })
    }
}
