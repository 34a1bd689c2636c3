//! The gateway core, free of HTTP: a [`Request`] in — checked, authenticated against the
//! committed state, resolved to a model on chain, queued on a worker — and a [`Running`] out,
//! which yields the pieces of a streamed answer and then the [`Served`] result. The HTTP
//! handlers (`serve`) and the event-stream adapter (`stream`) only translate OpenAI's shapes
//! to and from these.

use crate::{
    Gateway, GatewayError,
    infer::{self, Job, Served},
    meter::{self, Payer},
    openai::Sampling,
};
use alx_model::{GenerateConfig, Message};
use alx_types::{
    model::{ModelId, ModelSpec},
    subnet::SubnetId,
    subnet_api::NeuronRole,
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};
use tokio::sync::{mpsc, oneshot};

/// Texts of one embedding request, at most.
pub const EMBEDDING_INPUTS_MAX: usize = 64;

/// Pieces waiting for a slow client, at most; past this the engine holds them back (and gives
/// up after `infer::STREAM_STALL_MAX`).
const PIECES_BUFFERED_MAX: usize = 64;

/// What a request asks the model for.
#[derive(Clone, Debug)]
pub enum Input {
    /// A conversation, answered with the model's chat template after retrieved passages.
    Chat(Vec<Message>),
    /// Raw text to continue, after retrieved passages only if `retrieval` is asked.
    Completion {
        /// The text.
        prompt: String,
        /// Put retrieved passages before it.
        retrieval: bool,
    },
    /// Texts to embed with the base model (see `alx_model::Model::embed`).
    Embeddings(Vec<String>),
}

impl Input {
    /// Bytes of text the caller sent (the least work the request can be).
    fn bytes(&self) -> usize {
        match self {
            Self::Chat(messages) => messages.iter().map(|m| m.content.len()).sum(),
            Self::Completion { prompt, .. } => prompt.len(),
            Self::Embeddings(texts) => texts.iter().map(String::len).sum(),
        }
    }

    /// Refuses input no model could answer.
    fn check(&self) -> Result<(), GatewayError> {
        match self {
            Self::Chat(messages) if messages.is_empty() => {
                Err(GatewayError::bad("messages must not be empty", Some("messages")))
            }
            Self::Completion { prompt, .. } if prompt.is_empty() => {
                Err(GatewayError::bad("the prompt is empty", Some("prompt")))
            }
            Self::Embeddings(texts)
                if texts.is_empty()
                    || texts.len() > EMBEDDING_INPUTS_MAX
                    || texts.iter().any(String::is_empty) =>
            {
                Err(GatewayError::bad(
                    format!("input must be 1 to {EMBEDDING_INPUTS_MAX} non-empty texts"),
                    Some("input"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A request in the gateway's own terms.
#[derive(Clone, Debug)]
pub struct Request {
    /// A model's name, its numeric id, or `subnet/NAME` (the subnet's top miner's model).
    pub model: String,
    /// What to run.
    pub input: Input,
    /// Sampling and limits (OpenAI's fields; `stream` asks for the pieces as they come).
    pub sampling: Sampling,
}

/// A request queued or running. Dropping it cancels the request (the client is gone): it is
/// charged for what it consumed until then, nothing if its prompt had not run.
pub struct Running {
    /// The model's registered name.
    pub model: String,
    pieces: Option<mpsc::Receiver<String>>,
    done: Done,
    cancel: CancelOnDrop,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("model", &self.model).finish_non_exhaustive()
    }
}

impl Running {
    /// The pieces of a streamed answer as they are generated (once; `None` if not streamed).
    pub const fn take_pieces(&mut self) -> Option<mpsc::Receiver<String>> {
        self.pieces.take()
    }

    /// Waits for the result.
    ///
    /// # Errors
    /// If the request failed (it is then charged nothing).
    pub async fn finish(self) -> Result<Served, GatewayError> {
        let Self { done, cancel, .. } = self;
        let result = received(done.await);
        drop(cancel);
        result
    }

    /// Asks the request to stop, as a client leaving does.
    pub fn cancel(&self) {
        self.cancel.0.store(true, Ordering::Relaxed);
    }

    /// The result channel and the guard that cancels the request when dropped (for the
    /// event-stream adapter, which holds them apart).
    pub(crate) fn into_parts(self) -> (Done, CancelOnDrop) {
        (self.done, self.cancel)
    }
}

/// Where a queued job's result arrives.
pub(crate) type Done = oneshot::Receiver<Result<Served, GatewayError>>;

/// A job's result as it arrives on its channel (a dropped channel: the worker failed).
pub(crate) fn received(
    result: Result<Result<Served, GatewayError>, oneshot::error::RecvError>,
) -> Result<Served, GatewayError> {
    result.map_err(|_| GatewayError::Internal("the worker dropped the request".into()))?
}

/// Sets the job's cancel flag when dropped: its client went away.
pub(crate) struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Gateway {
    /// Checks a request, authenticates `api_key`, resolves the model and queues the work on a
    /// worker (429 when the queue is full). State reads only on the caller's thread.
    ///
    /// # Errors
    /// Bad input, an unknown or unusable key, an unknown model, a key that cannot pay the
    /// least the request costs, or a full queue.
    pub fn start(
        self: &Arc<Self>,
        api_key: Option<&str>,
        request: Request,
    ) -> Result<Running, GatewayError> {
        request.input.check()?;
        let sampling = if matches!(request.input, Input::Embeddings(_)) {
            Sampling::default()
        } else {
            request.sampling
        };
        let p = self.prepare(api_key, &request.model, &sampling, request.input.bytes())?;
        let (pieces_tx, pieces) = if sampling.stream {
            let (tx, rx) = mpsc::channel(PIECES_BUFFERED_MAX);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let model = p.spec.name.clone();
        let job = Job {
            payer: p.payer,
            model_id: p.model_id,
            spec: p.spec,
            input: request.input,
            config: p.config,
            pieces: pieces_tx,
            cancel: cancel.clone(),
        };
        let (done_tx, done) = oneshot::channel();
        let worker = self.clone();
        let queued_at = Instant::now();
        self.pool
            .try_submit(move || {
                let result = infer::execute(&worker, job, queued_at.elapsed());
                let _ = done_tx.send(result);
            })
            .map_err(|_| {
                self.stats.note_busy();
                GatewayError::Busy(self.pool.queue_max())
            })?;
        Ok(Running { model, pieces, done, cancel: CancelOnDrop(cancel) })
    }

    /// Authenticates, resolves the model on chain and checks the sampling settings. A key
    /// with nothing left to spend is refused here, before any work.
    fn prepare(
        &self,
        api_key: Option<&str>,
        name: &str,
        sampling: &Sampling,
        input_bytes: usize,
    ) -> Result<Prepared, GatewayError> {
        let committed = self.chain.committed();
        let state = &committed.state;
        let payer = meter::Meter::authenticate(state, &self.me, api_key)?;
        let unknown = || {
            GatewayError::ModelNotFound(format!(
                "the model {name:?} does not exist or is not served here (see GET /v1/models)"
            ))
        };
        let model_id = resolve(state, name)?.ok_or_else(unknown)?;
        let record = state.model(model_id)?.filter(|m| !m.retired).ok_or_else(unknown)?;
        let config = self.generate_config(sampling)?;
        let allowance =
            state.api_key(&payer.key_hash)?.map_or(alx_types::Amount::ZERO, |k| k.allowance);
        let held = meter::lock(&self.meter).held(&payer.key_hash);
        let left = alx_types::Amount(allowance.0.saturating_sub(held.0));
        // The least this request can cost: its text is at least bytes / 64 tokens (no
        // vocabulary entry is longer), plus one generated token. A key that cannot pay that is
        // refused before any work is queued, so a key worth a few base units cannot buy
        // seconds of tokenizing.
        let tokens_at_least = u32::try_from(input_bytes.div_ceil(64)).unwrap_or(u32::MAX);
        let least = meter::fee(&record.spec, tokens_at_least, 1);
        if left.is_zero() || least > left {
            return Err(GatewayError::InsufficientQuota(format!(
                "this request costs at least {least}, but the API key has {left} left ({held} held for requests not yet settled); fund it with `alx keys api-key fund`"
            )));
        }
        Ok(Prepared { payer, model_id, spec: record.spec, config })
    }

    pub(crate) fn generate_config(&self, s: &Sampling) -> Result<GenerateConfig, GatewayError> {
        if s.n.is_some_and(|n| n != 1) {
            return Err(GatewayError::bad("only n = 1 is supported", Some("n")));
        }
        let (max, param) = match s.max_completion_tokens {
            Some(m) => (Some(m), "max_completion_tokens"),
            None => (s.max_tokens, "max_tokens"),
        };
        let limit = self.config.max_tokens_max;
        let max_tokens = match max {
            None => self.config.max_tokens_default,
            Some(m) if m < 1 || m > i64::from(limit) => {
                return Err(GatewayError::bad(
                    format!("{param} must be between 1 and {limit}, got {m}"),
                    Some(param),
                ));
            }
            Some(m) => u32::try_from(m).unwrap_or(limit),
        };
        let temperature = s.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(GatewayError::bad(
                "temperature must be between 0 and 2",
                Some("temperature"),
            ));
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
            penalties: self.penalties(s)?,
        })
    }

    /// The penalties of a request: OpenAI's `frequency_penalty` and `presence_penalty` (0 when
    /// absent, as OpenAI) and the `repetition_penalty` extension (the node's default when
    /// absent, `[gateway] repetition_penalty`; 1 turns it off), over the last 256 generated
    /// tokens.
    fn penalties(&self, s: &Sampling) -> Result<alx_model::Penalties, GatewayError> {
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
            None => f64::from(self.config.repetition_penalty),
        };
        #[allow(clippy::cast_possible_truncation)]
        Ok(alx_model::Penalties {
            frequency: frequency as f32,
            presence: presence as f32,
            repetition: repetition as f32,
            window: alx_model::Penalties::SERVING.window,
        })
    }
}

/// A request checked and authenticated, ready to queue.
struct Prepared {
    payer: Payer,
    model_id: ModelId,
    spec: ModelSpec,
    config: GenerateConfig,
}

/// The model a request names: `subnet/…` (see `SUBNET_ROUTE`), a numeric id, or a name.
pub(crate) fn resolve(
    state: &alx_state::State,
    name: &str,
) -> Result<Option<ModelId>, alx_state::CorruptState> {
    match (name.strip_prefix(SUBNET_ROUTE), name.parse::<ModelId>()) {
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
    let id = match subnet.parse::<SubnetId>() {
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

/// A model failure as the client sees it.
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
