//! `alx validator run`: parses the arguments and prints the progress of `alx-neuron`'s
//! validator loop (see `alx_neuron::validator`): it refuses a key that holds a miner's uid or
//! has no stake, bonds `--stake` first when asked, waits for a validator permit, and every
//! subnet epoch reveals the weights it committed (saved with their salt in `<home>/weights/`,
//! so a restart reveals them too), scores the miners and commits anew.

use super::{
    neuron::{chain, cli_error, print_event, store},
    wallet::{TxOptions, amount},
};
use crate::Globals;
use alx_client::Client;
use alx_gateway::Catalog;
use alx_model::{LoadConfig, Model};
use alx_neuron::{
    NeuronError,
    score::{HeldOutConfig, HeldOutScorer, ModelSource},
    validator::{self, ValidatorConfig},
};
use alx_types::{Address, Amount, Hash};
use clap::Args;
use std::{path::PathBuf, sync::Arc};

/// `alx validator run`.
#[derive(Args)]
pub(crate) struct ValidatorArgs {
    /// The subnet (id or name).
    subnet: String,
    /// The validator's key: not a key that holds a miner's uid in the subnet (a key holds one
    /// uid per subnet), and with bonded stake, which its weights count with (see --stake).
    #[arg(long)]
    from: String,
    /// Bond stake up to this many ALX of the key's balance to a chain validator before
    /// registering, when the key has less bonded.
    #[arg(long, value_parser = amount)]
    stake: Option<Amount>,
    /// The chain validator --stake bonds to (default: the first active one).
    #[arg(long, requires = "stake")]
    stake_to: Option<Address>,
    /// Subnet epochs to wait for a validator permit before giving up (permits are handed out
    /// at each epoch to the subnet's top validators by stake).
    #[arg(long, default_value_t = 8)]
    permit_wait_epochs: u64,
    /// Held-out tokens scored per model and epoch.
    #[arg(long, default_value_t = 1024)]
    eval_tokens: usize,
    /// Held-out questions asked per model and epoch, from JSONL contributions whose lines have
    /// `question` and `answer` (or `prompt` and `completion`); 0 scores likelihood only.
    #[arg(long, default_value_t = 16)]
    eval_questions: usize,
    /// Stop after revealing weights this many times (default: run until stopped).
    #[arg(long)]
    epochs: Option<u64>,
    /// Where the miners' weight files are, found by content hash (default: the home's models/).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    #[command(flatten)]
    opts: TxOptions,
}

/// The miners' weights, from the gateway's catalog of a model directory.
struct Models(Catalog);

impl ModelSource for Models {
    fn model(&self, hash: &Hash) -> Result<Option<Arc<Model>>, NeuronError> {
        Ok(self.0.get(hash)?)
    }

    fn location(&self) -> PathBuf {
        self.0.dir().to_owned()
    }
}

pub(crate) fn run(g: &Globals, a: &ValidatorArgs) -> anyhow::Result<()> {
    let chain = chain(g, &a.from, a.opts.fee)?;
    let dir = a.models_dir.clone().unwrap_or_else(|| g.home.join("models"));
    let models = Models(Catalog::new(&dir, LoadConfig::DEFAULT));
    let held_out = HeldOutConfig { eval_tokens: a.eval_tokens, eval_questions: a.eval_questions };
    let mut scorer = HeldOutScorer::new(Client::new(&g.node), models, held_out);
    let config = ValidatorConfig {
        subnet: a.subnet.clone(),
        key: a.from.clone(),
        stake: a.stake,
        stake_to: a.stake_to,
        permit_wait_epochs: a.permit_wait_epochs,
        epochs: a.epochs,
    };
    validator::run(&chain, &store(g), &mut scorer, &config, &mut |e| print_event(g, e))
        .map_err(cli_error)
}
