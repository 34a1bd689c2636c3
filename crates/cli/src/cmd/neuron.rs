//! What `alx miner run`, `alx validator run` and `alx subnet commit|reveal` share: the chain
//! as the key sees it (`alx-neuron` over the node's API), the home's weights store, progress
//! events, and the CLI's form of the neuron crate's errors.

use crate::{
    Globals,
    output::{TxFailed, coded},
    wallet,
};
use alx_client::Client;
use alx_neuron::{
    NeuronError,
    chain::{ClientChain, ClientChainConfig},
    store::WeightsStore,
};
use alx_types::Amount;
use std::time::Duration;

/// Directory of pending weights, under the home.
const WEIGHTS_DIR: &str = "weights";
/// How often the loops poll the node.
const POLL: Duration = Duration::from_millis(300);
/// How long to wait for a transaction to be committed.
const TX_WAIT: Duration = Duration::from_secs(60);

/// The chain as the key `from` sees it, sending with `fee`.
pub(crate) fn chain(g: &Globals, from: &str, fee: Amount) -> anyhow::Result<ClientChain> {
    let key = wallet::unlock(g, from)?;
    let config = ClientChainConfig { fee, poll: POLL, tx_wait: TX_WAIT };
    Ok(ClientChain::new(Client::new(&g.node), key, config))
}

/// The home's weights store.
pub(crate) fn store(g: &Globals) -> WeightsStore {
    WeightsStore::new(g.home.join(WEIGHTS_DIR))
}

/// Prints a progress event: a line on stderr, and with `--json` a JSON line on stdout.
pub(crate) fn print_event<E: serde::Serialize + std::fmt::Display>(g: &Globals, event: &E) {
    eprintln!("{event}");
    if g.json {
        match serde_json::to_string(event) {
            Ok(line) => println!("{line}"),
            Err(err) => tracing::warn!(%err, "cannot encode an event"),
        }
    }
}

/// The CLI's form of `e`: a failed receipt as [`TxFailed`], a node error as itself (its hints
/// are the CLI's), everything else with its stable code and hint.
pub(crate) fn cli_error(e: NeuronError) -> anyhow::Error {
    let code = e.code();
    let hint = e.hint();
    match e {
        NeuronError::TxFailed { what, hash, height, code, hint } => {
            TxFailed { what: what.to_owned(), hash, height, code, hint }.into()
        }
        NeuronError::Client(c) => c.into(),
        other => match hint {
            Some(hint) => coded(code, format!("{:#}", anyhow::Error::new(other)), hint),
            None => anyhow::Error::new(other),
        },
    }
}
