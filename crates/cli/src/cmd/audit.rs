//! `alx audit run`: the auditor (`alx-audit`) over a node's chain, filing the challenges the
//! chain will uphold, and the disputes the validators' juror rule upholds, when given a key.

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
    /// every receipt's attribution, replay a share of greedy answers, and (with
    /// --challenge-from) file the challenges the chain will uphold and the disputes the
    /// validators' juror rule upholds (each escrows a 100 ALX challenge bond, lost if the
    /// validators find the provider innocent).
    ///
    /// Replays and disputed attributions are judged by --node's juror
    /// (`POST /api/disputes/judge`): run the auditor next to a node you trust.
    ///
    /// Example: alx audit run --from 1 --challenge-from alice --replay-percent 100 --json
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
        /// Share of greedy answers to replay on --node's weights, in percent (0 to 100; which
        /// ones is decided by each receipt's id).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
        replay_percent: u32,
        /// Fee of each challenge, in ALX, per started 8 KiB of the challenge (the chain's
        /// minimum is per 8 KiB).
        #[arg(long, default_value = FEE_DEFAULT, value_parser = amount)]
        fee: Amount,
    },
    /// List the open disputes (who filed them, against which receipt, the validators' votes so
    /// far: the provider's bond is slashed at a quorum of guilty votes) and the open demands
    /// that a provider open a receipt on chain (slashed at the deadline if it does not).
    ///
    /// Example: alx audit disputes --json
    Disputes,
    /// Demand that a provider open one settled receipt on chain: it answers within 50 blocks
    /// (its node does so by itself, from the batch it published) or its bond is slashed, half
    /// to you. Escrows 10 ALX, paid to the provider when it answers.
    ///
    /// Example: alx audit demand alx1… --settlement 0 --receipt 3 --from alice
    Demand {
        /// The provider (address or key name).
        provider: String,
        /// The settlement's first receipt.
        #[arg(long)]
        settlement: u64,
        /// The receipt to open (in the settlement's range).
        #[arg(long)]
        receipt: u64,
        /// Who demands (and escrows the bond).
        #[arg(long)]
        from: String,
        /// Fee, in ALX.
        #[arg(long, default_value = FEE_DEFAULT, value_parser = amount)]
        fee: Amount,
    },
}

/// A challenge or dispute filed, and what the chain said.
#[derive(serde::Serialize)]
struct Filed {
    /// `challenge`, or the dispute's claim (`attribution`, `generation`).
    kind: &'static str,
    provider: String,
    first_receipt: u64,
    tx: String,
    upheld: bool,
    error: Option<String>,
}

pub(crate) fn run(g: &Globals, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Run {
        from,
        to,
        follow,
        challenge_from,
        provider_nodes,
        no_attribution,
        replay_percent,
        fee,
    } = cmd
    else {
        return match cmd {
            AuditCommand::Demand { provider, settlement, receipt, from, fee } => {
                let demand = alx_types::withheld::Demand {
                    provider: wallet::resolve_address(g, &provider)?,
                    first_receipt: settlement,
                    number: receipt,
                };
                let payload = Payload::Usage(UsageOp::Demand(demand));
                let sent = wallet::send(g, &from, fee, payload, true)?;
                crate::cmd::wallet::report(g, "receipt demand", &sent)
            }
            _ => disputes(g),
        };
    };
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
    let options = AuditOptions { attribution: !no_attribution, replay_bps: replay_percent * 100 };
    let mut filed = Vec::new();
    let mut file = |audit: &SettlementAudit| -> anyhow::Result<()> {
        let Some(key) = &challenge_from else { return Ok(()) };
        let challenges = audit.challenges.iter().map(|c| {
            ("challenge", c.provider, c.first_receipt, UsageOp::Challenge(Box::new(c.clone())))
        });
        let disputes = audit.disputes.iter().map(|d| {
            (d.claim.as_str(), d.provider, d.first_receipt, UsageOp::Dispute(Box::new(d.clone())))
        });
        let demands = audit
            .demands
            .iter()
            .map(|d| ("demand", d.provider, d.first_receipt, UsageOp::Demand(*d)));
        for (kind, provider, first_receipt, op) in challenges.chain(disputes).chain(demands) {
            let payload = Payload::Usage(op);
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
                kind,
                provider: provider.to_string(),
                first_receipt,
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
            "audited blocks {}..={}: {} settlement{}, {} receipts checked against their signatures and prices, {} attributions re-derived, {} answers replayed",
            report.from,
            report.to,
            report.settlements,
            if report.settlements == 1 { "" } else { "s" },
            report.receipts_checked,
            report.attributions_checked,
            report.replays
        );
        for a in &report.flagged {
            text.push_str(&format!("\n  {}", line(a)));
        }
        for f in &filed {
            text.push_str(&format!(
                "\n  {} {} of {} from receipt {}: {}",
                if f.kind == "challenge" {
                    "challenge".to_owned()
                } else {
                    format!("{} dispute", f.kind)
                },
                f.tx,
                f.provider,
                f.first_receipt,
                if f.upheld && f.kind == "challenge" {
                    "upheld, bond slashed".to_owned()
                } else if f.upheld && f.kind == "demand" {
                    "opened: the provider opens the receipt on chain or its bond is slashed"
                        .to_owned()
                } else if f.upheld {
                    "opened, the validators vote (alx audit disputes)".to_owned()
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

fn disputes(g: &Globals) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    let open = client.disputes()?;
    let demands = client.demands()?;
    let doc = serde_json::json!({ "disputes": open, "demands": demands });
    emit(g.json, &doc, || {
        if open.is_empty() && demands.is_empty() {
            return "no open disputes or demands".to_owned();
        }
        let mut text = String::new();
        for d in &open {
            let about = match (d.provider, d.receipt, d.datanet, d.contribution) {
                (Some(p), Some(r), _, _) => format!(
                    "receipt {r} of {p} (settlement from {})",
                    d.first_receipt.unwrap_or_default()
                ),
                (_, _, Some(dn), Some(c)) => {
                    format!("the flag on contribution {c} of datanet {dn}")
                }
                _ => "?".to_owned(),
            };
            text.push_str(&format!(
                "dispute {}: {} claim on {about}, by {}; votes guilty {} innocent {}; decided by block {}\n",
                d.id,
                d.claim.as_str(),
                d.challenger,
                d.guilty.len(),
                d.innocent.len(),
                d.deadline
            ));
        }
        for d in &demands {
            text.push_str(&format!(
                "demand: {} must open receipt {} (settlement from {}) by block {}, or be slashed; by {}\n",
                d.demand.provider, d.demand.number, d.demand.first_receipt, d.deadline, d.challenger
            ));
        }
        text.trim_end().to_owned()
    })
}
