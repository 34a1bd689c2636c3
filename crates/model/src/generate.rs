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
    sampling::{Sampler, Sampling},
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
    stop: StopText,
    stream: TextStream,
    /// Logits for the next token to sample.
    logits: Vec<f32>,
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
        config.sampling.validate()?;
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
        let mut session = self.session();
        let logits = session.feed(prompt, Positions::Last)?.last().to_vec();
        Ok(Generation {
            session,
            sampler: Sampler::new(config.sampling),
            stop,
            stream: TextStream::new(),
            logits,
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
        mut on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        let mut generation = self.generation(prompt, config)?;
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

    /// Samples one token and returns the text it releases (possibly empty).
    fn step(&mut self) -> Result<String> {
        if self.tokens.len() >= self.max_tokens {
            return Ok(self.end(FinishReason::Length));
        }
        let token = self.sampler.sample(&self.logits);
        let tokenizer = self.session.model().tokenizer();
        if tokenizer.is_end_of_generation(token) {
            return Ok(self.end(FinishReason::Eos));
        }
        self.tokens.push(token);
        let text = self.stream.push(tokenizer.bytes(token)?);
        let text = match self.stop.push(&text) {
            Scan::Stopped(text) => {
                self.finish = Some(FinishReason::Stop);
                return Ok(text);
            }
            Scan::Continue(text) => text,
        };
        if self.tokens.len() < self.max_tokens {
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
