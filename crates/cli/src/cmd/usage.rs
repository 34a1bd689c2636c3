//! `alx deposit|withdraw`, `alx keys api-key create|revoke`, `alx rewards show|claim`: paying
//! for model use and collecting what data earns.

use crate::{
    Globals,
    cmd::wallet::{TxOptions, amount, report},
    output::emit,
    wallet,
};
use alx_client::Client;
use alx_types::{
    Amount,
    hash::{sha256, to_hex},
    tx::Payload,
    usage::UsageOp,
};
use clap::Subcommand;

/// The prefix of every API key secret, so leaked keys are easy to recognise and scan for.
pub(crate) const API_KEY_PREFIX: &str = "alx-sk-";

/// The on-chain hash of an API key secret.
#[must_use]
pub(crate) fn api_key_hash(secret: &str) -> alx_types::Hash {
    sha256(&[secret.as_bytes()])
}

/// `alx keys api-key …`.
#[derive(Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create an API key chargeable only by --provider (the node that serves you), with an
    /// allowance moved out of --from's prepaid deposit (`alx deposit` first). The secret is
    /// printed once: store it.
    Create {
        /// The paying key.
        #[arg(long)]
        from: String,
        /// The serving node's address, or a key name (default: the local node's key).
        #[arg(long)]
        provider: Option<String>,
        /// Moved from the deposit to the key, in ALX: the most the provider can charge until
        /// you fund it again.
        #[arg(long, alias = "limit", value_parser = amount)]
        allowance: Amount,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Move more of your deposit into a key's allowance.
    Fund {
        /// The secret (alx-sk-…) or its hash.
        key: String,
        /// Amount in ALX.
        #[arg(long, value_parser = amount)]
        amount: Amount,
        /// The paying key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Revoke a key: the provider stops serving it at once and may settle what it already
    /// served; what is left of its allowance returns to your deposit 600 blocks later.
    Revoke {
        /// The secret (alx-sk-…) or its hash.
        key: String,
        /// The paying key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// A key's payer, provider, allowance, spending and revocation.
    Show {
        /// The secret (alx-sk-…) or its hash.
        key: String,
    },
}

/// `alx rewards …`.
#[derive(Subcommand)]
pub(crate) enum RewardsCommand {
    /// What an account earned, explained: claimable and lifetime rewards by source (data
    /// credits per datanet, model-owner and provider shares, staking per validator,
    /// commission, subnet incentive, dividends and owner cut, emission pools, reporters'
    /// shares), what its delegations accrued, the last epochs one by one, and its prepaid
    /// deposit.
    Show {
        /// An address or a key name.
        who: String,
        /// Believe nothing the node says: read the records from the state of a block the light
        /// client (from HOME/genesis.json) has seen finalized, with their Merkle proofs.
        #[arg(long)]
        proof: bool,
    },
    /// Move your claimable rewards to your balance.
    Claim {
        /// Your key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
}

fn key_hash_of(key: &str) -> anyhow::Result<alx_types::Hash> {
    if key.starts_with(API_KEY_PREFIX) {
        return Ok(api_key_hash(key));
    }
    alx_types::hash::parse_hex(key).ok_or_else(|| {
        crate::output::hinted(
            format!("{key:?} is neither an API key nor its hash"),
            "keys start with alx-sk-; hashes are 64 hex characters",
        )
    })
}

pub(crate) fn api_key(g: &Globals, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    match cmd {
        ApiKeyCommand::Create { from, provider, allowance, opts } => {
            let provider = match provider {
                Some(p) => wallet::resolve_address(g, &p)?,
                None => local_node_address(g)?,
            };
            let mut raw = [0u8; 24];
            getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let secret = format!("{API_KEY_PREFIX}{}", hex::encode(raw));
            let key_hash = api_key_hash(&secret);
            let op = UsageOp::CreateApiKey { key_hash, provider, allowance };
            let sent = wallet::send(g, &from, opts.fee, Payload::Usage(op), !opts.no_wait)?;
            if let Some(c) = &sent.committed
                && c.receipt.error.is_some()
            {
                return report(g, "api-key create", &sent);
            }
            let value = serde_json::json!({
                "api_key": secret, "key_hash": to_hex(&key_hash), "provider": provider,
                "allowance": allowance, "tx": sent.hash,
            });
            emit(g.json, &value, || {
                format!(
                    "{secret}\n(store it now: only its hash is on chain; provider {provider}, allowance {allowance})",
                )
            })
        }
        ApiKeyCommand::Fund { key, amount, from, opts } => {
            let op = UsageOp::FundApiKey { key_hash: key_hash_of(&key)?, amount };
            let sent = wallet::send(g, &from, opts.fee, Payload::Usage(op), !opts.no_wait)?;
            report(g, "api-key fund", &sent)
        }
        ApiKeyCommand::Revoke { key, from, opts } => {
            let op = UsageOp::RevokeApiKey { key_hash: key_hash_of(&key)? };
            let sent = wallet::send(g, &from, opts.fee, Payload::Usage(op), !opts.no_wait)?;
            report(g, "api-key revoke", &sent)
        }
        ApiKeyCommand::Show { key } => {
            let k = Client::new(&g.node).api_key(&key_hash_of(&key)?)?;
            emit(g.json, &k, || {
                let state = match (k.revoked, k.closes_at) {
                    (true, _) => " (revoked)".to_owned(),
                    (false, Some(h)) => format!(" (revoked: closes at height {h})"),
                    (false, None) => String::new(),
                };
                format!(
                    "payer {}\nprovider {}\nallowance left {}, spent {}{state}",
                    k.payer, k.provider, k.allowance, k.spent,
                )
            })
        }
    }
}

/// The address of the node this home runs (the default provider of new API keys).
fn local_node_address(g: &Globals) -> anyhow::Result<alx_types::Address> {
    Client::new(&g.node).status()?.validators.first().copied().ok_or_else(|| {
        crate::output::hinted("the node reports no validator", "pass --provider ADDRESS")
    })
}

pub(crate) fn rewards(g: &Globals, cmd: RewardsCommand) -> anyhow::Result<()> {
    match cmd {
        RewardsCommand::Show { who, proof: true } => {
            let address = wallet::resolve_address(g, &who)?;
            let proven = crate::light::proven_rewards(g, &Client::new(&g.node), &address)?;
            emit(g.json, &proven, || {
                format!(
                    "claimable {} (earned {} in total); prepaid deposit {}\n  proof  read from the state root of block {}, finalized by at least {} of epoch {}'s {} validators",
                    proven.claimable,
                    proven.earned,
                    proven.prepaid,
                    proven.verified.height,
                    proven.verified.signers_needed,
                    proven.verified.epoch,
                    proven.verified.validators
                )
            })
        }
        RewardsCommand::Show { who, proof: false } => {
            let address = wallet::resolve_address(g, &who)?;
            let r = Client::new(&g.node).rewards(&address)?;
            emit(g.json, &r, || rewards_text(&r))
        }
        RewardsCommand::Claim { from, opts } => {
            let sent =
                wallet::send(g, &from, opts.fee, Payload::Usage(UsageOp::Claim), !opts.no_wait)?;
            report(g, "claim", &sent)
        }
    }
}

fn source_text(source: &alx_types::staking::RewardSource) -> String {
    let name = source.name().replace('_', " ");
    match source {
        // A whole address overflows the table; its head and tail tell validators apart.
        alx_types::staking::RewardSource::Staking { validator } => {
            format!("{name} · validator {}", super::subnet_table::short(&validator.to_string()))
        }
        _ => source.subject().map_or(name.clone(), |subject| format!("{name} · {subject}")),
    }
}

/// The explained rewards as text: totals, one line per source, delegations, recent epochs.
fn rewards_text(r: &alx_types::model_api::RewardsJson) -> String {
    let mut out = format!(
        "{}\n  claimable  {} now, and {} of staking accrued (paid by the next claim)\n  earned     {} into claimable rewards in all\n  prepaid    {}",
        r.address, r.claimable, r.staking_accrued, r.earned, r.prepaid
    );
    if r.sources.is_empty() && r.delegations.is_empty() {
        out.push_str("\n  nothing earned yet");
        return out;
    }
    out.push_str(&format!("\n\n  {:<58}  {:>20}  {:>20}", "source", "earned", "claimable"));
    for l in &r.sources {
        let claimable =
            if l.source.paid_to_balance() { "-".to_owned() } else { l.claimable.to_string() };
        out.push_str(&format!(
            "\n  {:<58}  {:>20}  {:>20}",
            source_text(&l.source),
            l.earned.to_string(),
            claimable
        ));
    }
    for d in &r.delegations {
        out.push_str(&format!(
            "\n  {:<58}  {:>20}  {:>20}",
            format!(
                "staking · validator {} (accrued, stake {})",
                super::subnet_table::short(&d.validator.to_string()),
                d.stake
            ),
            "",
            d.accrued.to_string()
        ));
    }
    if !r.commission_unpaid.is_zero() {
        out.push_str(&format!(
            "\n  {:<58}  {:>20}  {:>20}",
            "commission (accrued)",
            "",
            r.commission_unpaid.to_string()
        ));
    }
    if !r.epochs.is_empty() {
        out.push_str("\n\n  per epoch (the chain keeps the last 64; staking counts when settled)");
        for e in &r.epochs {
            out.push_str(&format!(
                "\n  epoch {:>8}  {:<58}  {:>20}",
                e.epoch,
                source_text(&e.source),
                e.amount.to_string()
            ));
        }
    }
    out.push_str("\n\n  '-': paid straight to the balance. Claim the rest with `alx rewards claim --from KEY`.");
    out
}

/// `alx deposit` and `alx withdraw`.
#[derive(clap::Args)]
pub(crate) struct DepositArgs {
    /// Amount in ALX.
    #[arg(value_parser = amount)]
    amount: Amount,
    /// Your key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

pub(crate) fn deposit(g: &Globals, a: &DepositArgs, withdraw: bool) -> anyhow::Result<()> {
    let amount = a.amount;
    let op = if withdraw { UsageOp::Withdraw { amount } } else { UsageOp::Deposit { amount } };
    let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Usage(op), !a.opts.no_wait)?;
    report(g, if withdraw { "withdrawal" } else { "deposit" }, &sent)
}
