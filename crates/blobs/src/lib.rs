//! Content-addressed blobs and the ingestion of contributions.
//!
//! - [`BlobStore`]: the bytes of contributions, keyed by their BLAKE3 hash, on the local
//!   filesystem by default or in any S3-compatible store ([`BlobConfig`]), written only after
//!   the hash, size and content checks pass.
//! - [`ingest`]: how those bytes become UTF-8 documents for the attribution index.
//! - [`Peers`]: fetching a blob this node lacks from other nodes, checked against its hash.

#![forbid(unsafe_code)]

mod config;
mod error;
pub mod ingest;
mod peers;
mod store;

pub use config::{BlobConfig, S3Config};
pub use error::BlobError;
pub use ingest::IngestError;
pub use peers::Peers;
pub use store::{BlobInfo, BlobStore, PutOutcome, PutRules, blake3_hash};
