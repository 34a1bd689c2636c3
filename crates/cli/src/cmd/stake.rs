//! `alx stake`: delegate, move and withdraw stake, register as a validator, set its
//! commission, and read a validator's record.

use crate::{
    Globals,
    cmd::wallet::{TxOptions, amount, report},
    output::emit,
    wallet,
};
use alx_client::Client;
use alx_types::{
    Amount,
    staking::{COMMISSION_MAX_BPS, StakingOp},
    staking_api::ValidatorJson,
    tx::Payload,
};
use clap::{Args, Subcommand};

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
    /// Delegate stake to a validator. Its share of every block's staking reward (the
    /// chain-validator emission and the fees, divided among the active set by stake) is
    /// shared by everyone bonded to it, after its commission; `alx rewards show` shows what
    /// your delegation has accrued, `alx rewards claim` pays it.
    Bond(DelegationArgs),
    /// Start unbonding stake (spendable after the unbonding period). What it earned so far is
    /// settled into your claimable rewards.
    Unbond(DelegationArgs),
    /// Move stake from one validator to another at once, without the unbonding period.
    ///
    /// Stake that arrived by redelegation cannot be redelegated again until an unbonding
    /// period has passed (`redelegation_locked`): no chains of hops.
    Redelegate {
        /// The delegating key.
        #[arg(long)]
        from: String,
        /// The validator the stake leaves (address or key name).
        #[arg(long, value_name = "VALIDATOR")]
        src: String,
        /// The validator it joins (address or key name).
        #[arg(long, value_name = "VALIDATOR")]
        dst: String,
        /// Amount in ALX.
        #[arg(long, value_parser = amount)]
        amount: Amount,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Set your validator's commission: the part of its staking reward it keeps before its
    /// delegators share the rest. In basis points (100 = 1%), at most 5000; it applies from
    /// the start of the epoch after next, so delegators see it coming.
    SetCommission {
        /// The validator's key.
        #[arg(long)]
        from: String,
        /// Basis points (0–5000).
        #[arg(long, value_parser = clap::value_parser!(u16).range(0..=i64::from(COMMISSION_MAX_BPS)))]
        bps: u16,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// A validator's stake, whether it is active, its commission and any announced change.
    Show {
        /// The validator (address or key name).
        validator: String,
    },
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

fn percent(bps: u16) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

fn validator_text(v: &ValidatorJson) -> String {
    let mut out = format!(
        "validator {}\n  stake        {} (its own {})\n  active       {}\n  commission   {} in epoch {}",
        v.address,
        v.stake,
        v.self_stake,
        if v.active { "yes" } else { "no (not in this epoch's set)" },
        percent(v.commission_bps),
        v.epoch
    );
    if let Some(p) = v.pending_commission {
        out.push_str(&format!("\n  changing to  {} from epoch {}", percent(p.bps), p.from_epoch));
    }
    out.push_str(&format!("\n  commission earned, not claimed  {}", v.commission_unpaid));
    out
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
        StakeCommand::Redelegate { from, src, dst, amount, opts } => {
            let op = StakingOp::Redelegate {
                from: wallet::resolve_address(g, &src)?,
                to: wallet::resolve_address(g, &dst)?,
                amount,
            };
            ("redelegate", from, Payload::Staking(op), opts)
        }
        StakeCommand::SetCommission { from, bps, opts } => {
            ("set-commission", from, Payload::Staking(StakingOp::SetCommission { bps }), opts)
        }
        StakeCommand::Show { validator } => {
            let address = wallet::resolve_address(g, &validator)?;
            let v = Client::new(&g.node).validator(&address)?;
            return emit(g.json, &v, || validator_text(&v));
        }
        StakeCommand::Register { from, p2p_addr, opts } => {
            ("register", from, Payload::RegisterValidator { p2p_addr }, opts)
        }
    };
    let sent = wallet::send(g, &from, opts.fee, payload, !opts.no_wait)?;
    report(g, what, &sent)
}
