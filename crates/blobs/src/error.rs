//! Every way a blob operation fails.

use crate::IngestError;
use alx_types::hash::{Hash, to_hex};
use std::path::Path;

/// A blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// An upload with no bytes.
    #[error("the upload is empty")]
    Empty,
    /// An upload over the limit.
    #[error("the upload is over the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The bytes do not hash to what the client announced.
    #[error("the bytes hash to {} but {} was announced", to_hex(.actual), to_hex(.expected))]
    HashMismatch {
        /// Announced.
        expected: Hash,
        /// Received.
        actual: Hash,
    },
    /// The bytes are not the announced size.
    #[error("the upload is {actual} bytes but {declared} were announced")]
    SizeMismatch {
        /// Announced.
        declared: u64,
        /// Received.
        actual: u64,
    },
    /// The bytes are not the announced media type.
    #[error("the content cannot be ingested: {0}")]
    Content(#[from] IngestError),
    /// The client's body failed mid-way.
    #[error("the upload was interrupted: {0}")]
    Body(String),
    /// A stored blob does not hash to its key.
    #[error("stored blob {} is corrupt (its bytes do not hash to its key)", to_hex(.hash))]
    Corrupt {
        /// The key.
        hash: Hash,
    },
    /// The object store failed.
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    /// Local disk I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl BlobError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    /// Whether the client caused the failure (a 4xx rather than a 5xx).
    #[must_use]
    pub const fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::Empty
                | Self::TooLarge { .. }
                | Self::HashMismatch { .. }
                | Self::SizeMismatch { .. }
                | Self::Content(_)
                | Self::Body(_)
        )
    }
}
