//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong when loading or running a model.
///
/// Variants are grouped by consequence: [`Error::is_bad_request`] marks the ones caused by the
/// caller's request (a 4xx for an API), [`Error::is_bad_model`] the ones caused by the model
/// file; the rest are internal failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file could not be opened or read.
    #[error("cannot read model file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a well-formed GGUF file (bad magic, truncated, inconsistent header).
    #[error("not a valid gguf file: {reason}")]
    Malformed {
        /// What the reader found wrong.
        reason: String,
    },
    /// The file is a GGUF file of an architecture this crate does not run.
    #[error("unsupported model architecture {architecture:?} (supported: llama)")]
    UnsupportedArchitecture {
        /// `general.architecture` as found in the file.
        architecture: String,
    },
    /// A metadata key that the model needs is absent.
    #[error("gguf metadata key {key} is missing")]
    MissingMetadata {
        /// The key.
        key: String,
    },
    /// A metadata value has the wrong type or an impossible value.
    #[error("gguf metadata key {key} is invalid: {reason}")]
    InvalidMetadata {
        /// The key.
        key: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A weight tensor that the model needs is absent.
    #[error("tensor {name} is missing")]
    MissingTensor {
        /// The tensor's GGUF name.
        name: String,
    },
    /// A weight tensor has a shape that does not match the hyperparameters.
    #[error("tensor {name} has shape {actual:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor's GGUF name.
        name: String,
        /// The shape the hyperparameters imply (rows, columns).
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A weight tensor could not be read or converted.
    #[error("cannot load tensor {name}")]
    TensorData {
        /// The tensor's GGUF name.
        name: String,
        /// The cause.
        #[source]
        source: candle_core::Error,
    },
    /// The tokenizer described by the metadata is of a kind this crate does not implement.
    #[error("unsupported tokenizer: {reason}")]
    UnsupportedTokenizer {
        /// What is unsupported.
        reason: String,
    },
    /// The tokenizer failed on an input.
    #[error("tokenizer failed: {reason}")]
    Tokenizer {
        /// The tokenizer library's message.
        reason: String,
    },
    /// A token id is not in the vocabulary.
    #[error("token id {token} is outside the vocabulary of {vocab_size} tokens")]
    TokenOutOfRange {
        /// The id.
        token: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A prompt (or a perplexity input) is empty or too short.
    #[error("input needs at least {needed} tokens, got {got}")]
    TooFewTokens {
        /// The minimum.
        needed: usize,
        /// What was given.
        got: usize,
    },
    /// The prompt plus the requested new tokens do not fit in the model's context.
    #[error(
        "{prompt_tokens} prompt tokens + {max_tokens} new tokens exceed the context of \
         {context_length} tokens"
    )]
    ContextOverflow {
        /// Tokens already in the context (the prompt).
        prompt_tokens: usize,
        /// Tokens asked for.
        max_tokens: usize,
        /// The usable context length.
        context_length: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// An adapter file is not a well-formed LoRA adapter of this model.
    #[error("not a usable adapter: {reason}")]
    BadAdapter {
        /// What is wrong.
        reason: String,
    },
    /// The compute engine failed while running the model.
    #[error("model computation failed")]
    Compute(#[from] candle_core::Error),
    /// The dedicated thread pool could not be created.
    #[error("cannot build the model's thread pool")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

impl Error {
    /// True when the caller's request is at fault (bad prompt, bad parameters, too long).
    pub const fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::TokenOutOfRange { .. }
                | Self::TooFewTokens { .. }
                | Self::ContextOverflow { .. }
                | Self::InvalidConfig { .. }
        )
    }

    /// True when the model file is at fault (corrupt, unsupported or inconsistent).
    pub const fn is_bad_model(&self) -> bool {
        matches!(
            self,
            Self::Malformed { .. }
                | Self::UnsupportedArchitecture { .. }
                | Self::MissingMetadata { .. }
                | Self::InvalidMetadata { .. }
                | Self::MissingTensor { .. }
                | Self::TensorShape { .. }
                | Self::TensorData { .. }
                | Self::UnsupportedTokenizer { .. }
        )
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
