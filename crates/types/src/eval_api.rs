//! `POST /api/evaluate`: a node scores a registered model on evaluation items the way its
//! gateway serves users: the model's weights and adapter, passages retrieved from its datanet
//! versions, and the prompt a user's request gets. A subnet validator asks the node it runs
//! beside (docs/design/evaluation.md), so a miner is scored on what users would be served.

use crate::{model::ModelId, usage_api::Citation};
use serde::{Deserialize, Serialize};

/// Most items in one request (each is a prefill, and a short generation when asked).
pub const EVAL_ITEMS_MAX: usize = 8;
/// Longest prompt of an item, in bytes.
pub const EVAL_PROMPT_BYTES_MAX: usize = 4096;
/// Longest expected continuation of an item, in bytes.
pub const EVAL_EXPECTED_BYTES_MAX: usize = 2048;
/// Most tokens generated for one answer.
pub const EVAL_ANSWER_TOKENS_MAX: usize = 64;
/// Tokens an answer may take beyond the expected answer's own (room for "The answer is …").
pub const EVAL_ANSWER_TOKENS_MARGIN: usize = 24;

/// How an item is put to the model, as a user's request would be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalKind {
    /// A chat request whose only message is the prompt, in the user's turn
    /// (`/v1/chat/completions`); retrieval runs on it.
    Chat,
    /// A completion of the prompt with retrieval on (`/v1/completions`, `"retrieval": true`).
    Completion,
}

/// One thing to score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalItem {
    /// How it is asked.
    pub kind: EvalKind,
    /// The user's message, or the text to continue: at most [`EVAL_PROMPT_BYTES_MAX`] bytes.
    pub prompt: String,
    /// The continuation whose likelihood is scored (the expected answer, or the rest of the
    /// text): 1 to [`EVAL_EXPECTED_BYTES_MAX`] bytes.
    pub expected: String,
    /// Also generate a greedy answer, of at most the expected answer's length in tokens plus
    /// [`EVAL_ANSWER_TOKENS_MARGIN`], capped at [`EVAL_ANSWER_TOKENS_MAX`].
    #[serde(default)]
    pub generate: bool,
}

/// The body of `POST /api/evaluate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalRequest {
    /// The model: an id or a name, as `/v1` requests name it.
    pub model: String,
    /// 1 to [`EVAL_ITEMS_MAX`] items.
    pub items: Vec<EvalItem>,
}

impl EvalRequest {
    /// Why the request cannot be evaluated, if it cannot: which item is out of bounds.
    ///
    /// # Errors
    /// No items, too many, or an item whose prompt or expected text is out of bounds.
    pub fn check(&self) -> Result<(), String> {
        if self.items.is_empty() || self.items.len() > EVAL_ITEMS_MAX {
            return Err(format!(
                "items: send 1 to {EVAL_ITEMS_MAX} items, got {}",
                self.items.len()
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            if item.prompt.is_empty() || item.prompt.len() > EVAL_PROMPT_BYTES_MAX {
                return Err(format!(
                    "items[{i}].prompt: 1 to {EVAL_PROMPT_BYTES_MAX} bytes, got {}",
                    item.prompt.len()
                ));
            }
            if item.expected.is_empty() || item.expected.len() > EVAL_EXPECTED_BYTES_MAX {
                return Err(format!(
                    "items[{i}].expected: 1 to {EVAL_EXPECTED_BYTES_MAX} bytes, got {}",
                    item.expected.len()
                ));
            }
        }
        Ok(())
    }
}

/// What one item scored. Floats: a validator's opinion, never consensus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluatedItem {
    /// Tokens of the prompt as served (retrieved passages and chat template included).
    pub prompt_tokens: u32,
    /// Tokens of the expected continuation, scored or not (0 when it could not be tokenized).
    pub expected_tokens: u32,
    /// The sum of their negative log-likelihoods, in nats.
    pub nll: f64,
    /// The passages retrieved into the prompt, best first.
    pub passages: Vec<Citation>,
    /// The greedy answer, when asked for and scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Why the item was not scored (its prompt and continuation do not fit the context, the
    /// model has no chat template), if it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `POST /api/evaluate`: the items in request order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalResponse {
    /// The model scored.
    pub model: ModelId,
    /// One result per item.
    pub items: Vec<EvaluatedItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(prompt: usize, expected: usize) -> EvalItem {
        EvalItem {
            kind: EvalKind::Chat,
            prompt: "p".repeat(prompt),
            expected: "e".repeat(expected),
            generate: true,
        }
    }

    #[test]
    fn bounds_are_checked_per_item() {
        let request = |items| EvalRequest { model: "m".into(), items };
        assert!(request(vec![item(1, 1)]).check().is_ok());
        assert!(
            request(vec![item(EVAL_PROMPT_BYTES_MAX, EVAL_EXPECTED_BYTES_MAX)]).check().is_ok()
        );
        assert!(request(vec![]).check().unwrap_err().contains("items"));
        assert!(request(vec![item(1, 1); EVAL_ITEMS_MAX + 1]).check().is_err());
        let long = request(vec![item(1, 1), item(EVAL_PROMPT_BYTES_MAX + 1, 1)]);
        assert!(long.check().unwrap_err().starts_with("items[1].prompt"));
        assert!(request(vec![item(1, 0)]).check().unwrap_err().contains("expected"));
        assert!(request(vec![item(0, 1)]).check().is_err());
        let json =
            r#"{"model":"m","items":[{"kind":"chat","prompt":"q","expected":"a","extra":1}]}"#;
        assert!(serde_json::from_str::<EvalRequest>(json).is_err(), "unknown fields refused");
    }
}
