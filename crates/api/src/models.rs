//! `/api/models…`, `/api/api-keys/{hash}`: models and API keys, read from the committed
//! state.

use crate::{ApiError, ApiState};
use alx_state::{Model, State as ChainState};
use alx_types::{
    Height,
    hash::parse_hex,
    model::ModelId,
    model_api::{ApiKeyJson, ModelJson},
};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Most models in one listing.
const PAGE_MAX: u64 = 500;

fn model_json(id: ModelId, m: Model) -> ModelJson {
    ModelJson {
        id,
        owner: m.owner,
        spec: m.spec,
        registered_at: m.registered_at,
        retired: m.retired,
    }
}

/// A model by id, or by name.
pub(crate) fn find_model(state: &ChainState, id: &str) -> Result<(ModelId, Model), ApiError> {
    let id = match id.parse::<ModelId>() {
        Ok(n) => n,
        Err(_) => state
            .model_by_name(id)?
            .ok_or_else(|| ApiError::NotFound(format!("no model named {id:?}")))?,
    };
    let model = state.model(id)?.ok_or_else(|| ApiError::NotFound(format!("no model {id}")))?;
    Ok((id, model))
}

/// Paging of listings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    #[serde(default)]
    from: u64,
    limit: Option<u64>,
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    Query(page): Query<Page>,
) -> ApiResult<Vec<ModelJson>> {
    let committed = s.chain.committed();
    let state = &committed.state;
    let end =
        state.model_count()?.min(page.from.saturating_add(page.limit.unwrap_or(100).min(PAGE_MAX)));
    let mut out = Vec::new();
    for id in (page.from..end).map(ModelId) {
        if let Some(m) = state.model(id)? {
            out.push(model_json(id, m));
        }
    }
    Ok(Json(out))
}

pub(crate) async fn show(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<ModelJson> {
    let committed = s.chain.committed();
    let (id, m) = find_model(&committed.state, &id)?;
    Ok(Json(model_json(id, m)))
}

pub(crate) async fn api_key(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> ApiResult<ApiKeyJson> {
    let key_hash = parse_hex(&hash)
        .ok_or_else(|| ApiError::BadRequest(format!("{hash:?} is not a 64-hex-character hash")))?;
    let committed = s.chain.committed();
    let k = committed
        .state
        .api_key(&key_hash)?
        .ok_or_else(|| ApiError::NotFound(format!("no API key with hash {hash}")))?;
    Ok(Json(ApiKeyJson {
        key_hash,
        payer: k.payer,
        provider: k.provider,
        allowance: k.allowance,
        spent: k.spent,
        revoked: k.revoked,
        closes_at: (k.closes_at != Height(0) && !k.revoked).then_some(k.closes_at),
    }))
}

pub(crate) async fn provider(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<alx_types::model_api::ProviderJson> {
    let who = crate::parse_address(&address)?;
    let committed = s.chain.committed();
    let state = &committed.state;
    let bond = state.provider_bond(&who)?;
    Ok(Json(alx_types::model_api::ProviderJson {
        address: who,
        bond: bond.amount,
        at_risk: bond.at_risk,
        locked_until: bond.locked_until,
        next_receipt: state.next_receipt(&who)?,
    }))
}

pub(crate) async fn settlement_record(
    State(s): State<ApiState>,
    Path((address, first)): Path<(String, String)>,
) -> ApiResult<alx_types::model_api::SettlementRecordJson> {
    use alx_types::model_api::{RecordedPrice, SettlementRecordJson};
    let provider = crate::parse_address(&address)?;
    let first: u64 = first
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{first:?} is not a receipt number")))?;
    let committed = s.chain.committed();
    let r = committed.state.settlement_record(&provider, first)?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no settlement of {address} from receipt {first} is open to challenge (never settled, past its window, or slashed)"
        ))
    })?;
    Ok(Json(SettlementRecordJson {
        provider,
        first_receipt: first,
        receipts: r.receipts,
        receipts_root: r.root,
        prices: r
            .prices
            .iter()
            .map(|&(model, input_per_1k, output_per_1k)| RecordedPrice {
                model,
                input_per_1k,
                output_per_1k,
            })
            .collect(),
    }))
}

/// Points of the schedule `GET /api/emission` samples for a chart.
const CURVE_POINTS: usize = 64;

pub(crate) async fn emission(
    State(s): State<ApiState>,
) -> ApiResult<alx_types::model_api::EmissionJson> {
    use alx_emission::presets::Preset;
    use alx_state::emission::{POOL_COMPUTE, POOL_DATA, POOL_SUBNETS, PROTECTION_FUND};
    let committed = s.chain.committed();
    let state = &committed.state;
    let params = state.emission_params()?;
    let minted = state.minted()?;
    let next_block = params.map_or(alx_types::Amount::ZERO, |p| {
        p.block(committed.block.height().next(), minted).total
    });
    Ok(Json(alx_types::model_api::EmissionJson {
        params: params.and_then(|p| serde_json::to_value(p).ok()),
        preset: params
            .and_then(|p| Preset::of(&p, alx_types::datanet::BLOCKS_PER_DAY))
            .map(|p| p.name().to_owned()),
        minted,
        supply: state.supply()?,
        next_block,
        pool_subnets: state.amount_global(POOL_SUBNETS)?,
        subnets_pending: state.subnet_pending_total()?,
        pool_data: state.amount_global(POOL_DATA)?,
        pool_compute: state.amount_global(POOL_COMPUTE)?,
        protection_fund: state.amount_global(PROTECTION_FUND)?,
        treasury: state.treasury()?,
        curve: params.map_or_else(Vec::new, |p| {
            p.schedule
                .sample(CURVE_POINTS)
                .into_iter()
                .map(|c| alx_types::model_api::CurvePointJson {
                    height: c.height,
                    per_block: c.per_block,
                    minted: c.minted,
                })
                .collect()
        }),
    }))
}

/// `GET /api/supply`: the recorded supply against the sum of everything held, at the committed
/// height (computed once per block).
pub(crate) async fn supply(State(s): State<ApiState>) -> ApiResult<serde_json::Value> {
    // One audit at a time: requests arriving meanwhile wait and read its result.
    let mut cache = s.audit.lock().await;
    let committed = s.chain.committed();
    let height = committed.block.height().0;
    let audit = match *cache {
        Some((h, audit)) if h == height => audit,
        _ => {
            let state = committed.state.clone();
            let audit = tokio::task::spawn_blocking(move || state.audit_supply())
                .await
                .map_err(|e| ApiError::Internal(format!("audit task: {e}")))??;
            *cache = Some((height, audit));
            audit
        }
    };
    drop(cache);
    Ok(Json(serde_json::json!({
        "height": height,
        "supply": audit.supply,
        "held": audit.held,
        "minted": audit.minted,
        "balanced": audit.balanced(),
    })))
}

/// `GET /api/disputes`: every open dispute, oldest first.
pub(crate) async fn disputes(
    State(s): State<ApiState>,
) -> ApiResult<Vec<alx_types::dispute::DisputeJson>> {
    let committed = s.chain.committed();
    Ok(Json(
        committed
            .state
            .open_disputes()?
            .into_iter()
            .map(|(id, r)| {
                let mut json = alx_types::dispute::DisputeJson {
                    id,
                    challenger: r.challenger,
                    claim: alx_types::dispute::Claim::Flag,
                    provider: None,
                    first_receipt: None,
                    receipt: None,
                    datanet: None,
                    contribution: None,
                    deadline: r.deadline.0,
                    guilty: r.guilty,
                    innocent: r.innocent,
                };
                match r.subject {
                    alx_state::Subject::Receipt { dispute: d, .. } => {
                        json.claim = d.claim;
                        json.provider = Some(d.provider);
                        json.first_receipt = Some(d.first_receipt);
                        json.receipt = Some(d.leaf.number);
                    }
                    alx_state::Subject::Flag { datanet, contribution } => {
                        json.datanet = Some(datanet);
                        json.contribution = Some(contribution);
                    }
                }
                json
            })
            .collect(),
    ))
}

/// `GET /api/demands`: every open demand that a provider open a settled receipt.
pub(crate) async fn demands(
    State(s): State<ApiState>,
) -> ApiResult<Vec<alx_types::withheld::DemandJson>> {
    let committed = s.chain.committed();
    Ok(Json(
        committed
            .state
            .open_demands(None)?
            .into_iter()
            .map(|(demand, r)| alx_types::withheld::DemandJson {
                demand,
                challenger: r.challenger,
                deadline: r.deadline.0,
            })
            .collect(),
    ))
}
