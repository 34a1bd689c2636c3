//! Scoring as served: the validator's node scores each miner's model through its gateway
//! (`POST /api/evaluate`), with the retrieval over the model's datanet versions and the prompt
//! users' requests get, instead of this process running the bare weights. The set scored is
//! the one [`crate::score`] picks (the latest revealed sealed set, else the public split).
//!
//! ```text
//! question/answer pair → chat item: the question as the user's turn; the answer's likelihood
//!                        after the served prompt, and a greedy answer judged as qa judges
//! text                 → completion item (retrieval on): its first half the prompt, the
//!                        rest the continuation whose likelihood is scored
//! ```
//!
//! Likelihood is nats per byte of the expected continuations (pairs first, then texts until
//! `eval_tokens` tokens were asked, pairs' included, or [`TEXT_ITEMS_MAX`] texts). An item the model cannot take (too long
//! for its context with the passages, a chat for a model without a chat template, a likelihood
//! that is not finite) is charged [`UNSCORED_NATS_PER_BYTE`], as a model that knows nothing of
//! its bytes: a miner cannot better its score by having the hard items dropped. Accuracy is
//! over the pairs asked, an answer the node could not score counting as wrong.
//!
//! Whose failure a failed request is ([`Blame`]): the node's (busy, overloaded, failing,
//! unreachable) is waited for up to [`WAIT_MAX`], then the validator skips the epoch rather
//! than blame the miners; the model's (weights or adapter unavailable here, retired) leaves
//! that miner unscored; a model whose datanet versions the node has not indexed yet is waited
//! for, then left unscored, so one miner's fresh version cannot stall the epoch for all.

use crate::{
    NeuronError,
    qa::{self, Accuracy},
    score::{HeldOut, HeldOutConfig, Score, Scorer, check_evaluable, evaluation_set},
};
use alx_client::{Client, ClientError};
use alx_types::{
    eval_api::{
        EVAL_EXPECTED_BYTES_MAX, EVAL_PROMPT_BYTES_MAX, EvalItem, EvalKind, EvalRequest,
        EvalResponse,
    },
    subnet_api::{NeuronJson, SubnetJson},
};
use std::time::{Duration, Instant};

/// Items per request: each is up to a prefill and a short answer, and a request must finish
/// well inside the client's timeout on a loaded machine.
const ITEMS_PER_REQUEST: usize = 1;
/// Bytes of a text put to the model as one completion item (half prompt, half continuation).
const TEXT_ITEM_BYTES_MAX: usize = 1024;
// Both halves of a text item stay within what the node takes.
const _: () = assert!(
    TEXT_ITEM_BYTES_MAX <= EVAL_EXPECTED_BYTES_MAX && TEXT_ITEM_BYTES_MAX <= EVAL_PROMPT_BYTES_MAX
);
/// Most texts asked per model: each is a request, and a model that can take none must not make
/// the validator ask every line of a large set.
const TEXT_ITEMS_MAX: usize = 256;
/// Shortest text worth splitting into a prompt and a continuation.
const TEXT_ITEM_BYTES_MIN: usize = 16;
/// Longest wait for one request the node cannot answer now, and the pause between tries.
const WAIT_MAX: Duration = Duration::from_secs(60);
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// What an item the model cannot take costs: ln 256, a uniform guess over bytes.
pub const UNSCORED_NATS_PER_BYTE: f64 = 5.545_177_444_479_562;

/// Whose failure a failed evaluation request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The node refuses this validator (403): the validator stops.
    Refused,
    /// The node is busy, overloaded, failing or unreachable: wait, then skip the epoch.
    Node,
    /// The node has not indexed the model's datanet versions yet: wait, then leave the miner
    /// unscored.
    ModelNotYet,
    /// The model cannot be scored here (unknown or retired, weights or adapter unavailable):
    /// the miner is not scored.
    Model,
}

/// Whose failure `error` is (see [`Blame`]).
#[must_use]
pub fn blame(error: &ClientError) -> Blame {
    match error {
        ClientError::Api { status: 403, .. } => Blame::Refused,
        ClientError::Api { status: 404, .. } => Blame::Model,
        ClientError::Api { status: 503, code: Some(code), .. } => match code.as_str() {
            "index_behind" => Blame::ModelNotYet,
            "adapter_unavailable" | "adapter_invalid" => Blame::Model,
            _ => Blame::Node,
        },
        // 429 (busy), a 503 without a code (the listener shedding load), 5xx, a request this
        // validator got wrong (400), an answer that does not parse, a node down or too slow.
        ClientError::Api { .. }
        | ClientError::Connect { .. }
        | ClientError::Decode(_)
        | ClientError::Timeout(_) => Blame::Node,
    }
}

/// The items of a set: its pairs as chat items (answers generated when `generate`), then its
/// texts as completion items.
#[must_use]
pub fn items(set: &HeldOut, generate: bool) -> Vec<EvalItem> {
    let pairs = set.pairs.iter().map(|p| EvalItem {
        kind: EvalKind::Chat,
        prompt: p.question.clone(),
        expected: p.answer.clone(),
        generate,
    });
    let texts = set.texts.iter().filter_map(|t| split_text(t)).map(|(prompt, expected)| EvalItem {
        kind: EvalKind::Completion,
        prompt,
        expected,
        generate: false,
    });
    pairs.chain(texts).collect()
}

/// A text's first [`TEXT_ITEM_BYTES_MAX`] bytes cut in two at the whitespace nearest before
/// its middle (after it when the first half has none, the middle character when the text has
/// none), so that the continuation starts with the space its first word is tokenized with.
fn split_text(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let mut end = text.len().min(TEXT_ITEM_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    if text.len() < TEXT_ITEM_BYTES_MIN {
        return None;
    }
    let middle = text.len() / 2;
    let is_space = |(_, c): &(usize, char)| c.is_whitespace();
    let before = text.char_indices().filter(|(i, _)| *i <= middle).rfind(is_space);
    let after = || text.char_indices().filter(|(i, _)| *i > middle).find(is_space);
    let at = before.filter(|(i, _)| *i > 0).or_else(after).map_or_else(
        || text.char_indices().map(|(i, _)| i).find(|&i| i >= middle).unwrap_or(middle),
        |(i, _)| i,
    );
    let (prompt, expected) = text.split_at(at);
    let usable = !prompt.trim().is_empty() && !expected.trim().is_empty();
    usable.then(|| (prompt.to_owned(), expected.to_owned()))
}

/// The validator's scorer as served: every miner's model scored by the node's gateway.
pub struct ServedScorer {
    client: Client,
    config: HeldOutConfig,
    items: Vec<EvalItem>,
    /// The block the scored set was revealed at (`None`: the public split).
    revealed_at: Option<u64>,
}

impl std::fmt::Debug for ServedScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedScorer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl ServedScorer {
    /// A scorer asking the node behind `client` (the validator's own).
    #[must_use]
    pub const fn new(client: Client, config: HeldOutConfig) -> Self {
        Self { client, config, items: Vec::new(), revealed_at: None }
    }

    /// `request` answered by the node, waiting up to [`WAIT_MAX`] out a busy node or a lagging
    /// index (see [`Blame`]).
    fn ask(&self, request: &EvalRequest) -> Result<EvalResponse, NeuronError> {
        let started = Instant::now();
        loop {
            let error = match self.client.evaluate(request) {
                Ok(r) if r.items.len() == request.items.len() => return Ok(r),
                Ok(r) => {
                    let got = r.items.len();
                    return Err(NeuronError::EvaluatorUnavailable(format!(
                        "the node answered {got} items of {}",
                        request.items.len()
                    )));
                }
                Err(e) => e,
            };
            let blame = blame(&error);
            let out_of_time = started.elapsed() + RETRY_PAUSE > WAIT_MAX;
            match blame {
                Blame::Refused => return Err(NeuronError::EvaluatorRefused(error.to_string())),
                Blame::Model => return Err(error.into()),
                Blame::ModelNotYet if out_of_time => return Err(error.into()),
                Blame::Node if out_of_time => {
                    return Err(NeuronError::EvaluatorUnavailable(error.to_string()));
                }
                Blame::Node | Blame::ModelNotYet => std::thread::sleep(RETRY_PAUSE),
            }
        }
    }
}

impl Scorer for ServedScorer {
    fn prepare(&mut self, subnet: &SubnetJson) -> Result<(), NeuronError> {
        let (revealed_at, set) = evaluation_set(&self.client, subnet, self.config.eval_questions)?;
        self.revealed_at = revealed_at;
        self.items = items(&set, self.config.eval_questions > 0);
        if self.items.is_empty() {
            return Err(NeuronError::NoHeldOut);
        }
        Ok(())
    }

    fn score(&mut self, miner: &NeuronJson) -> Result<Score, NeuronError> {
        check_evaluable(self.revealed_at, miner)?;
        let model = miner.model.ok_or(NeuronError::MissingModel { uid: miner.uid })?;
        let asked = self.items.iter().filter(|i| i.generate).count();
        let (mut nll, mut tokens, mut bytes, mut correct) = (0.0f64, 0usize, 0usize, 0usize);
        let (mut unscored, mut scored_any) = (None, false);
        // Tokens asked, scored or not, and texts asked: the budget bounds both.
        let (mut spent, mut texts) = (0usize, 0usize);
        for chunk in self.items.chunks(ITEMS_PER_REQUEST) {
            let texts_only = chunk.iter().all(|i| i.kind == EvalKind::Completion);
            if texts_only && (spent >= self.config.eval_tokens || texts >= TEXT_ITEMS_MAX) {
                break;
            }
            texts += usize::from(texts_only);
            let request = EvalRequest { model: model.to_string(), items: chunk.to_vec() };
            for (item, got) in chunk.iter().zip(self.ask(&request)?.items) {
                bytes += item.expected.len();
                spent += got.expected_tokens as usize;
                if let Some(why) = got.error {
                    nll += UNSCORED_NATS_PER_BYTE * item.expected.len() as f64;
                    unscored.get_or_insert(why);
                    continue;
                }
                scored_any = true;
                nll += got.nll;
                tokens += got.expected_tokens as usize;
                let right = got.answer.is_some_and(|a| qa::is_correct(&item.expected, &a));
                correct += usize::from(item.generate && right);
            }
        }
        if !scored_any {
            let why = unscored.unwrap_or_else(|| "no item was scored".into());
            return Err(NeuronError::NothingScored { uid: miner.uid, reason: why });
        }
        let accuracy = (asked > 0).then_some(Accuracy { correct, asked });
        Ok(Score { nats_per_byte: nll / bytes as f64, tokens, bytes, accuracy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::QaPair;

    fn api(status: u16, code: Option<&str>) -> ClientError {
        let code = code.map(str::to_owned);
        ClientError::Api { status, kind: "k".into(), message: "m".into(), code }
    }

    #[test]
    fn failures_are_blamed_on_whom_they_belong_to() {
        assert_eq!(blame(&api(403, Some("forbidden"))), Blame::Refused);
        assert_eq!(blame(&api(404, Some("model_not_found"))), Blame::Model);
        assert_eq!(blame(&api(503, Some("adapter_unavailable"))), Blame::Model);
        assert_eq!(blame(&api(503, Some("adapter_invalid"))), Blame::Model);
        assert_eq!(blame(&api(503, Some("index_behind"))), Blame::ModelNotYet);
        // The node's own trouble never zeroes a miner: busy, shedding load, failing, a request
        // this validator got wrong, an answer that does not parse, too slow.
        for node in [api(429, None), api(503, None), api(500, None), api(400, None)] {
            assert_eq!(blame(&node), Blame::Node, "{node}");
        }
        assert_eq!(blame(&ClientError::Decode("x".into())), Blame::Node);
        assert_eq!(blame(&ClientError::Timeout(Duration::from_secs(30))), Blame::Node);
        assert!((UNSCORED_NATS_PER_BYTE - 256f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn texts_split_before_a_space_near_their_middle() {
        let (p, e) = split_text("  the quick brown fox jumps over the lazy dog ").unwrap();
        assert_eq!((p.as_str(), e.as_str()), ("the quick brown fox", " jumps over the lazy dog"));
        // No space in the first half: the first one after it.
        let (p, e) = split_text("abcdefghijklmnopqrstuvwx yz").unwrap();
        assert_eq!((p.as_str(), e.as_str()), ("abcdefghijklmnopqrstuvwx", " yz"));
        // No space at all: the middle character boundary.
        let (p, e) = split_text("ééééééééééééééééé").unwrap();
        assert_eq!((p.chars().count(), e.chars().count()), (9, 8));
        assert!(split_text("too short").is_none());
        // A long text is cut to its first TEXT_ITEM_BYTES_MAX bytes first.
        let long = "word ".repeat(1000);
        let (p, e) = split_text(&long).unwrap();
        assert!(p.len() + e.len() <= TEXT_ITEM_BYTES_MAX && e.starts_with(' '), "{}", e.len());
    }

    #[test]
    fn pairs_are_chat_items_and_texts_completions() {
        let set = HeldOut {
            texts: vec!["Libraries lend books to readers for weeks.".into(), "tiny".into()],
            pairs: vec![QaPair {
                question: "What do libraries lend?".into(),
                answer: "books".into(),
            }],
        };
        let got = items(&set, true);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].kind, got[0].generate), (EvalKind::Chat, true));
        assert_eq!(
            (got[0].prompt.as_str(), got[0].expected.as_str()),
            ("What do libraries lend?", "books")
        );
        assert_eq!((got[1].kind, got[1].generate), (EvalKind::Completion, false));
        assert_eq!(
            got[1].prompt.clone() + &got[1].expected,
            "Libraries lend books to readers for weeks."
        );
        assert!(!items(&set, false)[0].generate);
    }
}
