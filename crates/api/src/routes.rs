//! Request handlers. Each parses its input strictly, reads the committed ledger, and answers
//! with the JSON shapes of `alx_types::api`.

use crate::{ApiError, ApiState, BATCH_TXS_MAX};
use alx_types::{
    Address, Block, SignedTx,
    api::{
        AccountJson, AccountProof, AccountResponse, BlockHeaderJson, BlockResponse, StatusResponse,
        SubmitTxRequest, SubmitTxResponse, TxJson, TxResponse, TxWithReceipt,
    },
    block::Height,
    hash::{parse_hex, to_hex},
};
use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response, Sse, sse::Event},
};
use commonware_codec::Encode as _;
use futures::{Stream, StreamExt as _};
use serde::Deserialize;
use std::convert::Infallible;

type ApiResult<T> = Result<Json<T>, ApiError>;

pub(crate) async fn status(State(s): State<ApiState>) -> ApiResult<StatusResponse> {
    let committed = s.chain.committed();
    Ok(Json(StatusResponse {
        chain_id: *committed.state.chain_id(),
        height: committed.block.height(),
        last_block_hash: to_hex(&committed.block.digest()),
        state_root: to_hex(&committed.block.header.state_root),
        epoch: committed.block.height().0.saturating_add(1) / committed.state.params().epoch_length,
        epoch_length: committed.state.params().epoch_length,
        validators: committed.state.active_set()?,
        mempool_size: s.chain.mempool_len(),
        version: s.version.to_owned(),
    }))
}

fn block_response(s: &ApiState, block: &Block) -> Result<BlockResponse, ApiError> {
    let receipts = if block.height() == s.chain.committed().block.height() {
        s.chain.committed().receipts.clone()
    } else {
        s.chain.receipts(block.height())?
    };
    let txs = block
        .txs
        .iter()
        .zip(receipts)
        .map(|(tx, receipt)| TxWithReceipt {
            tx: TxJson::from(tx),
            receipt_raw: hex::encode(receipt.encode()),
            receipt,
        })
        .collect();
    Ok(BlockResponse { header: BlockHeaderJson::from(block), txs })
}

pub(crate) async fn latest_block(State(s): State<ApiState>) -> ApiResult<BlockResponse> {
    let committed = s.chain.committed();
    Ok(Json(block_response(&s, &committed.block)?))
}

pub(crate) async fn block(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<BlockResponse> {
    let height = if let Ok(h) = id.parse::<Height>() {
        h
    } else if let Some(hash) = parse_hex(&id) {
        s.chain
            .height_of(&hash)?
            .ok_or_else(|| ApiError::NotFound(format!("no committed block with hash {id}")))?
    } else {
        return Err(ApiError::BadRequest(format!(
            "{id:?} is neither a height nor a 64-hex-character block hash"
        )));
    };
    let block = if height.0 == 0 {
        (*s.chain.genesis()).clone()
    } else {
        s.chain
            .block(height)?
            .ok_or_else(|| ApiError::NotFound(format!("no committed block at height {height}")))?
    };
    Ok(Json(block_response(&s, &block)?))
}

pub(crate) async fn tx(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> ApiResult<TxResponse> {
    let digest = parse_hex(&hash)
        .ok_or_else(|| ApiError::BadRequest(format!("{hash:?} is not a 64-hex-character hash")))?;
    let not_found = || {
        let pending = s.chain.committed().block.height();
        ApiError::NotFound(format!(
            "transaction {hash} is not in any committed block (chain height {pending}); it may still be pending"
        ))
    };
    let (height, index) = s.chain.tx_location(&digest)?.ok_or_else(not_found)?;
    let block = s.chain.block(height)?.ok_or_else(not_found)?;
    let receipts = s.chain.receipts(height)?;
    let i = index as usize;
    let (Some(signed), Some(receipt)) = (block.txs.get(i), receipts.get(i)) else {
        return Err(ApiError::Internal(format!("tx index {i} out of range at height {height}")));
    };
    Ok(Json(TxResponse {
        tx: TxJson::from(signed),
        receipt: receipt.clone(),
        height,
        index,
        block_hash: to_hex(&block.digest()),
        raw: hex::encode(signed.to_bytes()),
        receipt_raw: hex::encode(receipt.encode()),
    }))
}

fn decode_tx(text: &str) -> Result<SignedTx, ApiError> {
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| ApiError::BadRequest(format!("tx is not hex: {e}")))?;
    SignedTx::decode_bytes(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("tx does not decode: {e}")))
}

pub(crate) fn parse_json<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "request body over {} bytes",
                crate::BODY_LIMIT_BYTES
            ))
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

pub(crate) async fn submit(
    State(s): State<ApiState>,
    body: Result<Json<SubmitTxRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitTxResponse>), ApiError> {
    let tx = decode_tx(&parse_json(body)?.tx)?;
    let txs = vec![tx];
    refuse_unheld_data(&s, &txs).await?;
    let hash = submit_blocking(&s, txs).await?.remove(0)?;
    Ok((StatusCode::ACCEPTED, Json(SubmitTxResponse { hash: to_hex(&hash) })))
}

/// Refuses an offer of data this node does not hold, or holds at another size: the honest path
/// uploads first (as `alx datanet contribute` does), so the sender learns at once, before paying
/// a fee, what the validators would find. Not a chain rule (a contribution counts only once a
/// quorum of validators holds its data, whoever admitted it); transactions arriving by gossip or
/// by `/api/txs/raw` are not checked here.
async fn refuse_unheld_data(s: &ApiState, txs: &[SignedTx]) -> Result<(), ApiError> {
    use alx_types::{datanet::DatanetOp, tx::Payload};
    for tx in txs {
        let Payload::Datanet(DatanetOp::Contribute { content, .. }) = &tx.tx.payload else {
            continue;
        };
        match s.blobs.head(&content.hash).await? {
            None => {
                return Err(ApiError::InvalidTransaction {
                    kind: "data_not_held",
                    message: format!(
                        "this node holds no blob {}: upload it first (PUT /api/blobs/{{hash}}, or `alx datanet contribute`)",
                        to_hex(&content.hash)
                    ),
                });
            }
            Some(size) if size != content.size => {
                return Err(ApiError::InvalidTransaction {
                    kind: "size_mismatch",
                    message: format!(
                        "the offer declares {} bytes but blob {} holds {size}",
                        content.size,
                        to_hex(&content.hash)
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Signature checks are CPU work: run them off the async workers that drive consensus.
async fn submit_blocking(
    s: &ApiState,
    txs: Vec<SignedTx>,
) -> Result<Vec<Result<alx_types::Hash, alx_ledger::SubmitError>>, ApiError> {
    let chain = s.chain.clone();
    tokio::task::spawn_blocking(move || chain.submit(txs))
        .await
        .map_err(|e| ApiError::Internal(format!("submit task failed: {e}")))
}

/// `POST /api/txs/batch` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    txs: Vec<String>,
}

/// One result per submitted transaction: `{"hash"}` or `{"error": {"type","message"}}`.
#[derive(serde::Serialize)]
pub(crate) struct BatchResponse {
    accepted: usize,
    results: Vec<serde_json::Value>,
}

pub(crate) async fn submit_batch(
    State(s): State<ApiState>,
    body: Result<Json<BatchRequest>, JsonRejection>,
) -> ApiResult<BatchResponse> {
    let req = parse_json(body)?;
    if req.txs.len() > BATCH_TXS_MAX {
        return Err(ApiError::BadRequest(format!(
            "{} transactions in one batch; at most {BATCH_TXS_MAX}",
            req.txs.len()
        )));
    }
    // Decode everything first: one malformed entry refuses the request, nothing is admitted.
    let txs = req.txs.iter().map(|t| decode_tx(t)).collect::<Result<Vec<_>, _>>()?;
    refuse_unheld_data(&s, &txs).await?;
    let results = submit_blocking(&s, txs).await?;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let results = results
        .into_iter()
        .map(|r| match r {
            Ok(hash) => serde_json::json!({ "hash": to_hex(&hash) }),
            Err(e) => {
                let (kind, message) = rejection(e);
                serde_json::json!({ "error": { "type": kind, "message": message } })
            }
        })
        .collect();
    Ok(Json(BatchResponse { accepted, results }))
}

/// `POST /api/txs/raw` answer: how many were admitted, and why the others were not.
#[derive(serde::Serialize)]
pub(crate) struct RawBatchResponse {
    accepted: usize,
    rejected: Vec<serde_json::Value>,
}

/// `POST /api/txs/raw`: the body is the canonical encoding of a list of signed transactions
/// (a varint count, then each transaction), with no hex or JSON to parse. For high-rate clients.
pub(crate) async fn submit_raw(
    State(s): State<ApiState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<RawBatchResponse> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "request body over {} bytes",
                crate::BODY_LIMIT_BYTES
            ))
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })?;
    let txs = decode_raw_batch(&body)?;
    let results = submit_blocking(&s, txs).await?;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let rejected = results
        .into_iter()
        .enumerate()
        .filter_map(|(index, r)| {
            let (kind, message) = rejection(r.err()?);
            Some(serde_json::json!({ "index": index, "error": { "type": kind, "message": message } }))
        })
        .collect();
    Ok(Json(RawBatchResponse { accepted, rejected }))
}

fn decode_raw_batch(body: &[u8]) -> Result<Vec<SignedTx>, ApiError> {
    use commonware_codec::Read as _;
    let cfg: (commonware_codec::RangeCfg<usize>, ()) = ((..=BATCH_TXS_MAX).into(), ());
    let mut buf = commonware_codec::Copying(body);
    let txs = Vec::<SignedTx>::read_cfg(&mut buf, &cfg).map_err(|e| {
        ApiError::BadRequest(format!(
            "body is not a list of at most {BATCH_TXS_MAX} encoded transactions: {e}"
        ))
    })?;
    if !buf.0.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{} bytes after the last transaction",
            buf.0.len()
        )));
    }
    Ok(txs)
}

fn rejection(e: alx_ledger::SubmitError) -> (&'static str, String) {
    match ApiError::from(e) {
        ApiError::InvalidTransaction { kind, message } => (kind, message),
        ApiError::Overloaded(m) => ("mempool_full", m),
        other => ("internal", format!("{other:?}")),
    }
}

/// Query of `GET /api/accounts/{address}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountQuery {
    #[serde(default)]
    proof: bool,
}

pub(crate) async fn account(
    State(s): State<ApiState>,
    Path(address): Path<String>,
    query: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<AccountResponse> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let address: Address = address.parse().map_err(|e| ApiError::BadRequest(format!("{e}")))?;
    let committed = s.chain.committed();
    let state = &committed.state;
    let account = state.account(&address)?.unwrap_or_default();
    let proof = query.proof.then(|| {
        let (key, value, proof) = state.prove_account(&address);
        AccountProof { key: hex::encode(key), value: value.map(hex::encode), proof }
    });
    Ok(Json(AccountResponse {
        address,
        account: AccountJson {
            balance: account.balance,
            nonce: account.nonce,
            bonded: account.bonded,
            unbonding: account.unbonding,
        },
        height: committed.block.height(),
        state_root: to_hex(&committed.block.header.state_root),
        proof,
        next_nonce: Some(s.chain.next_nonce(&address, account.nonce)),
    }))
}

pub(crate) async fn stream_blocks(
    State(s): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = s.chain.subscribe();
    let stream =
        tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(|item| async move {
            // A slow client that lagged behind skips the blocks it missed.
            let finalized = item.ok()?;
            let header = BlockHeaderJson::from(&*finalized.block);
            let data = serde_json::to_string(&header).ok()?;
            Some(Ok(Event::default().event("block").data(data)))
        });
    Sse::new(stream).keep_alive(axum::response::sse::KeepAlive::default())
}

pub(crate) async fn metrics(State(s): State<ApiState>) -> Response {
    let committed = s.chain.committed();
    let mut text = (s.metrics)();
    text.push_str(&s.connections.render());
    text.push_str(&format!(
        "# HELP alx_chain_height_blocks Height of the last committed block.\n\
         # TYPE alx_chain_height_blocks gauge\nalx_chain_height_blocks {}\n\
         # HELP alx_mempool_txs Transactions waiting in the mempool.\n\
         # TYPE alx_mempool_txs gauge\nalx_mempool_txs {}\n",
        committed.block.height(),
        s.chain.mempool_len(),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("../openapi.json")).into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /api/openapi.json".into())
}
