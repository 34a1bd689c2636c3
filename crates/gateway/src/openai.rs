//! OpenAI's request, response and error shapes (the subset the gateway serves), strictly
//! parsed: a field of the wrong type is a 400, not a silent default.

use alx_types::usage_api::ReceiptSummary;
use serde::{Deserialize, Serialize};

/// A chat message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// `stop`: one string or a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Stop {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// What both endpoints share.
#[derive(Clone, Debug, Deserialize)]
pub struct Sampling {
    /// Most tokens to generate (`max_completion_tokens` is accepted too).
    pub max_tokens: Option<i64>,
    /// Newer name of `max_tokens`.
    pub max_completion_tokens: Option<i64>,
    /// 0 means greedy.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Seed of random sampling.
    pub seed: Option<i64>,
    /// Stop sequences.
    pub stop: Option<Stop>,
    /// Stream server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Completions to generate (only 1).
    pub n: Option<i64>,
}

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatRequest {
    /// Model name or id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling.
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// `POST /v1/completions`.
#[derive(Clone, Debug, Deserialize)]
pub struct CompletionRequest {
    /// Model name or id.
    pub model: String,
    /// The prompt.
    pub prompt: String,
    /// Sampling.
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// Token counts.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Both.
    pub total_tokens: u32,
}

/// A chat choice.
#[derive(Clone, Debug, Serialize)]
pub struct ChatChoice {
    /// Always 0.
    pub index: u32,
    /// The answer.
    pub message: ChatMessage,
    /// `stop` or `length`.
    pub finish_reason: &'static str,
}

/// A chat completion.
#[derive(Clone, Debug, Serialize)]
pub struct ChatResponse {
    /// `chatcmpl-…` (the receipt id).
    pub id: String,
    /// `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// One choice.
    pub choices: Vec<ChatChoice>,
    /// Token counts.
    pub usage: Usage,
    /// The receipt, citations and attribution.
    pub alexandria: ReceiptSummary,
}

/// A text choice.
#[derive(Clone, Debug, Serialize)]
pub struct TextChoice {
    /// Always 0.
    pub index: u32,
    /// The completion.
    pub text: String,
    /// `stop` or `length`.
    pub finish_reason: &'static str,
    /// Not supported: null.
    pub logprobs: Option<()>,
}

/// A text completion.
#[derive(Clone, Debug, Serialize)]
pub struct CompletionResponse {
    /// `cmpl-…` (the receipt id).
    pub id: String,
    /// `text_completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// One choice.
    pub choices: Vec<TextChoice>,
    /// Token counts.
    pub usage: Usage,
    /// The receipt, citations and attribution.
    pub alexandria: ReceiptSummary,
}

/// One model of `/v1/models`.
#[derive(Clone, Debug, Serialize)]
pub struct ModelEntry {
    /// The name.
    pub id: String,
    /// `model`.
    pub object: &'static str,
    /// Registration height (no wall clock on chain).
    pub created: u64,
    /// The owner's address.
    pub owned_by: String,
}

/// `/v1/models`.
#[derive(Clone, Debug, Serialize)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    /// The models this node serves.
    pub data: Vec<ModelEntry>,
}
