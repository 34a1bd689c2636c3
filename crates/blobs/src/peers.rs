//! Blobs this node lacks, fetched from other nodes' APIs (`GET /api/blobs/{hash}`): how a
//! contribution uploaded to one validator reaches the others that must confirm it held. The
//! bytes are kept only if they hash to the key (the store checks, as for any upload), so a peer
//! can waste a fetch but never plant content.

use crate::{BlobError, BlobStore};
use alx_types::hash::{Hash, to_hex};
use std::time::Duration;

/// The other nodes a blob may be fetched from.
#[derive(Clone, Debug)]
pub struct Peers {
    urls: Vec<String>,
    http: reqwest::Client,
}

impl Peers {
    /// Peers at these API base URLs (`http://host:port`), each fetch bounded by `timeout`.
    pub fn new(urls: Vec<String>, timeout: Duration) -> Result<Self, BlobError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| BlobError::Body(format!("cannot build the peer client: {e}")))?;
        let urls = urls.into_iter().map(|u| u.trim_end_matches('/').to_owned()).collect();
        Ok(Self { urls, http })
    }

    /// No peers.
    #[must_use]
    pub fn none() -> Self {
        Self { urls: Vec::new(), http: reqwest::Client::new() }
    }

    /// True if there is no peer to ask.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Makes sure `store` holds `hash`: already there, or fetched from the first peer that
    /// serves bytes hashing to it. Returns whether it is held now.
    pub async fn fetch_into(&self, store: &BlobStore, hash: &Hash) -> Result<bool, BlobError> {
        if store.head(hash).await?.is_some() {
            return Ok(true);
        }
        for url in &self.urls {
            let address = format!("{url}/api/blobs/{}", to_hex(hash));
            let response = match self.http.get(&address).send().await {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    tracing::debug!(peer = %url, status = %r.status(), blob = %to_hex(hash), "peer does not serve the blob");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(peer = %url, err = %e, "peer unreachable");
                    continue;
                }
            };
            let body = futures::stream::unfold(Some(response), |state| async move {
                let mut response = state?;
                match response.chunk().await {
                    Ok(Some(bytes)) => Some((Ok(bytes), Some(response))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            });
            match store.put_stream(Some(*hash), None, body).await {
                Ok(_) => {
                    tracing::debug!(peer = %url, blob = %to_hex(hash), "blob fetched from a peer");
                    return Ok(true);
                }
                Err(e) if e.is_client_error() => {
                    tracing::warn!(peer = %url, blob = %to_hex(hash), err = %e, "peer served bad bytes");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}
