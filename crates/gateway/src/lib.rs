//! The OpenAI-compatible gateway: `/v1/models`, `/v1/chat/completions`, `/v1/completions`
//! (streamed or not), paid from on-chain prepaid deposits through API keys, attributed to the
//! datanet contributions each answer drew on, receipted, and settled on chain in batches.
//!
//! A request: API key checked against the committed state → model resolved (on chain, weights
//! here) → input validated → a place in the bounded queue (429 when full) → passages retrieved
//! from the model's datanet versions into the prompt → the most it may cost reserved from the
//! key's limit and the payer's deposit (429 `insufficient_quota`) → generation → fee, span
//! attribution, shares and credits → a signed receipt → the answer with an `alexandria`
//! object. A failed request is never charged. The settler turns receipts into settlement
//! transactions (see [`settle`]).

#![forbid(unsafe_code)]

pub mod attribution;
mod catalog;
mod error;
pub mod meter;
pub mod openai;
mod receipts;
mod serve;
pub mod settle;

pub use catalog::Catalog;
pub use error::GatewayError;
pub use receipts::ReceiptStore;

use alx_consensus::Ledger;
use alx_indexer::DatanetIndexes;
use alx_types::Address;
use axum::{
    Router,
    routing::{get, post},
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Requests waiting or running at once; more get 429.
    pub queue_max: usize,
    /// `max_tokens` when the request gives none.
    pub max_tokens_default: u32,
    /// Largest `max_tokens` accepted.
    pub max_tokens_max: u32,
    /// How often the settler looks for receipts to settle.
    pub settle_interval: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            queue_max: 16,
            max_tokens_default: 256,
            max_tokens_max: 4096,
            settle_interval: Duration::from_secs(5),
        }
    }
}

/// The gateway of one node.
pub struct Gateway {
    ledger: Arc<Ledger>,
    indexes: Arc<DatanetIndexes>,
    catalog: Catalog,
    meter: Mutex<meter::Meter>,
    receipts: ReceiptStore,
    key: PrivateKey,
    me: Address,
    queue: Arc<tokio::sync::Semaphore>,
    /// One generation at a time: the model runs on its own thread(s).
    engine: tokio::sync::Mutex<()>,
    config: GatewayConfig,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("provider", &self.me).finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway serving the weights in `models_dir`, keeping receipts in `receipts_dir`, and
    /// signing receipts and settlements with the node's `key`.
    pub fn new(
        ledger: Arc<Ledger>,
        indexes: Arc<DatanetIndexes>,
        catalog: Catalog,
        receipts_dir: &Path,
        key: PrivateKey,
        config: GatewayConfig,
    ) -> std::io::Result<Arc<Self>> {
        let me = Address::from_public_key(&key.public_key());
        let receipts = ReceiptStore::open(receipts_dir, key.clone())?;
        if let Err(e) = catalog.scan() {
            tracing::warn!(dir = %catalog.dir().display(), err = %e, "cannot scan the model directory");
        }
        let gateway = Arc::new(Self {
            ledger,
            indexes,
            catalog,
            meter: Mutex::new(meter::Meter::default()),
            receipts,
            key,
            me,
            queue: Arc::new(tokio::sync::Semaphore::new(config.queue_max)),
            engine: tokio::sync::Mutex::new(()),
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

    /// The model files.
    #[must_use]
    pub const fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The receipts.
    #[must_use]
    pub const fn receipts(&self) -> &ReceiptStore {
        &self.receipts
    }

    /// After a restart, the receipts not yet settled are held back from their payers again.
    fn hold_unsettled(&self) {
        let Ok(from) = self.ledger.committed().state.next_receipt(&self.me) else { return };
        let mut meter = self.meter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for n in from..self.receipts.next_number() {
            if let Some(r) = self.receipts.by_number(n)
                && let Ok(Some(key)) = self.ledger.committed().state.api_key(&r.body.key_hash)
            {
                let payer = meter::Payer { key_hash: r.body.key_hash, payer: key.payer };
                meter.release(&payer, alx_types::Amount::ZERO, r.body.fee);
            }
        }
    }

    /// The `/v1` routes and `/api/receipts/{id}`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v1/models", get(serve::models))
            .route("/v1/chat/completions", post(serve::chat))
            .route("/v1/completions", post(serve::completion))
            .route("/api/receipts/{id}", get(serve::receipt))
            .with_state(self.clone())
    }
}
