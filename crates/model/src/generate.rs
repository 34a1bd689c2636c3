//! Text generation: prefill the prompt, then sample one token at a time until an
//! end-of-generation token, a stop sequence or the token budget.
//!
//! [`Generation`] is an iterator of text pieces, released on UTF-8 boundaries and held back
//! while they might begin a stop sequence; [`Model::generate`] drives it to the end and returns
//! the whole [`Completion`].
//!
//! ```text
//! new ── prefill(prompt) ─► logits ─► sample ─► end token? ─► Eos
//!                              ▲          │ no
//!                              │          ▼
//!                      feed(token) ◄── text ─► stop sequence? ─► Stop
//!                              (unless max_tokens reached ─► Length)
//! ```

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    llama::Positions,
    model::{Model, Session},
    sampling::{Penalties, Sampler, Sampling},
    stop::{Scan, StopText},
    stream::TextStream,
    tokenizer::TokenId,
};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateConfig {
    /// Most new tokens (at least 1). The prompt plus this must fit in the context.
    pub max_tokens: usize,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Texts that end the generation when produced; they are not part of the output.
    pub stop: Vec<String>,
    /// Penalties on tokens already generated (none by default).
    #[serde(default)]
    pub penalties: Penalties,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-generation token.
    Eos,
    /// A stop sequence was produced.
    Stop,
    /// `max_tokens` were produced.
    Length,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completion {
    /// The output text (without any stop sequence).
    pub text: String,
    /// The tokens sampled, without the end-of-generation token.
    pub tokens: Vec<TokenId>,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Why it ended.
    pub finish_reason: FinishReason,
}

/// A generation in progress: an iterator of text pieces (never empty).
pub struct Generation<'m> {
    session: Session<'m>,
    sampler: Sampler,
    penalties: Penalties,
    stop: StopText,
    stream: TextStream,
    /// Logits for the next token to sample (empty until the prompt is in).
    logits: Vec<f32>,
    /// Prompt tokens not fed yet (see [`Generation::prefill`]).
    pending: Vec<TokenId>,
    tokens: Vec<TokenId>,
    prompt_tokens: usize,
    max_tokens: usize,
    finish: Option<FinishReason>,
    failed: bool,
}

impl std::fmt::Debug for Generation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("prompt_tokens", &self.prompt_tokens)
            .field("tokens", &self.tokens.len())
            .field("finish", &self.finish)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Starts generating after `prompt`: checks the configuration and the context length, then
    /// runs the prompt through the model (the prefill).
    pub fn generation(
        &self,
        prompt: &[TokenId],
        config: &GenerateConfig,
    ) -> Result<Generation<'_>> {
        let mut generation = self.generation_pending(prompt, config)?;
        generation.prefill(usize::MAX)?;
        Ok(generation)
    }

    /// Like [`Model::generation`], but the prompt is not run yet: [`Generation::prefill`] feeds
    /// it in chunks, so a scheduler can interleave a long prompt with other sequences' decode
    /// steps ([`step_batch`]). The sequence's cache is allocated once, for the prompt plus
    /// `max_tokens` ([`Model::cache_bytes_per_token`] each).
    pub fn generation_pending(
        &self,
        prompt: &[TokenId],
        config: &GenerateConfig,
    ) -> Result<Generation<'_>> {
        self.generation_adapted(prompt, config, None)
    }

    /// Like [`Model::generation_pending`], every token run with `adapter`'s updates added to
    /// the base (see [`crate::Adapter`]); generations with different adapters batch together.
    pub fn generation_adapted(
        &self,
        prompt: &[TokenId],
        config: &GenerateConfig,
        adapter: Option<std::sync::Arc<crate::Adapter>>,
    ) -> Result<Generation<'_>> {
        config.sampling.validate()?;
        config.penalties.validate()?;
        let stop = StopText::new(&config.stop)?;
        if config.max_tokens == 0 {
            return Err(Error::InvalidConfig {
                reason: "max_tokens must be at least 1".to_owned(),
            });
        }
        if prompt.is_empty() {
            return Err(Error::TooFewTokens { needed: 1, got: 0 });
        }
        let context_length = self.context_length();
        if prompt.len().saturating_add(config.max_tokens) > context_length {
            return Err(Error::ContextOverflow {
                prompt_tokens: prompt.len(),
                max_tokens: config.max_tokens,
                context_length,
            });
        }
        let vocab_size = self.info().params.vocab_size;
        if let Some(&token) = prompt.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(Error::TokenOutOfRange { token, vocab_size });
        }
        Ok(Generation {
            session: self.session_adapted(prompt.len() + config.max_tokens, adapter)?,
            sampler: Sampler::new(config.sampling),
            penalties: config.penalties,
            stop,
            stream: TextStream::new(),
            logits: Vec::new(),
            pending: prompt.to_vec(),
            tokens: Vec::new(),
            prompt_tokens: prompt.len(),
            max_tokens: config.max_tokens,
            finish: None,
            failed: false,
        })
    }

    /// Generates to the end, calling `on_text` with every piece of text as it is decoded.
    pub fn generate(
        &self,
        prompt: &[TokenId],
        config: &GenerateConfig,
        on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        self.generate_adapted(prompt, config, None, on_text)
    }

    /// [`Model::generate`] with `adapter`'s updates added to the base.
    pub fn generate_adapted(
        &self,
        prompt: &[TokenId],
        config: &GenerateConfig,
        adapter: Option<std::sync::Arc<crate::Adapter>>,
        mut on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        let mut generation = self.generation_adapted(prompt, config, adapter)?;
        generation.prefill(usize::MAX)?;
        let mut text = String::new();
        for piece in generation.by_ref() {
            let piece = piece?;
            on_text(&piece);
            text.push_str(&piece);
        }
        let finish_reason = generation.finish.unwrap_or(FinishReason::Length);
        Ok(Completion {
            text,
            tokens: generation.tokens,
            prompt_tokens: generation.prompt_tokens,
            finish_reason,
        })
    }
}

impl Generation<'_> {
    /// Tokens sampled so far (without the end-of-generation token).
    pub fn tokens(&self) -> &[TokenId] {
        &self.tokens
    }

    /// Prompt length in tokens.
    pub const fn prompt_tokens(&self) -> usize {
        self.prompt_tokens
    }

    /// Why the generation ended, once it has.
    pub const fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// True once the whole prompt has been fed.
    pub fn is_prefilled(&self) -> bool {
        self.pending.is_empty()
    }

    /// True once the generation has ended (or failed).
    pub const fn is_done(&self) -> bool {
        self.finish.is_some() || self.failed
    }

    /// Prompt tokens fed so far.
    pub fn prefilled_tokens(&self) -> usize {
        self.prompt_tokens - self.pending.len()
    }

    /// Feeds up to `chunk` (at least 1) more prompt tokens; true once the whole prompt is in
    /// and the first token can be sampled.
    pub fn prefill(&mut self, chunk: usize) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(true);
        }
        let n = chunk.clamp(1, self.pending.len());
        let logits = match self.session.feed(&self.pending[..n], Positions::Last) {
            Ok(logits) => logits,
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        self.pending.drain(..n);
        if self.pending.is_empty() {
            self.logits = logits.last().to_vec();
        }
        Ok(self.pending.is_empty())
    }

    /// Samples one token: returns the text it releases (possibly empty) and the token to feed
    /// before the next sample (`None` when the generation ended or reached `max_tokens`).
    fn choose(&mut self) -> Result<(String, Option<TokenId>)> {
        if self.tokens.len() >= self.max_tokens {
            return Ok((self.end(FinishReason::Length), None));
        }
        self.penalties.apply(&mut self.logits, &self.tokens);
        let token = self.sampler.sample(&self.logits);
        let tokenizer = self.session.model().tokenizer();
        if tokenizer.is_end_of_generation(token) {
            return Ok((self.end(FinishReason::Eos), None));
        }
        self.tokens.push(token);
        let text = self.stream.push(tokenizer.bytes(token)?);
        let text = match self.stop.push(&text) {
            Scan::Stopped(text) => {
                self.finish = Some(FinishReason::Stop);
                return Ok((text, None));
            }
            Scan::Continue(text) => text,
        };
        let next = (self.tokens.len() < self.max_tokens).then_some(token);
        Ok((text, next))
    }

    /// Samples one token and returns the text it releases (possibly empty).
    fn step(&mut self) -> Result<String> {
        if !self.is_prefilled() {
            self.prefill(usize::MAX)?;
        }
        let (text, next) = self.choose()?;
        if let Some(token) = next {
            self.logits = self.session.feed(&[token], Positions::Last)?.last().to_vec();
        }
        Ok(text)
    }

    /// Ends with `reason`, releasing held text (which may still complete a stop sequence).
    fn end(&mut self, reason: FinishReason) -> String {
        let tail = self.stream.finish();
        match self.stop.push(&tail) {
            Scan::Stopped(text) => {
                self.finish = Some(FinishReason::Stop);
                text
            }
            Scan::Continue(mut text) => {
                self.finish = Some(reason);
                text.push_str(&self.stop.finish());
                text
            }
        }
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.finish.is_none() && !self.failed {
            match self.step() {
                Ok(text) if text.is_empty() => {}
                Ok(text) => return Some(Ok(text)),
                Err(err) => {
                    self.failed = true;
                    return Some(Err(err));
                }
            }
        }
        None
    }
}

/// Advances every generation in `batch` that is prefilled and not done by one token, sharing
/// one forward pass among them (continuous batching: the caller adds and removes generations
/// between calls). Returns, per generation, the text its token released (empty for one that
/// was skipped) or its error; a generation that errs is done. All generations must come from
/// the same model. Each generation gets exactly the tokens it would get alone.
pub fn step_batch(batch: &mut [&mut Generation<'_>]) -> Vec<Result<String>> {
    let mut out: Vec<Result<String>> = Vec::with_capacity(batch.len());
    let mut feeding: Vec<(usize, TokenId)> = Vec::new();
    for (i, g) in batch.iter_mut().enumerate() {
        if g.is_done() || !g.is_prefilled() {
            out.push(Ok(String::new()));
            continue;
        }
        match g.choose() {
            Ok((text, next)) => {
                out.push(Ok(text));
                if let Some(token) = next {
                    feeding.push((i, token));
                }
            }
            Err(e) => {
                g.failed = true;
                out.push(Err(e));
            }
        }
    }
    let Some(&(first, _)) = feeding.first() else { return out };
    let model = batch[first].session.model();
    let tokens: Vec<TokenId> = feeding.iter().map(|f| f.1).collect();
    let mut sessions: Vec<&mut Session<'_>> = Vec::with_capacity(feeding.len());
    let mut wanted = feeding.iter().map(|f| f.0).peekable();
    for (i, g) in batch.iter_mut().enumerate() {
        if wanted.peek() == Some(&i) {
            wanted.next();
            sessions.push(&mut g.session);
        }
    }
    match model.decode_batch(&mut sessions, &tokens) {
        Ok(logits) => {
            for (row, &(i, _)) in feeding.iter().enumerate() {
                batch[i].logits = logits.row(row).map(<[f32]>::to_vec).unwrap_or_default();
            }
        }
        Err(e) => {
            let message = e.to_string();
            for &(i, _) in &feeding {
                batch[i].failed = true;
                out[i] = Err(Error::Compute(candle_core::Error::Msg(message.clone())));
            }
        }
    }
    out
}
