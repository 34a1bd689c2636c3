//! A typed, blocking HTTP client of a node's `/api`. Used by the `alx` CLI and by tests.

#![forbid(unsafe_code)]

mod blobs;

pub use blobs::UploadAuth;
mod subnets;

use alx_types::{
    Address, Hash, SignedTx,
    api::{
        AccountResponse, BlockResponse, ErrorResponse, StatusResponse, SubmitTxRequest,
        SubmitTxResponse, TxResponse,
    },
    datanet::{ContributionId, DatanetId},
    datanet_api::{ContributionJson, DatanetJson, DatanetResponse},
    hash::parse_hex,
};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// Default node URL.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:7700";

/// A client failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot reach the node at {url}: {source}")]
    Connect {
        /// The node URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an error.
    #[error("{kind}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error type.
        kind: String,
        /// Explanation.
        message: String,
        /// The finer code the error carries, if any (see `ErrorBody::code`).
        code: Option<String>,
    },
    /// The answer did not parse.
    #[error("unexpected answer from the node: {0}")]
    Decode(String),
    /// Waited too long.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl ClientError {
    /// True if the node said the thing does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }
}

/// Results of a batch submission, one per transaction.
#[derive(Debug, serde::Deserialize)]
pub struct BatchResponse {
    /// How many were admitted.
    pub accepted: usize,
    /// `{"hash"}` or `{"error": {"type", "message"}}` per transaction.
    pub results: Vec<serde_json::Value>,
}

/// Results of a raw batch submission: rejections only (the client knows its hashes).
#[derive(Debug, serde::Deserialize)]
pub struct RawBatchResponse {
    /// How many were admitted.
    pub accepted: usize,
    /// `{"index", "error": {"type", "message"}}` per refused transaction.
    pub rejected: Vec<serde_json::Value>,
}

/// A node's API.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// The node's base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A client of the node at `base` (e.g. `http://127.0.0.1:7700`).
    #[must_use]
    pub fn new(base: &str) -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        Self { base: base.trim_end_matches('/').to_owned(), http }
    }

    /// The node URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.base
    }

    pub(crate) fn handle<T: DeserializeOwned>(
        &self,
        resp: Result<reqwest::blocking::Response, reqwest::Error>,
    ) -> Result<T, ClientError> {
        let resp =
            resp.map_err(|source| ClientError::Connect { url: self.base.clone(), source })?;
        let status = resp.status();
        let text = resp.text().map_err(|e| ClientError::Decode(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_str::<ErrorResponse>(&text) {
                Ok(e) => ClientError::Api {
                    status: status.as_u16(),
                    kind: e.error.kind,
                    message: e.error.message,
                    code: e.error.code,
                },
                Err(_) => ClientError::Api {
                    status: status.as_u16(),
                    kind: "http".into(),
                    message: text,
                    code: None,
                },
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode(format!("{e}: {text}")))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.handle(self.http.get(format!("{}{path}", self.base)).send())
    }

    /// `GET /api/datanets` (ids from `from`, at most `limit`).
    pub fn datanets(&self, from: DatanetId, limit: u64) -> Result<Vec<DatanetJson>, ClientError> {
        self.get(&format!("/api/datanets?from={from}&limit={limit}"))
    }

    /// `GET /api/datanets/{id}`.
    pub fn datanet(&self, id: DatanetId) -> Result<DatanetResponse, ClientError> {
        self.get(&format!("/api/datanets/{id}"))
    }

    /// `GET /api/datanets/{id}/contributions`, optionally only those with `status`.
    pub fn contributions(
        &self,
        id: DatanetId,
        status: Option<&str>,
    ) -> Result<Vec<ContributionJson>, ClientError> {
        self.contributions_from(id, ContributionId(0), status)
    }

    /// `GET /api/datanets/{id}/contributions?from=…`: at most 500 contributions from id `from`.
    pub fn contributions_from(
        &self,
        id: DatanetId,
        from: ContributionId,
        status: Option<&str>,
    ) -> Result<Vec<ContributionJson>, ClientError> {
        let filter = status.map(|s| format!("&status={s}")).unwrap_or_default();
        self.get(&format!("/api/datanets/{id}/contributions?from={from}&limit=500{filter}"))
    }

    /// `GET /api/status`.
    pub fn status(&self) -> Result<StatusResponse, ClientError> {
        self.get("/api/status")
    }

    /// `GET /api/accounts/{address}`.
    pub fn account(&self, address: &Address, proof: bool) -> Result<AccountResponse, ClientError> {
        self.get(&format!("/api/accounts/{address}?proof={proof}"))
    }

    /// `GET /api/blocks/{id}` (a height, a hash, or `latest`).
    pub fn block(&self, id: &str) -> Result<BlockResponse, ClientError> {
        self.get(&format!("/api/blocks/{id}"))
    }

    /// `GET /api/light/finalizations/{height}`: the proof a light client checks that the block
    /// at `height` is final (see `alx-light`).
    pub fn finalization(
        &self,
        height: alx_types::Height,
    ) -> Result<alx_types::api::FinalizationResponse, ClientError> {
        self.get(&format!("/api/light/finalizations/{height}"))
    }

    /// `GET /api/light/epochs/{epoch}`: an epoch's validator set and its proof (see
    /// `alx-light`).
    pub fn epoch_set(&self, epoch: u64) -> Result<alx_types::api::EpochSetProof, ClientError> {
        self.get(&format!("/api/light/epochs/{epoch}"))
    }

    /// `GET /api/proofs?keys=…`: state entries with proofs, all at one height.
    pub fn proofs(
        &self,
        keys: &[Vec<u8>],
    ) -> Result<alx_types::api::StateProofsResponse, ClientError> {
        let keys: Vec<String> = keys.iter().map(hex::encode).collect();
        self.get(&format!("/api/proofs?keys={}", keys.join(",")))
    }

    /// `GET /api/providers/{address}`: a provider's bond.
    pub fn provider(
        &self,
        address: &Address,
    ) -> Result<alx_types::model_api::ProviderJson, ClientError> {
        self.get(&format!("/api/providers/{address}"))
    }

    /// `GET /api/providers/{address}/settlements/{first}`: a settlement open to challenge.
    pub fn settlement_record(
        &self,
        provider: &Address,
        first: u64,
    ) -> Result<alx_types::model_api::SettlementRecordJson, ClientError> {
        self.get(&format!("/api/providers/{provider}/settlements/{first}"))
    }

    /// `GET /api/datanets/{id}/versions/{version}`.
    pub fn datanet_version(
        &self,
        id: DatanetId,
        version: u32,
    ) -> Result<alx_types::datanet_api::VersionJson, ClientError> {
        self.get(&format!("/api/datanets/{id}/versions/{version}"))
    }

    /// `GET /api/disputes`: the open disputes.
    pub fn disputes(&self) -> Result<Vec<alx_types::dispute::DisputeJson>, ClientError> {
        self.get("/api/disputes")
    }

    /// `GET /api/demands`: the open demands that providers open a settled receipt.
    pub fn demands(&self) -> Result<Vec<alx_types::withheld::DemandJson>, ClientError> {
        self.get("/api/demands")
    }

    /// `POST /api/disputes/judge`: how this node's juror decides `dispute` (filed or not).
    pub fn judge(
        &self,
        dispute: &alx_types::dispute::Dispute,
    ) -> Result<alx_types::dispute::JudgeResponse, ClientError> {
        self.handle(
            self.http.post(format!("{}/api/disputes/judge", self.base)).json(dispute).send(),
        )
    }

    /// `POST /api/evaluate`: `request`'s items scored on its model as this node serves it
    /// (retrieval and prompt included). The node answers its own machine only.
    pub fn evaluate(
        &self,
        request: &alx_types::eval_api::EvalRequest,
    ) -> Result<alx_types::eval_api::EvalResponse, ClientError> {
        self.handle(self.http.post(format!("{}/api/evaluate", self.base)).json(request).send())
    }

    /// `GET /api/settlements/{provider}/{number}`: the settled batch holding a receipt, from
    /// the node that served it.
    pub fn settled_batch(
        &self,
        provider: &Address,
        number: u64,
    ) -> Result<alx_types::settled_batch::SettledBatch, ClientError> {
        self.get(&format!("/api/settlements/{provider}/{number}"))
    }

    /// `GET /api/txs/{hash}`.
    pub fn tx(&self, hash: &str) -> Result<TxResponse, ClientError> {
        self.get(&format!("/api/txs/{hash}"))
    }

    /// `POST /api/txs`.
    pub fn submit(&self, tx: &SignedTx) -> Result<Hash, ClientError> {
        let body = SubmitTxRequest { tx: hex_of(tx) };
        let resp: SubmitTxResponse =
            self.handle(self.http.post(format!("{}/api/txs", self.base)).json(&body).send())?;
        parse_hex(&resp.hash).ok_or_else(|| ClientError::Decode(format!("bad hash {}", resp.hash)))
    }

    /// `POST /api/txs/batch`.
    pub fn submit_batch(&self, txs: &[SignedTx]) -> Result<BatchResponse, ClientError> {
        let body = serde_json::json!({ "txs": txs.iter().map(hex_of).collect::<Vec<_>>() });
        self.handle(self.http.post(format!("{}/api/txs/batch", self.base)).json(&body).send())
    }

    /// `POST /api/txs/raw`: many transactions as one binary body (the fast path).
    pub fn submit_raw(&self, txs: &[SignedTx]) -> Result<RawBatchResponse, ClientError> {
        self.submit_raw_encoded(encode_raw_batch(txs))
    }

    /// `POST /api/txs/raw` with a body made by [`encode_raw_batch`] (so a load generator can
    /// encode ahead of time).
    pub fn submit_raw_encoded(&self, body: Vec<u8>) -> Result<RawBatchResponse, ClientError> {
        self.handle(
            self.http
                .post(format!("{}/api/txs/raw", self.base))
                .header("content-type", "application/octet-stream")
                .body(body)
                .send(),
        )
    }

    /// Polls until the transaction is committed, or `timeout`.
    pub fn wait_for_tx(&self, hash: &str, timeout: Duration) -> Result<TxResponse, ClientError> {
        let start = Instant::now();
        loop {
            match self.tx(hash) {
                Ok(tx) => return Ok(tx),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            if start.elapsed() > timeout {
                return Err(ClientError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn hex_of(tx: &SignedTx) -> String {
    hex::encode(tx.to_bytes())
}

/// The body of `POST /api/txs/raw`: the transactions in their canonical encoding, as one
/// length-prefixed list.
#[must_use]
pub fn encode_raw_batch(txs: &[SignedTx]) -> Vec<u8> {
    use commonware_codec::{EncodeSize as _, Write as _};
    let mut body = Vec::with_capacity(txs.encode_size());
    txs.write(&mut body);
    body
}
