//! [`Model`]: a loaded llama GGUF model with its tokenizer, chat template and thread pool, and
//! [`Session`], one sequence's key/value cache over it.

use std::{num::NonZeroUsize, path::Path, sync::Arc};

use serde::Serialize;

use crate::{
    adapter::Adapter,
    cache::KvCache,
    chat::{ChatTemplate, Message, PromptEnd, no_template},
    error::Result,
    gguf::GgufFile,
    llama::{Llama, Positions},
    params::LlamaParams,
    tokenizer::{TokenId, Tokenizer},
    weights::{WeightFormat, Weights},
};

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoadConfig {
    /// In-memory format of the matrix weights.
    pub weights: WeightFormat,
    /// Threads of the model's own rayon pool, which runs every forward pass (candle's f32
    /// matrix products and element-wise kernels use it). One is the right choice on a small
    /// machine shared with other work: parallel kernels split every matrix-vector product
    /// across threads and wait for the slowest, and collapse (to a few tokens per second)
    /// when the cores are busy.
    ///
    /// candle 0.11's *quantized* kernels run on a separate process-wide pool whose size is
    /// read once from the environment (`CANDLE_NUM_THREADS`, else `RAYON_NUM_THREADS`, else
    /// the physical cores); no API sets it, and this workspace forbids the `unsafe` that
    /// `std::env::set_var` needs. [`ModelInfo::kernel_threads`] reports it, and loading warns
    /// when it differs from this value: start the process with `CANDLE_NUM_THREADS=1`.
    pub threads: NonZeroUsize,
    /// Cap on the context length, whatever the model claims, bounding the memory of the rotary
    /// tables and of one sequence's cache.
    pub context_length_max: NonZeroUsize,
}

impl LoadConfig {
    /// Weights as stored on alx-model's kernels, one thread, context capped at 32,768 tokens.
    pub const DEFAULT: Self = Self {
        weights: WeightFormat::Native,
        threads: NonZeroUsize::MIN,
        context_length_max: NonZeroUsize::new(32_768).expect("non-zero"),
    };
}

/// Threads of candle's process-wide pool for quantized kernels (see [`LoadConfig::threads`]):
/// the count to load with so the two pools match.
#[must_use]
pub fn kernel_threads() -> NonZeroUsize {
    NonZeroUsize::new(candle_core::utils::barrier_pool().n_workers() + 1)
        .unwrap_or(NonZeroUsize::MIN)
}

/// What was loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// `general.name`, if the file has one.
    pub name: Option<String>,
    /// Hyperparameters.
    pub params: LlamaParams,
    /// The usable context length: the model's, capped by [`LoadConfig::context_length_max`].
    pub context_length: usize,
    /// The load configuration.
    pub load: LoadConfig,
    /// Threads of candle's process-wide pool for quantized kernels (see
    /// [`LoadConfig::threads`]).
    pub kernel_threads: usize,
}

/// A loaded model. Immutable and shareable across threads; each sequence runs in a
/// [`Session`].
pub struct Model {
    llama: Llama,
    tokenizer: Tokenizer,
    chat: Option<ChatTemplate>,
    pool: rayon::ThreadPool,
    info: ModelInfo,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("info", &self.info).finish_non_exhaustive()
    }
}

impl Model {
    /// Loads a llama-family GGUF file. Any defect of the file is an error for which
    /// [`Error::is_bad_model`](crate::Error::is_bad_model) holds (or
    /// [`Error::Io`](crate::Error::Io)), never a panic.
    #[tracing::instrument(name = "model.load", skip_all, fields(path = %path.display()))]
    pub fn load(path: &Path, config: &LoadConfig) -> Result<Self> {
        Self::load_inner(path, config, None)
    }

    /// Loads a model with `adapter` folded into its weights (`W + (α/r)·B·A`, the adapted
    /// projections held in Q8_0, or f32 for [`WeightFormat::F32`]): one model served at the
    /// speed of the base, at the cost of its own copy of the weights. The adapter must have
    /// been read for this file's shape.
    ///
    /// # Errors
    /// As [`Self::load`], and [`Error::BadAdapter`](crate::Error::BadAdapter) for an adapter of
    /// another shape.
    pub fn load_merged(path: &Path, config: &LoadConfig, adapter: &Adapter) -> Result<Self> {
        Self::load_inner(path, config, Some(adapter))
    }

    fn load_inner(path: &Path, config: &LoadConfig, merge: Option<&Adapter>) -> Result<Self> {
        let mut file = GgufFile::open(path)?;
        let params = LlamaParams::read(&file)?;
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let chat = ChatTemplate::for_model(&tokenizer, file.string_opt("tokenizer.chat_template")?);
        let name = file.string_opt("general.name")?.map(str::to_owned);
        if merge.is_some_and(|a| !a.fits(&params)) {
            return Err(crate::Error::BadAdapter {
                reason: "it was read for a model of another shape".into(),
            });
        }
        let weights = Weights::read(&mut file, &params, config.weights, merge)?;
        let context_length = params.context_length.min(config.context_length_max.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads.get())
            .thread_name(|i| format!("alx-model-{i}"))
            .build()?;
        let kernel_threads = kernel_threads().get();
        if kernel_threads != config.threads.get() {
            tracing::warn!(
                kernel_threads,
                threads = config.threads.get(),
                hint = "start the process with CANDLE_NUM_THREADS set to the wanted thread count",
                "candle's quantized kernels use a different thread count than configured"
            );
        }
        tracing::info!(
            file = %file.path().display(),
            layers = params.layers,
            hidden = params.hidden,
            vocab = params.vocab_size,
            context_length,
            weights = ?config.weights,
            "model loaded"
        );
        let info = ModelInfo {
            name,
            params: params.clone(),
            context_length,
            load: *config,
            kernel_threads,
        };
        let llama = Llama::new(params, weights, context_length)?;
        Ok(Self { llama, tokenizer, chat, pool, info })
    }

    /// What was loaded.
    pub const fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model's tokenizer.
    pub const fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The usable context length in tokens.
    pub const fn context_length(&self) -> usize {
        self.llama.context_length()
    }

    /// The chat template, if the vocabulary has ChatML control tokens.
    pub const fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat.as_ref()
    }

    /// The prompt for a conversation, ending with the opened assistant turn.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<TokenId>> {
        let chat = self.chat.as_ref().ok_or_else(no_template)?;
        chat.tokens(&self.tokenizer, messages, PromptEnd::AssistantTurn)
    }

    /// A new, empty sequence.
    pub fn session(&self) -> Session<'_> {
        Session { model: self, cache: self.llama.cache(), adapter: None }
    }

    /// A new, empty sequence whose cache is allocated once for `positions` tokens (the prompt
    /// plus the most it may generate), so its memory is known when it starts.
    pub fn session_for(&self, positions: usize) -> Session<'_> {
        let mut cache = self.llama.cache();
        cache.reserve(positions);
        Session { model: self, cache, adapter: None }
    }

    /// Like [`Self::session_for`], every token run with `adapter`'s updates added.
    ///
    /// # Errors
    /// [`Error::BadAdapter`](crate::Error::BadAdapter) if the adapter was read for a model of
    /// another shape.
    pub fn session_adapted(
        &self,
        positions: usize,
        adapter: Option<Arc<Adapter>>,
    ) -> Result<Session<'_>> {
        self.check_adapter(adapter.as_deref())?;
        let mut session = self.session_for(positions);
        session.adapter = adapter;
        Ok(session)
    }

    /// Refuses an adapter read for a model of another shape.
    pub(crate) fn check_adapter(&self, adapter: Option<&Adapter>) -> Result<()> {
        match adapter {
            Some(a) if !a.fits(&self.info.params) => Err(crate::Error::BadAdapter {
                reason: "it was read for a model of another shape".into(),
            }),
            _ => Ok(()),
        }
    }

    /// Bytes of cache one token of a sequence takes.
    pub const fn cache_bytes_per_token(&self) -> usize {
        self.llama.cache_bytes_per_token()
    }

    /// One decode step of several sequences sharing one forward pass: `tokens[i]` is fed to
    /// `sessions[i]`; returns one row of logits per session. The tokens are the ones each
    /// session would get from [`Session::feed`] alone (the same arithmetic per row).
    pub fn decode_batch(
        &self,
        sessions: &mut [&mut Session<'_>],
        tokens: &[TokenId],
    ) -> Result<Logits> {
        if sessions.iter().any(|s| !std::ptr::eq(s.model, self)) {
            return Err(crate::Error::InvalidConfig {
                reason: "a batch mixes sessions of different models".to_owned(),
            });
        }
        let llama = self.llama();
        // Cloned handles: the caches below borrow the sessions mutably.
        let held: Vec<Option<Arc<Adapter>>> = sessions.iter().map(|s| s.adapter.clone()).collect();
        let adapters: Vec<Option<&Adapter>> = held.iter().map(Option::as_deref).collect();
        let mut caches: Vec<&mut KvCache> = sessions.iter_mut().map(|s| &mut s.cache).collect();
        self.install(|| {
            let logits = llama.decode_batch(tokens, &mut caches, &adapters)?;
            let (rows, vocab) = logits.dims2()?;
            let values = logits.flatten_all()?.to_vec1::<f32>()?;
            Ok(Logits { rows, vocab, values })
        })
    }

    /// A sentence embedding of `tokens` (at least one, at most the context length): the
    /// model's final-normed hidden states averaged over the positions and scaled to unit
    /// length, `hidden` values. A base language model's pooled states, not a trained
    /// embedding model: good for similarity among texts of one domain, no more.
    pub fn embed(&self, tokens: &[TokenId]) -> Result<Vec<f32>> {
        self.embed_adapted(tokens, None)
    }

    /// [`Self::embed`] with `adapter`'s updates added to the base.
    pub fn embed_adapted(&self, tokens: &[TokenId], adapter: Option<&Adapter>) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(crate::Error::TooFewTokens { needed: 1, got: 0 });
        }
        self.check_adapter(adapter)?;
        let llama = self.llama();
        self.install(|| llama.embed(tokens, adapter))
    }

    /// Logits of every position of `tokens`, from an empty context.
    pub fn logits(&self, tokens: &[TokenId]) -> Result<Logits> {
        self.session().feed(tokens, Positions::All)
    }

    /// Runs `f` on the model's thread pool, so candle's parallel kernels use its threads.
    pub(crate) fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.pool.install(f)
    }

    pub(crate) const fn llama(&self) -> &Llama {
        &self.llama
    }
}

/// One sequence: the tokens fed so far, as a key/value cache.
pub struct Session<'m> {
    model: &'m Model,
    cache: KvCache,
    /// The adapter every token runs with, if any.
    adapter: Option<Arc<Adapter>>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("len", &self.cache.len()).finish_non_exhaustive()
    }
}

impl<'m> Session<'m> {
    /// The model this session runs.
    pub const fn model(&self) -> &'m Model {
        self.model
    }

    /// Tokens fed so far.
    pub const fn len(&self) -> usize {
        self.cache.len()
    }

    /// True before anything is fed.
    pub const fn is_empty(&self) -> bool {
        self.cache.len() == 0
    }

    /// Forgets every token fed.
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// Feeds `tokens` after the ones already fed and returns the logits of `positions`.
    /// Fails with [`Error::ContextOverflow`](crate::Error::ContextOverflow) past the context
    /// length, leaving the session as it was.
    pub fn feed(&mut self, tokens: &[TokenId], positions: Positions) -> Result<Logits> {
        let llama = self.model.llama();
        let cache = &mut self.cache;
        let adapter = self.adapter.as_deref();
        self.model.install(|| {
            let logits = llama.forward(tokens, cache, positions, adapter)?;
            let (rows, vocab) = logits.dims2()?;
            let values = logits.flatten_all()?.to_vec1::<f32>()?;
            Ok(Logits { rows, vocab, values })
        })
    }
}

/// Logits of some positions, row-major `(rows, vocab)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Logits {
    rows: usize,
    vocab: usize,
    values: Vec<f32>,
}

impl Logits {
    /// Positions.
    pub const fn rows(&self) -> usize {
        self.rows
    }

    /// Vocabulary size.
    pub const fn vocab(&self) -> usize {
        self.vocab
    }

    /// The logits of position `i` (`None` past the last row).
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        self.values.get(i * self.vocab..(i + 1) * self.vocab)
    }

    /// The logits of the last position.
    pub fn last(&self) -> &[f32] {
        let start = self.values.len().saturating_sub(self.vocab);
        &self.values[start..]
    }
}
