//! The settler: turns this node's receipts into settlement transactions, in receipt order,
//! one in flight at a time.
//!
//! Every `settle_interval` it reads the chain's next unsettled receipt number for this node,
//! gathers the receipts from there (as many as fit in one transaction: 32 key/model charges,
//! 64 contribution credits), sums the charges per key and model and the credits per
//! contribution, and signs a `Settle` with the node's key. Charges the committed state can no
//! longer honour (a revoked key, a limit or deposit too small, a retired model) are dropped
//! with their credits before submitting: the provider bears that loss, the payer is never
//! charged beyond what the chain allows, and the receipt range still advances.

use crate::{Gateway, meter::Payer};
use alx_state::State;
use alx_types::{
    Amount, Hash, Transaction,
    hash::sha256,
    merkle::list_root,
    model::ModelId,
    tx::Payload,
    usage::{Charge, Credit, SETTLEMENT_CHARGES_MAX, SETTLEMENT_CREDITS_MAX, Settlement, UsageOp},
    usage_api::UsageReceipt,
};
use std::{collections::BTreeMap, sync::Arc};

/// A settlement ready to sign, with what it covers.
#[derive(Debug)]
pub struct Batch {
    /// The transaction payload.
    pub settlement: Settlement,
    /// What each payer is charged (to release from the meter once it commits).
    pub charged: Vec<(Payer, Amount)>,
}

/// Builds the next batch from receipts `from…`, or `None` when there is none.
pub fn next_batch(state: &State, from: u64, receipts: &[UsageReceipt]) -> Option<Batch> {
    let mut charges: BTreeMap<(Hash, ModelId), Amount> = BTreeMap::new();
    let mut credits: BTreeMap<(ModelId, u64, u64), Amount> = BTreeMap::new();
    let mut ids = Vec::new();
    for r in receipts {
        let mut next_charges = charges.clone();
        let c = next_charges.entry((r.body.key_hash, r.body.model)).or_default();
        *c = Amount(c.0.saturating_add(r.body.fee.0));
        let mut next_credits = credits.clone();
        for credit in &r.body.credits {
            let e = next_credits
                .entry((credit.model, credit.datanet, credit.contribution))
                .or_default();
            *e = Amount(e.0.saturating_add(credit.amount.0));
        }
        if next_charges.len() > SETTLEMENT_CHARGES_MAX
            || next_credits.len() > SETTLEMENT_CREDITS_MAX
        {
            break;
        }
        charges = next_charges;
        credits = next_credits;
        ids.push(r.id);
    }
    if ids.is_empty() {
        return None;
    }
    // Drop what the chain would refuse, so one bad key does not block everyone's settlement.
    let mut per_key: BTreeMap<Hash, Amount> = BTreeMap::new();
    let mut per_payer: BTreeMap<alx_types::Address, Amount> = BTreeMap::new();
    let mut kept: BTreeMap<(Hash, ModelId), Amount> = BTreeMap::new();
    let mut charged = Vec::new();
    for (&(key_hash, model), &amount) in &charges {
        let ok_model = state.model(model).ok().flatten().is_some_and(|m| !m.retired);
        let Some(key) = state.api_key(&key_hash).ok().flatten() else { continue };
        let spent = per_key.get(&key_hash).copied().unwrap_or_default().0 + amount.0;
        let owed = per_payer.get(&key.payer).copied().unwrap_or_default().0 + amount.0;
        let prepaid = state.prepaid(&key.payer).unwrap_or_default();
        if !ok_model
            || key.revoked
            || key.spent.0.saturating_add(spent) > key.limit.0
            || owed > prepaid.0
        {
            tracing::warn!(key = %alx_types::hash::to_hex(&key_hash), model, %amount, "charge dropped: the chain would refuse it");
            continue;
        }
        per_key.insert(key_hash, Amount(spent));
        per_payer.insert(key.payer, Amount(owed));
        kept.insert((key_hash, model), amount);
        charged.push((Payer { key_hash, payer: key.payer }, amount));
    }
    let charged_models: std::collections::BTreeSet<ModelId> =
        kept.keys().map(|(_, m)| *m).collect();
    let settlement = Settlement {
        first_receipt: from,
        receipts: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        receipts_root: list_root(&ids),
        charges: kept
            .into_iter()
            .map(|((key_hash, model), amount)| Charge { key_hash, model, amount })
            .collect(),
        credits: credits
            .into_iter()
            .filter(|((m, _, _), _)| charged_models.contains(m))
            .map(|((model, datanet, contribution), amount)| Credit {
                model,
                datanet,
                contribution,
                amount,
            })
            .collect(),
    };
    Some(Batch { settlement, charged })
}

impl Gateway {
    /// One settlement round: submits the next batch unless the last one is still pending.
    /// Returns the submitted transaction's hash.
    pub fn settle_once(&self, in_flight: &mut Option<(u64, Vec<(Payer, Amount)>)>) -> Option<Hash> {
        let committed = self.ledger.committed();
        let state = &committed.state;
        let from = state.next_receipt(&self.me).ok()?;
        if let Some((end, charged)) = in_flight.take() {
            if from < end {
                *in_flight = Some((end, charged));
                return None; // Still waiting for it to commit.
            }
            let mut meter = self.meter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (payer, amount) in charged {
                meter.settled(payer.key_hash, payer.payer, amount);
            }
        }
        let receipts: Vec<UsageReceipt> =
            (from..self.receipts.next_number()).map_while(|n| self.receipts.by_number(n)).collect();
        let batch = next_batch(state, from, &receipts)?;
        let nonce = state.account(&self.me).ok().flatten().map_or(0, |a| a.nonce);
        let end = from + u64::from(batch.settlement.receipts);
        let tx = Transaction {
            chain_id: *state.chain_id(),
            sender: self.me,
            nonce,
            fee: state.params().min_fee,
            payload: Payload::Usage(UsageOp::Settle(Box::new(batch.settlement))),
        }
        .sign(&self.key);
        let mut rng = commonware_utils::rng::sys_rng();
        match self.ledger.submit(vec![tx], &mut rng).remove(0) {
            Ok(hash) => {
                tracing::info!(from, end, tx = %alx_types::hash::to_hex(&hash), "settlement submitted");
                *in_flight = Some((end, batch.charged));
                Some(hash)
            }
            Err(e) => {
                tracing::warn!(err = %e, "settlement not admitted; retrying next round");
                None
            }
        }
    }

    /// Settles forever, every `settle_interval`.
    pub async fn run_settler(self: Arc<Self>) {
        let mut in_flight = None;
        let mut ticks = tokio::time::interval(self.config.settle_interval);
        loop {
            ticks.tick().await;
            let g = self.clone();
            let mut state = in_flight.take();
            in_flight = tokio::task::spawn_blocking(move || {
                g.settle_once(&mut state);
                state
            })
            .await
            .unwrap_or(None);
        }
    }
}

/// SHA-256 of an API key secret (what the chain stores).
#[must_use]
pub fn key_hash(secret: &str) -> Hash {
    sha256(&[secret.as_bytes()])
}
