//! `alx provider bond|unbond|show`: the bond a serving node holds to be named on API keys. It
//! caps the fees of the node's settlements still challengeable, stays locked while one is, and
//! is slashed when a challenge proves a settlement wrong.

use crate::{
    Globals,
    cmd::wallet::{TxOptions, amount, report},
    output::emit,
    wallet,
};
use alx_client::Client;
use alx_types::{Amount, tx::Payload, usage::UsageOp};
use clap::Subcommand;

/// `alx provider …`.
#[derive(Subcommand)]
pub(crate) enum ProviderCommand {
    /// Bond ALX as a serving provider (moved from your balance).
    ///
    /// Example: alx provider bond 10000 --from node
    Bond {
        /// Amount in ALX.
        #[arg(value_parser = amount)]
        amount: Amount,
        /// The provider's key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Take bonded ALX back (refused while one of your settlements is challengeable).
    Unbond {
        /// Amount in ALX.
        #[arg(value_parser = amount)]
        amount: Amount,
        /// The provider's key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// A provider's bond, the fees at risk on it and when it unlocks.
    Show {
        /// The provider (address or key name).
        provider: String,
    },
}

pub(crate) fn run(g: &Globals, cmd: ProviderCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::Bond { amount, from, opts } => {
            let op = UsageOp::BondProvider { amount };
            let sent = wallet::send(g, &from, opts.fee, Payload::Usage(op), !opts.no_wait)?;
            report(g, "provider bond", &sent)
        }
        ProviderCommand::Unbond { amount, from, opts } => {
            let op = UsageOp::UnbondProvider { amount };
            let sent = wallet::send(g, &from, opts.fee, Payload::Usage(op), !opts.no_wait)?;
            report(g, "provider unbond", &sent)
        }
        ProviderCommand::Show { provider } => {
            let address = wallet::resolve_address(g, &provider)?;
            let p = Client::new(&g.node).provider(&address)?;
            emit(g.json, &p, || {
                format!(
                    "provider {}\n  bond             {}\n  at risk          {} of {} (settlements still challengeable)\n  locked until     height {}\n  next receipt     {}",
                    p.address, p.bond, p.at_risk, p.bond, p.locked_until, p.next_receipt
                )
            })
        }
    }
}
