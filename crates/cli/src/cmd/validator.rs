//! `alx validator run`: parses the arguments and prints the progress of `alx-neuron`'s
//! validator loop (see `alx_neuron::validator`): it refuses a key that holds a miner's uid or
//! has no stake, bonds `--stake` first when asked, waits for a validator permit, and every
//! subnet epoch reveals the weights it committed (saved with their salt in `<home>/weights/`,
//! so a restart reveals them too), scores the miners and commits anew. Miners are scored as
//! users are served (`--score served`: the node's gateway, retrieval included) or on their
//! bare weights in this process (`--score weights`).

use super::{
    neuron::{chain, cli_error, print_event, store},
    wallet::{TxOptions, amount},
};
use crate::Globals;
use alx_client::Client;
use alx_gateway::{AdapterSource, Adapters, Catalog};
use alx_model::LoadConfig;
use alx_neuron::{
    NeuronError,
    score::{HeldOutConfig, HeldOutScorer, ModelSource, Scorer, Weights},
    served::ServedScorer,
    validator::{self, ValidatorConfig},
};
use alx_types::{Address, Amount, Hash, model::ModelSpec};
use clap::Args;
use std::{io::Read as _, path::PathBuf, sync::Arc};

/// Memory the miners' adapters may hold at once (least recently used first out).
const ADAPTER_MEMORY: u64 = 512 << 20;

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
    /// How miners are scored. `served`: by the node (--node must be this machine's), through
    /// the code that serves users: the model's adapter, passages retrieved from its datanet
    /// versions, the chat or completion prompt. `weights`: the base weights and adapter in
    /// this process, without retrieval (for a node that does not serve the miners' bases).
    #[arg(long, value_enum, default_value_t = ScoreMode::Served)]
    score: ScoreMode,
    /// With --score weights: where the miners' weight files are, found by content hash
    /// (default: the home's models/).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    #[command(flatten)]
    opts: TxOptions,
}

/// How `alx validator run` scores miners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ScoreMode {
    /// By the node, as users are served.
    Served,
    /// On the weights, in this process.
    Weights,
}

/// The miners' weights: bases from the gateway's catalog of a model directory, adapters
/// from the node's blob store (checked by the gateway's loader, as serving checks them).
struct Models {
    catalog: Catalog,
    adapters: Adapters,
}

/// Blobs read through the node's API.
struct NodeBlobs(Client);

impl AdapterSource for NodeBlobs {
    fn fetch(&self, hash: &Hash, max_bytes: usize) -> Result<Option<Vec<u8>>, String> {
        let (_, reader) = match self.0.get_blob(hash) {
            Ok(found) => found,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let mut bytes = Vec::new();
        reader.take(max_bytes as u64 + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        if bytes.len() > max_bytes {
            return Err(format!("more than {max_bytes} bytes"));
        }
        Ok(Some(bytes))
    }
}

impl ModelSource for Models {
    fn model(&self, spec: &ModelSpec) -> Result<Option<Weights>, NeuronError> {
        let Some(model) = self.catalog.get(&spec.base_model)? else { return Ok(None) };
        let adapter = match &spec.adapter {
            None => None,
            Some(manifest) => Some(
                self.adapters
                    .get(spec, manifest, &model.info().params)
                    .map_err(|e| NeuronError::Adapter(e.to_string()))?
                    .adapter,
            ),
        };
        Ok(Some(Weights { model, adapter }))
    }

    fn location(&self) -> PathBuf {
        self.catalog.dir().to_owned()
    }
}

pub(crate) fn run(g: &Globals, a: &ValidatorArgs) -> anyhow::Result<()> {
    if a.models_dir.is_some() && a.score == ScoreMode::Served {
        anyhow::bail!(
            "--models-dir is where --score weights finds the miners' weights; the node finds them \
             when scoring as served (drop --models-dir, or add --score weights)"
        );
    }
    let chain = chain(g, &a.from, a.opts.fee)?;
    let held_out = HeldOutConfig { eval_tokens: a.eval_tokens, eval_questions: a.eval_questions };
    let mut scorer: Box<dyn Scorer> = match a.score {
        ScoreMode::Served => Box::new(ServedScorer::new(Client::new(&g.node), held_out)),
        ScoreMode::Weights => {
            let dir = a.models_dir.clone().unwrap_or_else(|| g.home.join("models"));
            let blobs = Arc::new(NodeBlobs(Client::new(&g.node)));
            let models = Models {
                catalog: Catalog::new(&dir, LoadConfig::DEFAULT),
                adapters: Adapters::new(Some(blobs), ADAPTER_MEMORY).without_influence(),
            };
            Box::new(HeldOutScorer::new(Client::new(&g.node), models, held_out))
        }
    };
    let config = ValidatorConfig {
        subnet: a.subnet.clone(),
        key: a.from.clone(),
        stake: a.stake,
        stake_to: a.stake_to,
        permit_wait_epochs: a.permit_wait_epochs,
        epochs: a.epochs,
    };
    validator::run(&chain, &store(g), scorer.as_mut(), &config, &mut |e| print_event(g, e))
        .map_err(cli_error)
}
