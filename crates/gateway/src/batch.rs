//! Continuous batching: one engine thread per base model runs every sequence of that model in
//! one batch. Between decode steps, sequences join (their prompt fed in chunks, so a long
//! prompt delays the others' next token by one chunk at most) and leave (finished, failed, or
//! their client gone); each step runs one forward pass for all of them, so `n` concurrent
//! requests cost little more per step than one (decode reads every weight once per step).
//!
//! ```text
//! worker ──Sequence──► [ channel ] ──► engine: admit (slots, cache budget) ─► prefill chunk
//!   ▲                                     │       ─► step_batch ─► pieces to each client
//!   └──────────── Generated ◄─────────────┘ on finish / failure / client gone
//! ```
//!
//! Bounds: at most `batch_max` sequences in the batch, and their caches (allocated once, for
//! prompt + `max_tokens`) within `cache_budget_bytes`; a sequence that does not fit waits, one
//! that could never fit is refused. The engine never blocks on a client: a piece a slow client
//! has not taken waits in the sequence's backlog, and the sequence is not stepped meanwhile; a
//! sequence paused longer than `infer::STREAM_STALL_MAX` in total counts as abandoned.

use crate::{
    GatewayError,
    backend::{Ending, Generated},
    infer::STREAM_STALL_MAX,
    stats::EngineGauges,
};
use alx_model::{GenerateConfig, Generation, Model, TokenId};
use alx_types::hash::Hash;
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, SyncSender, TryRecvError},
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc::{Sender, error::TrySendError};

/// Prompt tokens fed per engine iteration for a joining sequence.
const PREFILL_CHUNK: usize = 128;
/// How long an engine with only paused sequences sleeps before looking again.
const PAUSED_POLL: Duration = Duration::from_millis(2);

/// Limits of each engine.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    /// Sequences in one batch, at most.
    pub batch_max: usize,
    /// Bytes of key/value cache all sequences of one model may hold.
    pub cache_budget_bytes: u64,
}

/// A sequence to generate.
pub(crate) struct Sequence {
    pub(crate) prompt: Vec<TokenId>,
    pub(crate) config: GenerateConfig,
    /// Where pieces go, for a streamed answer.
    pub(crate) pieces: Option<Sender<String>>,
    /// Set when the client is gone.
    pub(crate) cancel: Arc<AtomicBool>,
    /// Its model's adapter, added to the base for this sequence alone.
    pub(crate) adapter: Option<Arc<alx_model::Adapter>>,
    pub(crate) done: SyncSender<Result<Generated, GatewayError>>,
    /// When the worker handed it over (time to first token counts from here).
    pub(crate) submitted: Instant,
}

/// The engines of a gateway, one per base model, started on first use.
pub(crate) struct Engines {
    limits: BatchLimits,
    running: Mutex<BTreeMap<Hash, SyncSender<Sequence>>>,
    gauges: Arc<EngineGauges>,
}

impl Engines {
    pub(crate) fn new(limits: BatchLimits, gauges: Arc<EngineGauges>) -> Self {
        Self { limits, running: Mutex::new(BTreeMap::new()), gauges }
    }

    /// Generates `sequence` on `model`'s engine and waits for it (blocking: a worker thread).
    pub(crate) fn generate(
        &self,
        base: Hash,
        model: &Arc<Model>,
        sequence: Sequence,
        done: &Receiver<Result<Generated, GatewayError>>,
    ) -> Result<Generated, GatewayError> {
        let engine = self.engine(base, model)?;
        if engine.send(sequence).is_err() {
            // The engine thread ended (it panicked): start a new one next time.
            self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&base);
            return Err(GatewayError::Internal("the model's engine stopped".into()));
        }
        done.recv().map_err(|_| GatewayError::Internal("the engine dropped the request".into()))?
    }

    fn engine(&self, base: Hash, model: &Arc<Model>) -> Result<SyncSender<Sequence>, GatewayError> {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = running.get(&base) {
            return Ok(tx.clone());
        }
        // Senders are workers, each waiting for its own sequence: the channel never holds more
        // than the workers, and this bound only keeps it finite.
        let (tx, rx) = mpsc::sync_channel(self.limits.batch_max.max(1) * 4);
        let (model, limits, gauges) = (model.clone(), self.limits, self.gauges.clone());
        std::thread::Builder::new()
            .name("gateway-engine".into())
            .spawn(move || run(&model, &rx, limits, &gauges))
            .map_err(|e| GatewayError::Internal(format!("cannot start the model's engine: {e}")))?;
        running.insert(base, tx.clone());
        Ok(tx)
    }
}

/// One engine's share of the gauges, as last published.
#[derive(Default)]
struct Shown {
    waiting: u64,
    running: u64,
    cache_bytes: u64,
}

impl EngineGauges {
    /// Replaces this engine's last published share with the current one.
    fn publish(&self, shown: &mut Shown, waiting: usize, running: usize, cache_bytes: u64) {
        let now = Shown { waiting: waiting as u64, running: running as u64, cache_bytes };
        for (gauge, old, new) in [
            (&self.waiting, shown.waiting, now.waiting),
            (&self.running, shown.running, now.running),
            (&self.cache_bytes, shown.cache_bytes, now.cache_bytes),
        ] {
            gauge.fetch_add(new, Ordering::Relaxed);
            gauge.fetch_sub(old, Ordering::Relaxed);
        }
        *shown = now;
    }
}

/// A sequence in the batch.
struct Active<'m> {
    generation: Generation<'m>,
    sequence: Sequence,
    text: String,
    /// Pieces the client has not taken yet, oldest first.
    backlog: VecDeque<String>,
    /// Paused time left before the client counts as gone.
    stall_left: Duration,
    paused_since: Option<Instant>,
    joined: Instant,
    first_token: Option<Duration>,
    cache_bytes: u64,
    /// The client left, or the sequence failed.
    gone: bool,
    /// The worker already has its answer (an error).
    answered: bool,
}

impl Active<'_> {
    fn fail(&mut self, e: &alx_model::Error) {
        self.gone = true;
        self.answered = true;
        let _ = self.sequence.done.send(Err(crate::core::model_error(e)));
    }
}

impl Active<'_> {
    /// Hands backlog pieces to the client; false while some are left.
    fn flush(&mut self) -> bool {
        let Some(tx) = &self.sequence.pieces else {
            self.backlog.clear();
            return true;
        };
        while let Some(piece) = self.backlog.pop_front() {
            match tx.try_send(piece) {
                Ok(()) => {}
                Err(TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    self.gone = true;
                    return true;
                }
                Err(TrySendError::Full(piece)) => {
                    self.backlog.push_front(piece);
                    return false;
                }
            }
        }
        true
    }

    /// Pauses or resumes the sequence by its backlog, spending its stall budget.
    fn account_pause(&mut self, now: Instant) {
        let blocked = !self.backlog.is_empty();
        match (blocked, self.paused_since) {
            (true, None) => self.paused_since = Some(now),
            (false, Some(since)) => {
                self.stall_left = self.stall_left.saturating_sub(now - since);
                self.paused_since = None;
            }
            (true, Some(since)) if now - since >= self.stall_left => self.gone = true,
            _ => {}
        }
    }

    fn steppable(&self) -> bool {
        !self.gone && self.backlog.is_empty() && !self.generation.is_done()
    }
}

fn run(model: &Model, rx: &Receiver<Sequence>, limits: BatchLimits, gauges: &EngineGauges) {
    let per_token = model.cache_bytes_per_token() as u64;
    let mut waiting: VecDeque<Sequence> = VecDeque::new();
    let mut active: Vec<Active<'_>> = Vec::new();
    let mut used: u64 = 0;
    // What this engine last added to the shared gauges.
    let mut shown = Shown::default();
    loop {
        // Intake: block when there is nothing to do.
        if active.is_empty() && waiting.is_empty() {
            gauges.publish(&mut shown, 0, 0, 0);
            match rx.recv() {
                Ok(s) => waiting.push_back(s),
                Err(_) => return,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(s) => waiting.push_back(s),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if active.is_empty() && waiting.is_empty() => {
                    return;
                }
                Err(TryRecvError::Disconnected) => break,
            }
        }
        admit(model, &mut waiting, &mut active, &mut used, per_token, limits);

        // Prefill: one chunk of the first joining sequence.
        if let Some(a) = active.iter_mut().find(|a| !a.gone && !a.generation.is_prefilled())
            && let Err(e) = a.generation.prefill(PREFILL_CHUNK)
        {
            a.fail(&e);
        }

        // Clients that left.
        for a in &mut active {
            if a.sequence.cancel.load(Ordering::Relaxed) {
                a.gone = true;
            }
        }

        // Decode: one token for every sequence that can take one.
        let mut stepping: Vec<usize> = Vec::new();
        let mut batch: Vec<&mut Generation<'_>> = Vec::new();
        for (i, a) in active.iter_mut().enumerate() {
            if a.steppable() && a.generation.is_prefilled() {
                stepping.push(i);
                batch.push(&mut a.generation);
            }
        }
        let results = alx_model::step_batch(&mut batch);
        drop(batch);
        let now = Instant::now();
        for (i, result) in stepping.into_iter().zip(results) {
            let a = &mut active[i];
            match result {
                Ok(piece) => {
                    if a.first_token.is_none() && !a.generation.tokens().is_empty() {
                        a.first_token = Some(now - a.joined);
                    }
                    if !piece.is_empty() {
                        a.text.push_str(&piece);
                        if a.sequence.pieces.is_some() {
                            a.backlog.push_back(piece);
                        }
                    }
                }
                Err(e) => a.fail(&e),
            }
        }
        let mut paused = 0;
        for a in &mut active {
            if !a.backlog.is_empty() {
                a.flush();
            }
            a.account_pause(now);
            if !a.backlog.is_empty() && !a.gone {
                paused += 1;
            }
        }

        // Leave: finished (backlog delivered) or gone.
        let mut i = 0;
        while i < active.len() {
            let a = &active[i];
            let finished = a.generation.is_done() && a.backlog.is_empty();
            if a.gone || finished {
                let a = active.swap_remove(i);
                used = used.saturating_sub(a.cache_bytes);
                finish(a);
            } else {
                i += 1;
            }
        }
        gauges.publish(&mut shown, waiting.len(), active.len(), used);
        if paused > 0 && active.iter().all(|a| !a.steppable() && a.generation.is_prefilled()) {
            std::thread::sleep(PAUSED_POLL);
        }
    }
}

/// Moves waiting sequences into the batch while slots and cache budget allow (first come,
/// first served: a sequence that does not fit yet holds back the ones behind it).
fn admit<'m>(
    model: &'m Model,
    waiting: &mut VecDeque<Sequence>,
    active: &mut Vec<Active<'m>>,
    used: &mut u64,
    per_token: u64,
    limits: BatchLimits,
) {
    while active.len() < limits.batch_max.max(1) {
        let Some(next) = waiting.front() else { return };
        let positions = (next.prompt.len() + next.config.max_tokens) as u64;
        let need = positions.saturating_mul(per_token);
        if need > limits.cache_budget_bytes {
            let Some(s) = waiting.pop_front() else { return };
            let _ = s.done.send(Err(GatewayError::BadRequest {
                message: format!(
                    "this request needs {} MiB of cache for {positions} tokens, more than this node's budget of {} MiB; lower max_tokens or shorten the prompt",
                    need >> 20,
                    limits.cache_budget_bytes >> 20
                ),
                param: Some("max_tokens".into()),
                code: "context_length_exceeded",
            }));
            continue;
        }
        if *used + need > limits.cache_budget_bytes {
            return;
        }
        let Some(s) = waiting.pop_front() else { return };
        if s.cancel.load(Ordering::Relaxed) {
            let _ = s.done.send(Ok(Generated {
                text: String::new(),
                tokens: 0,
                token_ids: Vec::new(),
                prompt_fed: 0,
                ending: Ending::ClientGone,
                first_token: None,
            }));
            continue;
        }
        let submitted = s.submitted;
        tracing::debug!(
            prompt = s.prompt.len(),
            max_tokens = s.config.max_tokens,
            running = active.len(),
            "sequence joins the batch"
        );
        match model.generation_adapted(&s.prompt, &s.config, s.adapter.clone()) {
            Ok(generation) => {
                *used += need;
                active.push(Active {
                    generation,
                    sequence: s,
                    text: String::new(),
                    backlog: VecDeque::new(),
                    stall_left: STREAM_STALL_MAX,
                    paused_since: None,
                    joined: submitted,
                    first_token: None,
                    cache_bytes: need,
                    gone: false,
                    answered: false,
                });
            }
            Err(e) => {
                let _ = s.done.send(Err(crate::core::model_error(&e)));
            }
        }
    }
}

/// Reports a sequence that left the batch, unless it was answered already (a failure).
fn finish(a: Active<'_>) {
    tracing::debug!(
        tokens = a.generation.tokens().len(),
        gone = a.gone,
        "sequence leaves the batch"
    );
    if a.answered {
        return;
    }
    let ending =
        if a.gone { Ending::ClientGone } else { Ending::Finished(a.generation.finish_reason()) };
    let _ = a.sequence.done.send(Ok(Generated {
        text: a.text,
        tokens: a.generation.tokens().len(),
        token_ids: a.generation.tokens().to_vec(),
        prompt_fed: a.generation.prefilled_tokens(),
        ending,
        first_token: a.first_token,
    }));
}
