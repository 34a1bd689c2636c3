//! Failures in OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// A failed gateway request. Nothing is charged for one.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Malformed or out-of-range input (400).
    #[error("{message}")]
    BadRequest {
        /// Explanation.
        message: String,
        /// The offending field.
        param: Option<std::borrow::Cow<'static, str>>,
        /// Stable code.
        code: &'static str,
    },
    /// No or bad API key (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not use this endpoint (403): `POST /api/evaluate` from another machine.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown model (404).
    #[error("{0}")]
    ModelNotFound(String),
    /// Not enough deposit or limit left (429 `insufficient_quota`, as OpenAI).
    #[error("{0}")]
    InsufficientQuota(String),
    /// The queue is full (429).
    #[error("the server is busy ({0} requests queued); retry shortly")]
    Busy(usize),
    /// The body is over the limit (413).
    #[error("the request body is over {0} bytes")]
    TooLarge(usize),
    /// The client left before anything was computed for it (nothing is charged; the status,
    /// 499 as nginx names it, is never read).
    #[error("the client closed the request")]
    ClientGone,
    /// The model cannot be served now, through no fault of the request (503), with a stable
    /// code (`adapter_unavailable`, `adapter_invalid`) and a message saying what would fix it.
    #[error("{message}")]
    Unavailable {
        /// Explanation and hint.
        message: String,
        /// Stable code.
        code: &'static str,
    },
    /// A failure on our side (500); details are logged.
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    /// The message a client may see: internal failures say only that they happened.
    pub(crate) fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    pub(crate) fn bad(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self::BadRequest {
            message: message.into(),
            param: param.map(std::borrow::Cow::Borrowed),
            code: "invalid_value",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, kind, param, code) = match &self {
            Self::BadRequest { param, code, .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request_error", param.as_deref(), Some(*code))
            }
            Self::Unauthorized(_) => {
                (StatusCode::UNAUTHORIZED, "invalid_request_error", None, Some("invalid_api_key"))
            }
            Self::Forbidden(_) => {
                (StatusCode::FORBIDDEN, "permission_error", None, Some("forbidden"))
            }
            Self::ModelNotFound(_) => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("model"),
                Some("model_not_found"),
            ),
            Self::InsufficientQuota(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
            Self::Busy(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            ),
            Self::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                None,
                Some("payload_too_large"),
            ),
            Self::ClientGone => (
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "invalid_request_error",
                None,
                Some("client_closed_request"),
            ),
            Self::Unavailable { code, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "server_error", Some("model"), Some(*code))
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "gateway request failed");
                let body = json!({"error": {"message": "internal error", "type": "server_error", "param": null, "code": null}});
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
            }
        };
        let body = json!({"error": {"message": self.to_string(), "type": kind, "param": param, "code": code}});
        (status, Json(body)).into_response()
    }
}

impl From<alx_state::CorruptState> for GatewayError {
    fn from(e: alx_state::CorruptState) -> Self {
        Self::Internal(e.to_string())
    }
}
