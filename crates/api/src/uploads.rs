//! Who may store blobs on this node, and how much: nothing is written for an anonymous client.
//!
//! An upload is authorized by one of:
//!
//! - an upload grant (`x-alx-upload`, see `alx_types::upload`): an account's signature over the
//!   exact blob (hash and size) on this chain, not expired, from an account holding at least
//!   `min_balance` (spendable plus prepaid);
//! - an API key of this node (`Authorization: Bearer alx-sk-…`), open, with at least
//!   `min_balance` of allowance, for `content-length` bytes.
//!
//! Each uploader (the signing account, or the key's payer) may store `bytes_per_hour` per clock
//! hour, and the node
//! `bytes_per_hour_total` from everyone (429 past either, with the seconds to wait). The bytes
//! of an upload are counted before they are read and given back if it fails or the blob was
//! already stored. What nobody references is collected after a grace period (see the node's
//! blob collector), so the disk holds at most the referenced data plus a few hours of uploads.

use crate::ApiError;
use alx_state::State;
use alx_types::{
    Address, Amount, ChainId, Hash, Height,
    upload::{GRANT_BLOCKS_MAX, UPLOAD_GRANT_HEADER, UploadGrant},
};
use axum::http::{HeaderMap, header};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Seconds in a quota window.
const WINDOW_SECS: u64 = 3_600;
/// Uploaders tracked at most; past it, the entries of past windows are forgotten.
const TRACKED_MAX: usize = 100_000;
/// The key of the node-wide total.
const TOTAL: [u8; 32] = [0xff; 32];

/// Bytes stored per uploader (account or key hash) in the current window: (window, bytes).
type Usage = Arc<Mutex<BTreeMap<[u8; 32], (u64, u64)>>>;

/// The node's upload rules.
#[derive(Debug)]
pub struct UploadPolicy {
    /// This node's address: the provider its API keys name.
    pub node: Address,
    /// Least an account must hold (balance plus prepaid) to sign uploads.
    pub min_balance: Amount,
    /// Most bytes one uploader stores per hour.
    pub bytes_per_hour: u64,
    /// Most bytes everyone together stores per hour.
    pub bytes_per_hour_total: u64,
    used: Usage,
}

/// An authorized upload: what the bytes must be, and its place in the quota (given back when
/// dropped unless kept).
pub(crate) struct Authorized {
    pub(crate) hash: Option<Hash>,
    pub(crate) size: u64,
    counted: Counted,
}

struct Counted {
    used: Usage,
    who: [u8; 32],
    window: u64,
    bytes: u64,
    kept: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for who in [self.who, TOTAL] {
            if let Some((window, bytes)) = used.get_mut(&who)
                && *window == self.window
            {
                *bytes = bytes.saturating_sub(self.bytes);
            }
        }
    }
}

impl Authorized {
    /// Keeps the bytes counted: the blob was stored.
    pub(crate) fn keep(mut self) {
        self.counted.kept = true;
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(message.into())
}

fn now_window() -> (u64, u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / WINDOW_SECS, WINDOW_SECS - secs % WINDOW_SECS)
}

impl UploadPolicy {
    /// The rules of a node.
    #[must_use]
    pub fn new(
        node: Address,
        min_balance: Amount,
        bytes_per_hour: u64,
        bytes_per_hour_total: u64,
    ) -> Self {
        Self { node, min_balance, bytes_per_hour, bytes_per_hour_total, used: Arc::default() }
    }

    /// Checks who uploads, and counts the bytes. `path_hash` is the hash a `PUT` names.
    pub(crate) fn authorize(
        &self,
        state: &State,
        height: Height,
        headers: &HeaderMap,
        path_hash: Option<Hash>,
    ) -> Result<Authorized, ApiError> {
        let (who, hash, size) = if let Some(grant) = headers.get(UPLOAD_GRANT_HEADER) {
            let grant = grant.to_str().map_err(|_| unauthorized("the upload grant is not text"))?;
            let grant = UploadGrant::from_header(grant)
                .map_err(|e| unauthorized(format!("malformed upload grant: {e}")))?;
            self.check_grant(state, state.chain_id(), height, &grant, path_hash)?;
            (grant.uploader.0, Some(grant.hash), grant.size)
        } else if let Some(token) = bearer(headers) {
            let key_hash = alx_types::hash::sha256(&[token.as_bytes()]);
            let key = state.api_key(&key_hash)?.ok_or_else(|| unauthorized("unknown API key"))?;
            if !key.is_open() || key.provider != self.node {
                return Err(unauthorized(
                    "this API key cannot upload here (revoked, or for another node)",
                ));
            }
            // Anyone may name this node in a key: only one with real money behind it uploads,
            // and the quota is the payer's, however many keys it makes.
            if key.allowance < self.min_balance {
                return Err(ApiError::Forbidden(format!(
                    "this API key's allowance is {}; uploading here takes at least {}",
                    key.allowance, self.min_balance
                )));
            }
            let size = content_length(headers).ok_or_else(|| {
                ApiError::BadRequest("an upload with an API key needs a content-length".into())
            })?;
            (key.payer.0, path_hash, size)
        } else {
            return Err(unauthorized(
                "uploads need an upload grant (x-alx-upload) or an API key of this node; `alx blob put --from KEY` signs one",
            ));
        };
        let counted = self.count(who, size)?;
        Ok(Authorized { hash, size, counted })
    }

    fn check_grant(
        &self,
        state: &State,
        chain_id: &ChainId,
        height: Height,
        grant: &UploadGrant,
        path_hash: Option<Hash>,
    ) -> Result<(), ApiError> {
        if path_hash.is_some_and(|h| h != grant.hash) {
            return Err(unauthorized("the upload grant is for another blob"));
        }
        if grant.expires_at < height || grant.expires_at > height.saturating_add(GRANT_BLOCKS_MAX) {
            return Err(unauthorized(format!(
                "the upload grant expires at height {}, outside {height}..={} (sign a new one)",
                grant.expires_at,
                height.saturating_add(GRANT_BLOCKS_MAX)
            )));
        }
        if !grant.verify(chain_id) {
            return Err(unauthorized("the upload grant's signature does not verify"));
        }
        let balance = state.account(&grant.uploader)?.map_or(Amount::ZERO, |a| a.balance);
        let held = balance.checked_add(state.prepaid(&grant.uploader)?).unwrap_or(balance);
        if held < self.min_balance {
            return Err(ApiError::Forbidden(format!(
                "{} holds {held}; uploading here takes at least {}",
                grant.uploader, self.min_balance
            )));
        }
        Ok(())
    }

    fn count(&self, who: [u8; 32], size: u64) -> Result<Counted, ApiError> {
        let (window, wait) = now_window();
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.len() >= TRACKED_MAX {
            used.retain(|_, (w, _)| *w == window);
        }
        let current = |used: &BTreeMap<[u8; 32], (u64, u64)>, k: &[u8; 32]| {
            used.get(k).filter(|(w, _)| *w == window).map_or(0, |(_, b)| *b)
        };
        let mine = current(&used, &who);
        let all = current(&used, &TOTAL);
        if mine.saturating_add(size) > self.bytes_per_hour
            || all.saturating_add(size) > self.bytes_per_hour_total
        {
            return Err(ApiError::QuotaExceeded {
                message: format!(
                    "this upload of {size} bytes would pass the hourly upload quota ({} bytes per uploader, {} for the node)",
                    self.bytes_per_hour, self.bytes_per_hour_total
                ),
                retry_after_secs: wait,
            });
        }
        used.insert(who, (window, mine + size));
        used.insert(TOTAL, (window, all + size));
        Ok(Counted { used: self.used.clone(), who, window, bytes: size, kept: false })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
