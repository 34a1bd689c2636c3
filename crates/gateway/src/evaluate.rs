//! `POST /api/evaluate`: scores a registered model on a validator's evaluation items through
//! the code that serves users, so a subnet miner is scored on what users would get
//! (docs/design/evaluation.md):
//!
//! ```text
//! item → the request a user would send (chat: one user message; completion: retrieval on)
//!   retrieval over the model's datanet versions (attribution::retrieve, as serving)
//!   prompt rendered with the passages (infer::render_prompt, as serving)
//!   likelihood of the expected continuation after that prompt (base + adapter)
//!   greedy answer on the serving engine, when asked (configured as a user's greedy request)
//! ```
//!
//! It is free model work, so it answers only its own machine (a loopback peer: the validator
//! beside the node), one request at a time (429 while busy, as the juror), and refuses a model
//! whose datanet versions this node has not indexed rather than scoring it without retrieval.

use crate::{
    Gateway, GatewayError, attribution,
    backend::{GenerationRequest, ServedModel},
    core::{Input, resolve},
    infer::{load, render_prompt, retrieval_query},
};
use alx_model::{Message, Role};
use alx_types::{
    eval_api::{
        EVAL_ANSWER_TOKENS_MARGIN, EVAL_ANSWER_TOKENS_MAX, EvalItem, EvalKind, EvalRequest,
        EvalResponse, EvaluatedItem,
    },
    model::ModelSpec,
};
use axum::extract::{ConnectInfo, State, rejection::JsonRejection};
use std::{net::SocketAddr, sync::Arc};

/// The handler: loopback callers only, one request at a time.
pub(crate) async fn evaluate_handler(
    State(g): State<Arc<Gateway>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Result<axum::Json<EvalRequest>, JsonRejection>,
) -> Result<axum::Json<EvalResponse>, GatewayError> {
    // Canonical: a listener on `[::]` sees an IPv4 caller as `::ffff:127.0.0.1`.
    let local =
        peer.is_some_and(|axum::Extension(ConnectInfo(a))| a.ip().to_canonical().is_loopback());
    if !local {
        return Err(GatewayError::Forbidden(
            "POST /api/evaluate scores models for the validator running beside this node and \
             answers loopback addresses only; run your validator against your own node"
                .into(),
        ));
    }
    let request =
        body.map(|axum::Json(r)| r).map_err(|e| GatewayError::bad(e.body_text(), None))?;
    request.check().map_err(|e| GatewayError::bad(e, Some("items")))?;
    let Ok(permit) = g.evaluating.clone().try_acquire_owned() else {
        return Err(GatewayError::Busy(1));
    };
    let evaluated = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        g.evaluate(&request)
    })
    .await
    .map_err(|e| GatewayError::Internal(format!("the evaluation failed: {e}")))??;
    Ok(axum::Json(evaluated))
}

impl Gateway {
    /// Scores `request`'s items on its model as this gateway serves it (blocking: model work;
    /// run it off the async threads). Bounds are the caller's to check
    /// ([`EvalRequest::check`]).
    ///
    /// # Errors
    /// An unknown model (404); weights this node lacks (404) or cannot load; a datanet version
    /// of the model not indexed here yet (503 `index_behind`).
    pub fn evaluate(&self, request: &EvalRequest) -> Result<EvalResponse, GatewayError> {
        let committed = self.chain.committed();
        let state = &committed.state;
        let unknown = || {
            GatewayError::ModelNotFound(format!(
                "no model {:?} is registered (see GET /v1/models)",
                request.model
            ))
        };
        let id = resolve(state, &request.model)?.ok_or_else(unknown)?;
        // A retired model is served to no one: it is scored as no one's.
        let spec = state.model(id)?.filter(|m| !m.retired).ok_or_else(unknown)?.spec;
        if let Some(d) =
            spec.datanets.iter().find(|d| self.indexes.indexed_version(d.datanet) < d.version)
        {
            return Err(GatewayError::Unavailable {
                message: format!(
                    "datanet {} version {} is not indexed here yet, and the model is served with \
                     retrieval over it; retry once the node's index catches up",
                    d.datanet, d.version
                ),
                code: "index_behind",
            });
        }
        let served = load(self, &spec)?;
        let items = request
            .items
            .iter()
            .map(|item| self.evaluate_item(served.as_ref(), &spec, item))
            .collect::<Result<_, _>>()?;
        Ok(EvalResponse { model: id, items })
    }

    /// One item. What the model itself cannot do (take the item in its context, render a chat,
    /// run the forward pass, give a finite likelihood) is reported in the item's `error`; a
    /// failure of the serving engine (busy, stopped) fails the request: it is the node's.
    fn evaluate_item(
        &self,
        model: &dyn ServedModel,
        spec: &ModelSpec,
        item: &EvalItem,
    ) -> Result<EvaluatedItem, GatewayError> {
        let input = match item.kind {
            EvalKind::Chat => Input::Chat(vec![Message::new(Role::User, item.prompt.clone())]),
            EvalKind::Completion => {
                Input::Completion { prompt: item.prompt.clone(), retrieval: true }
            }
        };
        let passages = retrieval_query(&input)
            .map(|q| attribution::retrieve(&self.indexes, spec, q))
            .unwrap_or_default();
        let mut out = EvaluatedItem {
            prompt_tokens: 0,
            expected_tokens: 0,
            nll: 0.0,
            passages: attribution::citations(&passages),
            answer: None,
            error: None,
        };
        let unscored = |mut out: EvaluatedItem, why: String| {
            out.error = Some(why);
            Ok(out)
        };
        let prompt = match render_prompt(model, &input, &passages) {
            Ok(p) => p,
            Err(e) => return unscored(out, format!("the prompt: {e}")),
        };
        out.prompt_tokens = u32::try_from(prompt.len()).unwrap_or(u32::MAX);
        let expected = match model.encode(&item.expected) {
            Ok(t) if !t.is_empty() => t,
            Ok(_) => return unscored(out, "the expected text has no tokens".into()),
            Err(e) => return unscored(out, format!("the expected text: {e}")),
        };
        // Reported scored or not: the validator spends its token budget on it either way.
        out.expected_tokens = u32::try_from(expected.len()).unwrap_or(u32::MAX);
        let answer_tokens = if item.generate {
            expected.len().saturating_add(EVAL_ANSWER_TOKENS_MARGIN).min(EVAL_ANSWER_TOKENS_MAX)
        } else {
            0
        };
        let room = model.context_length();
        if prompt.len().saturating_add(expected.len().max(answer_tokens)) > room {
            return unscored(
                out,
                format!(
                    "its prompt ({} tokens with the passages) and continuation ({} tokens) do \
                     not fit the model's context of {room}",
                    prompt.len(),
                    expected.len().max(answer_tokens)
                ),
            );
        }
        let scored = match model.continuation(&prompt, &expected) {
            Ok(s) if s.nll_sum.is_finite() => s,
            Ok(_) => {
                return unscored(out, "its likelihood of the expected text is not finite".into());
            }
            Err(e) => return unscored(out, format!("the forward pass: {e}")),
        };
        out.nll = scored.nll_sum;
        if answer_tokens > 0 {
            // What a user's greedy request of that length gets (the node's default penalties).
            let sampling = crate::Sampling {
                max_tokens: i64::try_from(answer_tokens).ok(),
                temperature: Some(0.0),
                ..crate::Sampling::default()
            };
            let config = self.generate_config(&sampling)?;
            let request =
                GenerationRequest { prompt, config, pieces: None, cancel: Arc::default() };
            out.answer = Some(model.generate(request)?.text);
        }
        Ok(out)
    }
}
