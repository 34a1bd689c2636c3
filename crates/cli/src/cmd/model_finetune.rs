//! `alx model finetune`: a LoRA adapter trained on datanet versions (`alx_model::train`). The
//! contributions of each version are fetched from the node, each blob checked against its
//! hash and the version's Merkle root recomputed from them; then the run, with a progress bar
//! (or `--json` events, one per line), and the adapter written with its manifest
//! (`alx_types::model::AdapterManifest`), whose hash a model registers as its adapter.

use crate::{Globals, output::coded};
use alx_client::Client;
use alx_model::train::{Corpus, Event, FinetuneOptions, FrozenBase, TrainConfig, finetune};
use alx_types::{
    datanet::contribution_leaf,
    hash::to_hex,
    merkle::list_root,
    model::{AdapterManifest, DatanetVersionRef, TrainedOn},
};
use clap::Args;
use std::{io::Read as _, path::PathBuf};

/// `alx model finetune`.
#[derive(Args)]
pub(crate) struct FinetuneArgs {
    /// The base model: a GGUF file, or `smollm2` (fetched into the home's models/ if missing).
    #[arg(long)]
    base: String,
    /// A datanet version to train on, as DATANET@VERSION (repeatable).
    #[arg(long = "datanet", value_parser = super::model::datanet_version, required = true)]
    datanets: Vec<DatanetVersionRef>,
    /// Where the adapter, its manifest and the checkpoint go (a run there resumes from its
    /// checkpoint).
    #[arg(long)]
    out: PathBuf,
    /// Optimizer steps.
    #[arg(long, default_value_t = 100)]
    steps: u64,
    /// Adapter rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// Adapter scale α (the update is multiplied by α / rank).
    #[arg(long, default_value_t = 16.0)]
    alpha: f32,
    /// Peak learning rate (after a warm-up of a tenth of the steps, then cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Tokens per training window.
    #[arg(long, default_value_t = 128)]
    window: usize,
    /// Windows per step (their gradients accumulated).
    #[arg(long, default_value_t = 4)]
    micro_batches: usize,
    /// Share of documents held out to measure perplexity, in percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
    held_out_percent: u32,
    /// Seed of the adapter's initial values.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The documents of one datanet version, checked against its root.
fn documents(client: &Client, d: DatanetVersionRef) -> anyhow::Result<(TrainedOn, Vec<String>)> {
    let version = client.datanet_version(d.datanet, d.version)?;
    let mut contributions: Vec<_> = client
        .contributions(d.datanet, Some("approved"))?
        .into_iter()
        .filter(|c| (1..=d.version).contains(&c.first_version))
        .collect();
    contributions.sort_by_key(|c| c.id);
    let leaves: Vec<_> =
        contributions.iter().map(|c| contribution_leaf(c.id, &c.content, &c.contributor)).collect();
    if list_root(&leaves) != version.root {
        return Err(coded(
            "root_mismatch",
            format!(
                "the contributions the node lists do not rebuild the root of datanet {}@{}",
                d.datanet, d.version
            ),
            "the node may be lying or behind; try another --node",
        ));
    }
    let mut docs = Vec::new();
    for c in &contributions {
        let (_, mut reader) = client.get_blob(&c.content.hash)?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        if alx_blobs::blake3_hash(&bytes) != c.content.hash {
            return Err(coded(
                "blob_mismatch",
                format!(
                    "contribution {} of datanet {}: the bytes served are not its content",
                    c.id, d.datanet
                ),
                "the node may be lying; try another --node",
            ));
        }
        docs.extend(alx_blobs::ingest::documents(c.content.media_type, &bytes)?);
    }
    let trained = TrainedOn {
        datanet: d.datanet,
        version: d.version,
        root: version.root,
        contributions: contributions.len() as u64,
    };
    Ok((trained, docs))
}

pub(crate) fn run(g: &Globals, a: &FinetuneArgs) -> anyhow::Result<()> {
    let base_path = if a.base == "smollm2" {
        super::model_fetch::fetch_smollm2(&g.home.join("models"))?
    } else {
        PathBuf::from(&a.base)
    };
    let client = Client::new(&g.node);
    let (mut trained_on, mut docs) = (Vec::new(), Vec::new());
    for d in &a.datanets {
        let (t, mut more) = documents(&client, *d)?;
        trained_on.push(t);
        docs.append(&mut more);
    }
    std::fs::create_dir_all(&a.out)?;
    let tokenizer = alx_model::Model::load(&base_path, &alx_model::LoadConfig::DEFAULT)?;
    let corpus = Corpus::new(tokenizer.tokenizer(), &docs, a.window, a.held_out_percent * 100)?;
    drop(tokenizer);
    let base = FrozenBase::load(&base_path, a.window + 1)?;
    let mut train = TrainConfig { lr: a.lr, ..TrainConfig::new(a.steps) };
    train.lora.rank = a.rank;
    train.lora.alpha = a.alpha;
    train.lora.seed = a.seed;
    let options = FinetuneOptions { train, micro_batches: a.micro_batches, checkpoint_every: 10 };
    let (adapter_path, checkpoint) =
        (a.out.join("adapter.safetensors"), a.out.join("checkpoint.safetensors"));
    let bar = (!g.json).then(|| {
        let bar = indicatif::ProgressBar::new(a.steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = finetune(&base, &corpus, &options, (&adapter_path, &checkpoint), |e| {
        if g.json {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        }
        if let (Some(bar), Event::Step { report, tokens_per_s, .. }) = (&bar, e) {
            bar.set_position(report.step + 1);
            bar.set_message(format!("loss {:.3}  {tokens_per_s:.0} tok/s", report.loss));
        }
        if let (Some(bar), Event::Start { from_step, .. }) = (&bar, e) {
            bar.set_position(*from_step);
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let manifest = AdapterManifest {
        base_model: super::model::file_hash(&base_path)?,
        adapter: super::model::file_hash(&adapter_path)?,
        datanets: trained_on,
        hyperparameters: serde_json::to_value(&options.train)?,
        data: serde_json::json!({
            "window": a.window,
            "micro_batches": a.micro_batches,
            "held_out_bps": a.held_out_percent * 100,
            "train_windows": corpus.train.len(),
            "held_out_windows": corpus.held_out.len(),
        }),
        engine: format!("alx-model {}", env!("CARGO_PKG_VERSION")),
        held_out_perplexity_before: report.held_out_perplexity_before,
        held_out_perplexity_after: report.held_out_perplexity_after,
        steps: report.steps,
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    let manifest_path = a.out.join("manifest.json");
    std::fs::write(&manifest_path, &bytes)?;
    // BLAKE3, as the blob store keys the bytes it holds.
    let hash = to_hex(&alx_blobs::blake3_hash(&bytes));
    let done = serde_json::json!({
        "event": "done",
        "adapter": adapter_path,
        "manifest": manifest_path,
        "manifest_blake3": hash,
        "report": report,
    });
    if g.json {
        println!("{done}");
    } else {
        println!(
            "adapter {} ({} steps, {:.0} s)\nheld-out perplexity {:.2} → {:.2}\nmanifest {} (blake3 {hash})",
            adapter_path.display(),
            report.steps,
            report.seconds,
            report.held_out_perplexity_before,
            report.held_out_perplexity_after,
            manifest_path.display()
        );
    }
    Ok(())
}
