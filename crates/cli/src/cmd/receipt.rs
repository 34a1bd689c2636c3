//! `alx receipt show|verify`: a served request's signed receipt, and an independent check of
//! it: the signature, and the attribution re-derived from the stored output and the datanet
//! indexes (through `POST /api/attribution`).

use crate::{
    Globals,
    output::{emit, hinted},
};
use alx_attribution::rule::Key;
use alx_client::Client;
use alx_types::{
    hash::to_hex,
    usage_api::{ShareEntry, UsageReceipt},
};
use clap::Subcommand;
use std::collections::BTreeMap;

/// `alx receipt …`.
#[derive(Subcommand)]
pub(crate) enum ReceiptCommand {
    /// A receipt as the node stored it.
    Show {
        /// The receipt id (64 hex characters).
        id: String,
    },
    /// Check a receipt: its id and signature, then its span and combined shares re-derived from
    /// its output against the datanet versions it names. With --proof, also the settlement that
    /// paid it, read from a block the light client has seen finalized (as `alx receipt
    /// settlement --proof`).
    ///
    /// Example: alx receipt verify 3f2a…e1 --proof
    Verify {
        /// The receipt id.
        id: String,
        /// Also prove its settlement against a finalized block (light client from
        /// HOME/genesis.json); fails if it is not settled yet.
        #[arg(long)]
        proof: bool,
    },
    /// Check the settlement that paid a receipt: the batch its provider published (every
    /// receipt signed, every leaf charging and crediting what its receipt says) rebuilds the
    /// receipt root of the settlement on chain. With --proof, the settlement itself is read
    /// from a block the light client has seen finalized.
    ///
    /// Example: alx receipt settlement 3f2a…e1 --proof
    Settlement {
        /// The receipt id (from a response's `alexandria.receipt_id`).
        id: String,
        /// Believe nothing the node says about the chain: prove the settlement transaction
        /// against a finalized block (light client from HOME/genesis.json).
        #[arg(long)]
        proof: bool,
    },
}

fn fetch(g: &Globals, id: &str) -> anyhow::Result<UsageReceipt> {
    let url = format!("{}/api/receipts/{id}", g.node);
    let resp =
        reqwest::blocking::get(&url).map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    if resp.status() == 404 {
        return Err(hinted(
            format!("no receipt {id} on this node"),
            "receipts live on the node that served the request",
        ));
    }
    Ok(resp.error_for_status()?.json()?)
}

fn as_map(entries: &[ShareEntry]) -> BTreeMap<Key, u32> {
    entries.iter().map(|e| ((e.datanet.0, e.contribution.0), e.bps)).collect()
}

pub(crate) fn run(g: &Globals, cmd: ReceiptCommand) -> anyhow::Result<()> {
    match cmd {
        ReceiptCommand::Settlement { id, proof } => {
            super::receipt_settlement::run(g, &fetch(g, &id)?, proof)
        }
        ReceiptCommand::Show { id } => {
            let r = fetch(g, &id)?;
            emit(g.json, &r, || serde_json::to_string_pretty(&r).unwrap_or_default())
        }
        ReceiptCommand::Verify { id, proof } => {
            let r = fetch(g, &id)?;
            let settled = if proof {
                Some(super::receipt_settlement::check_settlement(g, &r, true)?)
            } else {
                None
            };
            let signed = r.verify();
            // Versions this node has not indexed are left out, as the gateway leaves them out.
            let alx_audit::Rederived { spans, influence, shares, .. } =
                alx_audit::rederive(&Client::new(&g.node), &r)?;
            let spans_match = spans == as_map(&r.body.span_shares);
            let shares_match = shares == as_map(&r.body.shares);
            let value = serde_json::json!({
                "receipt": to_hex(&r.id), "signature_valid": signed,
                "span_shares_match": spans_match, "shares_match": shares_match,
                "rederived_span_shares": spans.iter().map(|((d, c), b)| serde_json::json!({"datanet": d, "contribution": c, "bps": b})).collect::<Vec<_>>(),
                "influence_scores": r.body.influence.len(),
                "influence_shares": influence.iter().map(|((d, c), b)| serde_json::json!({"datanet": d, "contribution": c, "bps": b})).collect::<Vec<_>>(),
                "settlement": settled,
            });
            emit(g.json, &value, || {
                let mark = |ok: bool| if ok { "ok" } else { "MISMATCH" };
                let mut text = format!(
                    "receipt {}\n  signature by {}: {}\n  span shares re-derived from the output: {}\n  combined shares: {}",
                    to_hex(&r.id),
                    r.body.provider,
                    mark(signed),
                    mark(spans_match),
                    mark(shares_match)
                );
                if !r.body.influence.is_empty() {
                    text.push_str(&format!(
                        "\n  influence part: from the {} scores it records (a juror holding the \
                         adapter recomputes them)",
                        r.body.influence.len()
                    ));
                }
                if let Some(s) = &settled {
                    text.push('\n');
                    text.push_str(&super::receipt_settlement::text(s));
                }
                text
            })?;
            if !(signed && spans_match && shares_match) {
                return Err(hinted(
                    "the receipt does not check out",
                    "a mismatch in shares can also mean a contribution was flagged after the request was served",
                ));
            }
            Ok(())
        }
    }
}
