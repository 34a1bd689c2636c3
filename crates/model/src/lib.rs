//! The ML runtime of Alexandria, and the only crate that imports candle: it loads
//! llama-family GGUF models (SmolLM2 by default), tokenizes with the model's own GGUF
//! vocabulary, builds chat prompts, generates text and evaluates perplexity, on the CPU.
//!
//! ```text
//! GGUF file ─► gguf (header, metadata) ─► params (hyperparameters)
//!                                      ├─► tokenizer (byte-level BPE, special tokens) ─► chat
//!                                      └─► weights (Q4_1 → Q8_0 / f32) ─► llama (forward, cache)
//! Model ─► Session (one sequence) ─► generate (sampling, stop, stream) · perplexity · bench
//! ```
//!
//! Every forward pass runs on the model's own rayon pool (one thread by default, see
//! [`LoadConfig::threads`]). A model file is external input: a corrupt, truncated or
//! unsupported file gives an [`Error`], never a panic.
//!
//! ```no_run
//! use alx_model::{GenerateConfig, LoadConfig, Message, Model, Role, Sampling};
//!
//! # fn main() -> Result<(), alx_model::Error> {
//! let model = Model::load("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref(), &LoadConfig::DEFAULT)?;
//! let prompt = model.chat_prompt(&[Message::new(Role::User, "What is a library?")])?;
//! let config = GenerateConfig { max_tokens: 64, sampling: Sampling::Greedy, stop: vec![], penalties: Default::default() };
//! let completion = model.generate(&prompt, &config, |piece| eprint!("{piece}"))?;
//! assert!(completion.tokens.len() <= 64);
//! # Ok(())
//! # }
//! ```

mod adapter;
mod attention;
pub mod bench;
pub mod bench_adapters;
pub mod bench_finetune;
pub mod bench_replay;
mod cache;
mod chat;
mod continuation;
mod error;
mod generate;
mod gguf;
mod kernels;
mod llama;
mod model;
mod params;
mod perplexity;
mod replay;
mod sampling;
mod stop;
mod stream;
pub mod tiny;
mod tokenizer;
pub mod train;
mod weights;

pub use adapter::{ADAPTER_BYTES_MAX, ALPHA_MAX, Adapter, RANK_MAX, VALUE_MAX};
pub use chat::{ChatTemplate, Message, PromptEnd, Role};
pub use continuation::Continuation;
pub use error::{Error, Result};
pub use generate::{Completion, FinishReason, GenerateConfig, Generation, step_batch};
pub use llama::Positions;
pub use model::{LoadConfig, Logits, Model, ModelInfo, Session, kernel_threads};
pub use params::LlamaParams;
pub use perplexity::{Perplexity, PerplexityConfig};
pub use replay::{Departure, Replay};
pub use sampling::{PENALTY_WINDOW_MAX, Penalties, Sampling};
pub use stop::{STOP_SEQUENCE_BYTES_MAX, STOP_SEQUENCES_MAX};
pub use stream::TextStream;
pub use tokenizer::{TokenId, TokenKind, Tokenizer};
pub use weights::WeightFormat;
