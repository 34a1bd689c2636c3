//! OpenAI's request, response and error shapes (the subset the gateway serves), strictly
//! parsed: a field of the wrong type is a 400, not a silent default.

use alx_types::usage_api::ReceiptSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A chat message of an answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A chat message of a request: its content is a string or a list of parts.
#[derive(Clone, Debug, Deserialize)]
pub struct RequestMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The text, or its parts.
    pub content: Content,
}

/// Message content: one string, or parts of which only `{"type": "text", "text": …}` is
/// served (an image or audio part is refused, naming it).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts.
    Parts(Vec<ContentPart>),
    /// `null` (an assistant turn that only called tools): no text.
    None(()),
}

/// One part of a message's content.
#[derive(Clone, Debug, Deserialize)]
pub struct ContentPart {
    /// `text` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    pub text: Option<String>,
}

impl Content {
    /// The text: a string as is, text parts joined with newlines; `Err(kind)` names the first
    /// part that is not text.
    pub fn text(&self) -> Result<String, String> {
        match self {
            Self::Text(t) => Ok(t.clone()),
            Self::None(()) => Ok(String::new()),
            Self::Parts(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for part in parts {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(text)) => out.push(text.as_str()),
                        ("text", None) => return Err("text without a \"text\" field".to_owned()),
                        (kind, _) => return Err(format!("{kind:?}")),
                    }
                }
                Ok(out.join("\n"))
            }
        }
    }
}

/// Fields a request may carry beyond those the gateway reads. OpenAI's parameters the gateway
/// does not implement are refused by name (a client must not believe `tools` or
/// `response_format` were honoured); bookkeeping fields are accepted and ignored; a field in
/// neither list is refused as unknown, as OpenAI does.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Extra(pub BTreeMap<String, serde_json::Value>);

/// OpenAI parameters that change an answer and are not implemented here.
pub const UNSUPPORTED: &[&str] = &[
    "audio",
    "best_of",
    "dimensions",
    "echo",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "modalities",
    "parallel_tool_calls",
    "prediction",
    "reasoning_effort",
    "response_format",
    "suffix",
    "tool_choice",
    "tools",
    "top_logprobs",
    "web_search_options",
];

/// Fields accepted and ignored: they do not change the answer.
pub const IGNORED: &[&str] =
    &["metadata", "parallel_tool_calls", "service_tier", "store", "stream_options", "user"];

/// True when `value` is the "off" (default) setting of parameter `name`: clients send those
/// without meaning to ask for anything.
fn is_off(name: &str, value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (name, value) {
        (_, Value::Null | Value::Bool(false)) => true,
        (_, Value::Array(a)) => a.is_empty(),
        (_, Value::Object(o)) if o.is_empty() => true,
        ("best_of", v) => v.as_u64() == Some(1),
        ("top_logprobs", v) => v.as_u64() == Some(0),
        ("tool_choice", Value::String(s)) => s == "none" || s == "auto",
        ("response_format", Value::Object(o)) => {
            o.get("type").and_then(Value::as_str) == Some("text")
        }
        _ => false,
    }
}

impl Extra {
    /// The first field that must be refused: `(name, code)`. A field set to its "off" value
    /// (`null`, `false`, `[]`, `{}`, `best_of: 1`, `top_logprobs: 0`, `tool_choice: "none"`,
    /// `response_format: {"type": "text"}`) is accepted, since clients send those by default.
    #[must_use]
    pub fn refused(&self) -> Option<(String, &'static str)> {
        self.0.iter().find_map(|(name, value)| {
            if IGNORED.contains(&name.as_str()) || is_off(name, value) {
                None
            } else if UNSUPPORTED.contains(&name.as_str()) {
                Some((name.clone(), "unsupported_parameter"))
            } else {
                Some((name.clone(), "unknown_parameter"))
            }
        })
    }
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
#[derive(Clone, Debug, Default, Deserialize)]
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
    /// OpenAI's frequency penalty, in `[-2, 2]`.
    pub frequency_penalty: Option<f64>,
    /// OpenAI's presence penalty, in `[-2, 2]`.
    pub presence_penalty: Option<f64>,
    /// Multiplicative repetition penalty in `[1, 2]` (as TGI and vLLM take it; 1 is off).
    pub repetition_penalty: Option<f64>,
}

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChatRequest {
    /// Model name or id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<RequestMessage>,
    /// Sampling.
    #[serde(flatten)]
    pub sampling: Sampling,
    /// Everything else (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/completions`.
#[derive(Clone, Debug, Deserialize)]
pub struct CompletionRequest {
    /// Model name or id.
    pub model: String,
    /// The prompt: a string, or a list holding one string.
    pub prompt: Prompt,
    /// Retrieve passages from the model's datanets and put them before the prompt (off by
    /// default: a completion continues exactly the text it is given).
    #[serde(default)]
    pub retrieval: bool,
    /// Sampling.
    #[serde(flatten)]
    pub sampling: Sampling,
    /// Everything else (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A completion's prompt.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// The text.
    Text(String),
    /// Several texts (only one is served: `n` prompts would be `n` answers).
    Many(Vec<String>),
}

impl Prompt {
    /// The one prompt, or `None` for a list of other than one.
    #[must_use]
    pub fn single(self) -> Option<String> {
        match self {
            Self::Text(t) => Some(t),
            Self::Many(mut v) if v.len() == 1 => v.pop(),
            Self::Many(_) => None,
        }
    }
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

/// `POST /v1/embeddings`.
#[derive(Clone, Debug, Deserialize)]
pub struct EmbeddingRequest {
    /// Model name or id.
    pub model: String,
    /// One text or a list of texts (token arrays are not accepted).
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64`.
    pub encoding_format: Option<String>,
    /// Everything else (see [`Extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The texts to embed.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// One embedding of a response.
#[derive(Clone, Debug, Serialize)]
pub struct EmbeddingEntry {
    /// `embedding`.
    pub object: &'static str,
    /// Position of its input.
    pub index: u32,
    /// The vector: a list of floats, or (with `encoding_format: "base64"`, what OpenAI's
    /// clients ask for by default) the base64 of its little-endian f32 bytes.
    pub embedding: serde_json::Value,
}

/// Token counts of an embedding request.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EmbeddingUsage {
    /// Input tokens.
    pub prompt_tokens: u32,
    /// The same.
    pub total_tokens: u32,
}

/// `POST /v1/embeddings`'s answer.
#[derive(Clone, Debug, Serialize)]
pub struct EmbeddingResponse {
    /// `list`.
    pub object: &'static str,
    /// One per input, in order.
    pub data: Vec<EmbeddingEntry>,
    /// The model's name.
    pub model: String,
    /// Token counts.
    pub usage: EmbeddingUsage,
    /// The receipt (no output, so no citations or shares).
    pub alexandria: ReceiptSummary,
}
