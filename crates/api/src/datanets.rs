//! `/api/datanets…`: datanets, their contributions and versions, read from the committed state.

use crate::{ApiError, ApiState};
use alx_state::{Contribution, ContributionStatus, Datanet, DatanetVersion, State as ChainState};
use alx_types::{
    datanet::{ContributionId, DatanetId},
    datanet_api::{ContributionJson, DatanetJson, DatanetResponse, VersionJson},
};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Most datanets or contributions in one listing.
const PAGE_MAX: u64 = 500;

fn datanet_json(id: DatanetId, d: Datanet) -> DatanetJson {
    DatanetJson {
        id,
        owner: d.owner,
        spec: d.spec,
        created_at: d.created_at,
        contributions: d.contributions,
        approved: d.approved,
        approved_bytes: d.approved_bytes,
        version: d.version,
    }
}

fn version_json(datanet: DatanetId, version: u32, v: DatanetVersion) -> VersionJson {
    VersionJson {
        datanet,
        version,
        root: v.root,
        contributions: v.contributions,
        bytes: v.bytes,
        published_at: v.published_at,
    }
}

fn contribution_json(
    state: &ChainState,
    datanet: DatanetId,
    id: ContributionId,
    c: Contribution,
) -> Result<ContributionJson, ApiError> {
    Ok(ContributionJson {
        id,
        contributor: c.contributor,
        content: c.content,
        status: c.status.name().to_owned(),
        submitted_at: c.submitted_at,
        stake: c.stake,
        near_duplicate: c.near_duplicate,
        copy_of: c.copy_of,
        first_version: c.first_version,
        earned: state.contribution_earned(datanet, id)?,
        base_version: c.base_version,
        data_due_at: (c.status == ContributionStatus::AwaitingData)
            .then(|| c.submitted_at.saturating_add(alx_types::availability::DATA_DEADLINE_BLOCKS)),
        refusal: c.refusal,
    })
}

pub(crate) fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::BadRequest(format!("{what} must be a number, got {text:?}")))
}

fn existing(state: &ChainState, id: DatanetId) -> Result<Datanet, ApiError> {
    state.datanet(id)?.ok_or_else(|| ApiError::NotFound(format!("no datanet {id}")))
}

/// Paging of listings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    /// First id (of a datanet, or of a contribution in its datanet).
    #[serde(default)]
    from: u64,
    /// Most items (at most 500).
    limit: Option<u64>,
    /// Contributions only: a status name (`awaiting_data`, `pending`, `approved`, …).
    status: Option<String>,
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    Query(page): Query<Page>,
) -> ApiResult<Vec<DatanetJson>> {
    let committed = s.chain.committed();
    let state = &committed.state;
    let limit = page.limit.unwrap_or(100).min(PAGE_MAX);
    let end = state.datanet_count()?.min(page.from.saturating_add(limit));
    let mut out = Vec::new();
    for id in (page.from..end).map(DatanetId) {
        out.push(datanet_json(id, existing(state, id)?));
    }
    Ok(Json(out))
}

pub(crate) async fn show(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<DatanetResponse> {
    let id: DatanetId = number(&id, "datanet id")?;
    let committed = s.chain.committed();
    let state = &committed.state;
    let datanet = existing(state, id)?;
    let mut versions = Vec::new();
    for v in 1..=datanet.version {
        if let Some(version) = state.datanet_version(id, v)? {
            versions.push(version_json(id, v, version));
        }
    }
    let indexed_version = s.indexes.indexed_version(id);
    Ok(Json(DatanetResponse { datanet: datanet_json(id, datanet), versions, indexed_version }))
}

pub(crate) async fn contributions(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Vec<ContributionJson>> {
    let id: DatanetId = number(&id, "datanet id")?;
    let committed = s.chain.committed();
    let state = &committed.state;
    existing(state, id)?;
    if let Some(status) = &page.status
        && !ContributionStatus::ALL.iter().any(|s| s.name() == status)
    {
        let names: Vec<&str> = ContributionStatus::ALL.iter().map(|s| s.name()).collect();
        return Err(ApiError::BadRequest(format!(
            "status {status:?} is not one of {}",
            names.join(", ")
        )));
    }
    let limit = page.limit.unwrap_or(100).min(PAGE_MAX) as usize;
    let out = state
        .contributions(id)?
        .into_iter()
        .filter(|(cid, c)| {
            cid.0 >= page.from && page.status.as_deref().is_none_or(|s| s == c.status.name())
        })
        .take(limit)
        .map(|(cid, c)| contribution_json(state, id, cid, c))
        .collect::<Result<_, _>>()?;
    Ok(Json(out))
}

pub(crate) async fn version(
    State(s): State<ApiState>,
    Path((id, v)): Path<(String, String)>,
) -> ApiResult<VersionJson> {
    let id: DatanetId = number(&id, "datanet id")?;
    let v = u32::try_from(number::<u64>(&v, "version")?)
        .map_err(|_| ApiError::NotFound(format!("datanet {id} has no version {v}")))?;
    let committed = s.chain.committed();
    let state = &committed.state;
    existing(state, id)?;
    let version = state
        .datanet_version(id, v)?
        .ok_or_else(|| ApiError::NotFound(format!("datanet {id} has no version {v}")))?;
    Ok(Json(version_json(id, v, version)))
}
