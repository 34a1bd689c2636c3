//! The HTTP adapters of the gateway core (`core`): parse OpenAI's request shapes, hand a
//! [`Request`] to [`Gateway::start`], and render the result in OpenAI's response shapes.
//! Nothing CPU-heavy runs here: these run on the async threads consensus and the API share.

use crate::{
    Gateway, GatewayError,
    core::{Input, Request, resolve},
    infer::Served,
    openai::{
        ChatChoice, ChatMessage, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse,
        ModelEntry, ModelList, TextChoice, Usage,
    },
    stream,
};
use alx_model::{Message, Role};
use alx_types::{
    hash::to_hex,
    model::ModelId,
    usage_api::{ReceiptSummary, UsageReceipt},
};
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

type Shared = State<Arc<Gateway>>;

pub(crate) fn now_secs() -> u64 {
    // Display only (OpenAI's `created`); nothing on chain reads it.
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, GatewayError> {
    body.map(|Json(t)| t).map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return GatewayError::TooLarge(crate::BODY_LIMIT_BYTES);
        }
        GatewayError::BadRequest {
            message: format!("invalid request body: {}", e.body_text()),
            param: None,
            code: "invalid_json",
        }
    })
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive, as
/// RFC 9110 says).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Refuses a request carrying a parameter the gateway does not implement (see `Extra`).
fn refuse_extra(extra: &crate::openai::Extra) -> Result<(), GatewayError> {
    match extra.refused() {
        None => Ok(()),
        Some((name, code)) => Err(GatewayError::BadRequest {
            message: if code == "unsupported_parameter" {
                format!("the parameter {name:?} is not supported by this gateway; remove it")
            } else {
                format!("unrecognized request argument supplied: {name}")
            },
            param: Some(name.into()),
            code,
        }),
    }
}

fn entry(m: alx_state::Model) -> ModelEntry {
    ModelEntry {
        id: m.spec.name,
        object: "model",
        created: m.registered_at.0,
        owned_by: m.owner.to_string(),
    }
}

pub(crate) async fn models(State(g): Shared) -> Result<Json<ModelList>, GatewayError> {
    let committed = g.chain.committed();
    let state = &committed.state;
    let mut data = Vec::new();
    for id in (0..state.model_count()?).map(ModelId) {
        if let Some(m) = state.model(id)?
            && !m.retired
            && g.backend.serves(&m.spec.base_model)
        {
            data.push(entry(m));
        }
    }
    Ok(Json(ModelList { object: "list", data }))
}

/// `GET /v1/models/{id}`: one model this node serves, by name, numeric id or `subnet/NAME`
/// (the subnet's top miner's model, as chat resolves it).
pub(crate) async fn model(
    State(g): Shared,
    Path(name): Path<String>,
) -> Result<Json<ModelEntry>, GatewayError> {
    let committed = g.chain.committed();
    let state = &committed.state;
    resolve(state, &name)?
        .map(|id| state.model(id))
        .transpose()?
        .flatten()
        .filter(|m| !m.retired && g.backend.serves(&m.spec.base_model))
        .map(|m| Json(entry(m)))
        .ok_or_else(|| {
            GatewayError::ModelNotFound(format!(
                "the model {name:?} does not exist or is not served here (see GET /v1/models)"
            ))
        })
}

fn role(name: &str) -> Result<Role, GatewayError> {
    // OpenAI's newer name for the system role.
    let name = if name == "developer" { "system" } else { name };
    Role::from_name(name)
        .ok_or_else(|| GatewayError::bad(format!("unknown role {name:?}"), Some("messages")))
}

/// `Server-Timing` of a finished request: the model's time and the gateway's own (everything
/// else, queueing included), then the stages, so that clients and `alx bench inference` see the
/// overhead without instrumenting the server.
fn timed(response: impl IntoResponse, started: Instant, served: &Served) -> Response {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let t = &served.timings;
    let value = format!(
        "model;dur={:.3}, gateway;dur={:.3}, queue;dur={:.3}, load;dur={:.3}, retrieve;dur={:.3}, tokenize;dur={:.3}, receipt;dur={:.3}",
        ms(t.model),
        ms(started.elapsed().saturating_sub(t.model)),
        ms(t.queued),
        ms(t.load),
        ms(t.retrieve),
        ms(t.tokenize),
        ms(t.receipt),
    );
    let mut response = response.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

pub(crate) fn summary(r: &UsageReceipt) -> ReceiptSummary {
    ReceiptSummary {
        receipt_id: r.id,
        model: r.body.model_name.clone(),
        tokens_in: r.body.prompt_tokens,
        tokens_out: r.body.completion_tokens,
        fee: r.body.fee,
        citations: r.body.citations.clone(),
        attribution: r.body.shares.clone(),
    }
}

pub(crate) const fn usage(s: &Served) -> Usage {
    Usage {
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        total_tokens: s.prompt_tokens.saturating_add(s.completion_tokens),
    }
}

pub(crate) async fn chat(
    State(g): Shared,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let req = json_body(body)?;
    refuse_extra(&req.extra)?;
    let messages = req
        .messages
        .iter()
        .map(|m| {
            let text = m.content.text().map_err(|kind| GatewayError::BadRequest {
                message: format!(
                    "content parts of type {kind:?} are not supported; send text parts"
                ),
                param: Some("messages".into()),
                code: "unsupported_content",
            })?;
            Ok(Message::new(role(&m.role)?, text))
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let request =
        Request { model: req.model, input: Input::Chat(messages), sampling: req.sampling };
    let mut running = g.start(bearer(&headers), request)?;
    if let Some(pieces) = running.take_pieces() {
        return stream::respond(running, pieces, true).await;
    }
    let name = running.model.clone();
    let served = running.finish().await?;
    let response = Json(ChatResponse {
        id: format!("chatcmpl-{}", to_hex(&served.receipt.id)),
        object: "chat.completion",
        created: now_secs(),
        model: name,
        choices: vec![ChatChoice {
            index: 0,
            message: ChatMessage { role: "assistant".into(), content: served.text.clone() },
            finish_reason: served.finish,
        }],
        usage: usage(&served),
        alexandria: summary(&served.receipt),
    });
    Ok(timed(response, started, &served))
}

pub(crate) async fn completion(
    State(g): Shared,
    headers: HeaderMap,
    body: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let req = json_body(body)?;
    refuse_extra(&req.extra)?;
    let prompt = req.prompt.single().ok_or_else(|| {
        GatewayError::bad("send one prompt (a string, or a list of one string)", Some("prompt"))
    })?;
    let input = Input::Completion { prompt, retrieval: req.retrieval };
    let request = Request { model: req.model, input, sampling: req.sampling };
    let mut running = g.start(bearer(&headers), request)?;
    if let Some(pieces) = running.take_pieces() {
        return stream::respond(running, pieces, false).await;
    }
    let name = running.model.clone();
    let served = running.finish().await?;
    let response = Json(CompletionResponse {
        id: format!("cmpl-{}", to_hex(&served.receipt.id)),
        object: "text_completion",
        created: now_secs(),
        model: name,
        choices: vec![TextChoice {
            index: 0,
            text: served.text.clone(),
            finish_reason: served.finish,
            logprobs: None,
        }],
        usage: usage(&served),
        alexandria: summary(&served.receipt),
    });
    Ok(timed(response, started, &served))
}

/// `POST /v1/embeddings`: the base model's pooled hidden states (see `alx_model::Model::embed`),
/// charged at the model's input price.
pub(crate) async fn embeddings(
    State(g): Shared,
    headers: HeaderMap,
    body: Result<Json<crate::openai::EmbeddingRequest>, JsonRejection>,
) -> Result<Response, GatewayError> {
    use crate::openai::{EmbeddingEntry, EmbeddingInput, EmbeddingResponse, EmbeddingUsage};
    let started = Instant::now();
    let req = json_body(body)?;
    refuse_extra(&req.extra)?;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(GatewayError::BadRequest {
                message: "encoding_format must be \"float\" or \"base64\"".into(),
                param: Some("encoding_format".into()),
                code: "invalid_value",
            });
        }
    };
    let texts = match req.input {
        EmbeddingInput::One(t) => vec![t],
        EmbeddingInput::Many(v) => v,
    };
    let request = Request {
        model: req.model,
        input: Input::Embeddings(texts),
        sampling: crate::openai::Sampling::default(),
    };
    let running = g.start(bearer(&headers), request)?;
    let name = running.model.clone();
    let served = running.finish().await?;
    let data = served
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| EmbeddingEntry {
            object: "embedding",
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding: if base64 {
                use base64::Engine as _;
                let bytes: Vec<u8> = e.iter().flat_map(|x| x.to_le_bytes()).collect();
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                serde_json::json!(e)
            },
        })
        .collect();
    let response = Json(EmbeddingResponse {
        object: "list",
        data,
        model: name,
        usage: EmbeddingUsage {
            prompt_tokens: served.prompt_tokens,
            total_tokens: served.prompt_tokens,
        },
        alexandria: summary(&served.receipt),
    });
    Ok(timed(response, started, &served))
}
