//! Looking back, from the node's history index (`alx-history`): the transactions that touched
//! an address, what a contribution earned from each settlement, and what each settlement
//! charged for a model.

use crate::{ApiError, ApiState, datanets::number};
use alx_history::{History, HistoryError, TxPlace};
use alx_types::{
    Address, Height,
    api::{AccountTxsResponse, PlacedTx, TxJson},
    datanet::{ContributionId, DatanetId},
    datanet_api::{
        ContributionCreditsResponse, ContributionEventJson, ContributionEventsResponse,
        CreditEventJson,
    },
    model_api::{ModelFeesJson, ModelUsageResponse},
};
use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;

/// Most transactions one page of an account's history holds.
pub(crate) const ACCOUNT_PAGE_MAX: usize = 100;
/// Most credits one answer holds.
pub(crate) const CREDITS_MAX: usize = 1_000;

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        Self::Internal(e.to_string())
    }
}

fn indexed(history: &History) -> Result<Height, ApiError> {
    Ok(Height(history.next_height()?.0.saturating_sub(1)))
}

/// A page size: `default` when absent, refused outside `1..=max`.
fn page_size(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > max {
        return Err(ApiError::BadRequest(format!("limit must be 1 to {max}, got {limit}")));
    }
    Ok(limit)
}

/// The height the index covers, read first, and what `query` finds: on a blocking thread
/// (redb reads), never the runtime's workers.
async fn from_index<T: Send + 'static>(
    history: &std::sync::Arc<History>,
    query: impl FnOnce(&History) -> Result<T, HistoryError> + Send + 'static,
) -> Result<(Height, T), ApiError> {
    let history = history.clone();
    tokio::task::spawn_blocking(move || Ok((indexed(&history)?, query(&history)?)))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Refuses a contribution the chain does not hold.
fn existing(
    s: &ApiState,
    datanet: DatanetId,
    contribution: ContributionId,
) -> Result<(), ApiError> {
    if s.chain.committed().state.contribution(datanet, contribution)?.is_none() {
        return Err(ApiError::NotFound(format!(
            "no contribution {contribution} in datanet {datanet}"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountTxsQuery {
    /// Only transactions before this place, `HEIGHT.INDEX` (the previous page's `next`).
    before: Option<String>,
    /// Page size (default 25, at most 100).
    limit: Option<usize>,
}

fn place(text: &str) -> Result<TxPlace, ApiError> {
    let bad = || ApiError::BadRequest(format!("before must be HEIGHT.INDEX, got {text:?}"));
    let (height, index) = text.split_once('.').ok_or_else(bad)?;
    Ok(TxPlace {
        height: Height(height.parse().map_err(|_| bad())?),
        index: index.parse().map_err(|_| bad())?,
    })
}

/// `GET /api/accounts/{address}/txs?before=&limit=`.
pub(crate) async fn account_txs(
    State(s): State<ApiState>,
    Path(address): Path<String>,
    Query(q): Query<AccountTxsQuery>,
) -> Result<Json<AccountTxsResponse>, ApiError> {
    let address = crate::parse_address(&address)?;
    let limit = page_size(q.limit, 25, ACCOUNT_PAGE_MAX)?;
    let before = q.before.as_deref().map(place).transpose()?;
    let _permit = HEAVY.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let (chain, history) = (s.chain.clone(), s.history.clone());
    // Up to 100 block reads and decodes: on a blocking thread, never the runtime's workers
    // (consensus shares them).
    let page = tokio::task::spawn_blocking(move || {
        account_page(&*chain, &history, &address, before, limit)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(page))
}

/// History requests that read blocks, at most, at once (the others wait their turn).
static HEAVY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn account_page(
    chain: &dyn alx_ledger::ChainView,
    history: &History,
    address: &Address,
    before: Option<TxPlace>,
    limit: usize,
) -> Result<AccountTxsResponse, ApiError> {
    // The covered height first: every transaction listed is at or below it.
    let indexed_height = indexed(history)?;
    let found = history.account_txs(address, before, limit)?;
    let mut txs = Vec::with_capacity(found.len());
    // Consecutive transactions often share a block: each block is read once.
    let mut loaded: Option<(Height, alx_types::Block, Vec<alx_types::Receipt>)> = None;
    for t in &found {
        let height = t.place.height;
        if loaded.as_ref().is_none_or(|(h, _, _)| *h != height) {
            let block = chain.block(height)?.ok_or_else(|| {
                ApiError::Internal(format!("indexed block {height} is not stored"))
            })?;
            loaded = Some((height, block, chain.receipts(height)?));
        }
        let Some((_, block, receipts)) = loaded.as_ref() else { continue };
        let i = t.place.index as usize;
        let (Some(signed), Some(receipt)) = (block.txs.get(i), receipts.get(i)) else {
            return Err(ApiError::Internal(format!("indexed tx {height}.{i} is not stored")));
        };
        txs.push(PlacedTx {
            height,
            index: t.place.index,
            tx: TxJson::from(signed),
            receipt: receipt.clone(),
        });
    }
    let next = (found.len() == limit)
        .then(|| found.last().map(|t| format!("{}.{}", t.place.height, t.place.index)))
        .flatten();
    Ok(AccountTxsResponse { address: *address, indexed_height, txs, next })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreditsQuery {
    /// How many (default 200, at most 1,000).
    limit: Option<usize>,
}

/// `GET /api/datanets/{id}/contributions/{c}/credits?limit=`.
pub(crate) async fn contribution_credits(
    State(s): State<ApiState>,
    Path((datanet, contribution)): Path<(String, String)>,
    Query(q): Query<CreditsQuery>,
) -> Result<Json<ContributionCreditsResponse>, ApiError> {
    let datanet: DatanetId = number(&datanet, "datanet id")?;
    let contribution: ContributionId = number(&contribution, "contribution id")?;
    let limit = page_size(q.limit, 200, CREDITS_MAX)?;
    existing(&s, datanet, contribution)?;
    let (indexed_height, found) =
        from_index(&s.history, move |h| h.contribution_credits(datanet, contribution, limit))
            .await?;
    let credits = found
        .into_iter()
        .map(|c| CreditEventJson {
            height: c.place.height,
            tx_index: c.place.index,
            model: c.model,
            amount: c.amount,
            provider: c.provider,
            first_receipt: c.first_receipt,
            receipts: c.receipts,
        })
        .collect();
    Ok(Json(ContributionCreditsResponse { datanet, contribution, indexed_height, credits }))
}

/// `GET /api/models/{id}/usage?limit=`.
pub(crate) async fn model_usage(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<CreditsQuery>,
) -> Result<Json<ModelUsageResponse>, ApiError> {
    let limit = page_size(q.limit, 200, CREDITS_MAX)?;
    let (model, _) = crate::models::find_model(&s.chain.committed().state, &id)?;
    let (indexed_height, found) =
        from_index(&s.history, move |h| h.model_fees(model, limit)).await?;
    let settlements = found
        .into_iter()
        .map(|f| ModelFeesJson {
            height: f.place.height,
            tx_index: f.place.index,
            fees: f.fees,
            api_keys: f.api_keys,
            provider: f.provider,
        })
        .collect();
    Ok(Json(ModelUsageResponse { model, indexed_height, settlements }))
}

/// `GET /api/datanets/{id}/contributions/{c}/events`.
pub(crate) async fn contribution_events(
    State(s): State<ApiState>,
    Path((datanet, contribution)): Path<(String, String)>,
) -> Result<Json<ContributionEventsResponse>, ApiError> {
    let datanet: DatanetId = number(&datanet, "datanet id")?;
    let contribution: ContributionId = number(&contribution, "contribution id")?;
    existing(&s, datanet, contribution)?;
    let (indexed_height, found) =
        from_index(&s.history, move |h| h.contribution_events(datanet, contribution)).await?;
    let events = found
        .into_iter()
        .map(|e| ContributionEventJson {
            height: e.place.height,
            tx_index: e.place.index,
            event: e.event.name().to_owned(),
            by: e.by,
            copies: match e.event {
                alx_history::ContributionEvent::Flagged { copies } => Some(copies),
                _ => None,
            },
        })
        .collect();
    Ok(Json(ContributionEventsResponse { datanet, contribution, indexed_height, events }))
}
