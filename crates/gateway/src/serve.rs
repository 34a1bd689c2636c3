//! The HTTP handlers: parse and check the request, authenticate, resolve the model, hand the
//! work to a worker (`infer`), answer. Nothing CPU-heavy runs here: these run on the async
//! threads consensus and the API share.

use crate::{
    Gateway, GatewayError,
    infer::{self, Input, Job, Served},
    meter::{self, Payer},
    openai::{
        ChatChoice, ChatMessage, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse,
        ModelEntry, ModelList, Sampling, TextChoice, Usage,
    },
    stream,
};
use alx_model::{GenerateConfig, Message, Role};
use alx_types::{
    hash::{parse_hex, to_hex},
    model::{ModelId, ModelSpec},
    subnet_api::NeuronRole,
    usage_api::{ReceiptSummary, UsageReceipt},
};
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
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
        created: m.registered_at,
        owned_by: m.owner.to_string(),
    }
}

pub(crate) async fn models(State(g): Shared) -> Result<Json<ModelList>, GatewayError> {
    let committed = g.chain.committed();
    let state = &committed.state;
    let mut data = Vec::new();
    for id in 0..state.model_count()? {
        if let Some(m) = state.model(id)?
            && !m.retired
            && g.catalog.has(&m.spec.base_model)
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
        .filter(|m| !m.retired && g.catalog.has(&m.spec.base_model))
        .map(|m| Json(entry(m)))
        .ok_or_else(|| {
            GatewayError::ModelNotFound(format!(
                "the model {name:?} does not exist or is not served here (see GET /v1/models)"
            ))
        })
}

pub(crate) async fn receipt(
    State(g): Shared,
    Path(id): Path<String>,
) -> Result<Json<UsageReceipt>, Response> {
    let not_found = |m: String| {
        let body = serde_json::json!({"error": {"type": "not_found", "message": m}});
        (axum::http::StatusCode::NOT_FOUND, Json(body)).into_response()
    };
    let hash = parse_hex(&id).ok_or_else(|| not_found(format!("{id:?} is not a receipt id")))?;
    g.receipts.by_id(&hash).map(Json).ok_or_else(|| not_found(format!("no receipt {id} here")))
}

/// A request checked and authenticated, ready to queue.
pub(crate) struct Prepared {
    pub(crate) payer: Payer,
    pub(crate) model_id: ModelId,
    pub(crate) spec: ModelSpec,
    pub(crate) config: GenerateConfig,
    pub(crate) stream: bool,
}

fn generate_config(g: &Gateway, s: &Sampling) -> Result<GenerateConfig, GatewayError> {
    if s.n.is_some_and(|n| n != 1) {
        return Err(GatewayError::bad("only n = 1 is supported", Some("n")));
    }
    let (max, param) = match s.max_completion_tokens {
        Some(m) => (Some(m), "max_completion_tokens"),
        None => (s.max_tokens, "max_tokens"),
    };
    let max_tokens = match max {
        None => g.config.max_tokens_default,
        Some(m) if m < 1 || m > i64::from(g.config.max_tokens_max) => {
            return Err(GatewayError::bad(
                format!("{param} must be between 1 and {}, got {m}", g.config.max_tokens_max),
                Some(param),
            ));
        }
        Some(m) => u32::try_from(m).unwrap_or(g.config.max_tokens_max),
    };
    let temperature = s.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(GatewayError::bad("temperature must be between 0 and 2", Some("temperature")));
    }
    let top_p = s.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(GatewayError::bad("top_p must be in (0, 1]", Some("top_p")));
    }
    let sampling = if temperature == 0.0 {
        alx_model::Sampling::Greedy
    } else {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        alx_model::Sampling::Random {
            temperature: temperature as f32,
            top_p: top_p as f32,
            seed: s.seed.map_or(0, |s| s as u64),
        }
    };
    let stop = s.stop.clone().map(crate::openai::Stop::into_vec).unwrap_or_default();
    Ok(GenerateConfig {
        max_tokens: max_tokens as usize,
        sampling,
        stop,
        penalties: penalties(g, s)?,
    })
}

/// The penalties of a request: OpenAI's `frequency_penalty` and `presence_penalty` (0 when
/// absent, as OpenAI) and the `repetition_penalty` extension (the node's default when absent,
/// `[gateway] repetition_penalty`; 1 turns it off), over the last 256 generated tokens.
fn penalties(g: &Gateway, s: &Sampling) -> Result<alx_model::Penalties, GatewayError> {
    let check = |v: f64, lo: f64, hi: f64, name: &'static str| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(GatewayError::bad(
                format!("{name} must be between {lo} and {hi}, got {v}"),
                Some(name),
            ))
        }
    };
    let frequency = check(s.frequency_penalty.unwrap_or(0.0), -2.0, 2.0, "frequency_penalty")?;
    let presence = check(s.presence_penalty.unwrap_or(0.0), -2.0, 2.0, "presence_penalty")?;
    let repetition = match s.repetition_penalty {
        Some(v) => check(v, 1.0, 2.0, "repetition_penalty")?,
        None => f64::from(g.config.repetition_penalty),
    };
    #[allow(clippy::cast_possible_truncation)]
    Ok(alx_model::Penalties {
        frequency: frequency as f32,
        presence: presence as f32,
        repetition: repetition as f32,
        window: alx_model::Penalties::SERVING.window,
    })
}

/// Authenticates, resolves the model on chain and checks the sampling settings: state reads
/// only, no I/O. A key with nothing left to spend is refused here, before any work.
fn prepare(
    g: &Gateway,
    headers: &HeaderMap,
    name: &str,
    sampling: &Sampling,
    input_bytes: usize,
) -> Result<Prepared, GatewayError> {
    let committed = g.chain.committed();
    let state = &committed.state;
    let payer = meter::Meter::authenticate(state, &g.me, bearer(headers))?;
    let model_id = resolve(state, name)?;
    let unknown = || {
        GatewayError::ModelNotFound(format!(
            "the model {name:?} does not exist or is not served here (see GET /v1/models)"
        ))
    };
    let model_id = model_id.ok_or_else(unknown)?;
    let record = state.model(model_id)?.filter(|m| !m.retired).ok_or_else(unknown)?;
    let config = generate_config(g, sampling)?;
    let allowance =
        state.api_key(&payer.key_hash)?.map_or(alx_types::Amount::ZERO, |k| k.allowance);
    let held = meter::lock(&g.meter).held(&payer.key_hash);
    let left = alx_types::Amount(allowance.0.saturating_sub(held.0));
    // The least this request can cost: its text is at least bytes / 64 tokens (no vocabulary
    // entry is longer), plus one generated token. A key that cannot pay that is refused before
    // any work is queued, so a key worth a few base units cannot buy seconds of tokenizing.
    let tokens_at_least = u32::try_from(input_bytes.div_ceil(64)).unwrap_or(u32::MAX);
    let least = meter::fee(&record.spec, tokens_at_least, 1);
    if left.is_zero() || least > left {
        return Err(GatewayError::InsufficientQuota(format!(
            "this request costs at least {least}, but the API key has {left} left ({held} held for requests not yet settled); fund it with `alx keys api-key fund`"
        )));
    }
    Ok(Prepared { payer, model_id, spec: record.spec, config, stream: sampling.stream })
}

/// The model a request names: `subnet/…` (see `SUBNET_ROUTE`), a numeric id, or a name.
fn resolve(
    state: &alx_state::State,
    name: &str,
) -> Result<Option<ModelId>, alx_state::CorruptState> {
    match (name.strip_prefix(SUBNET_ROUTE), name.parse::<u64>()) {
        (Some(subnet), _) => top_miner_model(state, subnet),
        (None, Ok(id)) => Ok(Some(id)),
        (None, Err(_)) => state.model_by_name(name),
    }
}

/// Model names of this form route to a subnet's best model: `subnet/ID` or `subnet/NAME`.
const SUBNET_ROUTE: &str = "subnet/";

/// The model of the subnet's miner with the highest incentive from the last Yuma epoch (ties:
/// the lower uid), if the subnet exists and has a miner.
fn top_miner_model(
    state: &alx_state::State,
    subnet: &str,
) -> Result<Option<ModelId>, alx_state::CorruptState> {
    let id = match subnet.parse::<u64>() {
        Ok(id) => Some(id),
        Err(_) => state.subnets()?.into_iter().find(|s| s.spec.name == subnet).map(|s| s.id),
    };
    let Some(graph) = id.map(|id| state.metagraph(id)).transpose()?.flatten() else {
        return Ok(None);
    };
    let best = graph
        .neurons
        .iter()
        .filter(|n| n.kind == NeuronRole::Miner)
        .filter_map(|n| Some((n.incentive, std::cmp::Reverse(n.uid), n.model?)))
        .max();
    Ok(best.map(|(_, _, model)| model))
}

fn role(name: &str) -> Result<Role, GatewayError> {
    match name {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        other => Err(GatewayError::bad(format!("unknown role {other:?}"), Some("messages"))),
    }
}

pub(crate) fn model_error(e: &alx_model::Error) -> GatewayError {
    if let alx_model::Error::ContextOverflow { prompt_tokens, max_tokens, context_length } = e {
        return GatewayError::BadRequest {
            message: format!(
                "this model's context is {context_length} tokens; the prompt has at least {prompt_tokens} and max_tokens asks {max_tokens} more"
            ),
            param: Some("messages".into()),
            code: "context_length_exceeded",
        };
    }
    if e.is_bad_request() {
        return GatewayError::bad(e.to_string(), None);
    }
    GatewayError::Internal(e.to_string())
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

/// Sets the job's cancel flag when dropped: the handler went away with its client.
pub(crate) struct CancelOnDrop(pub(crate) Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Where a queued job's result arrives.
pub(crate) type Done = tokio::sync::oneshot::Receiver<Result<Served, GatewayError>>;

/// Queues the job on a worker (429 if the queue is full) and returns where its result comes
/// and the flag that cancels it.
pub(crate) fn submit(
    g: &Arc<Gateway>,
    p: Prepared,
    input: Input,
    pieces: Option<tokio::sync::mpsc::Sender<String>>,
) -> Result<(Done, Arc<AtomicBool>), GatewayError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let job = Job {
        payer: p.payer,
        model_id: p.model_id,
        spec: p.spec,
        input,
        config: p.config,
        pieces,
        cancel: cancel.clone(),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let worker = g.clone();
    let queued_at = Instant::now();
    g.pool
        .try_submit(move || {
            let result = infer::execute(&worker, job, queued_at.elapsed());
            let _ = done_tx.send(result);
        })
        .map_err(|_| {
            g.stats.note_busy();
            GatewayError::Busy(g.pool.queue_max())
        })?;
    Ok((done_rx, cancel))
}

async fn finished(done: Done) -> Result<Served, GatewayError> {
    done.await.map_err(|_| GatewayError::Internal("the worker dropped the request".into()))?
}

pub(crate) async fn chat(
    State(g): Shared,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let req = json_body(body)?;
    refuse_extra(&req.extra)?;
    if req.messages.is_empty() {
        return Err(GatewayError::bad("messages must not be empty", Some("messages")));
    }
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
    let bytes = messages.iter().map(|m| m.content.len()).sum();
    let p = prepare(&g, &headers, &req.model, &req.sampling, bytes)?;
    let name = p.spec.name.clone();
    if p.stream {
        return stream::respond(&g, p, Input::Chat(messages), name, true).await;
    }
    let (done, cancel) = submit(&g, p, Input::Chat(messages), None)?;
    let _cancel = CancelOnDrop(cancel);
    let served = finished(done).await?;
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
    if prompt.is_empty() {
        return Err(GatewayError::bad("the prompt is empty", Some("prompt")));
    }
    let p = prepare(&g, &headers, &req.model, &req.sampling, prompt.len())?;
    let name = p.spec.name.clone();
    if p.stream {
        let input = Input::Completion { prompt, retrieval: req.retrieval };
        return stream::respond(&g, p, input, name, false).await;
    }
    let input = Input::Completion { prompt, retrieval: req.retrieval };
    let (done, cancel) = submit(&g, p, input, None)?;
    let _cancel = CancelOnDrop(cancel);
    let served = finished(done).await?;
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

/// Texts of one embedding request, at most.
pub(crate) const EMBEDDING_INPUTS_MAX: usize = 64;

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
    if texts.is_empty() || texts.len() > EMBEDDING_INPUTS_MAX || texts.iter().any(String::is_empty)
    {
        return Err(GatewayError::bad(
            format!("input must be 1 to {EMBEDDING_INPUTS_MAX} non-empty texts"),
            Some("input"),
        ));
    }
    let bytes = texts.iter().map(String::len).sum();
    let p = prepare(&g, &headers, &req.model, &Sampling::default(), bytes)?;
    let name = p.spec.name.clone();
    let (done, cancel) = submit(&g, p, Input::Embeddings(texts), None)?;
    let _cancel = CancelOnDrop(cancel);
    let served = finished(done).await?;
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
