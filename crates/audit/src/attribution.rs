//! Re-derives a receipt's attribution: the span part from its output against each datanet
//! version it names (`POST /api/attribution`), the retrieval part from its citations, the
//! influence part from the scores it records (recomputing those takes the adapter's weights:
//! a juror's work, `alx_gateway::influence`), combined and turned into credits by the one rule
//! (`alx_attribution::rule`).

use crate::AuditError;
use alx_attribution::rule::{self, Key};
use alx_client::Client;
use alx_types::{
    Amount,
    attribution_api::AttributionRequest,
    datanet::{ContributionId, DatanetId},
    usage::Credit,
    usage_api::UsageReceipt,
};
use std::collections::BTreeMap;

/// A receipt's attribution re-derived: the span part from its output against each datanet
/// version it names, and the shares combined with its citations by the one rule.
#[derive(Debug)]
pub struct Rederived {
    /// The span part.
    pub spans: BTreeMap<Key, u32>,
    /// The influence part, from the receipt's recorded scores (empty if they name an example
    /// twice).
    pub influence: BTreeMap<Key, u32>,
    /// The combined shares.
    pub shares: BTreeMap<Key, u32>,
    /// Datanet versions the node asked has not indexed (left out of the span part).
    pub missing: Vec<alx_types::model::DatanetVersionRef>,
}

/// Re-derives `r`'s attribution through `chain`'s `POST /api/attribution`.
pub fn rederive(chain: &Client, r: &UsageReceipt) -> Result<Rederived, alx_client::ClientError> {
    let mut reports = Vec::new();
    let mut missing = Vec::new();
    for d in &r.body.datanets {
        let req = AttributionRequest {
            datanet: d.datanet,
            version: Some(d.version),
            text: r.body.output.clone(),
            min_len: None,
        };
        match chain.attribute(&req) {
            Ok(report) => reports.push(report),
            Err(e) if e.is_not_found() => missing.push(*d),
            Err(e) => return Err(e),
        }
    }
    let spans = alx_gateway::attribution::span_weights(&reports);
    let ranked: Vec<Key> =
        r.body.citations.iter().map(|c| (c.datanet.0, c.contribution.0)).collect();
    let influence = alx_gateway::attribution::influence_part(&r.body.influence).unwrap_or_default();
    let shares = rule::combine(&ranked, &spans, &influence);
    Ok(Rederived { spans, influence, shares, missing })
}

/// What differs between the receipt and its re-derived attribution (`None`: nothing).
pub(crate) fn recheck(chain: &Client, r: &UsageReceipt) -> Result<Option<String>, AuditError> {
    if let Err(e) = alx_gateway::attribution::influence_part(&r.body.influence) {
        return Ok(Some(e));
    }
    let Rederived { shares, missing, .. } = rederive(chain, r)?;
    if let Some(d) = missing.first() {
        return Ok(Some(format!(
            "datanet {} version {} is not indexed here",
            d.datanet, d.version
        )));
    }
    let claimed: BTreeMap<Key, u32> =
        r.body.shares.iter().map(|e| ((e.datanet.0, e.contribution.0), e.bps)).collect();
    if shares != claimed {
        return Ok(Some(format!("shares re-derived {shares:?}, receipt names {claimed:?}")));
    }
    // Credits: the data share of the fee split by the shares; the receipt may name fewer (a
    // flagged contribution's), never more or others.
    let model = match chain.model(&r.body.model.to_string()) {
        Ok(m) => m,
        Err(e) if e.is_not_found() => {
            return Ok(Some(format!("model {} is unknown", r.body.model)));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(wrong) = influence_misfits(r, &model.spec) {
        return Ok(Some(wrong));
    }
    let data = rule::data_share(r.body.fee.0, u32::from(model.spec.split.data_bps));
    let expected: Vec<Credit> = rule::credits(data, &shares, |_| false)
        .into_iter()
        .map(|((d, c), amount)| Credit {
            model: r.body.model,
            datanet: DatanetId(d),
            contribution: ContributionId(c),
            amount: Amount(amount),
        })
        .collect();
    Ok(alx_gateway::credits_within(&expected, &r.body.credits, |_| false).err())
}

/// What is wrong with a receipt's influence scores on their face (the juror recomputes them):
/// scores for a model without an adapter, more than a receipt records, or for contributions of
/// datanets the model does not draw on.
fn influence_misfits(r: &UsageReceipt, spec: &alx_types::model::ModelSpec) -> Option<String> {
    let recorded = &r.body.influence;
    if recorded.is_empty() {
        return None;
    }
    if spec.adapter.is_none() {
        return Some("influence scores for a model without an adapter".into());
    }
    if recorded.len() > alx_types::usage_api::INFLUENCE_RECORDED_MAX {
        return Some(format!("{} influence scores, more than a receipt records", recorded.len()));
    }
    recorded.iter().find(|s| !spec.datanets.iter().any(|d| d.datanet == s.datanet)).map(|s| {
        format!(
            "an influence score for contribution {} of datanet {}, which the model does not draw on",
            s.contribution, s.datanet
        )
    })
}
