//! The node's HTTP API: REST/JSON under `/api`, Prometheus metrics under `/metrics`, and the
//! OpenAPI document at `/api/openapi.json`.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET  | `/api/status` | chain id, height, last block hash, state root, validators |
//! | GET  | `/api/blocks/latest`, `/api/blocks/{height or hash}` | a block with receipts |
//! | GET  | `/api/txs/{hash}` | a committed transaction with its receipt |
//! | POST | `/api/txs` | submit one signed transaction (hex) |
//! | POST | `/api/txs/batch` | submit many (one signature batch) |
//! | POST | `/api/txs/raw` | submit many as raw canonical bytes (no hex, no JSON) |
//! | GET  | `/api/accounts/{address}[?proof=true]` | balance, nonce, stake; Merkle proof |
//! | GET  | `/api/stream/blocks` | server-sent events, one per finalized block |
//! | GET  | `/api/datanets[/{id}[/contributions, /versions/{v}]]` | datanets, contributions, versions |
//! | GET  | `/api/datanets/{id}/contributions/{c}/coverage` | how much of it earlier versions hold |
//! | GET  | `/api/datanets/{id}/contributions/{c}/credits` | what it earned from each settlement, newest first |
//! | GET  | `/api/datanets/{id}/contributions/{c}/events` | reviews, flags, withdrawal or removal, oldest first |
//! | PUT  | `/api/blobs/{hash}` | upload bytes that must hash to `hash` (streamed; an upload grant or API key) |
//! | POST | `/api/blobs` | upload bytes, get their hash (an upload grant or API key) |
//! | GET, HEAD | `/api/blobs/{hash}` | download (streamed), or size only |
//! | POST | `/api/attribution` | a text's spans and shares against a datanet version |
//! | GET  | `/api/models[/{id or name}]` | registered models |
//! | GET  | `/api/models/{id}/usage` | what each settlement charged for it, newest first |
//! | GET  | `/api/accounts/{address}/rewards` | claimable and lifetime rewards by source and per epoch, delegations and staking accrued, prepaid deposit |
//! | GET  | `/api/validators/{address}` | a validator's stake, commission (and an announced change), activity |
//! | GET  | `/api/accounts/{address}/txs[?before=H.I&limit=N]` | transactions that touched it, newest first |
//! | GET  | `/api/api-keys/{hash}` | an API key's payer, provider, allowance, spending and revocation |
//! | GET  | `/api/providers/{address}` | a serving provider's bond, what it settled this epoch, when the bond unlocks |
//! | GET  | `/api/providers/{address}/settlements/{first}` | a settlement in its challenge window: receipt root, recorded prices |
//! | GET  | `/api/disputes` | open disputes on settled receipts, with the validators' votes so far |
//! | GET  | `/api/demands` | open demands that a provider open a settled receipt on chain, with their deadlines |
//! | GET  | `/api/receipts/{id}` | a usage receipt this node issued, as signed |
//! | GET  | `/api/settlements/{provider}/{number}` | the batch this node settled holding receipt `number`: what was settled per receipt, with the signed receipts |
//! | GET  | `/api/light/genesis`, `/api/light/finalizations/{height}`, `/api/light/epochs/{epoch}`, `/api/proofs?keys=` | for light clients: certificates, validator sets, state proofs |
//! | GET  | `/api/emission` | emission schedule, minted so far, next block, pools, funds |
//! | GET  | `/api/supply` | the supply audit: recorded supply against everything held |
//! | GET  | `/api/subnets[/{id or name}]` | subnets: spec, owner, pending emission, epochs |
//! | GET  | `/api/subnets/{id}/metagraph` | every uid: kind, stake, permit, Yuma results |
//! | GET  | `/api/subnets/{id}/epochs` | the kept epochs: owner and per-uid emission |
//! | GET  | `/api/subnets/{id}/evals` | sealed evaluation sets: commitments, and the reveals made |
//! | GET  | `/api/subnets/{id}/weights/{uid}` | the weights a uid last revealed |
//! | GET  | `/api/subnets/{id}/commits/{uid}` | a uid's outstanding weight commit (404: none) |
//! | GET  | `/metrics` | Prometheus text |
//!
//! Errors are `{"error": {"type", "message"}}` with a stable `type` (see [`ApiError`]).

#![forbid(unsafe_code)]

mod attribution;
mod blobs;
mod datanets;
mod error;
mod history;
mod light;
mod models;
mod receipts;
mod routes;
pub mod server;
mod staking;
mod subnets;
mod uploads;

pub use error::ApiError;
pub use light::FinalizationSource;
pub use receipts::{BatchSource, ReceiptSource};
pub use server::{ConnectionStats, ServerLimits, descriptor_budget, serve};
pub use uploads::UploadPolicy;

use alx_ledger::ChainView;
use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post, put},
};
use std::sync::Arc;

/// Renders the runtime's Prometheus metrics (the consensus engine's and ours).
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The committed chain.
    pub chain: Arc<dyn ChainView>,
    /// Prometheus text of the runtime's registry.
    pub metrics: MetricsSource,
    /// The finalization certificates this node holds (for light clients).
    pub finalizations: FinalizationSource,
    /// The receipts this node's gateway issued.
    pub receipts: ReceiptSource,
    /// The batches this node's gateway settled.
    pub batches: BatchSource,
    /// The node's software version.
    pub version: &'static str,
    /// Contribution bytes.
    pub blobs: alx_blobs::BlobStore,
    /// Attribution indexes of datanet versions.
    pub indexes: Arc<alx_indexer::DatanetIndexes>,
    /// The listener's connection counters (for `/metrics`).
    pub connections: Arc<ConnectionStats>,
    /// Who may store blobs here, and how much.
    pub uploads: Arc<UploadPolicy>,
    /// The last supply audit, by height: it reads every account, so it runs once per block at
    /// most whatever the request rate.
    pub audit: Arc<tokio::sync::Mutex<Option<(u64, alx_state::SupplyAudit)>>>,
    /// The genesis file's chain, epoch length and validators: a light client's trust root.
    pub light_genesis: Arc<alx_types::api::LightGenesis>,
    /// The history index: transactions by address, credits by contribution.
    pub history: Arc<alx_history::History>,
}

/// An address from a path, or a 400 that says why not.
pub(crate) fn parse_address(text: &str) -> Result<alx_types::Address, ApiError> {
    text.parse().map_err(|e| ApiError::BadRequest(format!("{text:?} is not an address: {e}")))
}

/// Largest request body: a batch of transactions.
pub const BODY_LIMIT_BYTES: usize = 8 << 20;
/// Most transactions in one batch request.
pub const BATCH_TXS_MAX: usize = 10_000;

/// Refuses a request whose declared body (`content-length`) is over [`BODY_LIMIT_BYTES`]
/// before reading any of it: a client that waits for `100 Continue` gets its `413` at once, and
/// none of the body is buffered. Blob uploads have their own limit and quota.
async fn refuse_declared_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let blob = request.uri().path().starts_with("/api/blobs");
    if !blob && declared.is_some_and(|n| n > BODY_LIMIT_BYTES as u64) {
        return ApiError::PayloadTooLarge(format!("request body over {BODY_LIMIT_BYTES} bytes"))
            .into_response();
    }
    next.run(request).await
}

/// The router of the whole API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/status", get(routes::status))
        .route("/api/blocks/latest", get(routes::latest_block))
        .route("/api/blocks/{id}", get(routes::block))
        .route("/api/txs", post(routes::submit))
        .route("/api/txs/batch", post(routes::submit_batch))
        .route("/api/txs/raw", post(routes::submit_raw))
        .route("/api/txs/{hash}", get(routes::tx))
        .route("/api/accounts/{address}", get(routes::account))
        .route("/api/stream/blocks", get(routes::stream_blocks))
        .route("/api/datanets", get(datanets::list))
        .route("/api/datanets/{id}", get(datanets::show))
        .route("/api/datanets/{id}/contributions", get(datanets::contributions))
        .route("/api/datanets/{id}/versions/{version}", get(datanets::version))
        .route(
            "/api/datanets/{id}/contributions/{contribution}/coverage",
            get(attribution::coverage),
        )
        .route(
            "/api/datanets/{id}/contributions/{contribution}/credits",
            get(history::contribution_credits),
        )
        .route(
            "/api/datanets/{id}/contributions/{contribution}/events",
            get(history::contribution_events),
        )
        .route("/api/attribution", post(attribution::attribute))
        .route("/api/models", get(models::list))
        .route("/api/models/{id}", get(models::show))
        .route("/api/models/{id}/usage", get(history::model_usage))
        .route("/api/accounts/{address}/rewards", get(staking::rewards))
        .route("/api/validators/{address}", get(staking::validator))
        .route("/api/accounts/{address}/txs", get(history::account_txs))
        .route("/api/api-keys/{hash}", get(models::api_key))
        .route("/api/providers/{address}", get(models::provider))
        .route("/api/providers/{address}/settlements/{first}", get(models::settlement_record))
        .route("/api/disputes", get(models::disputes))
        .route("/api/demands", get(models::demands))
        .route("/api/receipts/{id}", get(receipts::show))
        .route("/api/settlements/{provider}/{number}", get(receipts::batch))
        .route("/api/light/finalizations/{height}", get(light::finalization))
        .route("/api/light/epochs/{epoch}", get(light::epoch_set))
        .route("/api/light/genesis", get(light::genesis))
        .route("/api/proofs", get(light::proofs))
        .route("/api/emission", get(models::emission))
        .route("/api/supply", get(models::supply))
        .route("/api/subnets", get(subnets::list))
        .route("/api/subnets/{id}", get(subnets::show))
        .route("/api/subnets/{id}/metagraph", get(subnets::metagraph))
        .route("/api/subnets/{id}/epochs", get(subnets::epochs))
        .route("/api/subnets/{id}/evals", get(subnets::evals))
        .route("/api/subnets/{id}/weights/{uid}", get(subnets::weights))
        .route("/api/subnets/{id}/commits/{uid}", get(subnets::commit))
        .route("/api/blobs", post(blobs::post).layer(DefaultBodyLimit::disable()))
        .route(
            "/api/blobs/{hash}",
            put(blobs::put).get(blobs::get).head(blobs::head).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/openapi.json", get(routes::openapi))
        .route("/metrics", get(routes::metrics))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .with_state(state)
}
