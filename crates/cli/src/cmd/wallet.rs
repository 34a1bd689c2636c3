//! `alx balance`, `alx transfer`, `alx stake`, `alx tx`.

use crate::{
    Globals,
    output::emit,
    wallet::{self, Sent},
};
use alx_client::Client;
use alx_types::{Amount, TxStatus, tx::Payload};
use clap::{Args, Subcommand};

pub(crate) fn amount(text: &str) -> Result<Amount, String> {
    Amount::parse_alx(text).map_err(|e| format!("{e} (amounts are in ALX, e.g. 1.5)"))
}

/// `alx balance`.
#[derive(Args)]
pub(crate) struct BalanceArgs {
    /// An address (alx1…) or a key name.
    who: String,
    /// Include a Merkle proof against the state root (checked locally).
    #[arg(long)]
    proof: bool,
}

pub(crate) fn balance(g: &Globals, a: &BalanceArgs) -> anyhow::Result<()> {
    let address = wallet::resolve_address(g, &a.who)?;
    let resp = Client::new(&g.node).account(&address, a.proof)?;
    let verified = match &resp.proof {
        None => None,
        Some(p) => {
            let root = alx_types::hash::parse_hex(&resp.state_root)
                .ok_or_else(|| anyhow::anyhow!("bad state root"))?;
            let key = hex_bytes(&p.key)?;
            let value = p.value.as_deref().map(hex_bytes).transpose()?;
            let ok = p.proof.verify(&root, &key, value.as_deref());
            if !ok {
                anyhow::bail!("the node's Merkle proof does NOT verify against its state root");
            }
            Some(ok)
        }
    };
    emit(g.json, &resp, || {
        let acc = &resp.account;
        let mut s = format!(
            "{}\n  balance    {}\n  bonded     {}\n  unbonding  {}\n  nonce      {}\n  at height  {}",
            resp.address, acc.balance, acc.bonded, acc.unbonding, acc.nonce, resp.height
        );
        if verified == Some(true) {
            s.push_str(&format!("\n  proof      verified against state root {}", resp.state_root));
        }
        s
    })
}

fn hex_bytes(s: &str) -> anyhow::Result<Vec<u8>> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("bad hex from node: {e}"))
}

/// The fee transactions offer unless told otherwise, in ALX (the dev chain's minimum).
pub(crate) const FEE_DEFAULT: &str = "0.000001";

/// Options of every transaction.
#[derive(Args)]
pub(crate) struct TxOptions {
    /// Fee in ALX.
    #[arg(long, default_value = FEE_DEFAULT, value_parser = amount)]
    pub(crate) fee: Amount,
    /// Return once the node accepted the transaction, without waiting for it to be committed.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// `alx transfer`.
#[derive(Args)]
pub(crate) struct TransferArgs {
    /// The sending key's name.
    #[arg(long)]
    from: String,
    /// Recipient: an address (alx1…) or a key name.
    #[arg(long)]
    to: String,
    /// Amount in ALX (up to 9 decimals).
    #[arg(long, value_parser = amount)]
    amount: Amount,
    #[command(flatten)]
    opts: TxOptions,
}

/// A failed receipt as an error (code: the receipt's), with the usual hint.
pub(crate) fn failure(what: &str, sent: &Sent) -> Option<anyhow::Error> {
    let failed = sent.failure(what, |_| {
        format!(
            "see `alx tx show {}`; failed transactions keep their fee when the code says so",
            sent.hash
        )
    })?;
    Some(failed.into())
}

/// Prints a sent transaction, or, if it was committed with a failed receipt, returns that
/// failure (with `--json`, its error document carries the transaction's hash and height).
pub(crate) fn report(g: &Globals, what: &str, sent: &Sent) -> anyhow::Result<()> {
    if let Some(err) = failure(what, sent) {
        return Err(err);
    }
    emit(g.json, sent, || match &sent.committed {
        Some(c) => format!(
            "{what} {} committed at height {} (fee {})",
            sent.hash, c.height, c.receipt.fee_paid
        ),
        None => format!("{what} {} accepted; not waiting for it to be committed", sent.hash),
    })
}

pub(crate) fn transfer(g: &Globals, a: &TransferArgs) -> anyhow::Result<()> {
    let to = wallet::resolve_address(g, &a.to)?;
    let sent = wallet::send(
        g,
        &a.from,
        a.opts.fee,
        Payload::Transfer { to, amount: a.amount },
        !a.opts.no_wait,
    )?;
    report(g, "transfer", &sent)
}

/// Who delegates how much to which validator.
#[derive(Args)]
pub(crate) struct DelegationArgs {
    /// The delegating key.
    #[arg(long)]
    from: String,
    /// The validator (address or key name).
    #[arg(long)]
    validator: String,
    /// Amount in ALX.
    #[arg(long, value_parser = amount)]
    amount: Amount,
    #[command(flatten)]
    opts: TxOptions,
}

/// `alx stake …`.
#[derive(Subcommand)]
pub(crate) enum StakeCommand {
    /// Delegate stake to a validator.
    Bond(DelegationArgs),
    /// Start unbonding stake (spendable after the unbonding period).
    Unbond(DelegationArgs),
    /// Register this key as a validator candidate, reachable by peers at `--p2p-addr`.
    ///
    /// Bond stake to it afterwards; the candidates with the most stake form the active set
    /// from the next epoch on.
    Register {
        /// The key to register.
        #[arg(long)]
        from: String,
        /// The `ip:port` other validators dial to reach this node's p2p endpoint (the
        /// `p2p_addr` of its config, as seen from the network).
        #[arg(long, value_name = "IP:PORT")]
        p2p_addr: std::net::SocketAddr,
        #[command(flatten)]
        opts: TxOptions,
    },
}

pub(crate) fn stake(g: &Globals, cmd: StakeCommand) -> anyhow::Result<()> {
    let (what, from, payload, opts) = match cmd {
        StakeCommand::Bond(a) => {
            let validator = wallet::resolve_address(g, &a.validator)?;
            ("bond", a.from, Payload::Bond { validator, amount: a.amount }, a.opts)
        }
        StakeCommand::Unbond(a) => {
            let validator = wallet::resolve_address(g, &a.validator)?;
            ("unbond", a.from, Payload::Unbond { validator, amount: a.amount }, a.opts)
        }
        StakeCommand::Register { from, p2p_addr, opts } => {
            ("register", from, Payload::RegisterValidator { p2p_addr }, opts)
        }
    };
    let sent = wallet::send(g, &from, opts.fee, payload, !opts.no_wait)?;
    report(g, what, &sent)
}

/// `alx tx …`.
#[derive(Subcommand)]
pub(crate) enum TxCommand {
    /// A committed transaction and its receipt.
    Show {
        /// The transaction hash (64 hex characters).
        hash: String,
    },
}

pub(crate) fn tx(g: &Globals, cmd: TxCommand) -> anyhow::Result<()> {
    let TxCommand::Show { hash } = cmd;
    let resp = Client::new(&g.node).tx(&hash)?;
    emit(g.json, &resp, || {
        let r = &resp.receipt;
        let status = match r.status {
            TxStatus::Success => "success".to_owned(),
            TxStatus::Failed => {
                format!("failed ({})", r.error.map_or("unknown", alx_types::ErrorCode::as_str))
            }
        };
        format!(
            "{}\n  status  {status}\n  block   {} (index {})\n  sender  {}\n  nonce   {}\n  fee     {}\n  kind    {}",
            resp.tx.hash,
            resp.height,
            resp.index,
            resp.tx.sender,
            resp.tx.nonce,
            r.fee_paid,
            serde_json::to_value(&resp.tx.payload)
                .ok()
                .and_then(|v| v.get("kind").cloned())
                .unwrap_or_default(),
        )
    })
}
