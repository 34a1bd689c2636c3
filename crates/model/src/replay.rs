//! Replaying a greedy answer: is every output token the most likely one after the prompt and
//! the tokens before it? One forward pass over the prompt and the output (logits computed
//! [`ROWS_PER_LOGITS_PASS`] positions at a time), no sampling, no cache beyond the sequence.
//!
//! The serving engine decodes one token at a time inside batches; the replay runs the same
//! weights in one pass, so the two sum in different orders and their logits differ slightly. A
//! token counts as greedy when its logit is within a tolerance of the best one. Penalties on
//! repeated tokens apply as they did when serving: to the logits, from the output before the
//! position.

use crate::{
    error::{Error, Result},
    llama::Positions,
    model::Model,
    perplexity::ROWS_PER_LOGITS_PASS,
    sampling::{Penalties, argmax},
    tokenizer::TokenId,
};
use serde::Serialize;

/// The first output token that is not (within the tolerance) the most likely one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Departure {
    /// Its position in the output (0 = first generated token).
    pub position: usize,
    /// The token the answer has.
    pub token: TokenId,
    /// The most likely token there.
    pub best: TokenId,
    /// How far below the best logit the answer's token is.
    pub gap: f32,
}

/// What a replay found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Replay {
    /// Output tokens checked.
    pub tokens: usize,
    /// The largest gap of a token within the tolerance (how close the replay came).
    pub max_gap: f32,
    /// The first token past the tolerance, if any.
    pub departure: Option<Departure>,
}

impl Model {
    /// Replays `output` after `prompt`: each output token's logit against the best logit at
    /// its position (after `penalties`), `tolerance` allowed, with `adapter`'s updates if the
    /// answer was served with one.
    ///
    /// # Errors
    /// An empty prompt or output, a sequence longer than the context, or a failed forward pass.
    pub fn replay_greedy(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
        penalties: &Penalties,
        tolerance: f32,
        adapter: Option<&std::sync::Arc<crate::Adapter>>,
    ) -> Result<Replay> {
        penalties.validate()?;
        let (mut session, last) = self.prefilled(prompt, output, adapter)?;
        let mut replay = Replay { tokens: 0, max_gap: 0.0, departure: None };
        // The last prompt position predicts output[0]; each output token predicts the next.
        let mut row = last.last().to_vec();
        if judge(&mut replay, 0, &mut row, (output, penalties), tolerance) {
            return Ok(replay);
        }
        let fed = &output[..output.len() - 1];
        for (chunk_index, chunk) in fed.chunks(ROWS_PER_LOGITS_PASS).enumerate() {
            let logits = session.feed(chunk, Positions::All)?;
            for row in 0..chunk.len() {
                let position = chunk_index * ROWS_PER_LOGITS_PASS + row + 1;
                let Some(values) = logits.row(row) else { break };
                let mut values = values.to_vec();
                if judge(&mut replay, position, &mut values, (output, penalties), tolerance) {
                    return Ok(replay);
                }
            }
        }
        Ok(replay)
    }
}

impl Model {
    /// A session over `prompt` with room for `output` after it, the prompt fed in chunks as
    /// serving prefills it (so attention over a long sequence never holds more than a chunk's
    /// rows at once), and the logits of its last position: what predicts `output[0]`.
    ///
    /// # Errors
    /// An empty prompt or output, a sequence longer than the context, or a failed forward pass.
    pub(crate) fn prefilled(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
        adapter: Option<&std::sync::Arc<crate::Adapter>>,
    ) -> Result<(crate::Session<'_>, crate::Logits)> {
        if prompt.is_empty() || output.is_empty() {
            return Err(Error::TooFewTokens { needed: 1, got: 0 });
        }
        let total = prompt.len() + output.len();
        if total > self.context_length() {
            return Err(Error::ContextOverflow {
                prompt_tokens: prompt.len(),
                max_tokens: output.len(),
                context_length: self.context_length(),
            });
        }
        let mut session = self.session_adapted(total, adapter.cloned())?;
        let mut last = None;
        for chunk in prompt.chunks(ROWS_PER_LOGITS_PASS) {
            last = Some(session.feed(chunk, Positions::Last)?);
        }
        let last = last.ok_or(Error::TooFewTokens { needed: 1, got: 0 })?;
        Ok((session, last))
    }
}

/// Checks position `position` of `output` against its `logits`; true when the replay departs
/// there (and stops).
fn judge(
    replay: &mut Replay,
    position: usize,
    logits: &mut [f32],
    (output, penalties): (&[TokenId], &Penalties),
    tolerance: f32,
) -> bool {
    replay.tokens += 1;
    penalties.apply(logits, &output[..position]);
    let token = output[position];
    let best = argmax(logits);
    let best_logit = logits.get(best as usize).copied().unwrap_or(f32::NEG_INFINITY);
    let chosen = logits.get(token as usize).copied().unwrap_or(f32::NEG_INFINITY);
    // The token greedy sampling picks is never a departure, even where the logits are not
    // finite (an adapter that overflows the forward pass): the answer is what the model gives.
    let gap = if token == best { 0.0 } else { best_logit - chosen };
    if gap.is_nan() || gap > tolerance {
        replay.departure = Some(Departure {
            position,
            token,
            best,
            gap: if gap.is_nan() { f32::INFINITY } else { gap },
        });
        return true;
    }
    replay.max_gap = replay.max_gap.max(gap);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits that are all NaN (a forward pass an adapter overflowed): greedy sampling takes
    /// token 0, and an answer of token 0 is not a departure.
    #[test]
    fn the_greedy_token_of_non_finite_logits_is_not_a_departure() {
        let mut replay = Replay { tokens: 0, max_gap: 0.0, departure: None };
        let mut logits = vec![f32::NAN; 4];
        assert!(!judge(&mut replay, 0, &mut logits, (&[0], &Penalties::NONE), 1.0));
        let mut logits = vec![f32::NAN; 4];
        assert!(judge(&mut replay, 0, &mut logits, (&[2], &Penalties::NONE), 1.0));
    }
}
