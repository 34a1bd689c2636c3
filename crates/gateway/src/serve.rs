//! The request handlers.

use crate::{
    Gateway, GatewayError, attribution,
    meter::{self, Payer},
    openai::{
        ChatChoice, ChatMessage, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse,
        ModelEntry, ModelList, Sampling, TextChoice, Usage,
    },
};
use alx_indexer::Passage;
use alx_model::{FinishReason, GenerateConfig, Message, Model, Role, TokenId};
use alx_types::{
    Amount,
    hash::{parse_hex, to_hex},
    model::{ModelId, ModelSpec},
    subnet_api::NeuronRole,
    usage_api::{ReceiptBody, ReceiptSummary, UsageReceipt},
};
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::HeaderMap,
    response::{IntoResponse, Response, Sse, sse::Event},
};
use std::{
    convert::Infallible,
    sync::Arc,
    time::{Duration, Instant},
};

type Shared = State<Arc<Gateway>>;

fn now_secs() -> u64 {
    // Display only (OpenAI's `created`); nothing on chain reads it.
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, GatewayError> {
    body.map(|Json(t)| t).map_err(|e| GatewayError::BadRequest {
        message: format!("invalid request body: {}", e.body_text()),
        param: None,
        code: "invalid_json",
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub(crate) async fn models(State(g): Shared) -> Result<Json<ModelList>, GatewayError> {
    let committed = g.ledger.committed();
    let state = &committed.state;
    let mut data = Vec::new();
    for id in 0..state.model_count()? {
        if let Some(m) = state.model(id)?
            && !m.retired
            && g.catalog.has(&m.spec.base_model)
        {
            data.push(ModelEntry {
                id: m.spec.name,
                object: "model",
                created: m.registered_at,
                owned_by: m.owner.to_string(),
            });
        }
    }
    Ok(Json(ModelList { object: "list", data }))
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

/// A request made ready to run: who pays, which model, how to generate.
struct Prepared {
    payer: Payer,
    model_id: ModelId,
    spec: ModelSpec,
    model: Arc<Model>,
    config: GenerateConfig,
    stream: bool,
}

fn generate_config(g: &Gateway, s: &Sampling) -> Result<GenerateConfig, GatewayError> {
    if s.n.is_some_and(|n| n != 1) {
        return Err(GatewayError::bad("only n = 1 is supported", Some("n")));
    }
    let max = s.max_completion_tokens.or(s.max_tokens);
    let max_tokens = match max {
        None => g.config.max_tokens_default,
        Some(m) if m < 1 || m > i64::from(g.config.max_tokens_max) => {
            return Err(GatewayError::bad(
                format!("max_tokens must be between 1 and {}, got {m}", g.config.max_tokens_max),
                Some("max_tokens"),
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
    Ok(GenerateConfig { max_tokens: max_tokens as usize, sampling, stop })
}

async fn prepare(
    g: &Arc<Gateway>,
    headers: &HeaderMap,
    name: &str,
    sampling: &Sampling,
) -> Result<Prepared, GatewayError> {
    let committed = g.ledger.committed();
    let state = &committed.state;
    let payer = meter::Meter::authenticate(state, &g.me, bearer(headers))?;
    let model_id = match (name.strip_prefix(SUBNET_ROUTE), name.parse::<u64>()) {
        (Some(subnet), _) => top_miner_model(state, subnet)?,
        (None, Ok(id)) => Some(id),
        (None, Err(_)) => state.model_by_name(name)?,
    };
    let unknown = || {
        GatewayError::ModelNotFound(format!(
            "the model {name:?} does not exist or is not served here (see GET /v1/models)"
        ))
    };
    let model_id = model_id.ok_or_else(unknown)?;
    let record = state.model(model_id)?.filter(|m| !m.retired).ok_or_else(unknown)?;
    let config = generate_config(g, sampling)?;
    let gateway = g.clone();
    let hash = record.spec.base_model;
    let model = tokio::task::spawn_blocking(move || gateway.catalog.get(&hash))
        .await
        .map_err(|e| GatewayError::Internal(format!("model load task: {e}")))?
        .map_err(|e| GatewayError::Internal(format!("cannot load the model's weights: {e}")))?
        .ok_or_else(unknown)?;
    Ok(Prepared { payer, model_id, spec: record.spec, model, config, stream: sampling.stream })
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

/// The passages of the model's datanets for `query`, and the prompt messages with them.
fn with_context(
    g: &Gateway,
    spec: &ModelSpec,
    mut messages: Vec<Message>,
    query: &str,
) -> (Vec<(u64, Passage)>, Vec<Message>) {
    let passages = attribution::retrieve(&g.indexes, spec, query);
    if passages.is_empty() {
        return (passages, messages);
    }
    let mut context = String::from(
        "Answer using these passages from the model's datanets when they are relevant:\n",
    );
    for (i, (_, p)) in passages.iter().enumerate() {
        context.push_str(&format!("\n[{}] {}\n", i + 1, p.text));
    }
    let at = messages.iter().take_while(|m| m.role == Role::System).count();
    messages.insert(at, Message::new(Role::System, context));
    (passages, messages)
}

fn role(name: &str) -> Result<Role, GatewayError> {
    match name {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        other => Err(GatewayError::bad(format!("unknown role {other:?}"), Some("messages"))),
    }
}

fn model_error(e: &alx_model::Error) -> GatewayError {
    if let alx_model::Error::ContextOverflow { prompt_tokens, max_tokens, context_length } = e {
        return GatewayError::BadRequest {
            message: format!(
                "this model's context is {context_length} tokens; the prompt has {prompt_tokens} and max_tokens asks {max_tokens} more"
            ),
            param: Some("messages"),
            code: "context_length_exceeded",
        };
    }
    if e.is_bad_request() {
        return GatewayError::bad(e.to_string(), None);
    }
    GatewayError::Internal(e.to_string())
}

/// What a finished generation produced.
struct Served {
    text: String,
    prompt_tokens: u32,
    completion_tokens: u32,
    finish: &'static str,
    receipt: UsageReceipt,
    /// Time spent generating (prefill and decode), for `Server-Timing`.
    model_time: Duration,
    /// Time spent on the receipt (span attribution, signing, the durable write).
    receipt_time: Duration,
}

/// When each stage of a request ended, for `Server-Timing`.
struct Stages {
    started: Instant,
    prepared: Instant,
    retrieved: Instant,
    tokenized: Instant,
}

impl Stages {
    fn new() -> Self {
        let now = Instant::now();
        Self { started: now, prepared: now, retrieved: now, tokenized: now }
    }
}

/// `Server-Timing` of a finished request: the model's time and the gateway's own (everything
/// else the handler did), then the gateway's stages (auth and model lookup, retrieval,
/// tokenizing, receipt), so that clients and `alx bench inference` can see the overhead
/// without instrumenting the server.
fn timed(response: impl IntoResponse, t: &Stages, served: &Served) -> Response {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let value = format!(
        "model;dur={:.3}, gateway;dur={:.3}, prepare;dur={:.3}, retrieve;dur={:.3}, tokenize;dur={:.3}, receipt;dur={:.3}",
        ms(served.model_time),
        ms(t.started.elapsed().saturating_sub(served.model_time)),
        ms(t.prepared - t.started),
        ms(t.retrieved - t.prepared),
        ms(t.tokenized - t.retrieved),
        ms(served.receipt_time),
    );
    let mut response = response.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

const fn finish_name(f: Option<FinishReason>) -> &'static str {
    match f {
        Some(FinishReason::Length) => "length",
        _ => "stop",
    }
}

/// Runs a prepared request: reserve, generate (sending pieces to `pieces` if given), then
/// receipt. Nothing is charged unless the generation completes.
async fn run(
    g: &Arc<Gateway>,
    p: Prepared,
    prompt: Vec<TokenId>,
    passages: Vec<(u64, Passage)>,
    pieces: Option<tokio::sync::mpsc::Sender<String>>,
) -> Result<Served, GatewayError> {
    let context = p.model.context_length();
    if prompt.len().saturating_add(p.config.max_tokens) > context {
        return Err(model_error(&alx_model::Error::ContextOverflow {
            prompt_tokens: prompt.len(),
            max_tokens: p.config.max_tokens,
            context_length: context,
        }));
    }
    let prompt_tokens = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
    let most =
        meter::fee(&p.spec, prompt_tokens, u32::try_from(p.config.max_tokens).unwrap_or(u32::MAX));
    {
        let committed = g.ledger.committed();
        g.meter.lock().unwrap_or_else(std::sync::PoisonError::into_inner).reserve(
            &committed.state,
            &p.payer,
            most,
        )?;
    }
    let released = |charged: Amount| {
        g.meter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .release(&p.payer, most, charged);
    };
    let engine = g.engine.lock().await;
    let model = p.model.clone();
    let config = p.config.clone();
    let result = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut generation = model.generation(&prompt, &config)?;
        let mut text = String::new();
        for piece in generation.by_ref() {
            let piece = piece?;
            if let Some(tx) = &pieces
                && tx.blocking_send(piece.clone()).is_err()
            {
                return Ok(None); // The client left: nothing is charged.
            }
            text.push_str(&piece);
        }
        let tokens = generation.tokens().len();
        let done = (text, tokens, generation.finish_reason(), started.elapsed());
        Ok::<_, alx_model::Error>(Some(done))
    })
    .await;
    drop(engine);
    let (text, tokens, finish, model_time) = match result {
        Ok(Ok(Some(done))) => done,
        Ok(Ok(None)) => {
            released(Amount::ZERO);
            return Err(GatewayError::bad("the client disconnected", None));
        }
        Ok(Err(e)) => {
            released(Amount::ZERO);
            return Err(model_error(&e));
        }
        Err(e) => {
            released(Amount::ZERO);
            return Err(GatewayError::Internal(format!("generation task: {e}")));
        }
    };
    let completion_tokens = u32::try_from(tokens).unwrap_or(u32::MAX);
    let fee = meter::fee(&p.spec, prompt_tokens, completion_tokens);
    let receipt_started = Instant::now();
    let receipt =
        match receipt_for(g, &p, &passages, &text, prompt_tokens, completion_tokens, fee).await {
            Ok(r) => r,
            Err(e) => {
                released(Amount::ZERO);
                return Err(e);
            }
        };
    released(fee);
    let finish = finish_name(finish);
    let receipt_time = receipt_started.elapsed();
    Ok(Served { text, prompt_tokens, completion_tokens, finish, receipt, model_time, receipt_time })
}

async fn receipt_for(
    g: &Arc<Gateway>,
    p: &Prepared,
    passages: &[(u64, Passage)],
    output: &str,
    prompt_tokens: u32,
    completion_tokens: u32,
    fee: Amount,
) -> Result<UsageReceipt, GatewayError> {
    let g2 = g.clone();
    let spec = p.spec.clone();
    let (model_id, key_hash) = (p.model_id, p.payer.key_hash);
    let passages = passages.to_vec();
    let output = output.to_owned();
    // Span matching and file writes: off the async threads.
    tokio::task::spawn_blocking(move || {
        let committed = g2.ledger.committed();
        let state = &committed.state;
        let spans = attribution::span_shares(&g2.indexes, state, &spec, &output);
        let shares = attribution::combine(&passages, &spans);
        let body = ReceiptBody {
            number: 0,
            provider: g2.me,
            model: model_id,
            model_name: spec.name.clone(),
            key_hash,
            prompt_tokens,
            completion_tokens,
            fee,
            datanets: spec.datanets.clone(),
            citations: attribution::citations(&passages),
            span_shares: attribution::entries(state, &spans),
            shares: attribution::entries(state, &shares),
            credits: attribution::credits(state, model_id, &spec, fee, &shares),
            output,
        };
        let floor = state.next_receipt(&g2.me)?;
        g2.receipts
            .issue(body, floor)
            .map_err(|e| GatewayError::Internal(format!("cannot store the receipt: {e}")))
    })
    .await
    .map_err(|e| GatewayError::Internal(format!("receipt task: {e}")))?
}

fn summary(r: &UsageReceipt) -> ReceiptSummary {
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

fn usage(s: &Served) -> Usage {
    Usage {
        prompt_tokens: s.prompt_tokens,
        completion_tokens: s.completion_tokens,
        total_tokens: s.prompt_tokens.saturating_add(s.completion_tokens),
    }
}

fn permit(g: &Gateway) -> Result<tokio::sync::OwnedSemaphorePermit, GatewayError> {
    g.queue.clone().try_acquire_owned().map_err(|_| GatewayError::Busy(g.config.queue_max))
}

pub(crate) async fn chat(
    State(g): Shared,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> Result<Response, GatewayError> {
    let mut t = Stages::new();
    let req = json_body(body)?;
    if req.messages.is_empty() {
        return Err(GatewayError::bad("messages must not be empty", Some("messages")));
    }
    let messages = req
        .messages
        .iter()
        .map(|m| Ok(Message::new(role(&m.role)?, m.content.clone())))
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let _permit = permit(&g)?;
    let p = prepare(&g, &headers, &req.model, &req.sampling).await?;
    t.prepared = Instant::now();
    let query =
        req.messages.iter().rev().find(|m| m.role == "user").map_or("", |m| m.content.as_str());
    let (passages, messages) = with_context(&g, &p.spec, messages, query);
    t.retrieved = Instant::now();
    let prompt = p.model.chat_prompt(&messages).map_err(|e| model_error(&e))?;
    t.tokenized = Instant::now();
    let name = p.spec.name.clone();
    if p.stream {
        return Ok(stream(g.clone(), p, prompt, passages, name, true, _permit).into_response());
    }
    let served = run(&g, p, prompt, passages, None).await?;
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
    Ok(timed(response, &t, &served))
}

pub(crate) async fn completion(
    State(g): Shared,
    headers: HeaderMap,
    body: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, GatewayError> {
    let mut t = Stages::new();
    let req = json_body(body)?;
    let _permit = permit(&g)?;
    let p = prepare(&g, &headers, &req.model, &req.sampling).await?;
    t.prepared = Instant::now();
    let passages = attribution::retrieve(&g.indexes, &p.spec, &req.prompt);
    t.retrieved = Instant::now();
    let mut text = String::new();
    for (i, (_, passage)) in passages.iter().enumerate() {
        text.push_str(&format!("[{}] {}\n\n", i + 1, passage.text));
    }
    text.push_str(&req.prompt);
    let prompt = p.model.tokenizer().encode(&text).map_err(|e| model_error(&e))?;
    t.tokenized = Instant::now();
    if prompt.is_empty() {
        return Err(GatewayError::bad("the prompt is empty", Some("prompt")));
    }
    let name = p.spec.name.clone();
    if p.stream {
        return Ok(stream(g.clone(), p, prompt, passages, name, false, _permit).into_response());
    }
    let served = run(&g, p, prompt, passages, None).await?;
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
    Ok(timed(response, &t, &served))
}

/// Server-sent events in OpenAI's chunk format, ending with a chunk that carries the finish
/// reason, usage and the `alexandria` object, then `[DONE]`.
fn stream(
    g: Arc<Gateway>,
    p: Prepared,
    prompt: Vec<TokenId>,
    passages: Vec<(u64, Passage)>,
    model: String,
    chat: bool,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let result = run(&g, p, prompt, passages, Some(tx)).await;
        drop(permit);
        let _ = done_tx.send(result);
    });
    let created = now_secs();
    let (object, id) =
        if chat { ("chat.completion.chunk", "chatcmpl") } else { ("text_completion", "cmpl") };
    let chunk = move |content: serde_json::Value, finish: Option<&str>| {
        if chat {
            serde_json::json!({"id": id, "object": object, "created": created, "model": model,
                "choices": [{"index": 0, "delta": content, "finish_reason": finish}]})
        } else {
            serde_json::json!({"id": id, "object": object, "created": created, "model": model,
                "choices": [{"index": 0, "text": content.get("content").cloned().unwrap_or_default(), "finish_reason": finish, "logprobs": null}]})
        }
    };
    let first = chat.then(|| chunk(serde_json::json!({"role": "assistant", "content": ""}), None));
    let pieces = tokio_stream::wrappers::ReceiverStream::new(rx);
    let chunk2 = chunk.clone();
    let body = futures::stream::iter(first)
        .chain(futures::StreamExt::map(pieces, move |piece| {
            chunk2(serde_json::json!({"content": piece}), None)
        }))
        .map(|v| Ok(Event::default().data(v.to_string())));
    let tail = futures::stream::once(async move {
        match done_rx.await {
            Ok(Ok(served)) => {
                let mut last = chunk(serde_json::json!({}), Some(served.finish));
                last["usage"] = serde_json::to_value(usage(&served)).unwrap_or_default();
                last["alexandria"] = serde_json::to_value(summary(&served.receipt)).unwrap_or_default();
                last["id"] = serde_json::Value::String(format!("{id}-{}", to_hex(&served.receipt.id)));
                vec![Ok(Event::default().data(last.to_string())), Ok(Event::default().data("[DONE]"))]
            }
            Ok(Err(e)) => {
                let body = serde_json::json!({"error": {"message": e.to_string(), "type": "server_error"}});
                vec![Ok(Event::default().data(body.to_string()))]
            }
            Err(_) => vec![],
        }
    })
    .flat_map(futures::stream::iter);
    Sse::new(futures::StreamExt::chain(body, tail))
}

use futures::StreamExt as _;
