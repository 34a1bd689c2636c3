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
            Self::Internal(detail) => {
                tracing::error!(%detail, "api request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_owned())
            }
        };
        let body = ErrorResponse { error: ErrorBody { kind: kind.to_owned(), message } };
        (status, Json(body)).into_response()
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

impl From<alx_consensus::SubmitError> for ApiError {
    fn from(e: alx_consensus::SubmitError) -> Self {
        use alx_consensus::{AdmitError, SubmitError};
        match e {
            SubmitError::Invalid { code, detail } => {
                Self::InvalidTransaction { kind: code.as_str(), message: detail }
            }
            SubmitError::Mempool(AdmitError::Full(n)) => {
                Self::Overloaded(format!("mempool is full ({n} transactions); retry later"))
            }
            SubmitError::Mempool(err) => {
                let kind = match err {
                    AdmitError::SenderFull(_) => "sender_queue_full",
                    AdmitError::Duplicate => "duplicate",
                    AdmitError::Underpriced => "underpriced",
                    AdmitError::NonceTooLow { .. } => "bad_nonce",
                    AdmitError::NonceTooHigh { .. } => "nonce_too_high",
                    AdmitError::Full(_) => "mempool_full",
                };
                Self::InvalidTransaction { kind, message: err.to_string() }
            }
        }
    }
}
