//! What runs the models, behind a trait (as TGI's router separates its backends): the gateway
//! core checks, meters, retrieves, attributes and receipts; a [`Backend`] holds the weights and
//! generates. The node serves with [`LocalBackend`] (the weights in its model directory, one
//! continuous-batching engine per base model); tests give the core a backend of their own to
//! check its accounting on every path without a model.

use crate::{
    GatewayError,
    adapters::Adapters,
    batch::{BatchLimits, Engines, Sequence},
    catalog::Catalog,
    influence::{FrozenBases, InfluencePlace},
    stats::EngineGauges,
};
use alx_model::{
    Adapter, FinishReason, GenerateConfig, Message, Model, TokenId, train::AdapterInfluence,
};
use alx_types::{Hash, model::ModelSpec};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, PoisonError, atomic::AtomicBool},
    time::{Duration, Instant},
};
use tokio::sync::mpsc::Sender;

/// The models a gateway serves, by base-model hash.
pub trait Backend: Send + Sync {
    /// Whether this node has the base model's weights (listing only: cheap, no loading).
    fn serves(&self, base: &Hash) -> bool;

    /// The weights of a registered model (its base and its adapter, if any), loaded on first
    /// use (blocking: called on a gateway worker); `None` when this node lacks the base.
    ///
    /// # Errors
    /// If the weights cannot be loaded, or the model's adapter is unavailable or invalid.
    fn model(&self, spec: &ModelSpec) -> Result<Option<Arc<dyn ServedModel>>, GatewayError>;

    /// Occupancy of the backend's batching, for `/metrics` (none by default).
    fn gauges(&self) -> Arc<EngineGauges> {
        Arc::default()
    }
}

/// One loaded base model, as the gateway core uses it.
pub trait ServedModel: Send + Sync {
    /// Tokens of prompt and output together, at most.
    fn context_length(&self) -> usize;

    /// The fewest tokens `bytes` of text can encode to (a bound checked before tokenizing).
    fn tokens_at_least(&self, bytes: usize) -> usize;

    /// The tokens of raw text.
    ///
    /// # Errors
    /// If the text cannot be tokenized.
    fn encode(&self, text: &str) -> Result<Vec<TokenId>, alx_model::Error>;

    /// The tokens of a conversation in the model's chat template, ending where the assistant's
    /// answer starts.
    ///
    /// # Errors
    /// If the conversation cannot be rendered or tokenized.
    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<TokenId>, alx_model::Error>;

    /// The embedding of a text's tokens.
    ///
    /// # Errors
    /// If the forward pass fails.
    fn embed(&self, tokens: &[TokenId]) -> Result<Vec<f32>, alx_model::Error>;

    /// Generates to the end (blocking: a gateway worker), sending each piece of text to
    /// `request.pieces` if set and stopping early once `request.cancel` is set.
    ///
    /// # Errors
    /// If the sequence cannot run (it can never fit the cache budget, the engine stopped).
    fn generate(&self, request: GenerationRequest) -> Result<Generated, GatewayError>;

    /// The text of `tokens`.
    ///
    /// # Errors
    /// An id outside the vocabulary.
    fn decode(&self, tokens: &[TokenId]) -> Result<String, alx_model::Error>;

    /// Replays a greedy answer (see `alx_model::Model::replay_greedy`).
    ///
    /// # Errors
    /// If the forward pass fails or the sequence does not fit the context.
    fn replay_greedy(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
        penalties: &alx_model::Penalties,
        tolerance: f32,
    ) -> Result<alx_model::Replay, alx_model::Error>;

    /// The likelihood of `output` following `prompt` (see `alx_model::Model::continuation`),
    /// with the model's adapter: what a validator scores an expected answer by.
    ///
    /// # Errors
    /// If the forward pass fails or the sequence does not fit the context.
    fn continuation(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
    ) -> Result<alx_model::Continuation, alx_model::Error>;

    /// The quantized influence of `output` (after `prompt`) on each training example of the
    /// model's adapter (`crate::influence`); empty for a model without influence features.
    ///
    /// # Errors
    /// If the influence cannot be computed.
    fn influence(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
    ) -> Result<Vec<(alx_model::train::ExampleKey, i64)>, GatewayError> {
        let _ = (prompt, output);
        Ok(Vec::new())
    }

    /// A place among the requests whose answers get an influence query, taken before a request
    /// runs and held until it ends (`None` for a model without influence features).
    ///
    /// # Errors
    /// `Busy` when the node has no place left; what scoring needs failing to load.
    fn admit_influence(&self) -> Result<Option<InfluencePlace>, GatewayError> {
        Ok(None)
    }
}

/// A sequence to generate.
#[derive(Debug)]
pub struct GenerationRequest {
    /// The prompt's tokens.
    pub prompt: Vec<TokenId>,
    /// Sampling, penalties, stops and the token limit.
    pub config: GenerateConfig,
    /// Where pieces go, for a streamed answer.
    pub pieces: Option<Sender<String>>,
    /// Set when the client is gone.
    pub cancel: Arc<AtomicBool>,
}

/// Why a sequence ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It stopped by itself: an end token or stop sequence (`None` or `Stop`), or the limit.
    Finished(Option<FinishReason>),
    /// Its client left (or stopped reading for too long).
    ClientGone,
}

/// A finished sequence.
#[derive(Debug)]
pub struct Generated {
    /// The text generated.
    pub text: String,
    /// Tokens generated (each one is charged).
    pub tokens: usize,
    /// Their ids, in order (what a receipt records so the answer can be replayed).
    pub token_ids: Vec<TokenId>,
    /// Prompt tokens run through the model (fewer than the prompt's only when the client left
    /// during the prefill).
    pub prompt_fed: usize,
    /// Why it ended.
    pub ending: Ending,
    /// Time from reaching the backend to the first token (waiting for a place included).
    pub first_token: Option<Duration>,
}

/// The node's backend: the GGUF weights in its model directory, each base model generated by
/// one continuous-batching engine (see `batch`) for every model registered over it, each
/// sequence with its model's adapter (see `adapters`) added per row, unmerged. A model named
/// in [`LocalBackend::with_merged`] runs instead on its own copy of the base with its adapter
/// folded in, and its own engine.
pub struct LocalBackend {
    catalog: Catalog,
    engines: Arc<Engines>,
    gauges: Arc<EngineGauges>,
    adapters: Adapters,
    /// The f32 base influence queries run on.
    frozen: Arc<FrozenBases>,
    /// Names of the models served merged.
    merge: BTreeSet<String>,
    /// Their merged weights, by adapter manifest hash.
    merged: Mutex<BTreeMap<Hash, Arc<Model>>>,
    /// Held while a merged model is built.
    merging: Mutex<()>,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend").field("dir", &self.catalog.dir()).finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// Serves the weights `catalog` finds, batching each model within `limits`.
    #[must_use]
    pub fn new(catalog: Catalog, limits: BatchLimits) -> Self {
        if let Err(e) = catalog.scan() {
            tracing::warn!(dir = %catalog.dir().display(), err = %e, "cannot scan the model directory");
        }
        let gauges = Arc::<EngineGauges>::default();
        Self {
            catalog,
            engines: Arc::new(Engines::new(limits, gauges.clone())),
            gauges,
            adapters: Adapters::new(None, 0),
            frozen: Arc::default(),
            merge: BTreeSet::new(),
            merged: Mutex::new(BTreeMap::new()),
            merging: Mutex::new(()),
        }
    }

    /// Reads the adapters of registered models through `adapters` (see
    /// [`Adapters::new`]: a source and a memory budget). Without it, models with an adapter
    /// are unavailable.
    #[must_use]
    pub fn with_adapters(mut self, adapters: Adapters) -> Self {
        self.adapters = adapters;
        self
    }

    /// Serves the models named here with their adapters folded into their own copy of the
    /// base weights (the fastest for one model; each costs a copy of the base in memory).
    #[must_use]
    pub fn with_merged(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.merge = names.into_iter().collect();
        self
    }

    /// Adapters held in memory, and their bytes.
    #[must_use]
    pub fn adapters_held(&self) -> (usize, u64) {
        self.adapters.held()
    }

    /// The base with the model's adapter folded in, built on first use (one at a time: each
    /// costs a copy of the base).
    fn merged(
        &self,
        spec: &ModelSpec,
        manifest: Hash,
        base: &Arc<Model>,
    ) -> Result<Arc<Model>, GatewayError> {
        let lookup =
            || self.merged.lock().unwrap_or_else(PoisonError::into_inner).get(&manifest).cloned();
        if let Some(m) = lookup() {
            return Ok(m);
        }
        let _building = self.merging.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = lookup() {
            return Ok(m);
        }
        let adapter = self.adapters.get(spec, &manifest, &base.info().params)?.adapter;
        let path = self
            .catalog
            .path(&spec.base_model)
            .ok_or_else(|| GatewayError::Internal("the base model's file is gone".into()))?;
        let model = Model::load_merged(&path, self.catalog.load_config(), &adapter)
            .map_err(|e| GatewayError::Internal(format!("cannot merge the adapter: {e}")))?;
        let model = Arc::new(model);
        self.merged.lock().unwrap_or_else(PoisonError::into_inner).insert(manifest, model.clone());
        Ok(model)
    }
}

impl Backend for LocalBackend {
    fn serves(&self, base: &Hash) -> bool {
        self.catalog.has(base)
    }

    fn model(&self, spec: &ModelSpec) -> Result<Option<Arc<dyn ServedModel>>, GatewayError> {
        let base = spec.base_model;
        let model = self
            .catalog
            .get(&base)
            .map_err(|e| GatewayError::Internal(format!("cannot load the model's weights: {e}")))?;
        let Some(model) = model else { return Ok(None) };
        let engines = self.engines.clone();
        let path = self.catalog.path(&base);
        let influence = |i: Option<Arc<AdapterInfluence>>| {
            let path = path.clone()?;
            i.map(|scores| Influence { frozen: self.frozen.clone(), path, base, scores })
        };
        let served = match spec.adapter {
            None => LocalModel { engine: base, model, adapter: None, engines, influence: None },
            Some(manifest) if self.merge.contains(&spec.name) => {
                let merged = self.merged(spec, manifest, &model)?;
                let loaded = self.adapters.get(spec, &manifest, &model.info().params)?;
                let influence = influence(loaded.influence);
                LocalModel { engine: manifest, model: merged, adapter: None, engines, influence }
            }
            Some(manifest) => {
                let loaded = self.adapters.get(spec, &manifest, &model.info().params)?;
                let influence = influence(loaded.influence);
                LocalModel {
                    engine: base,
                    model,
                    adapter: Some(loaded.adapter),
                    engines,
                    influence,
                }
            }
        };
        Ok(Some(Arc::new(served)))
    }

    fn gauges(&self) -> Arc<EngineGauges> {
        self.gauges.clone()
    }
}

/// A loaded model, its adapter (applied per sequence), and the engines that batch it.
struct LocalModel {
    /// The engine it runs on: its base's, or its own when merged.
    engine: Hash,
    model: Arc<Model>,
    adapter: Option<Arc<Adapter>>,
    engines: Arc<Engines>,
    influence: Option<Influence>,
}

/// What a served adapter model scores influence with.
struct Influence {
    frozen: Arc<FrozenBases>,
    path: std::path::PathBuf,
    base: Hash,
    scores: Arc<AdapterInfluence>,
}

impl ServedModel for LocalModel {
    fn context_length(&self) -> usize {
        self.model.context_length()
    }

    fn tokens_at_least(&self, bytes: usize) -> usize {
        self.model.tokenizer().tokens_at_least(bytes)
    }

    fn encode(&self, text: &str) -> Result<Vec<TokenId>, alx_model::Error> {
        self.model.tokenizer().encode(text)
    }

    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<TokenId>, alx_model::Error> {
        self.model.chat_prompt(messages)
    }

    fn embed(&self, tokens: &[TokenId]) -> Result<Vec<f32>, alx_model::Error> {
        self.model.embed_adapted(tokens, self.adapter.as_deref())
    }

    fn generate(&self, request: GenerationRequest) -> Result<Generated, GatewayError> {
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let sequence = Sequence {
            prompt: request.prompt,
            config: request.config,
            pieces: request.pieces,
            cancel: request.cancel,
            adapter: self.adapter.clone(),
            done,
            submitted: Instant::now(),
        };
        self.engines.generate(self.engine, &self.model, sequence, &result)
    }

    fn decode(&self, tokens: &[TokenId]) -> Result<String, alx_model::Error> {
        self.model.tokenizer().decode(tokens)
    }

    fn replay_greedy(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
        penalties: &alx_model::Penalties,
        tolerance: f32,
    ) -> Result<alx_model::Replay, alx_model::Error> {
        self.model.replay_greedy(prompt, output, penalties, tolerance, self.adapter.as_ref())
    }

    fn continuation(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
    ) -> Result<alx_model::Continuation, alx_model::Error> {
        self.model.continuation(prompt, output, self.adapter.as_ref())
    }

    fn influence(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
    ) -> Result<Vec<(alx_model::train::ExampleKey, i64)>, GatewayError> {
        match &self.influence {
            None => Ok(Vec::new()),
            Some(i) => i.frozen.scores(&i.path, &i.base, &i.scores, prompt, output),
        }
    }

    fn admit_influence(&self) -> Result<Option<InfluencePlace>, GatewayError> {
        self.influence.as_ref().map(|i| i.frozen.admit(&i.path, &i.base)).transpose()
    }
}
