//! What a light client (`alx-light`) needs to check, without trusting this node, that a block
//! is final: `GET /api/light/finalizations/{height}` (the block's header, the headers after it
//! up to the first block whose finalization certificate this node holds, and that certificate)
//! and `GET /api/light/epochs/{epoch}` (an epoch's validator set with its proof against the
//! state root of the block that chose it).

use crate::{ApiError, ApiState};
use alx_types::{
    Height,
    api::{
        EpochSetProof, FinalizationResponse, LightGenesis, PROOF_KEYS_MAX, ProvenEntry,
        StateProofsResponse,
    },
};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use commonware_codec::Encode as _;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The encoded finalization certificate of the block at a height, if this node holds one.
pub type FinalizationSource =
    Arc<dyn Fn(Height) -> BoxFuture<'static, Option<Vec<u8>>> + Send + Sync>;

/// Heights looked at past the one asked for, at most, to find a certificate (a proof carries
/// that many headers at most; blocks are normally certified one by one).
pub(crate) const SCAN_MAX: u64 = 64;

pub(crate) async fn finalization(
    State(s): State<ApiState>,
    Path(height): Path<String>,
) -> Result<Json<FinalizationResponse>, ApiError> {
    let height: Height = height
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{height:?} is not a block height")))?;
    let tip = s.chain.committed().block.height();
    if height.0 == 0 {
        return Err(ApiError::BadRequest(
            "the genesis block needs no certificate: a light client builds it from the genesis file"
                .into(),
        ));
    }
    if height > tip {
        return Err(ApiError::NotFound(format!(
            "height {height} is not committed yet (the tip is {tip})"
        )));
    }
    let last = Height(height.0.saturating_add(SCAN_MAX).min(tip.0));
    let mut at = height;
    let certificate = loop {
        if let Some(certificate) = (s.finalizations)(at).await {
            break certificate;
        }
        if at >= last {
            return Err(ApiError::NotFound(format!(
                "this node holds no finalization certificate for heights {height} to {last}; ask another node"
            )));
        }
        at = at.next();
    };
    // Up to 65 block reads and decodes: on a blocking thread, not the runtime's workers
    // (consensus shares them).
    let chain = s.chain.clone();
    let headers = tokio::task::spawn_blocking(move || {
        (height.0..=at.0)
            .map(|h| {
                let block = chain
                    .block(Height(h))?
                    .ok_or_else(|| ApiError::Internal(format!("committed block {h} is missing")))?;
                Ok(hex::encode(block.header.encode()))
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(FinalizationResponse {
        height,
        certified_height: at,
        headers,
        certificate: hex::encode(certificate),
    }))
}

/// `GET /api/light/genesis`: the trust root this node was started from (see
/// [`LightGenesis`]). A client that pins it on first use is told by every later proof whether
/// the node still serves the same chain.
pub(crate) async fn genesis(State(s): State<ApiState>) -> Json<LightGenesis> {
    Json((*s.light_genesis).clone())
}

pub(crate) async fn epoch_set(
    State(s): State<ApiState>,
    Path(epoch): Path<String>,
) -> Result<Json<EpochSetProof>, ApiError> {
    let epoch: u64 =
        epoch.parse().map_err(|_| ApiError::BadRequest(format!("{epoch:?} is not an epoch")))?;
    if epoch == 0 {
        return Err(ApiError::BadRequest(
            "epoch 0's validators are the genesis file's: a light client reads them there".into(),
        ));
    }
    let bytes = s.chain.epoch_set(epoch)?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no proof of epoch {epoch}'s validator set here (the epoch has not begun, or this node committed its boundary block before it kept these proofs)"
        ))
    })?;
    let record = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::Internal(format!("stored epoch set {epoch} is corrupt: {e}")))?;
    Ok(Json(record))
}

/// `GET /api/proofs` query.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofsQuery {
    /// State keys, hex, comma-separated.
    keys: String,
}

/// `GET /api/proofs?keys=HEX,…`: the committed state's entries under those keys, with proofs
/// against its root, all at one height.
pub(crate) async fn proofs(
    State(s): State<ApiState>,
    Query(q): Query<ProofsQuery>,
) -> Result<Json<StateProofsResponse>, ApiError> {
    let keys = q
        .keys
        .split(',')
        .map(|k| {
            hex::decode(k)
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 128)
                .ok_or_else(|| ApiError::BadRequest(format!("{k:?} is not a hex state key")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.len() > PROOF_KEYS_MAX {
        return Err(ApiError::BadRequest(format!(
            "at most {PROOF_KEYS_MAX} keys per request, got {}",
            keys.len()
        )));
    }
    let committed = s.chain.committed();
    let entries = keys
        .iter()
        .map(|key| {
            let (value, proof) = committed.state.prove(key);
            ProvenEntry { key: hex::encode(key), value: value.map(hex::encode), proof }
        })
        .collect();
    Ok(Json(StateProofsResponse { height: committed.block.height(), entries }))
}
