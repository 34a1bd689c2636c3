//! The single mapping from API failures to HTTP: a status code plus a stable `error.type`.
//! Server errors carry no internal detail; it is logged once, here.

use alx_types::api::{ErrorBody, ErrorResponse};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Every way an API request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed.
    BadRequest(String),
    /// The request body is over the limit.
    PayloadTooLarge(String),
    /// A transaction was refused; `kind` is its receipt code (`bad_nonce`, …) or a mempool
    /// reason (`mempool_full`, …).
    InvalidTransaction {
        /// Stable identifier.
        kind: &'static str,
        /// Explanation.
        message: String,
    },
    /// The mempool cannot take more now.
    Overloaded(String),
    /// Nothing with that id.
    NotFound(String),
    /// No (valid) credentials for a write that needs them.
    Unauthorized(String),
    /// Credentials that may not do this (an account without the funds uploads need).
    Forbidden(String),
    /// A quota is used up for now.
    QuotaExceeded {
        /// Explanation.
        message: String,
        /// Seconds until the quota starts over.
        retry_after_secs: u64,
    },
    /// A refused upload, or a blob store failure.
    Blob(alx_blobs::BlobError),
    /// A refused or failed attribution query.
    Query(alx_indexer::QueryError),
    /// A failure on our side; details are logged, never returned.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            Self::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m),
            Self::InvalidTransaction { kind, message } => {
                (StatusCode::UNPROCESSABLE_ENTITY, kind, message)
            }
            Self::Overloaded(m) => (StatusCode::TOO_MANY_REQUESTS, "mempool_full", m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "upload_unauthorized", m),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "insufficient_funds", m),
            Self::QuotaExceeded { message, retry_after_secs } => {
                let body = ErrorResponse {
                    error: ErrorBody { kind: "quota_exceeded".to_owned(), message, code: None },
                };
                let retry = [(axum::http::header::RETRY_AFTER, retry_after_secs.to_string())];
                return (StatusCode::TOO_MANY_REQUESTS, retry, Json(body)).into_response();
            }
            Self::Blob(e) => {
                use alx_blobs::BlobError as B;
                let (status, kind) = match &e {
                    B::Empty => (StatusCode::BAD_REQUEST, "empty_blob"),
                    B::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
                    B::HashMismatch { .. } => (StatusCode::BAD_REQUEST, "hash_mismatch"),
                    B::Content(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_content"),
                    B::Body(_) => (StatusCode::BAD_REQUEST, "upload_interrupted"),
                    B::SizeMismatch { .. } => (StatusCode::BAD_REQUEST, "size_mismatch"),
                    B::Corrupt { .. } | B::Store(_) | B::Io { .. } => {
                        return Self::Internal(e.to_string()).into_response();
                    }
                };
                (status, kind, e.to_string())
            }
            Self::Query(e) => {
                use alx_indexer::QueryError as Q;
                let (status, kind) = match &e {
                    Q::UnknownDatanet(_) | Q::UnknownContribution { .. } => {
                        (StatusCode::NOT_FOUND, "not_found")
                    }
                    Q::NotIndexed { .. } => (StatusCode::NOT_FOUND, "not_indexed"),
                    Q::MissingBlob { .. } => (StatusCode::NOT_FOUND, "missing_blob"),
                    Q::Unreadable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_content"),
                    _ if e.is_client_error() => (StatusCode::BAD_REQUEST, "bad_query"),
                    _ => return Self::Internal(e.to_string()).into_response(),
                };
                (status, kind, e.to_string())
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "api request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_owned())
            }
        };
        let body =
            ErrorResponse { error: ErrorBody { kind: kind.to_owned(), message, code: None } };
        (status, Json(body)).into_response()
    }
}

impl From<alx_blobs::BlobError> for ApiError {
    fn from(e: alx_blobs::BlobError) -> Self {
        Self::Blob(e)
    }
}

impl From<alx_indexer::QueryError> for ApiError {
    fn from(e: alx_indexer::QueryError) -> Self {
        Self::Query(e)
    }
}

impl From<alx_storage::StorageError> for ApiError {
    fn from(e: alx_storage::StorageError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<alx_state::CorruptState> for ApiError {
    fn from(e: alx_state::CorruptState) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<alx_ledger::SubmitError> for ApiError {
    fn from(e: alx_ledger::SubmitError) -> Self {
        use alx_ledger::{AdmitError, SubmitError};
        match e {
            SubmitError::Invalid { code, detail } => {
                Self::InvalidTransaction { kind: code.as_str(), message: detail }
            }
            SubmitError::Mempool(AdmitError::Full(n)) => {
                Self::Overloaded(format!("mempool is full ({n} transactions); retry later"))
            }
            SubmitError::Mempool(e @ AdmitError::LargeFull(_)) => Self::Overloaded(e.to_string()),
            SubmitError::Mempool(err) => {
                let kind = match err {
                    AdmitError::SenderFull(_) => "sender_queue_full",
                    AdmitError::Duplicate => "duplicate",
                    AdmitError::Underpriced => "underpriced",
                    AdmitError::NonceTooLow { .. } => "bad_nonce",
                    AdmitError::NonceTooHigh { .. } => "nonce_too_high",
                    AdmitError::Full(_) | AdmitError::LargeFull(_) => "mempool_full",
                };
                Self::InvalidTransaction { kind, message: err.to_string() }
            }
        }
    }
}
