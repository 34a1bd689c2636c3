//! Signed receipts, numbered in order and stored one file each (written to a temporary name,
//! synced, renamed), so a crash never leaves half a receipt and settlement finds every number.

use alx_types::{
    Hash,
    hash::to_hex,
    usage_api::{NAMESPACE_RECEIPT, ReceiptBody, UsageReceipt},
};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
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
}

impl std::fmt::Debug for ReceiptStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn file(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.json"))
}

impl ReceiptStore {
    /// Opens (or creates) the store in `dir`, signing with `key`.
    pub fn open(dir: &Path, key: PrivateKey) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
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
        Ok(Self { dir: dir.to_owned(), key, index: Mutex::new((ids, next)) })
    }

    /// Signs and stores a receipt, giving it the next number (`body.number` is overwritten,
    /// and never below `floor`, the chain's next unsettled number).
    pub fn issue(&self, mut body: ReceiptBody, floor: u64) -> std::io::Result<UsageReceipt> {
        let mut index = self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        body.number = index.1.max(floor);
        let id = body.id();
        let signature = hex::encode(self.key.sign(NAMESPACE_RECEIPT, &id.0).encode());
        let receipt = UsageReceipt { id, body, signature };
        let path = file(&self.dir, receipt.body.number);
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&receipt).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
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
}
