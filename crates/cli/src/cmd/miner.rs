//! `alx miner run`: parses the arguments and prints the progress of `alx-neuron`'s miner loop
//! (see `alx_neuron::miner`): it copies `--weights` into the home's models/ (where the node's
//! gateway finds them by content hash), takes a miner uid serving the model, and reports the
//! uid's incentive and emission after every subnet epoch.

use super::{
    neuron::{chain, cli_error, print_event},
    wallet::TxOptions,
};
use crate::Globals;
use alx_client::Client;
use alx_neuron::miner::{self, MinerConfig};
use clap::Args;
use std::path::PathBuf;

/// `alx miner run`.
#[derive(Args)]
pub(crate) struct MinerArgs {
    /// The subnet (id or name).
    subnet: String,
    /// The model served (name or id; registered by the miner's key).
    #[arg(long)]
    model: String,
    /// The miner's key (owner of the model; not a key that validates the subnet).
    #[arg(long)]
    from: String,
    /// Where the model is served (default: this node's OpenAI-compatible API).
    #[arg(long)]
    endpoint: Option<String>,
    /// The model's weights, copied into the home's models/ so that the node serves them.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Stop after this many subnet epochs (default: run until stopped).
    #[arg(long)]
    epochs: Option<u64>,
    #[command(flatten)]
    opts: TxOptions,
}

pub(crate) fn run(g: &Globals, a: &MinerArgs) -> anyhow::Result<()> {
    let chain = chain(g, &a.from, a.opts.fee)?;
    let model = Client::new(&g.node).model(&a.model)?;
    if let Some(path) = &a.weights {
        miner::install_weights(path, &g.home.join("models")).map_err(cli_error)?;
    }
    let config = MinerConfig {
        subnet: a.subnet.clone(),
        key: a.from.clone(),
        endpoint: a.endpoint.clone().unwrap_or_else(|| format!("{}/v1", g.node)),
        epochs: a.epochs,
    };
    miner::run(&chain, &model, &config, &mut |e| print_event(g, e)).map_err(cli_error)
}
