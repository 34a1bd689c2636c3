//! `alx miner run`: a subnet miner. It makes sure the node serves the model (copying the
//! weights into the home's model directory, where the node's gateway finds them by content
//! hash), registers the model in the subnet with its serving endpoint, then reports the uid's
//! incentive and emission after every subnet epoch. Serving itself is the node's gateway:
//! requests reach the model by name, or as `subnet/NAME` while it is the subnet's top miner.

use super::{neuron, wallet::TxOptions};
use crate::{Globals, output::hinted, wallet};
use alx_client::Client;
use alx_types::{Address, subnet::SubnetOp};
use anyhow::Context as _;
use clap::Args;
use commonware_cryptography::Signer as _;
use std::path::PathBuf;

/// `alx miner run`.
#[derive(Args)]
pub(crate) struct MinerArgs {
    /// The subnet (id or name).
    subnet: String,
    /// The model served (name or id; registered by the miner's key).
    #[arg(long)]
    model: String,
    /// The miner's key (owner of the model).
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
    let client = Client::new(&g.node);
    let me = Address::from_public_key(&wallet::unlock(g, &a.from)?.public_key());
    let model = client.model(&a.model)?;
    if model.owner != me {
        return Err(hinted(
            format!("model {} belongs to {}, not to {}", model.spec.name, model.owner, a.from),
            "a miner serves a model its own key registered (`alx model register`)",
        ));
    }
    if let Some(path) = &a.weights {
        let dir = g.home.join("models");
        std::fs::create_dir_all(&dir)?;
        let dest = dir.join(path.file_name().context("the weights path names no file")?);
        if !dest.exists() {
            std::fs::copy(path, &dest)
                .with_context(|| format!("cannot copy {} to {}", path.display(), dest.display()))?;
        }
    }
    let subnet = client.subnet(&a.subnet)?;
    let endpoint = a.endpoint.clone().unwrap_or_else(|| format!("{}/v1", g.node));
    let register = SubnetOp::RegisterMiner { subnet: subnet.id, model: model.id, endpoint };
    let uid = neuron::ensure_uid(g, &client, &a.subnet, (&me, &a.from), a.opts.fee, register)?;
    eprintln!(
        "miner uid {uid} in subnet {} ({}) serving {} through {}/v1 (or model \"subnet/{}\" while it leads)",
        subnet.id, subnet.spec.name, model.spec.name, g.node, subnet.spec.name
    );
    let mut seen = subnet.epochs;
    let mut epochs = 0u64;
    while a.epochs.is_none_or(|n| epochs < n) {
        seen = neuron::next_epoch(&client, &a.subnet, seen)?.epochs;
        epochs += 1;
        let graph = client.metagraph(&a.subnet)?;
        match graph.neurons.iter().find(|n| n.uid == uid && n.address == me) {
            Some(n) => {
                let line = serde_json::json!({
                    "epoch": seen, "uid": uid, "incentive": n.incentive,
                    "consensus": n.consensus, "last_emission": n.last_emission,
                });
                if g.json {
                    println!("{line}");
                } else {
                    eprintln!(
                        "epoch {seen}: incentive {:.4}, emission {}",
                        f64::from(n.incentive) / 65_535.0,
                        n.last_emission
                    );
                }
            }
            None => anyhow::bail!("uid {uid} was pruned from subnet {}", subnet.id),
        }
    }
    Ok(())
}
