//! `/api/blobs`: content-addressed upload and download, streamed both ways.
//!
//! `PUT /api/blobs/{hash}` stores a body that must hash to `hash`; `POST /api/blobs` stores a
//! body and answers with its hash. Either needs an upload grant or an API key of this node
//! (see `uploads`: who answers for the bytes, and the hourly quota). `?media_type=text|
//! markdown|jsonl|code` also requires the body to ingest as that type. Nothing is stored unless
//! every check passes; storing a blob twice changes nothing (`200` with `created: false` rather
//! than `201`). Reads are open to everyone.

use crate::{ApiError, ApiState};
use alx_blobs::{PutOutcome, PutRules};
use alx_types::{
    attribution_api::BlobResponse,
    datanet::MediaType,
    hash::{Hash, parse_hex, to_hex},
};
use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

/// Query of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    media_type: Option<MediaType>,
}

fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    parse_hex(text).ok_or_else(|| {
        ApiError::BadRequest(format!("{text:?} is not a 64-hex-character BLAKE3 hash"))
    })
}

async fn store(
    s: &ApiState,
    headers: &HeaderMap,
    expected: Option<Hash>,
    query: UploadQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let authorized = {
        let committed = s.chain.committed();
        s.uploads.authorize(&committed.state, committed.block.height(), headers, expected)?
    };
    let rules =
        PutRules { hash: authorized.hash, size: Some(authorized.size), media: query.media_type };
    let (info, outcome) = s.blobs.put_checked(rules, body.into_data_stream()).await?;
    let created = outcome == PutOutcome::Created;
    if created {
        authorized.keep();
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(BlobResponse { hash: info.hash, size: info.size, created })).into_response())
}

pub(crate) async fn put(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let expected = parse_hash(&hash)?;
    store(&s, &headers, Some(expected), query, body).await
}

pub(crate) async fn post(
    State(s): State<ApiState>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    store(&s, &headers, None, query, body).await
}

fn not_found(hash: &Hash) -> ApiError {
    ApiError::NotFound(format!("no blob {}", to_hex(hash)))
}

fn headers(hash: &Hash, size: u64) -> [(header::HeaderName, String); 6] {
    [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        // Anyone's bytes, served on the explorer's origin: never sniffed into a page, and a
        // sandbox with nothing allowed should a browser render them anyway.
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'".to_owned()),
        (header::CONTENT_LENGTH, size.to_string()),
        (header::ETAG, format!("\"{}\"", to_hex(hash))),
        // A blob's bytes never change under its hash.
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable".to_owned()),
    ]
}

pub(crate) async fn get(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let (size, stream) = s.blobs.get_stream(&hash).await?.ok_or_else(|| not_found(&hash))?;
    Ok((headers(&hash, size), Body::from_stream(stream)).into_response())
}

pub(crate) async fn head(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash = parse_hash(&hash)?;
    let size = s.blobs.head(&hash).await?.ok_or_else(|| not_found(&hash))?;
    Ok((headers(&hash, size), Body::empty()).into_response())
}
