//! The settler: turns this node's receipts into settlement transactions, in receipt order, one
//! in flight at a time, and never stops.
//!
//! Every `settle_interval` it reads the chain's next unsettled receipt number for this node and
//! gathers the receipts from there, as many as fit in one transaction (32 key/model charges, 64
//! contribution credits). Each receipt is checked against the committed state the way the
//! chain will check it: a receipt whose charge the chain would refuse (its key closed or out of
//! allowance, its model retired) is **written off**: it stays in the range (so the range
//! advances), carries no charge and no credit, and is logged and counted
//! (`alx_gateway_receipts_written_off_total`). Credits the chain would refuse are dropped (their
//! share goes to the datanets' owners, as the chain rules).
//!
//! ```text
//! submitted ──committed, range advanced──► done: release the held fees, next batch
//!     │──committed with a failed receipt──► diagnosed (logged, counted), rebuilt, escalating:
//!     │                                      1st failure: without credits
//!     │                                      2nd and later: every receipt written off
//!     └──not in the mempool, not committed──► resubmitted (the node's next free nonce)
//! ```
//!
//! The state can change between building a batch and its block (a revocation closing, a
//! model retired in the same block), so a refusal is expected now and then; the escalation
//! guarantees the range moves on within three attempts whatever the chain says, so a failed
//! settlement never jams this node's payments again.

use crate::{Gateway, meter::lock};
use alx_state::{ContributionStatus, State};
use alx_types::{
    Amount, ErrorCode, Hash,
    block::Height,
    datanet::{ContributionId, DatanetId},
    hash::{ZERO, sha256, to_hex},
    model::ModelId,
    settled::{SettledReceipt, Totals},
    tx::Payload,
    usage::{Credit, SETTLEMENT_CREDITS_MAX, Settlement, UsageOp},
    usage_api::UsageReceipt,
};
use std::{collections::BTreeMap, sync::Arc};

/// How much of a batch to keep, after earlier refusals of the same range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchPolicy {
    /// Charges and credits (the normal case).
    Full,
    /// Charges only: the data shares go to the datanets' owners.
    NoCredits,
    /// Nothing charged: every receipt in the range written off.
    WriteOffAll,
}

impl BatchPolicy {
    const fn after_failures(failures: u32) -> Self {
        match failures {
            0 => Self::Full,
            1 => Self::NoCredits,
            _ => Self::WriteOffAll,
        }
    }
}

/// A settlement ready to sign, with what it covers.
#[derive(Debug)]
pub struct Batch {
    /// The transaction payload.
    pub settlement: Settlement,
    /// What it settles per receipt (published with the receipts).
    pub leaves: Vec<SettledReceipt>,
    /// Receipts settled without a charge: (number, fee, why).
    pub written_off: Vec<(u64, Amount, &'static str)>,
}

/// Why the chain would refuse a receipt's charge, if it would.
fn refusal(state: &State, r: &UsageReceipt, charged_on_key: Amount) -> Option<&'static str> {
    let model = state.model(r.body.model).ok().flatten();
    if model.is_none_or(|m| m.retired) {
        return Some("model retired or unknown");
    }
    let Some(key) = state.api_key(&r.body.key_hash).ok().flatten() else {
        return Some("unknown API key");
    };
    if key.revoked {
        return Some("API key closed");
    }
    if charged_on_key.0.saturating_add(r.body.fee.0) > key.allowance.0 {
        return Some("over the key's allowance");
    }
    None
}

/// Whether the chain would accept a credit: an approved contribution in the version the model
/// names.
fn credit_ok(
    state: &State,
    model_datanets: &[alx_types::model::DatanetVersionRef],
    c: &Credit,
) -> bool {
    let Some(version) = model_datanets.iter().find(|d| d.datanet == c.datanet).map(|d| d.version)
    else {
        return false;
    };
    state.contribution(c.datanet, c.contribution).ok().flatten().is_some_and(|x| {
        x.status == ContributionStatus::Approved && (1..=version).contains(&x.first_version)
    })
}

/// What a settlement settles for receipt `r`: its charge and tokens, and under
/// [`BatchPolicy::Full`] the credits the chain would accept, as long as they fit its own fee's
/// data share (never otherwise with honest receipts); the largest [`SETTLEMENT_CREDITS_MAX`]
/// when one receipt credits more.
fn settled_leaf(state: &State, r: &UsageReceipt, policy: BatchPolicy) -> SettledReceipt {
    let b = &r.body;
    let model = state.model(b.model).ok().flatten();
    // Never more than the tokens cost at the model's price now: a price cut since the request
    // is the provider's loss, never a charge the chain's price record would find too high
    // (the record keeps the highest price of the window, so it is at least this).
    let fee = model.as_ref().map_or(b.fee, |m| {
        b.fee.min(crate::meter::fee(&m.spec, b.prompt_tokens, b.completion_tokens))
    });
    let mut leaf = SettledReceipt {
        number: b.number,
        id: r.id,
        key_hash: b.key_hash,
        model: b.model,
        prompt_tokens: b.prompt_tokens,
        completion_tokens: b.completion_tokens,
        fee,
        credits: Vec::new(),
    };
    if policy != BatchPolicy::Full || fee.is_zero() {
        return leaf;
    }
    let Some(model) = model else { return leaf };
    let mut credits: BTreeMap<(DatanetId, ContributionId), u128> = BTreeMap::new();
    for c in &b.credits {
        if c.model == b.model && credit_ok(state, &model.spec.datanets, c) {
            let e = credits.entry((c.datanet, c.contribution)).or_default();
            *e = e.saturating_add(c.amount.0);
        }
    }
    credits.retain(|_, a| *a > 0);
    let share = alx_attribution::rule::data_share(fee.0, u32::from(model.spec.split.data_bps));
    if credits.values().fold(0u128, |a, c| a.saturating_add(*c)) > share {
        return leaf; // Its share falls to the datanets' owners, as the chain rules.
    }
    if credits.len() > SETTLEMENT_CREDITS_MAX {
        // Kept: the largest (equal amounts: the smaller key); the rest falls to the owners.
        let mut all: Vec<_> = credits.into_iter().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        credits = all.into_iter().take(SETTLEMENT_CREDITS_MAX).collect();
    }
    leaf.credits = credits
        .into_iter()
        .map(|((datanet, contribution), amount)| Credit {
            model: b.model,
            datanet,
            contribution,
            amount: Amount(amount),
        })
        .collect();
    leaf
}

/// Builds the next batch from `receipts` (numbered from `from`, in order), or `None` when there
/// is none. Its leaves are what it settles per receipt; its totals are their sums.
#[must_use]
pub fn next_batch(
    state: &State,
    from: u64,
    receipts: &[UsageReceipt],
    policy: BatchPolicy,
) -> Option<Batch> {
    let mut leaves: Vec<SettledReceipt> = Vec::new();
    let mut totals = Totals::default();
    // What the provider's bond still lets it put at risk: a batch stops before it, and the
    // rest waits for earlier settlements' windows to close (a refusal would only write
    // receipts off).
    let bond = state.provider_bond(&receipts.first()?.body.provider).unwrap_or_default();
    let capacity = bond.amount.0.saturating_sub(bond.at_risk.0);
    let mut per_key: BTreeMap<Hash, Amount> = BTreeMap::new();
    let mut written_off = Vec::new();
    for r in receipts {
        let number = from + leaves.len() as u64;
        if r.body.number != number {
            break; // A gap: the store lost a receipt; settle up to it.
        }
        let on_key = per_key.get(&r.body.key_hash).copied().unwrap_or_default();
        let why = match policy {
            BatchPolicy::WriteOffAll => Some("written off after repeated refusals"),
            _ => refusal(state, r, on_key),
        };
        // A fee larger than the whole bond could never settle, and would hold every later
        // receipt behind it: written off.
        let why = why.or_else(|| {
            (r.body.fee.0 > bond.amount.0).then_some("fee above the provider's whole bond")
        });
        let leaf = match why {
            Some(_) => SettledReceipt::written_off(number, r.id, r.body.key_hash, r.body.model),
            None => settled_leaf(state, r, policy),
        };
        // A leaf alone always fits (one charge, at most the credits a settlement holds); one
        // that would pass the limits starts the next batch.
        let Some(next) = leaf.totals().and_then(|t| totals.add(&t)) else { break };
        if next.fee() > capacity {
            if leaves.is_empty() {
                tracing::warn!(
                    receipt = number,
                    "the provider bond's cap for this epoch is reached: settlement waits for the next epoch (bond more to settle more)"
                );
            }
            break;
        }
        totals = next;
        if let Some(why) = why {
            written_off.push((number, r.body.fee, why));
        } else {
            per_key.insert(r.body.key_hash, Amount(on_key.0.saturating_add(r.body.fee.0)));
        }
        leaves.push(leaf);
    }
    let root = alx_types::settled::root(&leaves).ok()?;
    Some(Batch { settlement: Settlement::from_root(from, root), leaves, written_off })
}

/// A settlement submitted and not yet seen committed.
#[derive(Debug)]
struct InFlight {
    tx: Hash,
    first: u64,
    end: u64,
    settlement: Settlement,
    written_off: Vec<(u64, Amount, &'static str)>,
    submitted_at: Height,
}

/// Whether a refusal is about the settlement's content (then the next attempt may leave more
/// out) or about the transaction around it (a nonce taken, the node unable to pay the fee: the
/// same settlement is simply submitted again).
#[must_use]
pub const fn escalates(code: ErrorCode) -> bool {
    code.fee_charged()
}

/// Most receipts in one settlement.
pub const RECEIPTS_PER_BATCH_MAX: usize = alx_types::usage::SETTLEMENT_RECEIPTS_MAX;

/// A settlement not seen in the mempool nor committed for this many blocks is considered
/// dropped, and submitted again.
const LOST_AFTER_BLOCKS: u64 = 10;

/// A settlement still neither committed nor refused this many blocks after it was submitted
/// (held in the mempool behind a nonce that will never come, say) is given up, with a log
/// line, and the range submitted again: the chain refuses a settlement whose range has moved,
/// so the old one can never settle twice.
pub const STUCK_AFTER_BLOCKS: u64 = 100;

/// The settler's memory between rounds.
#[derive(Debug, Default)]
pub struct Settler {
    in_flight: Option<InFlight>,
    /// Content refusals of the batch starting at `failures_at`, and the last batch refused.
    failures: u32,
    failures_at: u64,
    refused: Option<Settlement>,
    /// Receipts below this number are no longer held in the meter.
    released: Option<u64>,
    /// Demands answered (first receipt, number), with the height the answer was sent at.
    pub(crate) answered: std::collections::BTreeMap<(u64, u64), alx_types::Height>,
}

impl Settler {
    /// One round: releases what the chain settled, follows up the settlement in flight, then
    /// submits the next batch if none is in flight. Returns the hash of a settlement submitted
    /// in this round.
    pub fn round(&mut self, g: &Gateway) -> Option<Hash> {
        let committed = g.chain.committed();
        let state = &committed.state;
        let height = committed.block.height();
        let from = state.next_receipt(&g.me).ok()?;
        self.release_below(g, from);
        if let Some(f) = self.in_flight.take() {
            if from >= f.end {
                Self::finish(g, &f);
                self.failures = 0;
                self.refused = None;
            } else if let Some(code) = self.refused_code(g, &f) {
                g.stats.note_failed();
                self.note_refusal(code, f);
            } else if height.0 < f.submitted_at.0.saturating_add(LOST_AFTER_BLOCKS)
                || (g.chain.mempool_contains(&f.tx)
                    && height.0 < f.submitted_at.0.saturating_add(STUCK_AFTER_BLOCKS))
            {
                self.in_flight = Some(f);
                return None; // Still on its way.
            } else if g.chain.mempool_contains(&f.tx) {
                tracing::warn!(first = f.first, tx = %to_hex(&f.tx), blocks = STUCK_AFTER_BLOCKS, "settlement stuck in the mempool; giving it up and submitting the range again");
            } else {
                tracing::warn!(first = f.first, tx = %to_hex(&f.tx), "settlement lost (neither waiting nor committed); submitting again");
            }
        }
        if from != self.failures_at {
            self.failures = 0;
            self.refused = None;
        }
        let batch = self.build(g, state, from)?;
        let end = from + u64::from(batch.settlement.receipts);
        let settlement = batch.settlement.clone();
        let payload = Payload::Usage(UsageOp::Settle(Box::new(batch.settlement)));
        match g.chain.submit_own(&g.key, payload) {
            Ok(tx) => {
                // Published as it is submitted, long before its block: a settlement whose leaves
                // nobody can fetch could not be checked.
                if let Err(e) = g.receipts.put_batch(from, tx, &batch.leaves) {
                    tracing::error!(err = %e, first = from, "cannot store the settled batch; it will not be published");
                }
                tracing::info!(from, end, tx = %to_hex(&tx), written_off = batch.written_off.len(), "settlement submitted");
                g.stats.note_submitted();
                self.in_flight = Some(InFlight {
                    tx,
                    first: from,
                    end,
                    settlement,
                    written_off: batch.written_off,
                    submitted_at: height,
                });
                Some(tx)
            }
            Err(e) => {
                tracing::warn!(err = %e, "settlement not admitted; retrying next round");
                None
            }
        }
    }

    /// The next batch from `from`, with the policy earned by earlier refusals. A receipt whose
    /// file is lost is written off alone (its id unknown, the zero hash stands in its leaf), so
    /// a missing file never stops settlement.
    fn build(&mut self, g: &Gateway, state: &alx_state::State, from: u64) -> Option<Batch> {
        let receipts: Vec<UsageReceipt> = (from..g.receipts.next_number())
            .take(RECEIPTS_PER_BATCH_MAX)
            .map_while(|n| g.receipts.by_number(n))
            .collect();
        if receipts.is_empty() && from < g.receipts.next_number() {
            tracing::error!(receipt = from, "receipt file missing or unreadable: written off");
            let leaf = SettledReceipt::written_off(from, ZERO, ZERO, ModelId(0));
            let root = alx_types::settled::root(std::slice::from_ref(&leaf)).ok()?;
            return Some(Batch {
                settlement: Settlement::from_root(from, root),
                leaves: vec![leaf],
                written_off: vec![(from, Amount::ZERO, "receipt file lost")],
            });
        }
        let mut batch =
            next_batch(state, from, &receipts, BatchPolicy::after_failures(self.failures))?;
        // Rebuilt against the new state, a refused batch usually changes (a retired model's
        // receipts are written off now): then it is tried in full again. Only a batch refused
        // as it stands is pared down, so nobody can force everyone's receipts off by retiring
        // their own model at the right moment.
        if self.refused.as_ref().is_some_and(|r| *r != batch.settlement) && self.failures > 0 {
            self.failures = 0;
            self.refused = None;
            batch = next_batch(state, from, &receipts, BatchPolicy::Full)?;
        }
        Some(batch)
    }

    /// A settlement came back refused: about its content (escalate, unless the state moved
    /// under it), or about the transaction (submit again as is).
    fn note_refusal(&mut self, code: ErrorCode, f: InFlight) {
        if !escalates(code) || matches!(code, ErrorCode::BadReceiptRange | ErrorCode::OverBondCap) {
            // A nonce or fee problem, or a range settled meanwhile (a resubmitted settlement
            // whose first copy committed): nothing about the receipts is wrong.
            tracing::warn!(first = f.first, tx = %to_hex(&f.tx), code = code.as_str(), "settlement transaction refused; building it again");
            return;
        }
        tracing::warn!(first = f.first, end = f.end, tx = %to_hex(&f.tx), code = code.as_str(), failures = self.failures + 1, "settlement refused by the chain; rebuilding it against the new state");
        if f.first == self.failures_at {
            self.failures = self.failures.saturating_add(1);
        } else {
            self.failures_at = f.first;
            self.failures = 1;
        }
        self.refused = Some(f.settlement);
    }

    /// The code of the settlement's failed receipt, if it was committed and failed.
    fn refused_code(&self, g: &Gateway, f: &InFlight) -> Option<ErrorCode> {
        match g.chain.tx_receipt(&f.tx) {
            Ok(Some((_, receipt))) => receipt.error,
            Ok(None) => None,
            Err(e) => {
                tracing::error!(err = %e, "cannot read the settlement's receipt");
                None
            }
        }
    }

    /// Releases from the meter every receipt the chain has moved past (settled or written
    /// off, by whichever settlement): holds follow the chain's range, not the batches, so a
    /// settlement resubmitted after its first copy committed never leaves a hold behind.
    fn release_below(&mut self, g: &Gateway, from: u64) {
        let start = *self.released.get_or_insert(g.unsettled_from());
        if from <= start {
            return;
        }
        let mut meter = lock(&g.meter);
        for n in start..from {
            if let Some(r) = g.receipts.by_number(n) {
                meter.settled(r.body.key_hash, r.body.fee);
            }
        }
        self.released = Some(from);
    }

    fn finish(g: &Gateway, f: &InFlight) {
        let mut total = 0u128;
        for (number, fee, why) in &f.written_off {
            total = total.saturating_add(fee.0);
            tracing::warn!(receipt = number, fee = %fee, why, "receipt written off");
        }
        if !f.written_off.is_empty() {
            g.stats.note_written_off(f.written_off.len() as u64, total);
        }
    }
}

impl Gateway {
    /// Settles forever, every `settle_interval`.
    pub async fn run_settler(self: Arc<Self>) {
        let settler = Arc::new(std::sync::Mutex::new(Settler::default()));
        let mut ticks = tokio::time::interval(self.config.settle_interval);
        loop {
            ticks.tick().await;
            let g = self.clone();
            let s = settler.clone();
            // Reading receipts is file I/O: off the async threads.
            let _ = tokio::task::spawn_blocking(move || {
                let mut settler = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                settler.round(&g);
                settler.answer_demands(&g);
            })
            .await;
        }
    }
}

/// SHA-256 of an API key secret (what the chain stores).
#[must_use]
pub fn key_hash(secret: &str) -> Hash {
    sha256(&[secret.as_bytes()])
}
