//! `alx subnet commit|reveal` over `alx-neuron`'s commit-reveal, which saves the weights and
//! salt of a commit in `<home>/weights/<subnet>-<address>.json` (0600) before sending it.

use super::neuron::{chain, cli_error, store};
use crate::{Globals, cmd::wallet::FEE_DEFAULT, cmd::wallet::amount};
use alx_neuron::weights::{self, Committed, Committer, Revealed};
use alx_types::{subnet::Uid, subnet_api::SubnetJson};

/// Commits `from`'s weights `dests`/`values` in `subnet` with a fresh salt, saving what the
/// reveal needs first. Errors with [`crate::output::TxFailed`] on a failed receipt.
pub(crate) fn commit(
    g: &Globals,
    from: &str,
    subnet: &SubnetJson,
    dests: &[Uid],
    values: &[u16],
) -> anyhow::Result<Committed> {
    let fee = amount(FEE_DEFAULT).map_err(anyhow::Error::msg)?;
    let chain = chain(g, from, fee)?;
    let uid =
        weights::committer_uid(&chain, from, subnet.id, (dests, values)).map_err(cli_error)?;
    let who = Committer { key: from, subnet, uid };
    weights::commit(&chain, &store(g), who, (dests, values)).map_err(cli_error)
}

/// Reveals the weights `from` committed in `subnet`; deletes the saved file once they are on
/// chain. Errors with [`crate::output::TxFailed`] on a failed receipt.
pub(crate) fn reveal(g: &Globals, from: &str, subnet: &SubnetJson) -> anyhow::Result<Revealed> {
    let fee = amount(FEE_DEFAULT).map_err(anyhow::Error::msg)?;
    let chain = chain(g, from, fee)?;
    weights::reveal(&chain, &store(g), from, subnet).map_err(cli_error)
}
