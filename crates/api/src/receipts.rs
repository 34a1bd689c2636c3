//! `GET /api/receipts/{id}`: a usage receipt this node's gateway issued, as signed (anyone can
//! check it with `alx receipt verify`). The receipts live in the gateway's store; the API reads
//! them through [`ReceiptSource`], so it does not depend on the serving side.

use crate::{ApiError, ApiState};
use alx_types::{Hash, hash::parse_hex, usage_api::UsageReceipt};
use axum::{
    Json,
    extract::{Path, State},
};
use std::sync::Arc;

/// Looks a receipt up by id (`None` when this node did not issue it).
pub type ReceiptSource = Arc<dyn Fn(&Hash) -> Option<UsageReceipt> + Send + Sync>;

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
