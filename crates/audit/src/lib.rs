//! The auditor: follows a chain's settlements, fetches each batch its provider published, and
//! checks everything it can without trusting anyone:
//!
//! 1. The published leaves rebuild the settlement's receipt root.
//! 2. Every leaf charges no more than its signed receipt and settles its tokens and credits.
//! 3. Every fee is within the tokens at the model's price recorded for the settlement's window.
//! 4. Every receipt's attribution, re-derived from its citations and the spans of its output
//!    against the datanet versions (`POST /api/attribution` and the credit rule of
//!    `alx_attribution::rule`), gives the shares and credits the receipt names.
//!
//! 5. A sampled share of greedy answers is replayed, and every attribution finding (and a
//!    sampled share of receipts recording influence scores, which only the adapter's weights
//!    recompute) is put to the juror rule the validators vote with (`POST /api/disputes/judge` on the auditor's own
//!    node: the request re-run, the attribution recomputed, the answer replayed on the same
//!    weights).
//!
//! What the chain can check by itself becomes a [`Challenge`] ready to file; what the juror
//! rule finds guilty becomes a [`Dispute`] ready to file (it escrows a challenge bond, lost if
//! the validators disagree); an unpublished batch becomes a [`Demand`] that the provider open
//! its first receipt on chain or be slashed. Unmatched batches are reported as findings. The
//! caller files challenges and disputes (the CLI signs them), so this crate holds no key.

#![forbid(unsafe_code)]

mod attribution;

pub use attribution::{Rederived, rederive};

use alx_client::{Client, ClientError};
use alx_types::{
    Address, Hash, TxStatus,
    api::PayloadJson,
    challenge::{Challenge, Evidence, fee_cap},
    dispute::{Claim, Dispute},
    hash::to_hex,
    settled::{LeafProof, root},
    usage::Settlement,
    withheld::Demand,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// Why an audit could not go on (the chain's node failed; findings are not errors).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The node answering for the chain failed.
    #[error("the chain's node: {0}")]
    Chain(#[from] ClientError),
}

/// What one check found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The provider does not publish the batch.
    Unpublished,
    /// The published batch does not match the settlement (its root, range or receipts).
    BatchMismatch {
        /// The stable code (`alx_types::settled_batch::BatchError::code`).
        code: String,
        /// What differs.
        detail: String,
    },
    /// A leaf charges more than its tokens at the model's price (challenged on chain).
    Overcharge {
        /// The receipt number.
        receipt: u64,
        /// What it charged.
        fee: String,
    },
    /// The settlement's totals are not the sums of its published leaves, though its root names
    /// their subtrees (challenged on chain).
    InflatedTotals,
    /// A leaf numbered outside the settled range (challenged on chain).
    OutOfRange {
        /// The number it carries.
        receipt: u64,
    },
    /// A receipt whose attribution, re-derived, gives other shares or credits.
    Attribution {
        /// The receipt number.
        receipt: u64,
        /// What differs.
        detail: String,
    },
    /// A greedy answer the replay does not reproduce (disputed).
    Generation {
        /// The receipt number.
        receipt: u64,
        /// What differs.
        detail: String,
    },
}

/// The audit of one settlement.
#[derive(Clone, Debug, Serialize)]
pub struct SettlementAudit {
    /// The settlement transaction.
    pub tx: String,
    /// Its block.
    pub height: u64,
    /// The provider.
    pub provider: Address,
    /// Its first receipt.
    pub first_receipt: u64,
    /// Receipts it settled.
    pub receipts: u32,
    /// Receipts whose leaf was checked against the signed receipt and the price.
    pub receipts_checked: u64,
    /// Receipts whose attribution was re-derived.
    pub attributions_checked: u64,
    /// Greedy answers replayed.
    pub replays: u64,
    /// Whether the settlement is still in its challenge window (challenges can be filed).
    pub challengeable: bool,
    /// What was found wrong.
    pub findings: Vec<Finding>,
    /// Challenges the chain will uphold, ready to file (at most one per settlement: a slash
    /// closes the settlement).
    #[serde(skip)]
    pub challenges: Vec<Challenge>,
    /// Disputes the juror rule upholds, ready to file (at most one per settlement, and none
    /// when a challenge is ready: one slash takes the whole bond).
    #[serde(skip)]
    pub disputes: Vec<Dispute>,
    /// Demands that the provider open a receipt it did not publish, ready to file (its first;
    /// one per settlement).
    #[serde(skip)]
    pub demands: Vec<Demand>,
}

/// Where batches are published: the provider's node, else the default node.
#[derive(Clone, Debug, Default)]
pub struct Publishers {
    /// Per provider, its node's API.
    pub by_provider: BTreeMap<Address, String>,
    /// Everyone else's.
    pub default: String,
}

impl Publishers {
    fn client(&self, provider: &Address) -> Client {
        Client::new(self.by_provider.get(provider).unwrap_or(&self.default))
    }
}

/// What to check beyond the batch itself.
#[derive(Clone, Copy, Debug)]
pub struct AuditOptions {
    /// Re-derive every receipt's attribution (one `POST /api/attribution` per datanet and
    /// receipt).
    pub attribution: bool,
    /// The share of greedy answers replayed, in basis points (each a forward pass on the
    /// auditor's node). Which ones is decided by the receipt id, so no provider can tell.
    pub replay_bps: u32,
}

/// The settlements committed in block `height`, successful ones only, with their tx hashes.
pub fn settlements_at(
    chain: &Client,
    height: u64,
) -> Result<Vec<(String, Address, Settlement)>, AuditError> {
    let block = chain.block(&height.to_string())?;
    Ok(block
        .txs
        .into_iter()
        .filter(|t| t.receipt.status == TxStatus::Success)
        .filter_map(|t| match t.tx.payload {
            PayloadJson::Settle { settlement } => Some((t.tx.hash, t.tx.sender, settlement)),
            _ => None,
        })
        .collect())
}

/// Audits one committed settlement.
pub fn audit_settlement(
    chain: &Client,
    publishers: &Publishers,
    options: AuditOptions,
    (tx, height, provider, settlement): (&str, u64, Address, &Settlement),
) -> Result<SettlementAudit, AuditError> {
    let mut audit = SettlementAudit {
        tx: tx.to_owned(),
        height,
        provider,
        first_receipt: settlement.first_receipt,
        receipts: settlement.receipts,
        receipts_checked: 0,
        attributions_checked: 0,
        replays: 0,
        challengeable: false,
        findings: Vec::new(),
        challenges: Vec::new(),
        disputes: Vec::new(),
        demands: Vec::new(),
    };
    let batch =
        match publishers.client(&provider).settled_batch(&provider, settlement.first_receipt) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                audit.findings.push(Finding::Unpublished);
                audit.challengeable =
                    chain.settlement_record(&provider, settlement.first_receipt).is_ok();
                if audit.challengeable {
                    audit.demands.push(Demand {
                        provider,
                        first_receipt: settlement.first_receipt,
                        number: settlement.first_receipt,
                    });
                }
                return Ok(audit);
            }
            Err(e) => return Err(e.into()),
        };
    let rebuilt = root(&batch.leaves).map(|r| r.digest).ok();
    if batch.provider != provider || rebuilt != Some(settlement.receipts_root) {
        // The leaves may be the settlement's own children under totals they do not add up to
        // (a provider that inflated its charges): the opened children prove it on chain.
        if let Some(challenge) = inflated(&batch.leaves, provider, settlement) {
            audit.findings.push(Finding::InflatedTotals);
            audit.challengeable =
                chain.settlement_record(&provider, settlement.first_receipt).is_ok();
            if audit.challengeable {
                audit.challenges.push(challenge);
            }
            return Ok(audit);
        }
        audit.findings.push(Finding::BatchMismatch {
            code: "batch_root_mismatch".into(),
            detail: "the published leaves do not rebuild the settlement's receipt root".into(),
        });
        return Ok(audit);
    }
    // The chain's own record of the window: the prices a challenge is judged by.
    let record = match chain.settlement_record(&provider, settlement.first_receipt) {
        Ok(r) => Some(r),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    // Without the record (the window closed), the model's current price stands in: the
    // finding is reported, nothing can be filed.
    let current = chain.models().unwrap_or_default();
    let prices = |model| match &record {
        Some(r) => {
            r.prices.iter().find(|p| p.model == model).map(|p| (p.input_per_1k, p.output_per_1k))
        }
        None => current
            .iter()
            .find(|m| m.id == model)
            .map(|m| (m.spec.price_input_per_1k, m.spec.price_output_per_1k)),
    };
    let end = settlement.first_receipt.saturating_add(u64::from(settlement.receipts));
    for (i, leaf) in batch.leaves.iter().enumerate() {
        audit.receipts_checked += 1;
        let outside = !(settlement.first_receipt..end).contains(&leaf.number);
        let over = !leaf.fee.is_zero()
            && prices(leaf.model)
                .is_none_or(|(input, output)| leaf.fee.0 > fee_cap(leaf, input, output));
        if !(outside || over) {
            continue;
        }
        audit.findings.push(if outside {
            Finding::OutOfRange { receipt: leaf.number }
        } else {
            Finding::Overcharge { receipt: leaf.number, fee: leaf.fee.to_string() }
        });
        // The path is built only for a leaf found wrong (each costs a pass over the tree), and
        // the evidence filed only if the chain's own rule upholds it.
        let Some(proof) = LeafProof::of(&batch.leaves, i) else { continue };
        let evidence = Evidence::Leaf { leaf: leaf.clone(), proof };
        let upheld = evidence.holds(
            &provider,
            &settlement.receipts_root,
            settlement.first_receipt,
            settlement.receipts,
            prices,
        );
        if record.is_some() && upheld && audit.challenges.is_empty() {
            audit.challenges.push(Challenge {
                provider,
                first_receipt: settlement.first_receipt,
                evidence,
            });
        }
    }
    audit.challengeable = record.is_some();
    if let Err(e) = batch.check(settlement) {
        audit
            .findings
            .push(Finding::BatchMismatch { code: e.code().into(), detail: e.to_string() });
    }
    for receipt in &batch.receipts {
        // A replay first: an answer the model did not give is the graver wrong (its
        // attribution is then wrong too).
        let mut claims = Vec::new();
        if receipt.body.greedy
            && !receipt.body.output_tokens.is_empty()
            && sampled(receipt, options.replay_bps)
        {
            claims.push(Claim::Generation);
        }
        // Influence scores the rule takes as recorded: only the juror, holding the adapter,
        // recomputes them (a backward pass, so sampled like a replay).
        let mut influence_claim = false;
        if options.attribution {
            audit.attributions_checked += 1;
            if let Some(detail) = attribution::recheck(chain, receipt)? {
                audit.findings.push(Finding::Attribution { receipt: receipt.body.number, detail });
                claims.push(Claim::Attribution);
            } else if !receipt.body.influence.is_empty() && sampled(receipt, options.replay_bps) {
                influence_claim = true;
                claims.push(Claim::Attribution);
            }
        }
        for claim in claims {
            let ready =
                record.is_some() && audit.challenges.is_empty() && audit.disputes.is_empty();
            if claim == Claim::Generation {
                audit.replays += 1;
            } else if !ready {
                continue;
            }
            let Some(dispute) = dispute_of(&batch.leaves, provider, settlement, receipt, claim)
            else {
                continue;
            };
            let judged = match chain.judge(&dispute) {
                Ok(j) => j,
                Err(e) if e.is_not_found() => continue, // a node without a juror
                Err(e) => return Err(e.into()),
            };
            if !judged.is_guilty() {
                continue;
            }
            let (receipt_number, detail) =
                (receipt.body.number, judged.detail.clone().unwrap_or_default());
            if claim == Claim::Generation {
                audit.findings.push(Finding::Generation { receipt: receipt_number, detail });
            } else if influence_claim {
                audit.findings.push(Finding::Attribution { receipt: receipt_number, detail });
            }
            if ready {
                audit.disputes.push(dispute);
            }
        }
    }
    Ok(audit)
}

/// Whether `receipt` is among the `bps` share replayed: by its id, which no provider chooses
/// freely (it hashes the whole receipt).
fn sampled(receipt: &alx_types::usage_api::UsageReceipt, bps: u32) -> bool {
    let draw =
        u32::from_be_bytes([receipt.id.0[0], receipt.id.0[1], receipt.id.0[2], receipt.id.0[3]]);
    u64::from(draw % 10_000) < u64::from(bps)
}

/// A dispute of `receipt` in the batch of `leaves` (`None` if no leaf is the receipt's).
fn dispute_of(
    leaves: &[alx_types::settled::SettledReceipt],
    provider: Address,
    settlement: &Settlement,
    receipt: &alx_types::usage_api::UsageReceipt,
    claim: Claim,
) -> Option<Dispute> {
    let index = leaves.iter().position(|l| l.id == receipt.id)?;
    Some(Dispute {
        provider,
        first_receipt: settlement.first_receipt,
        leaf: leaves[index].clone(),
        proof: LeafProof::of(leaves, index)?,
        receipt: serde_json::to_string(receipt).ok()?,
        claim,
    })
}

/// A challenge of a settlement whose root's children are those of `leaves` but whose totals
/// are not their sums (`None` otherwise).
fn inflated(
    leaves: &[alx_types::settled::SettledReceipt],
    provider: Address,
    settlement: &Settlement,
) -> Option<Challenge> {
    use alx_types::challenge::{Opening, root_children};
    let children = root_children(leaves)?;
    if [children[0].digest(), children[1].digest()] != settlement.receipts_children {
        return None;
    }
    let opening = Opening {
        left: settlement.receipts_children[0],
        right: settlement.receipts_children[1],
        totals: settlement.totals(),
    };
    let evidence = Evidence::Sums { path: vec![opening], children: Box::new(children) };
    evidence
        .holds(
            &provider,
            &settlement.receipts_root,
            settlement.first_receipt,
            settlement.receipts,
            |_| None,
        )
        .then_some(Challenge { provider, first_receipt: settlement.first_receipt, evidence })
}

/// The audit of a range of blocks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditReport {
    /// First block read.
    pub from: u64,
    /// Last block read.
    pub to: u64,
    /// Settlements audited.
    pub settlements: u64,
    /// Receipts whose leaf was checked.
    pub receipts_checked: u64,
    /// Receipts whose attribution was re-derived.
    pub attributions_checked: u64,
    /// Greedy answers replayed.
    pub replays: u64,
    /// Settlements with findings, with what was found.
    pub flagged: Vec<SettlementAudit>,
}

/// Audits every settlement committed in blocks `from..=to`; `each` sees every settlement's
/// audit as it is made (to file its challenges, or print it).
pub fn audit_range(
    chain: &Client,
    publishers: &Publishers,
    options: AuditOptions,
    from: u64,
    to: u64,
    mut each: impl FnMut(&SettlementAudit),
) -> Result<AuditReport, AuditError> {
    let mut report = AuditReport { from, to, ..AuditReport::default() };
    for height in from..=to {
        for (tx, provider, settlement) in settlements_at(chain, height)? {
            let audit =
                audit_settlement(chain, publishers, options, (&tx, height, provider, &settlement))?;
            report.settlements += 1;
            report.receipts_checked += audit.receipts_checked;
            report.attributions_checked += audit.attributions_checked;
            report.replays += audit.replays;
            each(&audit);
            if !audit.findings.is_empty() {
                report.flagged.push(audit);
            }
        }
    }
    Ok(report)
}

/// The hex of a hash (for callers printing filed challenges).
#[must_use]
pub fn hex(hash: &Hash) -> String {
    to_hex(hash)
}
