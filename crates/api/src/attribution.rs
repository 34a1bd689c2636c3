//! `POST /api/attribution` (a text → spans and shares against a datanet version) and a
//! contribution's coverage by earlier versions (what reviewers check before approving).

use crate::{ApiError, ApiState};
use alx_types::{
    attribution_api::{AttributionReport, AttributionRequest, ContributionCoverage},
    datanet::{ContributionId, DatanetId},
};
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
};

pub(crate) async fn attribute(
    State(s): State<ApiState>,
    body: Result<Json<AttributionRequest>, JsonRejection>,
) -> Result<Json<AttributionReport>, ApiError> {
    // One mapping for every JSON body: a body over the limit is 413, not 400.
    let req = crate::routes::parse_json(body)?;
    let committed = s.chain.committed();
    let indexes = s.indexes.clone();
    // Span matching is CPU work: keep it off the I/O threads.
    let report = tokio::task::spawn_blocking(move || {
        indexes.attribute(&committed.state, req.datanet, req.version, &req.text, req.min_len)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("attribution task: {e}")))??;
    Ok(Json(report))
}

pub(crate) async fn coverage(
    State(s): State<ApiState>,
    Path((datanet, contribution)): Path<(String, String)>,
) -> Result<Json<ContributionCoverage>, ApiError> {
    let datanet: DatanetId = crate::datanets::number(&datanet, "datanet id")?;
    let contribution: ContributionId = crate::datanets::number(&contribution, "contribution id")?;
    let committed = s.chain.committed();
    Ok(Json(s.indexes.coverage(&committed.state, datanet, contribution).await?))
}
