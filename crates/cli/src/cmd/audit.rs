//! `alx audit run`: the auditor (`alx-audit`) over a node's chain, filing the challenges the
//! chain will uphold when given a key.

use crate::{
    Globals,
    cmd::wallet::{FEE_DEFAULT, amount},
    output::{coded, emit},
    wallet,
};
use alx_audit::{AuditOptions, Publishers, SettlementAudit, audit_range};
use alx_client::Client;
use alx_types::{Amount, tx::Payload, usage::UsageOp};
use clap::Subcommand;
use std::time::Duration;

/// `alx audit …`.
#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Audit the settlements committed in a range of blocks: fetch each batch its provider
    /// published, check every leaf against its signed receipt and the model's price, re-derive
    /// every receipt's attribution, and (with --challenge-from) file the challenges the chain
    /// will uphold.
    ///
    /// Example: alx audit run --from 1 --challenge-from alice --json
    Run {
        /// First block to read.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last block to read (default: the latest).
        #[arg(long)]
        to: Option<u64>,
        /// Keep auditing new blocks as they come (one line per settlement), until interrupted.
        #[arg(long)]
        follow: bool,
        /// File challenges, signed and paid by this key (without it, only report).
        #[arg(long)]
        challenge_from: Option<String>,
        /// Where a provider publishes its batches, as ADDRESS=URL (repeatable; default: --node).
        #[arg(long = "provider-node", value_name = "ADDRESS=URL")]
        provider_nodes: Vec<String>,
        /// Skip re-deriving attribution (one attribution query per receipt and datanet).
        #[arg(long)]
        no_attribution: bool,
        /// Fee of each challenge, in ALX, per started 8 KiB of the challenge (the chain's
        /// minimum is per 8 KiB).
        #[arg(long, default_value = FEE_DEFAULT, value_parser = amount)]
        fee: Amount,
    },
}

/// A challenge filed, and what the chain said.
#[derive(serde::Serialize)]
struct Filed {
    provider: String,
    first_receipt: u64,
    tx: String,
    upheld: bool,
    error: Option<String>,
}

pub(crate) fn run(g: &Globals, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Run { from, to, follow, challenge_from, provider_nodes, no_attribution, fee } =
        cmd;
    let mut publishers = Publishers { default: g.node.clone(), ..Publishers::default() };
    for entry in &provider_nodes {
        let (address, url) = entry.split_once('=').ok_or_else(|| {
            coded(
                "bad_argument",
                format!("{entry:?} is not ADDRESS=URL"),
                "e.g. --provider-node alx1…=http://127.0.0.1:8080",
            )
        })?;
        publishers.by_provider.insert(wallet::resolve_address(g, address)?, url.to_owned());
    }
    let chain = Client::new(&g.node);
    let options = AuditOptions { attribution: !no_attribution };
    let mut filed = Vec::new();
    let mut file = |audit: &SettlementAudit| -> anyhow::Result<()> {
        let Some(key) = &challenge_from else { return Ok(()) };
        for c in &audit.challenges {
            let payload = Payload::Usage(UsageOp::Challenge(Box::new(c.clone())));
            // The chain asks its minimum fee per started 8 KiB; `fee` is taken as that minimum
            // (the rest of a transaction is well under 256 bytes).
            use commonware_codec::EncodeSize as _;
            let fee = alx_types::tx::min_fee_for_size(payload.encode_size() + 256, fee);
            let sent = wallet::send(g, key, fee, payload, true)?;
            let error = sent
                .committed
                .as_ref()
                .and_then(|c| c.receipt.error)
                .map(|e| e.as_str().to_owned());
            filed.push(Filed {
                provider: c.provider.to_string(),
                first_receipt: c.first_receipt,
                tx: sent.hash.clone(),
                upheld: sent.committed.is_some() && error.is_none(),
                error,
            });
        }
        Ok(())
    };
    let latest = || -> anyhow::Result<u64> { Ok(chain.status()?.height.0) };
    if follow {
        let mut next = from;
        loop {
            let top = latest()?;
            if next <= top {
                let mut failed = None;
                audit_range(&chain, &publishers, options, next, top, |audit| {
                    if g.json {
                        println!("{}", serde_json::to_string(audit).unwrap_or_default());
                    } else {
                        println!("{}", line(audit));
                    }
                    if let Err(e) = file(audit) {
                        failed = Some(e);
                    }
                })?;
                if let Some(e) = failed {
                    return Err(e);
                }
                next = top + 1;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let to = match to {
        Some(t) => t,
        None => latest()?,
    };
    let mut failed = None;
    let report = audit_range(&chain, &publishers, options, from, to, |audit| {
        if let Err(e) = file(audit) {
            failed.get_or_insert(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let doc = serde_json::json!({ "report": report, "challenges": filed });
    emit(g.json, &doc, || {
        let mut text = format!(
            "audited blocks {}..={}: {} settlements, {} receipts checked against their signatures and prices, {} attributions re-derived",
            report.from,
            report.to,
            report.settlements,
            report.receipts_checked,
            report.attributions_checked
        );
        for a in &report.flagged {
            text.push_str(&format!("\n  {}", line(a)));
        }
        for f in &filed {
            text.push_str(&format!(
                "\n  challenge {} of {} from receipt {}: {}",
                f.tx,
                f.provider,
                f.first_receipt,
                if f.upheld {
                    "upheld, bond slashed".to_owned()
                } else {
                    format!("refused ({})", f.error.as_deref().unwrap_or("not committed"))
                }
            ));
        }
        text
    })
}

fn line(a: &SettlementAudit) -> String {
    let found = if a.findings.is_empty() {
        "ok".to_owned()
    } else {
        serde_json::to_string(&a.findings).unwrap_or_default()
    };
    format!(
        "settlement {} (block {}) by {}: receipts {}..{}: {found}",
        a.tx,
        a.height,
        a.provider,
        a.first_receipt,
        a.first_receipt + u64::from(a.receipts)
    )
}
