//! `GET /api/receipts/{id}`: a usage receipt this node's gateway issued, as signed (anyone can
//! check it with `alx receipt verify`), and `GET /api/settlements/{provider}/{number}`: the
//! batch it settled that holds receipt `number`, with what the settlement settled per receipt (anyone can check it against the
//! receipt root on chain with `alx receipt settlement`). The receipts live in the gateway's
//! store; the API reads them through [`ReceiptSource`] and [`BatchSource`], so it does not
//! depend on the serving side.

use crate::{ApiError, ApiState};
use alx_types::{
    Address, Hash, hash::parse_hex, settled_batch::SettledBatch, usage_api::UsageReceipt,
};
use axum::{
    Json,
    extract::{Path, State},
};
use std::sync::Arc;

/// Looks a receipt up by id (`None` when this node did not issue it).
pub type ReceiptSource = Arc<dyn Fn(&Hash) -> Option<UsageReceipt> + Send + Sync>;

/// Looks up the settled batch of a provider holding a receipt number (`None` when this node did
/// not settle it).
pub type BatchSource = Arc<dyn Fn(&Address, u64) -> Option<SettledBatch> + Send + Sync>;

pub(crate) async fn show(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<UsageReceipt>, ApiError> {
    let hash = parse_hex(&id).ok_or_else(|| {
        ApiError::BadRequest(format!("{id:?} is not a receipt id (64 hex characters)"))
    })?;
    (s.receipts)(&hash)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no receipt {id} on this node")))
}

pub(crate) async fn batch(
    State(s): State<ApiState>,
    Path((provider, number)): Path<(String, String)>,
) -> Result<Json<SettledBatch>, ApiError> {
    let address = crate::parse_address(&provider)?;
    let number: u64 = number
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{number:?} is not a receipt number")))?;
    // Reading a batch reads up to a thousand receipt files: off the async threads.
    let source = s.batches.clone();
    let found = tokio::task::spawn_blocking(move || source(&address, number))
        .await
        .map_err(|e| ApiError::Internal(format!("batch lookup failed: {e}")))?;
    found.map(Json).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no settled batch holds receipt {number} of {provider} on this node (batches are published by the node that served the requests, once it submits their settlement)"
        ))
    })
}
