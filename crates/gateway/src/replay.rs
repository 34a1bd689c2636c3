//! What a receipt records so its answer can be checked, and the juror that checks it: a
//! validator deciding a dispute (`alx_types::dispute`) re-runs the request as this gateway ran
//! it, through the same code (retrieval, prompt, attribution rule), and replays a greedy
//! answer on the same weights.
//!
//! ```text
//! attribution claim: every datanet version indexed here (else abstain)
//!   retrieval re-run for the request's query → the receipt's citations, in order (else guilty)
//!   spans of the output + citations → shares → credits of the leaf's fee (attribution rule)
//!   every credit of the leaf names a contribution the rule credits, for no more than the
//!   rule gives (a contribution flagged since may be credited: the chain pays its credit to
//!   the original or the protection fund) → innocent, else guilty
//! generation claim: the base weights served here (else abstain)
//!   prompt rebuilt from the request and the retrieval → as many tokens as the receipt charged
//!   output tokens as many as charged; their text begins with the receipt's output
//!   each output token within REPLAY_TOLERANCE_MILLI of the best logit (penalties applied)
//!   → innocent, else guilty
//! ```

use crate::{
    Gateway, attribution,
    backend::ServedModel,
    core::Input,
    infer::{render_prompt, retrieval_query},
};
use alx_attribution::rule::Key;
use alx_indexer::Passage;
use alx_model::{GenerateConfig, Message, Penalties, Role, Sampling};
use alx_state::State;
use alx_types::{
    datanet::{ContributionId, DatanetId},
    dispute::{Claim, Dispute, REPLAY_TOLERANCE_MILLI},
    model::ModelSpec,
    usage::Credit,
    usage_api::{InputMessage, PenaltiesMilli, RequestInput, UsageReceipt},
};
use std::collections::BTreeMap;

/// `POST /api/disputes/judge`: this node's decision on a dispute, by the rule its validator
/// votes with (filed or not: an auditor asks before it escrows a challenge bond). One at a
/// time: a busy juror answers 429.
pub(crate) async fn judge_handler(
    axum::extract::State(g): axum::extract::State<std::sync::Arc<Gateway>>,
    body: Result<axum::Json<Dispute>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<alx_types::dispute::JudgeResponse>, crate::GatewayError> {
    let dispute =
        body.map(|axum::Json(d)| d).map_err(|e| crate::GatewayError::bad(e.body_text(), None))?;
    let Ok(permit) = g.judging.clone().try_acquire_owned() else {
        return Err(crate::GatewayError::Busy(1));
    };
    let judged = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // Unfiled: judged against the settlement while its window is open.
        let committed = g.chain.committed();
        let record = committed.state.settlement_record(&dispute.provider, dispute.first_receipt);
        match record {
            Ok(Some(r)) => g.judge(&dispute, (r.root, r.receipts)),
            _ => Judgement::Abstain("the settlement is not open to challenge".into()),
        }
    })
    .await
    .map_err(|e| crate::GatewayError::Internal(format!("the juror failed: {e}")))?;
    Ok(axum::Json(judged.into()))
}

impl From<Judgement> for alx_types::dispute::JudgeResponse {
    fn from(j: Judgement) -> Self {
        let (verdict, detail) = match j {
            Judgement::Guilty(d) => ("guilty", Some(d)),
            Judgement::Innocent => ("innocent", None),
            Judgement::Abstain(d) => ("abstain", Some(d)),
        };
        Self { verdict: verdict.into(), detail }
    }
}

/// A juror's decision on a dispute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The receipt does what the claim says: the provider is guilty.
    Guilty(String),
    /// The receipt holds up.
    Innocent,
    /// This node cannot decide (weights or datanet versions it does not hold).
    Abstain(String),
}

/// The request as a receipt records it.
pub(crate) fn recorded_input(input: &Input) -> RequestInput {
    match input {
        Input::Chat(messages) => RequestInput::Chat {
            messages: messages
                .iter()
                .map(|m| InputMessage {
                    role: m.role.as_str().to_owned(),
                    content: m.content.clone(),
                })
                .collect(),
        },
        Input::Completion { prompt, retrieval } => {
            RequestInput::Completion { prompt: prompt.clone(), retrieval: *retrieval }
        }
        Input::Embeddings(_) => RequestInput::None,
    }
}

/// The request a receipt records (`None`: nothing to replay, or an unknown role).
fn replayed_input(input: &RequestInput) -> Option<Input> {
    match input {
        RequestInput::None => None,
        RequestInput::Chat { messages } => {
            let messages = messages
                .iter()
                .map(|m| Some(Message::new(Role::from_name(&m.role)?, m.content.clone())))
                .collect::<Option<Vec<_>>>()?;
            Some(Input::Chat(messages))
        }
        RequestInput::Completion { prompt, retrieval } => {
            Some(Input::Completion { prompt: prompt.clone(), retrieval: *retrieval })
        }
    }
}

fn milli(x: f32) -> Option<i32> {
    let m = (x * 1000.0).round();
    #[allow(clippy::cast_possible_truncation)]
    let m = m as i32;
    #[allow(clippy::cast_precision_loss)]
    let exact = (m as f32 / 1000.0) == x;
    exact.then_some(m)
}

/// Whether an answer generated under `config` can be replayed: greedy, with penalties a
/// receipt records exactly (`Some(None)`: none; `Some(Some(p))`: these; `None`: not
/// replayable).
pub(crate) fn replayable(config: &GenerateConfig) -> Option<Option<PenaltiesMilli>> {
    if config.sampling != Sampling::Greedy {
        return None;
    }
    let p = &config.penalties;
    if p.is_none() {
        return Some(None);
    }
    Some(Some(PenaltiesMilli {
        frequency: milli(p.frequency)?,
        presence: milli(p.presence)?,
        repetition: u32::try_from(milli(p.repetition)?).ok()?,
        window: u32::try_from(p.window).ok()?,
    }))
}

/// The penalties a receipt records, as the model applies them.
#[allow(clippy::cast_precision_loss)]
fn penalties(p: Option<PenaltiesMilli>) -> Penalties {
    p.map_or(Penalties::NONE, |p| Penalties {
        frequency: p.frequency as f32 / 1000.0,
        presence: p.presence as f32 / 1000.0,
        repetition: p.repetition as f32 / 1000.0,
        window: p.window as usize,
    })
}

/// Whether `credited` stays within `expected` (the rule's credits): every credit names a
/// contribution the rule credits, for no more than the rule gives, or one `flagged` (whose
/// credit the chain pays to its original). The receipt may name fewer. `Err` says what breaks.
///
/// # Errors
/// The first credit that breaks the rule.
pub fn credits_within(
    expected: &[Credit],
    credited: &[Credit],
    flagged: impl Fn(Key) -> bool,
) -> Result<(), String> {
    let rule: BTreeMap<Key, u128> =
        expected.iter().map(|c| ((c.datanet.0, c.contribution.0), c.amount.0)).collect();
    for c in credited {
        let key = (c.datanet.0, c.contribution.0);
        let allowed = rule.get(&key).copied();
        if allowed.is_some_and(|a| c.amount.0 <= a) || (allowed.is_none() && flagged(key)) {
            continue;
        }
        return Err(format!(
            "credits {} to contribution {}:{} where the rule gives {}",
            c.amount,
            c.datanet,
            c.contribution,
            allowed.unwrap_or(0)
        ));
    }
    Ok(())
}

impl Gateway {
    /// Decides `dispute` of the settlement with receipt root `root` over `receipts` receipts,
    /// as a juror (blocking: model work; run it off the async threads).
    #[must_use]
    pub fn judge(&self, dispute: &Dispute, (root, receipts): (alx_types::Hash, u32)) -> Judgement {
        let committed = self.chain.committed();
        let state = &committed.state;
        let receipt = match dispute.admissible(&root, dispute.first_receipt, receipts) {
            Ok(r) => r,
            Err(e) => return Judgement::Abstain(format!("not admissible: {e}")),
        };
        // The leaf the chain settled names this model (`admissible` holds them equal).
        let Some(model) = state.model(receipt.body.model).ok().flatten() else {
            return Judgement::Abstain(format!("model {} is unknown", receipt.body.model));
        };
        // A model's datanet versions never change: a receipt naming others lies about them.
        if receipt.body.datanets != model.spec.datanets {
            return Judgement::Guilty(
                "the receipt names datanet versions the model does not draw on".into(),
            );
        }
        let spec = model.spec;
        if let Some(d) =
            spec.datanets.iter().find(|d| self.indexes.indexed_version(d.datanet) < d.version)
        {
            return Judgement::Abstain(format!(
                "datanet {} version {} is not indexed here",
                d.datanet, d.version
            ));
        }
        let input = replayed_input(&receipt.body.input);
        if input.is_none() && !receipt.body.citations.is_empty() {
            return Judgement::Guilty("citations without the request they answer".into());
        }
        let passages = input
            .as_ref()
            .and_then(retrieval_query)
            .map(|q| attribution::retrieve(&self.indexes, &spec, q))
            .unwrap_or_default();
        let retrieved: Vec<Key> = passages.iter().map(|(d, p)| (d.0, p.contribution.0)).collect();
        let cited: Vec<Key> =
            receipt.body.citations.iter().map(|c| (c.datanet.0, c.contribution.0)).collect();
        // Credits may come from influence alone (it needs no index): they do not count here.
        let attributed_nothing = cited.is_empty()
            && receipt.body.span_shares.is_empty()
            && (receipt.body.credits.is_empty() || !receipt.body.influence.is_empty());
        if retrieved != cited && attributed_nothing {
            // What a node serves while its index is behind the model's versions: no passages,
            // no spans. Not provably a lie, so no vote (docs/design/disputes.md), unless its
            // influence scores are not those of the prompt it says it ran (without passages).
            if dispute.claim == Claim::Attribution
                && let Err(Judgement::Guilty(why)) =
                    self.judge_influence(state, &receipt, &spec, (input.as_ref(), &[]))
            {
                return Judgement::Guilty(why);
            }
            return Judgement::Abstain("the receipt attributes nothing from the index".into());
        }
        if retrieved != cited {
            return Judgement::Guilty(format!(
                "the retrieval gives {retrieved:?}, the receipt cites {cited:?}"
            ));
        }
        match dispute.claim {
            Claim::Attribution => {
                self.judge_attribution(state, dispute, &receipt, &spec, (input.as_ref(), &passages))
            }
            Claim::Generation => {
                let Some(input) = input else {
                    return Judgement::Guilty("a greedy answer without its request".into());
                };
                let served = match self.backend.model(&spec) {
                    Ok(Some(m)) => m,
                    Ok(None) => return Judgement::Abstain("the base weights are not here".into()),
                    Err(e) => return Judgement::Abstain(format!("the base weights: {e}")),
                };
                judge_generation(served.as_ref(), &receipt, &input, &passages)
            }
            // `admissible` refuses it above; a flag is judged by the node's indexes.
            Claim::Flag => Judgement::Abstain("a flag is not a receipt claim".into()),
        }
    }

    fn judge_attribution(
        &self,
        state: &State,
        dispute: &Dispute,
        receipt: &UsageReceipt,
        spec: &ModelSpec,
        (input, passages): (Option<&Input>, &[(DatanetId, Passage)]),
    ) -> Judgement {
        if let Some(d) = spec.datanets.iter().find(|d| state.flag_lifted_in(d.datanet)) {
            return Judgement::Abstain(format!(
                "a near-duplicate flag of datanet {} was lifted: receipts served while it stood \
                 left the copy out of their spans",
                d.datanet
            ));
        }
        if let Err(verdict) = self.judge_influence(state, receipt, spec, (input, passages)) {
            return verdict;
        }
        let influence = match attribution::influence_part(&receipt.body.influence) {
            Ok(part) => part,
            Err(e) => return Judgement::Guilty(e),
        };
        let spans = attribution::span_shares(&self.indexes, state, spec, &receipt.body.output);
        let shares = attribution::combine(passages, &spans, &influence);
        let expected =
            attribution::credits(state, receipt.body.model, spec, dispute.leaf.fee, &shares);
        let flagged = |(d, c): Key| {
            state
                .contribution(DatanetId(d), ContributionId(c))
                .ok()
                .flatten()
                .is_some_and(|c| c.copy_of.is_some())
        };
        match credits_within(&expected, &dispute.leaf.credits, flagged) {
            Ok(()) => Judgement::Innocent,
            Err(detail) => Judgement::Guilty(detail),
        }
    }

    /// Whether the receipt's influence scores are the answer's, recomputed here within
    /// `INFLUENCE_TOLERANCE` (an adapter model's only: the others record none). `Err` is the
    /// verdict when they are not, or when this node cannot tell.
    fn judge_influence(
        &self,
        state: &State,
        receipt: &UsageReceipt,
        spec: &ModelSpec,
        (input, passages): (Option<&Input>, &[(DatanetId, Passage)]),
    ) -> Result<(), Judgement> {
        let recorded = &receipt.body.influence;
        let Some(input) = input.filter(|_| spec.adapter.is_some()) else {
            return if recorded.is_empty() {
                Ok(())
            } else {
                Err(Judgement::Guilty("influence recorded for an answer that has none".into()))
            };
        };
        let served = match self.backend.model(spec) {
            Ok(Some(m)) => m,
            Ok(None) => return Err(Judgement::Abstain("the base weights are not here".into())),
            Err(e) => return Err(Judgement::Abstain(format!("the adapter model: {e}"))),
        };
        let Ok(prompt) = render_prompt(served.as_ref(), input, passages) else {
            return Err(Judgement::Guilty("its request gives no prompt".into()));
        };
        match served.influence(&prompt, &receipt.body.output_tokens) {
            Ok(all) => {
                let recomputed = attribution::of_versions(state, spec, &all);
                crate::influence::influence_within(recorded, &recomputed)
                    .map_err(|e| Judgement::Guilty(format!("its influence scores: {e}")))
            }
            Err(e) => {
                Err(Judgement::Abstain(format!("the influence could not be recomputed: {e}")))
            }
        }
    }
}

fn judge_generation(
    model: &dyn ServedModel,
    receipt: &UsageReceipt,
    input: &Input,
    passages: &[(DatanetId, Passage)],
) -> Judgement {
    let body = &receipt.body;
    let prompt = match render_prompt(model, input, passages) {
        Ok(p) => p,
        Err(e) => return Judgement::Guilty(format!("its request gives no prompt: {e}")),
    };
    if prompt.len() != body.prompt_tokens as usize {
        return Judgement::Guilty(format!(
            "its request and retrieval give a prompt of {} tokens, the receipt charges {}",
            prompt.len(),
            body.prompt_tokens
        ));
    }
    if prompt.len() + body.output_tokens.len() > model.context_length() {
        return Judgement::Guilty("its prompt and answer do not fit the model's context".into());
    }
    let penalties = penalties(body.penalties);
    if penalties.validate().is_err() {
        return Judgement::Guilty("it records penalties no request may set".into());
    }
    if body.output_tokens.len() != body.completion_tokens as usize {
        return Judgement::Guilty(format!(
            "{} output tokens recorded, {} charged",
            body.output_tokens.len(),
            body.completion_tokens
        ));
    }
    match model.decode(&body.output_tokens) {
        Ok(text) if text.starts_with(&body.output) => {}
        Ok(_) => return Judgement::Guilty("the output is not its tokens' text".into()),
        Err(e) => return Judgement::Guilty(format!("its output tokens: {e}")),
    }
    #[allow(clippy::cast_precision_loss)]
    let tolerance = REPLAY_TOLERANCE_MILLI as f32 / 1000.0;
    match model.replay_greedy(&prompt, &body.output_tokens, &penalties, tolerance) {
        Ok(r) => match r.departure {
            None => Judgement::Innocent,
            Some(d) => Judgement::Guilty(format!(
                "output token {} is {} where greedy decoding gives {} ({:.2} logits better)",
                d.position, d.token, d.best, d.gap
            )),
        },
        Err(e) => Judgement::Abstain(format!("the replay failed: {e}")),
    }
}
