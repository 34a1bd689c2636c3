//! One request's work, start to end, on a gateway worker thread (see `pool`):
//!
//! ```text
//! weights (load on first use) → retrieval → prompt (a cheap length bound first, then the
//! tokenizer) → reservation of the most it may cost → generation (pieces streamed out; stops
//! when the client leaves, stalls, or cancels) → fee for the prompt and every token generated
//! → influence of the answer on the adapter's examples (adapter models) → span attribution,
//! credits, signed receipt → the reservation becomes the fee, held until settlement
//! ```
//!
//! A request is charged for what it consumed: its prompt and every token generated, whether
//! or not the client stayed to read them (a stream read for three tokens and dropped pays for
//! those three and the prompt). A request that fails on this side (bad weights, a receipt that
//! cannot be written) is charged nothing: its reservation is released whole.

use crate::{
    Gateway, GatewayError, attribution,
    backend::{Ending, GenerationRequest, ServedModel},
    core::{Input, model_error},
    meter::{self, Payer, Reservation},
};
use alx_indexer::Passage;
use alx_model::{FinishReason, GenerateConfig, Message, Role, TokenId};
use alx_types::{
    Amount,
    datanet::DatanetId,
    model::{ModelId, ModelSpec},
    usage_api::{ReceiptBody, UsageReceipt},
};
use std::{
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};
use tokio::sync::mpsc::Sender;

/// Longest a stream may wait, in total over the whole request, for its client to take pieces
/// before the client counts as gone: a client that reads slowly must not hold its place in the
/// batch for longer than this beyond the generation itself.
pub(crate) const STREAM_STALL_MAX: Duration = Duration::from_secs(30);

/// A request accepted by a handler, ready to run.
pub(crate) struct Job {
    pub(crate) payer: Payer,
    pub(crate) model_id: ModelId,
    pub(crate) spec: ModelSpec,
    pub(crate) input: Input,
    pub(crate) config: GenerateConfig,
    /// Where generated pieces go, for a streamed answer.
    pub(crate) pieces: Option<Sender<String>>,
    /// Set when the client is gone (its handler was dropped).
    pub(crate) cancel: Arc<AtomicBool>,
}

/// How long each stage took, for `Server-Timing`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timings {
    pub(crate) queued: Duration,
    pub(crate) load: Duration,
    pub(crate) retrieve: Duration,
    pub(crate) tokenize: Duration,
    pub(crate) model: Duration,
    pub(crate) receipt: Duration,
}

/// A finished request: what it produced, what it was charged for, and its receipt.
#[derive(Debug)]
pub struct Served {
    /// The text generated.
    pub text: String,
    /// Prompt tokens charged (those run through the model).
    pub prompt_tokens: u32,
    /// Tokens generated, each charged whether or not its client stayed to read it.
    pub completion_tokens: u32,
    /// OpenAI's finish reason (`stop`, `length`), or `client_gone`.
    pub finish: &'static str,
    /// The signed receipt: fee, attribution, credits.
    pub receipt: UsageReceipt,
    /// The vectors of an embedding request, one per input.
    pub embeddings: Vec<Vec<f32>>,
    pub(crate) timings: Timings,
}

/// Why generation stopped early, if it did.
enum Stopped {
    Finished(Option<FinishReason>),
    ClientGone,
}

/// What passages are retrieved for: a chat's last user message, or a completion's prompt when
/// it asks for retrieval.
pub(crate) fn retrieval_query(input: &Input) -> Option<&str> {
    match input {
        Input::Chat(messages) => {
            messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.as_str())
        }
        Input::Completion { prompt, retrieval } => retrieval.then_some(prompt.as_str()),
        Input::Embeddings(_) => None,
    }
}

/// The weights of `spec`'s base model, loaded on first use (404 when this node lacks them).
pub(crate) fn load(g: &Gateway, spec: &ModelSpec) -> Result<Arc<dyn ServedModel>, GatewayError> {
    g.backend.model(spec)?.ok_or_else(|| {
        GatewayError::ModelNotFound(format!(
            "the model {:?} is not served here (see GET /v1/models)",
            spec.name
        ))
    })
}

/// Runs `job` to the end (blocking: on a worker thread).
pub(crate) fn execute(g: &Gateway, mut job: Job, queued: Duration) -> Result<Served, GatewayError> {
    if matches!(job.input, Input::Embeddings(_)) {
        return execute_embeddings(g, &job, queued);
    }
    let mut t = Timings { queued, ..Timings::default() };
    let started = Instant::now();
    let model = load(g, &job.spec)?;
    // Taken before anything runs: the influence query comes after the answer.
    let influence_place = model.admit_influence()?;
    t.load = started.elapsed();

    if job.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(GatewayError::ClientGone);
    }
    let at = Instant::now();
    let passages = retrieval_query(&job.input)
        .map(|q| attribution::retrieve(&g.indexes, &job.spec, q))
        .unwrap_or_default();
    t.retrieve = at.elapsed();

    let at = Instant::now();
    let prompt = prompt_tokens(model.as_ref(), &job, &passages)?;
    t.tokenize = at.elapsed();

    let prompt_count = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
    let max_tokens = u32::try_from(job.config.max_tokens).unwrap_or(u32::MAX);
    let most = meter::fee(&job.spec, prompt_count, max_tokens);
    let mut reservation = {
        let committed = g.chain.committed();
        Reservation::new(&g.meter, &committed.state, &job.payer, most)?
    };

    let at = Instant::now();
    // Kept for the influence query only (a model without one needs no copy).
    let prompt_ids = influence_place.as_ref().map(|_| prompt.clone());
    let (text, token_ids, fed, stopped) = generate(g, model.as_ref(), prompt, &mut job)?;
    let generated = token_ids.len();
    t.model = at.elapsed();

    // A client that left during the prefill pays for the prompt tokens that ran.
    let prompt_count = u32::try_from(fed).unwrap_or(u32::MAX).min(prompt_count);
    let completion_tokens = u32::try_from(generated).unwrap_or(u32::MAX);
    let fee = meter::fee(&job.spec, prompt_count, completion_tokens);
    let at = Instant::now();
    // Nothing when no token was generated (a client gone during the prefill among them).
    let influence = match &prompt_ids {
        Some(prompt) => model.influence(prompt, &token_ids)?,
        None => Vec::new(),
    };
    let output = Output { text: &text, tokens: &token_ids, influence: &influence };
    let receipt = receipt_for(g, &job, &passages, output, (prompt_count, completion_tokens), fee)?;
    reservation.charge(fee);
    drop(reservation);
    t.receipt = at.elapsed();
    let finish = match stopped {
        Stopped::Finished(Some(FinishReason::Length)) => "length",
        Stopped::Finished(_) => "stop",
        Stopped::ClientGone => {
            g.stats.note_client_gone();
            "client_gone"
        }
    };
    Ok(Served {
        text,
        prompt_tokens: prompt_count,
        completion_tokens,
        finish,
        receipt,
        timings: t,
        embeddings: Vec::new(),
    })
}

/// An embedding request: every input tokenized (each within the context), the most it costs
/// (its tokens at the input price) reserved, the vectors computed (stopping if the client
/// leaves), then the fee and a receipt with no output: there is nothing to attribute, so the
/// data share goes to the datanets' owners at settlement.
fn execute_embeddings(g: &Gateway, job: &Job, queued: Duration) -> Result<Served, GatewayError> {
    let Input::Embeddings(texts) = &job.input else {
        return Err(GatewayError::Internal("not an embedding request".into()));
    };
    let mut t = Timings { queued, ..Timings::default() };
    let started = Instant::now();
    let model = load(g, &job.spec)?;
    t.load = started.elapsed();
    let at = Instant::now();
    let context = model.context_length();
    let mut inputs = Vec::with_capacity(texts.len());
    for text in texts {
        let at_least = model.tokens_at_least(text.len());
        if at_least > context {
            return Err(context_overflow(at_least, 0, context));
        }
        let tokens = model.encode(text).map_err(|e| model_error(&e))?;
        if tokens.is_empty() || tokens.len() > context {
            return Err(context_overflow(tokens.len(), 0, context));
        }
        inputs.push(tokens);
    }
    t.tokenize = at.elapsed();
    let total: usize = inputs.iter().map(Vec::len).sum();
    let prompt_count = u32::try_from(total).unwrap_or(u32::MAX);
    let fee = meter::fee(&job.spec, prompt_count, 0);
    let mut reservation = {
        let committed = g.chain.committed();
        Reservation::new(&g.meter, &committed.state, &job.payer, fee)?
    };
    let at = Instant::now();
    let mut embeddings = Vec::with_capacity(inputs.len());
    for tokens in &inputs {
        if job.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            g.stats.note_client_gone();
            return Err(GatewayError::ClientGone);
        }
        embeddings.push(model.embed(tokens).map_err(|e| model_error(&e))?);
    }
    t.model = at.elapsed();
    let at = Instant::now();
    let output = Output { text: "", tokens: &[], influence: &[] };
    let receipt = receipt_for(g, job, &[], output, (prompt_count, 0), fee)?;
    reservation.charge(fee);
    drop(reservation);
    t.receipt = at.elapsed();
    Ok(Served {
        text: String::new(),
        prompt_tokens: prompt_count,
        completion_tokens: 0,
        finish: "stop",
        receipt,
        timings: t,
        embeddings,
    })
}

/// The prompt's tokens: passages in a system message (chat) or before the text (completion).
/// A prompt whose bytes alone cannot fit the context is refused before it is tokenized, so a
/// megabyte of text costs a length check, not a second of CPU.
fn prompt_tokens(
    model: &dyn ServedModel,
    job: &Job,
    passages: &[(DatanetId, Passage)],
) -> Result<Vec<TokenId>, GatewayError> {
    let context = model.context_length();
    let room = context.saturating_sub(job.config.max_tokens);
    let input_bytes = match &job.input {
        Input::Chat(messages) => messages.iter().map(|m| m.content.len()).sum(),
        Input::Completion { prompt, .. } => prompt.len(),
        Input::Embeddings(texts) => texts.iter().map(String::len).sum(),
    };
    let at_least = model.tokens_at_least(input_bytes);
    if at_least > room {
        return Err(context_overflow(at_least, job.config.max_tokens, context));
    }
    receipt_fits(job)?;
    let prompt = render_prompt(model, &job.input, passages).map_err(|e| model_error(&e))?;
    if prompt.is_empty() {
        return Err(GatewayError::bad("the prompt is empty", Some("prompt")));
    }
    if prompt.len().saturating_add(job.config.max_tokens) > context {
        return Err(context_overflow(prompt.len(), job.config.max_tokens, context));
    }
    Ok(prompt)
}

/// The tokens the model runs for `input` after `passages`: passages in a system message
/// (chat) or before the text (completion). What a juror replaying a receipt rebuilds too.
pub(crate) fn render_prompt(
    model: &dyn ServedModel,
    input: &Input,
    passages: &[(DatanetId, Passage)],
) -> Result<Vec<TokenId>, alx_model::Error> {
    match input {
        Input::Chat(messages) => {
            let messages = with_context(messages.clone(), passages);
            model.chat_prompt(&messages)
        }
        Input::Completion { prompt, .. } => {
            let mut text = String::new();
            for (i, (_, passage)) in passages.iter().enumerate() {
                text.push_str(&format!("[{}] {}\n\n", i + 1, passage.text));
            }
            text.push_str(prompt);
            model.encode(&text)
        }
        Input::Embeddings(_) => Ok(Vec::new()),
    }
}

/// A receipt is bounded by what a dispute or a demand's answer can carry on chain
/// (`DISPUTE_RECEIPT_BYTES_MAX`): one a provider could not open would get it slashed. A request
/// whose recorded input and most output would not fit is refused before it runs; the output's
/// tokens are counted at [`RECEIPT_BYTES_PER_TOKEN`], and `receipt_for` checks the real size.
fn receipt_fits(job: &Job) -> Result<(), GatewayError> {
    if matches!(job.input, Input::Embeddings(_)) {
        return Ok(());
    }
    let recorded = serde_json::to_vec(&crate::replay::recorded_input(&job.input))
        .map_or(usize::MAX, |v| v.len());
    let influence = if job.spec.adapter.is_some() { RECEIPT_INFLUENCE_BYTES } else { 0 };
    let most = recorded
        .saturating_add(job.config.max_tokens.saturating_mul(RECEIPT_BYTES_PER_TOKEN))
        .saturating_add(RECEIPT_OVERHEAD_BYTES)
        .saturating_add(influence);
    if most > alx_types::dispute::DISPUTE_RECEIPT_BYTES_MAX {
        return Err(GatewayError::BadRequest {
            message: format!(
                "this request's receipt could reach {} KiB, more than the {} KiB a receipt may \
                 take on chain; shorten the prompt or lower max_tokens",
                most >> 10,
                alx_types::dispute::DISPUTE_RECEIPT_BYTES_MAX >> 10
            ),
            param: Some("max_tokens".into()),
            code: "receipt_too_large",
        });
    }
    Ok(())
}

/// What a receipt takes per generated token: its id in the token list and its text.
const RECEIPT_BYTES_PER_TOKEN: usize = 10;
/// A receipt without its input and output: ids, key, tokens, citations, shares, credits.
const RECEIPT_OVERHEAD_BYTES: usize = 6 << 10;
/// What an adapter model's receipt may add: up to 32 influence scores, and a share and a
/// credit for each example they pay (~250 bytes an example).
const RECEIPT_INFLUENCE_BYTES: usize = 8 << 10;

fn context_overflow(
    prompt_tokens: usize,
    max_tokens: usize,
    context_length: usize,
) -> GatewayError {
    model_error(&alx_model::Error::ContextOverflow { prompt_tokens, max_tokens, context_length })
}

/// The messages with the retrieved passages in a system message of their own, after the
/// caller's system messages and before the conversation: the notes are marked as reference
/// material, numbered and fenced, so the model (and anyone reading the prompt) can tell them
/// from the question.
fn with_context(mut messages: Vec<Message>, passages: &[(DatanetId, Passage)]) -> Vec<Message> {
    if passages.is_empty() {
        return messages;
    }
    let mut context = String::from(
        "Reference notes from the model's datanets follow. Use them where they help answer the \
         user's question, and answer in your own words; ignore notes that are not relevant.\n",
    );
    for (i, (_, p)) in passages.iter().enumerate() {
        context.push_str(&format!("\n<note {}>\n{}\n</note {}>\n", i + 1, p.text.trim(), i + 1));
    }
    let at = messages.iter().take_while(|m| m.role == Role::System).count();
    messages.insert(at, Message::new(Role::System, context));
    messages
}

/// Generates on the model's batching engine (see `batch`), which streams pieces out if the
/// job streams and stops early when the client is gone. Returns the text, the tokens
/// generated, the prompt tokens run, and why it stopped; a client gone before its prompt ran
/// is `ClientGone` (nothing was computed, nothing is charged).
fn generate(
    g: &Gateway,
    model: &dyn ServedModel,
    prompt: Vec<TokenId>,
    job: &mut Job,
) -> Result<(String, Vec<TokenId>, usize, Stopped), GatewayError> {
    let generated = model.generate(GenerationRequest {
        prompt,
        config: job.config.clone(),
        pieces: job.pieces.take(),
        cancel: job.cancel.clone(),
    })?;
    if let Some(ttft) = generated.first_token {
        g.stats.note_first_token(ttft);
    }
    let stopped = match generated.ending {
        Ending::ClientGone if generated.prompt_fed == 0 => {
            g.stats.note_client_gone();
            return Err(GatewayError::ClientGone);
        }
        Ending::ClientGone => Stopped::ClientGone,
        Ending::Finished(reason) => Stopped::Finished(reason),
    };
    Ok((generated.text, generated.token_ids, generated.prompt_fed, stopped))
}

/// What a request produced, for its receipt.
#[derive(Clone, Copy)]
struct Output<'a> {
    text: &'a str,
    tokens: &'a [TokenId],
    /// Every training example's influence on it (adapter models with influence features).
    influence: &'a [(attribution::Key, i64)],
}

fn receipt_for(
    g: &Gateway,
    job: &Job,
    passages: &[(DatanetId, Passage)],
    output: Output<'_>,
    (prompt_tokens, completion_tokens): (u32, u32),
    fee: Amount,
) -> Result<UsageReceipt, GatewayError> {
    let committed = g.chain.committed();
    let state = &committed.state;
    let spec = &job.spec;
    let spans = attribution::span_shares(&g.indexes, state, spec, output.text);
    let scores = attribution::of_versions(state, spec, output.influence);
    let influence = attribution::recorded_influence(&scores);
    let influence_part = attribution::influence_part(&influence).map_err(GatewayError::Internal)?;
    let shares = attribution::combine(passages, &spans, &influence_part);
    let body = ReceiptBody {
        number: 0,
        provider: g.me,
        model: job.model_id,
        model_name: spec.name.clone(),
        key_hash: job.payer.key_hash,
        prompt_tokens,
        completion_tokens,
        fee,
        datanets: spec.datanets.clone(),
        citations: attribution::citations(passages),
        span_shares: attribution::entries(state, &spans),
        shares: attribution::entries(state, &shares),
        credits: attribution::credits(state, job.model_id, spec, fee, &shares),
        output: output.text.to_owned(),
        input: crate::replay::recorded_input(&job.input),
        output_tokens: output.tokens.to_vec(),
        greedy: crate::replay::replayable(&job.config).is_some(),
        penalties: crate::replay::replayable(&job.config).flatten(),
        influence,
    };
    // The estimate before generation is not a bound: the real size decides (not charged).
    let size = serde_json::to_vec(&body).map_or(usize::MAX, |v| v.len());
    if size.saturating_add(512) > alx_types::dispute::DISPUTE_RECEIPT_BYTES_MAX {
        return Err(GatewayError::BadRequest {
            message: format!(
                "the answer's receipt would take {} KiB, more than a receipt may take on chain; \
                 nothing is charged: lower max_tokens",
                size >> 10
            ),
            param: Some("max_tokens".into()),
            code: "receipt_too_large",
        });
    }
    let floor = state.next_receipt(&g.me)?;
    g.receipts
        .issue(body, floor)
        .map_err(|e| GatewayError::Internal(format!("cannot store the receipt: {e}")))
}
