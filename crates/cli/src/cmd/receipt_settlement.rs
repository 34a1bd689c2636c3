//! `alx receipt settlement ID`: checks the settlement that paid a receipt against the batch its
//! provider published (`alx_types::settled_batch`), and with `--proof` reads the settlement
//! from a finalized block instead of the node's word.

use crate::{
    Globals,
    cmd::wallet::verify_inclusion,
    light::Verified,
    output::{coded, emit},
};
use alx_client::Client;
use alx_types::{
    TxStatus,
    api::PayloadJson,
    hash::to_hex,
    tx::Payload,
    usage::{Settlement, UsageOp},
    usage_api::UsageReceipt,
};

/// What was checked, as printed.
#[derive(serde::Serialize)]
pub(crate) struct Checked {
    receipt: String,
    provider: String,
    settlement_tx: String,
    first_receipt: u64,
    #[serde(with = "alx_types::hash::serde_hex")]
    receipts_root: alx_types::Hash,
    #[serde(flatten)]
    batch: alx_types::settled_batch::BatchCheck,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<Verified>,
}

pub(crate) fn run(g: &Globals, receipt: &UsageReceipt, proof: bool) -> anyhow::Result<()> {
    let checked = check_settlement(g, receipt, proof)?;
    emit(g.json, &checked, || text(&checked))
}

/// Checks the settlement that paid `receipt` (with `proof`, read from a finalized block).
pub(crate) fn check_settlement(
    g: &Globals,
    receipt: &UsageReceipt,
    proof: bool,
) -> anyhow::Result<Checked> {
    let client = Client::new(&g.node);
    let provider = receipt.body.provider;
    let number = receipt.body.number;
    let batch = client.settled_batch(&provider, number).map_err(|e| {
        if e.is_not_found() {
            coded(
                "not_settled",
                format!("receipt {number} of {provider} is not in a settled batch on this node"),
                "its provider settles every few seconds: try again shortly, against the node that served it",
            )
        } else {
            e.into()
        }
    })?;
    let refused = |code: &'static str, message: String| {
        coded(
            code,
            message,
            "the provider or the node may be lying; report it (alx audit will challenge it)",
        )
    };
    let resp = client.tx(&to_hex(&batch.tx_hash)).map_err(|e| {
        if e.is_not_found() {
            coded(
                "not_settled",
                format!("the settlement {} is not committed yet", to_hex(&batch.tx_hash)),
                "try again in a few blocks",
            )
        } else {
            e.into()
        }
    })?;
    let (settlement, sender, verified) = if proof {
        let (verified, signed) = verify_inclusion(g, &client, &resp)?;
        let Payload::Usage(UsageOp::Settle(s)) = signed.tx.payload else {
            return Err(refused(
                "not_a_settlement",
                "the batch names a transaction that is not a settlement".into(),
            ));
        };
        (*s, signed.tx.sender, Some(verified))
    } else {
        let PayloadJson::Settle { settlement } = resp.tx.payload.clone() else {
            return Err(refused(
                "not_a_settlement",
                "the batch names a transaction that is not a settlement".into(),
            ));
        };
        (settlement, resp.tx.sender, None::<Verified>)
    };
    if resp.receipt.status != TxStatus::Success {
        return Err(coded(
            "settlement_failed",
            format!(
                "the chain refused the settlement {} ({}); its provider settles the range again",
                to_hex(&batch.tx_hash),
                resp.receipt.error.map_or("unknown", alx_types::ErrorCode::as_str)
            ),
            "try again shortly",
        ));
    }
    if sender != provider || batch.provider != provider {
        return Err(refused(
            "batch_range_mismatch",
            "the settlement was sent by another provider".into(),
        ));
    }
    check(&batch, &settlement, receipt).map_err(|e| refused(e.code(), e.to_string()))?;
    let report = batch.check(&settlement).map_err(|e| refused(e.code(), e.to_string()))?;
    Ok(Checked {
        receipt: to_hex(&receipt.id),
        provider: provider.to_string(),
        settlement_tx: to_hex(&batch.tx_hash),
        first_receipt: settlement.first_receipt,
        receipts_root: settlement.receipts_root,
        batch: report,
        verified,
    })
}

/// The lines `alx receipt settlement` prints.
pub(crate) fn text(checked: &Checked) -> String {
    {
        let b = &checked.batch;
        let mut text = format!(
            "receipt {} settled by {}\n  batch     receipts {}..{} ({} charged as signed, {} written off, {} credits left to the datanets' owners)\n  fees      {}\n  root      {} rebuilt from the published leaves; every leaf matches its signed receipt",
            checked.receipt,
            checked.settlement_tx,
            checked.first_receipt,
            checked.first_receipt + b.receipts,
            b.charged,
            b.written_off,
            b.credits_dropped,
            b.fee,
            to_hex(&checked.receipts_root),
        );
        if let Some(v) = &checked.verified {
            text.push_str(&format!(
                "\n  proof     the settlement is in block {}, finalized by at least {} of epoch {}'s {} validators",
                v.height, v.signers_needed, v.epoch, v.validators
            ));
        }
        text
    }
}

/// The receipt asked about is the one the batch settles at its number.
fn check(
    batch: &alx_types::settled_batch::SettledBatch,
    settlement: &Settlement,
    receipt: &UsageReceipt,
) -> Result<(), alx_types::settled_batch::BatchError> {
    let number = receipt.body.number;
    let at = number.checked_sub(settlement.first_receipt).and_then(|i| usize::try_from(i).ok());
    match at.and_then(|i| batch.leaves.get(i)) {
        Some(leaf) if leaf.id == receipt.id => Ok(()),
        _ => Err(alx_types::settled_batch::BatchError::Missing(number)),
    }
}
