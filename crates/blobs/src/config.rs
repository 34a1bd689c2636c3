//! Where blobs live: `[blobs]` in a node's `config.toml`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The store behind a node's blobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "snake_case", deny_unknown_fields)]
pub enum BlobConfig {
    /// A directory on this machine (relative paths are under the node's data directory).
    Local {
        /// The directory.
        dir: PathBuf,
    },
    /// An S3-compatible object store (AWS S3, MinIO, Ceph, R2, …). Credentials not given here
    /// come from the usual `AWS_*` environment variables.
    S3(S3Config),
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self::Local { dir: "blobs".into() }
    }
}

/// An S3-compatible bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The region (`us-east-1` for most self-hosted stores).
    #[serde(default = "default_region")]
    pub region: String,
    /// The endpoint URL of a store that is not AWS (for example `http://127.0.0.1:9000`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id (else `AWS_ACCESS_KEY_ID`).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret key (else `AWS_SECRET_ACCESS_KEY`).
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint (local stores only).
    #[serde(default)]
    pub allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
