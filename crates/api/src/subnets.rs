//! `/api/subnets…`: subnets, their metagraphs, epoch history, weights, outstanding commits and
//! sealed evaluation sets,
//! read from the committed state.
//!
//! Every answer is bounded by the chain's own limits: at most `SUBNETS_MAX` subnets,
//! `UIDS_MAX` neurons per metagraph, `SUBNET_EPOCHS_KEPT` epochs, `UIDS_MAX` weights per
//! row and 16 evaluation seals, so none of these listings needs paging.

use crate::{ApiError, ApiState};
use alx_state::State as ChainState;
use alx_types::subnet::{SUBNET_NAME_LEN_MAX, SubnetId, Uid};
use alx_types::subnet_api::{
    EvalSealJson, MetagraphJson, PendingCommitJson, SubnetEpochJson, SubnetJson, WeightsRowJson,
};
use axum::{
    Json,
    extract::{Path, State},
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// How a path names a subnet: its id, or its name.
#[derive(Debug, PartialEq, Eq)]
enum SubnetRef<'a> {
    Id(SubnetId),
    Name(&'a str),
}

/// Parses `{id}`: a number is an id; otherwise it must be a possible subnet name (the chain's
/// slug rule), so that a typo like `Move Coders` is told apart from a name nobody took.
fn subnet_ref(text: &str) -> Result<SubnetRef<'_>, ApiError> {
    if let Ok(id) = text.parse::<SubnetId>() {
        return Ok(SubnetRef::Id(id));
    }
    let slug = !text.is_empty()
        && text.len() <= SUBNET_NAME_LEN_MAX
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug {
        return Ok(SubnetRef::Name(text));
    }
    Err(ApiError::BadRequest(format!(
        "{text:.80?} is neither a subnet id nor a subnet name ([a-z0-9-], at most \
         {SUBNET_NAME_LEN_MAX} bytes)"
    )))
}

/// A subnet by id or name, or 404.
fn find_subnet(state: &ChainState, text: &str) -> Result<SubnetJson, ApiError> {
    let id = match subnet_ref(text)? {
        SubnetRef::Id(id) => id,
        SubnetRef::Name(name) => state
            .subnet_by_name(name)?
            .ok_or_else(|| ApiError::NotFound(format!("no subnet named {name:?}")))?,
    };
    state.subnet(id)?.ok_or_else(|| ApiError::NotFound(format!("no subnet {id}")))
}

/// A uid of `subnet` in use, or 400 (not a uid) / 404 (not in use).
fn find_uid(subnet: &SubnetJson, text: &str) -> Result<Uid, ApiError> {
    let uid = text.parse::<Uid>().map_err(|_| {
        ApiError::BadRequest(format!("{text:.80?} is not a uid (a number below 65536)"))
    })?;
    if uid >= subnet.neurons {
        return Err(ApiError::NotFound(format!(
            "no uid {uid} in subnet {} (uids in use: 0..{})",
            subnet.id, subnet.neurons
        )));
    }
    Ok(uid)
}

pub(crate) async fn list(State(s): State<ApiState>) -> ApiResult<Vec<SubnetJson>> {
    Ok(Json(s.chain.committed().state.subnets()?))
}

pub(crate) async fn show(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<SubnetJson> {
    Ok(Json(find_subnet(&s.chain.committed().state, &id)?))
}

pub(crate) async fn metagraph(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<MetagraphJson> {
    let committed = s.chain.committed();
    let state = &committed.state;
    let subnet = find_subnet(state, &id)?;
    // Present since `find_subnet` found the subnet in this same state.
    state
        .metagraph(subnet.id)?
        .map(Json)
        .ok_or_else(|| ApiError::Internal(format!("subnet {} has no metagraph", subnet.id)))
}

pub(crate) async fn epochs(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Vec<SubnetEpochJson>> {
    let committed = s.chain.committed();
    let subnet = find_subnet(&committed.state, &id)?;
    Ok(Json(committed.state.subnet_epochs(subnet.id)?))
}

pub(crate) async fn evals(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Vec<EvalSealJson>> {
    let committed = s.chain.committed();
    let subnet = find_subnet(&committed.state, &id)?;
    let seals = committed.state.eval_seals(subnet.id)?;
    Ok(Json(
        seals
            .into_iter()
            .map(|(seal, e)| EvalSealJson {
                seal,
                commitment: e.commitment,
                sealed_at: e.sealed_at,
                revealed_at: e.revealed.map(|(at, _)| at),
                content: e.revealed.map(|(_, c)| c),
            })
            .collect(),
    ))
}

pub(crate) async fn weights(
    State(s): State<ApiState>,
    Path((id, uid)): Path<(String, String)>,
) -> ApiResult<WeightsRowJson> {
    let committed = s.chain.committed();
    let subnet = find_subnet(&committed.state, &id)?;
    let uid = find_uid(&subnet, &uid)?;
    let weights = committed.state.weights_row(subnet.id, uid)?;
    Ok(Json(WeightsRowJson { subnet: subnet.id, uid, weights }))
}

pub(crate) async fn commit(
    State(s): State<ApiState>,
    Path((id, uid)): Path<(String, String)>,
) -> ApiResult<PendingCommitJson> {
    let committed = s.chain.committed();
    let subnet = find_subnet(&committed.state, &id)?;
    let uid = find_uid(&subnet, &uid)?;
    committed.state.pending_commit(subnet.id, uid)?.map(Json).ok_or_else(|| {
        ApiError::NotFound(format!("uid {uid} of subnet {} has no outstanding commit", subnet.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_refs() {
        let check = |text: &str, expect: Option<SubnetRef<'_>>| {
            assert_eq!(subnet_ref(text).ok(), expect, "{text:?}");
        };
        check("0", Some(SubnetRef::Id(SubnetId(0))));
        check("18446744073709551615", Some(SubnetRef::Id(SubnetId(u64::MAX))));
        check("move-coders", Some(SubnetRef::Name("move-coders")));
        check("7a", Some(SubnetRef::Name("7a")));
        check(&"n".repeat(SUBNET_NAME_LEN_MAX), Some(SubnetRef::Name(&"n".repeat(64))));
        for bad in ["", "Move", "a b", "a_b", "é", "-1.5", &"n".repeat(SUBNET_NAME_LEN_MAX + 1)] {
            check(bad, None);
        }
    }
}
