//! `alx validator run`: a subnet validator. Each subnet epoch it reveals the weights it
//! committed in the previous epoch, scores every miner's model on the subnet's held-out data
//! (`evaluate`: likelihood per byte of the held-out text, and, where the data has
//! question/answer pairs, the share of questions answered correctly), and commits the new
//! weights, so that nobody sees them before they are fixed.
//!
//! The salt of the outstanding commit lives in memory: a restarted validator lets that commit
//! expire and commits again.

use super::{
    evaluate::{self, HeldOut, Score},
    evaluate_qa, neuron,
    wallet::TxOptions,
};
use crate::{Globals, output::hinted, wallet};
use alx_client::Client;
use alx_gateway::Catalog;
use alx_model::LoadConfig;
use alx_types::{
    Address, ErrorCode,
    subnet::{Salt, SubnetOp, Uid, weights_commit},
    subnet_api::NeuronRole,
};
use clap::Args;
use commonware_cryptography::Signer as _;
use std::path::PathBuf;

/// `alx validator run`.
#[derive(Args)]
pub(crate) struct ValidatorArgs {
    /// The subnet (id or name).
    subnet: String,
    /// The validator's key (registered as the subnet's validator on the first run; the uid's
    /// stake is the key's bonded stake, see `alx stake bond`).
    #[arg(long)]
    from: String,
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

/// Weights committed and not yet revealed.
struct Pending {
    epoch: u64,
    dests: Vec<Uid>,
    values: Vec<u16>,
    salt: Salt,
}

pub(crate) fn run(g: &Globals, a: &ValidatorArgs) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    let me = Address::from_public_key(&wallet::unlock(g, &a.from)?.public_key());
    let subnet = client.subnet(&a.subnet)?;
    let register = SubnetOp::RegisterValidator { subnet: subnet.id };
    let uid = neuron::ensure_uid(g, &client, &a.subnet, (&me, &a.from), a.opts.fee, register)?;
    eprintln!("validator uid {uid} in subnet {} ({})", subnet.id, subnet.spec.name);
    let dir = a.models_dir.clone().unwrap_or_else(|| g.home.join("models"));
    let catalog = Catalog::new(&dir, LoadConfig::DEFAULT);
    let mut pending: Option<Pending> = None;
    let mut revealed = 0u64;
    let mut seen = client.subnet(&a.subnet)?.epochs;
    loop {
        if let Some(p) = pending.take() {
            let op = SubnetOp::RevealWeights {
                subnet: subnet.id,
                dests: p.dests.clone(),
                values: p.values.clone(),
                salt: p.salt,
            };
            // The chain decides the epoch of each transaction by its block: a commit sent
            // near an epoch's end may land in the next one, making this reveal early.
            match neuron::try_send(g, &a.from, a.opts.fee, op)? {
                None => {
                    revealed += 1;
                    eprintln!("epoch {seen}: revealed the weights committed in epoch {}", p.epoch);
                }
                Some((ErrorCode::RevealTooEarly, _)) => {
                    eprintln!("epoch {seen}: too early to reveal; waiting an epoch");
                    pending = Some(p);
                    seen = neuron::next_epoch(&client, &a.subnet, seen)?.epochs;
                    continue;
                }
                Some((code, hash)) => {
                    eprintln!(
                        "epoch {seen}: reveal refused ({}, {hash}); committing anew",
                        code.as_str()
                    );
                }
            }
        }
        if a.epochs.is_some_and(|n| revealed >= n) {
            return Ok(());
        }
        pending = Some(commit(g, a, &client, &catalog, subnet.id, uid, seen)?);
        seen = neuron::next_epoch(&client, &a.subnet, seen)?.epochs;
    }
}

/// Scores the miners, commits the weights, and returns what the reveal needs.
fn commit(
    g: &Globals,
    a: &ValidatorArgs,
    client: &Client,
    catalog: &Catalog,
    subnet: u64,
    uid: Uid,
    epoch: u64,
) -> anyhow::Result<Pending> {
    let info = client.subnet(&a.subnet)?;
    let held_out = evaluate::held_out(client, &info, a.eval_questions)?;
    if held_out.texts.is_empty() {
        return Err(hinted(
            "the subnet's datanet versions have no approved text to evaluate on",
            "contribute to the datanet and publish a version, then create a subnet naming it",
        ));
    }
    let graph = client.metagraph(&a.subnet)?;
    let miners: Vec<_> = graph.neurons.iter().filter(|n| n.kind == NeuronRole::Miner).collect();
    let mut scores: Vec<Option<Score>> = Vec::with_capacity(miners.len());
    for n in &miners {
        let score = n.model.map(|m| score_model(client, catalog, m, &held_out, a.eval_tokens));
        let score = match score {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                eprintln!("  uid {}: not scored: {e:#}", n.uid);
                None
            }
            None => None,
        };
        if let Some(s) = score {
            let answers = s
                .accuracy
                .map(|a| format!(", {}/{} answers", a.correct, a.asked))
                .unwrap_or_default();
            eprintln!(
                "  uid {}: {:.4} nats/byte{answers} ({} tokens, {} bytes)",
                n.uid, s.nats_per_byte, s.tokens, s.bytes
            );
        }
        scores.push(score);
    }
    let dests: Vec<Uid> = miners.iter().map(|n| n.uid).collect();
    let values = evaluate::weights(&scores);
    let mut salt: Salt = [0; 32];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for the salt: {e}"))?;
    let commit = weights_commit(subnet, uid, &dests, &values, &salt);
    neuron::send(g, &a.from, a.opts.fee, SubnetOp::CommitWeights { subnet, commit })?;
    eprintln!("epoch {epoch}: committed weights {values:?} for uids {dests:?}");
    Ok(Pending { epoch, dests, values, salt })
}

fn score_model(
    client: &Client,
    catalog: &Catalog,
    model: u64,
    held_out: &HeldOut,
    budget: usize,
) -> anyhow::Result<Score> {
    let record = client.model(&model.to_string())?;
    let hash = record.spec.base_model;
    let weights = catalog.get(&hash)?.ok_or_else(|| {
        anyhow::anyhow!(
            "weights {} are not in {}",
            alx_types::hash::to_hex(&hash),
            catalog.dir().display()
        )
    })?;
    let mut score = evaluate::score(&weights, &held_out.texts, budget)?;
    if !held_out.pairs.is_empty() {
        score.accuracy = Some(evaluate_qa::accuracy(&weights, &held_out.pairs)?);
    }
    Ok(score)
}
