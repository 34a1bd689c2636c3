//! Blobs and attribution: streamed uploads and downloads, attribution and coverage queries.

use crate::{Client, ClientError};
use alx_types::{
    attribution_api::{AttributionReport, AttributionRequest, BlobResponse, ContributionCoverage},
    datanet::{ContributionId, DatanetId, MediaType},
    hash::{Hash, to_hex},
};
use std::{io::Read, time::Duration};

/// Uploads and downloads may be large: they get longer than the default 30 s.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

fn media_name(media: MediaType) -> &'static str {
    match media {
        MediaType::Text => "text",
        MediaType::Markdown => "markdown",
        MediaType::Jsonl => "jsonl",
        MediaType::Code => "code",
    }
}

/// What authorizes an upload (see `alx_types::upload`).
#[derive(Clone, Debug)]
pub enum UploadAuth {
    /// An account's signed grant for exactly this blob.
    Grant(alx_types::upload::UploadGrant),
    /// An API key of the node.
    ApiKey(String),
}

impl Client {
    /// `PUT /api/blobs/{hash}`: streams `size` bytes from `body`; the node refuses them unless
    /// `auth` lets this uploader store them and they hash to `hash` (and ingest as `media`,
    /// when given).
    pub fn put_blob(
        &self,
        hash: &Hash,
        media: Option<MediaType>,
        body: impl Read + Send + 'static,
        size: u64,
        auth: &UploadAuth,
    ) -> Result<BlobResponse, ClientError> {
        let mut url = format!("{}/api/blobs/{}", self.base, to_hex(hash));
        if let Some(media) = media {
            url.push_str("?media_type=");
            url.push_str(media_name(media));
        }
        let body = reqwest::blocking::Body::sized(body, size);
        let request = self
            .http
            .put(url)
            .header("content-type", "application/octet-stream")
            .timeout(TRANSFER_TIMEOUT);
        let request = match auth {
            UploadAuth::Grant(grant) => {
                request.header(alx_types::upload::UPLOAD_GRANT_HEADER, grant.to_header())
            }
            UploadAuth::ApiKey(key) => request.bearer_auth(key),
        };
        self.handle(request.body(body).send())
    }

    /// `GET /api/blobs/{hash}`: the size and a reader of the bytes (not yet verified: hash them
    /// as they are read).
    pub fn get_blob(&self, hash: &Hash) -> Result<(u64, impl Read + use<>), ClientError> {
        let url = format!("{}/api/blobs/{}", self.base, to_hex(hash));
        let resp = self
            .http
            .get(url)
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .map_err(|source| ClientError::Connect { url: self.base.clone(), source })?;
        if !resp.status().is_success() {
            return Err(self.handle::<serde_json::Value>(Ok(resp)).err().unwrap_or_else(|| {
                ClientError::Decode("an error status with a success body".into())
            }));
        }
        Ok((resp.content_length().unwrap_or(0), resp))
    }

    /// `POST /api/attribution`.
    pub fn attribute(&self, req: &AttributionRequest) -> Result<AttributionReport, ClientError> {
        self.handle(self.http.post(format!("{}/api/attribution", self.base)).json(req).send())
    }

    /// `GET /api/datanets/{id}/contributions/{c}/coverage`.
    pub fn coverage(
        &self,
        datanet: DatanetId,
        contribution: ContributionId,
    ) -> Result<ContributionCoverage, ClientError> {
        self.get(&format!("/api/datanets/{datanet}/contributions/{contribution}/coverage"))
    }
}

impl Client {
    /// `GET /api/models`.
    pub fn models(&self) -> Result<Vec<alx_types::model_api::ModelJson>, ClientError> {
        self.get("/api/models?limit=500")
    }

    /// `GET /api/models/{id or name}`.
    pub fn model(&self, id: &str) -> Result<alx_types::model_api::ModelJson, ClientError> {
        self.get(&format!("/api/models/{id}"))
    }

    /// `GET /api/accounts/{address}/rewards`.
    pub fn rewards(
        &self,
        address: &alx_types::Address,
    ) -> Result<alx_types::model_api::RewardsJson, ClientError> {
        self.get(&format!("/api/accounts/{address}/rewards"))
    }

    /// `GET /api/validators/{address}`.
    pub fn validator(
        &self,
        address: &alx_types::Address,
    ) -> Result<alx_types::staking_api::ValidatorJson, ClientError> {
        self.get(&format!("/api/validators/{address}"))
    }

    /// `GET /api/api-keys/{hash}`.
    pub fn api_key(&self, hash: &Hash) -> Result<alx_types::model_api::ApiKeyJson, ClientError> {
        self.get(&format!("/api/api-keys/{}", to_hex(hash)))
    }
}
