//! The OpenAI-compatible gateway: `/v1/models`, `/v1/chat/completions`, `/v1/completions`
//! (streamed or not), paid from on-chain prepaid deposits through API keys, attributed to the
//! datanet contributions each answer drew on, receipted, and settled on chain in batches.
//!
//! Layers, outermost first: HTTP and server-sent events (`serve`, `stream`: OpenAI's shapes
//! only) → the core ([`Gateway::start`], a [`Request`] in and a [`Running`] out, no HTTP) →
//! the request's work on a worker (`infer`) → a [`Backend`] that holds the weights and
//! generates ([`LocalBackend`]: one continuous-batching engine per base model, see `batch`).
//!
//! A request: input validated → API key checked against the committed state → model resolved
//! on chain → a place on the gateway's own worker threads (429 when the bounded queue is full;
//! see `pool`) → weights loaded → passages retrieved from the model's datanet versions into the
//! prompt → the most it may cost reserved from the key's allowance (429 `insufficient_quota`;
//! the reservation is a guard released on every path, see `meter`) → generation, shared with
//! the other requests in flight → fee for the prompt and every token generated, span
//! attribution, shares and credits → a signed receipt → the answer with an `alexandria`
//! object. A request that fails on this side is never charged; one whose client leaves is
//! charged for what it consumed. The settler turns receipts into settlement transactions and
//! never stops (see [`settle`]).

#![forbid(unsafe_code)]

mod adapters;
pub mod attribution;
mod backend;
mod batch;
mod catalog;
mod core;
mod demands;
mod error;
mod evaluate;
mod infer;
pub mod influence;
pub mod meter;
pub mod openai;
pub mod pool;
mod receipts;
mod replay;
mod serve;
pub mod settle;
mod stats;
mod stream;

pub use adapters::{
    AdapterSource, Adapters, BlobAdapters, Loaded, MANIFEST_BYTES_MAX, UNAVAILABLE_RETRY,
};
pub use backend::{Backend, Ending, Generated, GenerationRequest, LocalBackend, ServedModel};
pub use batch::BatchLimits;
pub use catalog::Catalog;
pub use core::{EMBEDDING_INPUTS_MAX, Input, Request, Running};
pub use error::GatewayError;
pub use infer::Served;
pub use openai::Sampling;
pub use receipts::ReceiptStore;
pub use replay::{Judgement, credits_within};
pub use stats::{EngineGauges, GatewayStats};

use alx_indexer::DatanetIndexes;
use alx_ledger::ChainView;
use alx_types::Address;
use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Largest request body of `/v1`: far more text than any context holds (a prompt that cannot
/// fit is refused by length before it is tokenized).
pub const BODY_LIMIT_BYTES: usize = 4 << 20;

/// Refuses a request whose declared body is over [`BODY_LIMIT_BYTES`] before reading any of it.
async fn refuse_declared_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT_BYTES as u64) {
        return GatewayError::TooLarge(BODY_LIMIT_BYTES).into_response();
    }
    next.run(request).await
}

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Requests waiting for a worker at once; more get 429.
    pub queue_max: usize,
    /// Threads running requests (tokenizing, retrieval, generation, receipts). On a small
    /// machine, leave a core to consensus and the API.
    pub workers: usize,
    /// `max_tokens` when the request gives none.
    pub max_tokens_default: u32,
    /// Largest `max_tokens` accepted.
    pub max_tokens_max: u32,
    /// How often the settler looks for receipts to settle.
    pub settle_interval: Duration,
    /// Repetition penalty of a request that sets none (1 is off; see `alx_model::Penalties`).
    pub repetition_penalty: f32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            queue_max: 16,
            workers: 16,
            max_tokens_default: 256,
            max_tokens_max: 4096,
            settle_interval: Duration::from_secs(5),
            repetition_penalty: alx_model::Penalties::SERVING.repetition,
        }
    }
}

/// The gateway of one node.
pub struct Gateway {
    chain: Arc<dyn ChainView>,
    indexes: Arc<DatanetIndexes>,
    backend: Arc<dyn Backend>,
    meter: Mutex<meter::Meter>,
    receipts: ReceiptStore,
    key: PrivateKey,
    me: Address,
    pool: pool::WorkerPool,
    stats: GatewayStats,
    /// The chain's next unsettled receipt when the gateway started (`u64::MAX` until set).
    held_from: Mutex<u64>,
    config: GatewayConfig,
    /// One dispute judged at a time (a replay is a forward pass over a whole answer).
    judging: Arc<tokio::sync::Semaphore>,
    /// One evaluation at a time (a validator's; see `evaluate`).
    evaluating: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("provider", &self.me).finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway serving the models of `backend`, keeping receipts in `receipts_dir`, and
    /// signing receipts and settlements with the node's `key`.
    pub fn new(
        chain: Arc<dyn ChainView>,
        indexes: Arc<DatanetIndexes>,
        backend: Arc<dyn Backend>,
        receipts_dir: &Path,
        key: PrivateKey,
        config: GatewayConfig,
    ) -> std::io::Result<Arc<Self>> {
        let me = Address::from_public_key(&key.public_key());
        let receipts = ReceiptStore::open(receipts_dir, key.clone())?;
        let pool = pool::WorkerPool::new("gateway", config.workers, config.queue_max)?;
        let stats = GatewayStats::with_engine(backend.gauges());
        let gateway = Arc::new(Self {
            chain,
            indexes,
            backend,
            meter: Mutex::new(meter::Meter::default()),
            receipts,
            key,
            me,
            pool,
            stats,
            held_from: Mutex::new(u64::MAX),
            judging: Arc::new(tokio::sync::Semaphore::new(1)),
            evaluating: Arc::new(tokio::sync::Semaphore::new(1)),
            config,
        });
        gateway.hold_unsettled();
        Ok(gateway)
    }

    /// This node's address (the provider named by its API keys).
    #[must_use]
    pub const fn provider(&self) -> Address {
        self.me
    }

    /// The receipts.
    #[must_use]
    pub const fn receipts(&self) -> &ReceiptStore {
        &self.receipts
    }

    /// The batch holding receipt `number` that this node submitted for settlement, if
    /// `provider` is this node.
    #[must_use]
    pub fn settled_batch(
        &self,
        provider: &Address,
        number: u64,
    ) -> Option<alx_types::settled_batch::SettledBatch> {
        let applied = |tx: &alx_types::Hash| matches!(self.chain.tx_receipt(tx), Ok(Some((_, r))) if r.error.is_none());
        (*provider == self.me).then(|| self.receipts.batch(self.me, number, applied)).flatten()
    }

    /// What is held back on an API key (by hash): reserved for requests in flight, and
    /// charged but not yet settled.
    #[must_use]
    pub fn held(&self, key_hash: &alx_types::Hash) -> alx_types::Amount {
        meter::lock(&self.meter).held(key_hash)
    }

    /// The counters (rendered into `/metrics`).
    #[must_use]
    pub const fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// After a restart, the receipts not yet settled are held back on their keys again.
    fn hold_unsettled(&self) {
        let from = self.unsettled_from();
        *self.held_from.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = from;
        let mut meter = meter::lock(&self.meter);
        for n in from..self.receipts.next_number() {
            if let Some(r) = self.receipts.by_number(n) {
                meter.hold(r.body.key_hash, r.body.fee);
            }
        }
    }

    /// The first receipt whose fee the meter holds: the chain's next unsettled number when the
    /// gateway started (every later receipt's fee was held when it was issued).
    pub(crate) fn unsettled_from(&self) -> u64 {
        let held = *self.held_from.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held != u64::MAX {
            return held;
        }
        self.chain.committed().state.next_receipt(&self.me).unwrap_or(0)
    }

    /// The `/v1` routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/models", get(serve::models))
            .route("/v1/models/{*id}", get(serve::model))
            .route("/v1/chat/completions", post(serve::chat))
            .route("/v1/completions", post(serve::completion))
            .route("/v1/embeddings", post(serve::embeddings))
            .route("/api/disputes/judge", post(replay::judge_handler))
            .route("/api/evaluate", post(evaluate::evaluate_handler))
            .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
            .layer(axum::middleware::from_fn(refuse_declared_oversize))
            .with_state(self.clone())
    }
}
