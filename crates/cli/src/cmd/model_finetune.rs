//! `alx model finetune`: a LoRA adapter trained on datanet versions (`alx_model::train`). The
//! contributions of each version are fetched from the node, each blob checked against its
//! hash and the version's Merkle root recomputed from them; then the run, with a progress bar
//! (or `--json` events, one per line), and the adapter written with its manifest
//! (`alx_types::model::AdapterManifest`), whose hash a model registers as its adapter.

use crate::{Globals, output::coded};
use alx_client::Client;
use alx_model::train::{
    Corpus, Event, ExampleKey, FinetuneOptions, FrozenBase, Sample, TrainConfig, finetune,
};
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
    /// Tokens per training window (2 to 8192).
    #[arg(long, default_value_t = 128)]
    window: usize,
    /// Windows per step, their gradients accumulated (1 to 1024).
    #[arg(long, default_value_t = 4)]
    micro_batches: usize,
    /// How documents are read: `chat` renders JSON-lines conversations (`{"messages": [{"role",
    /// "content"}, …]}`) in the base's chat template, `completion` trains on every text as it
    /// is, `auto` takes conversations as chat and the rest as completion.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Share of documents held out to measure perplexity, in percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
    held_out_percent: u32,
    /// Share of the adapter's inputs dropped while training, in [0, 1) (0: off).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// The attention projections adapted, comma-separated from q, k, v, o.
    #[arg(long, value_delimiter = ',', default_value = "q,k,v,o", value_parser = projection)]
    targets: Vec<alx_model::train::Projection>,
    /// Seed of the adapter's initial values and dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the influence features (a gradient per contribution trained on, after training):
    /// the model's receipts then credit retrieval and spans only.
    #[arg(long)]
    no_influence: bool,
}

fn projection(s: &str) -> Result<alx_model::train::Projection, String> {
    use alx_model::train::Projection;
    match s.trim() {
        "q" => Ok(Projection::Q),
        "k" => Ok(Projection::K),
        "v" => Ok(Projection::V),
        "o" => Ok(Projection::O),
        other => Err(format!("{other:?} is not a projection: give q, k, v or o")),
    }
}

/// How training documents are read.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Format {
    /// Conversations as chat, the rest as completion.
    Auto,
    /// Every document as plain text.
    Completion,
    /// Conversations only, in the chat template.
    Chat,
}

/// The training samples of a contribution's bytes, in `format`.
fn samples(
    media: alx_types::datanet::MediaType,
    bytes: &[u8],
    format: Format,
) -> anyhow::Result<Vec<Sample>> {
    use alx_blobs::ingest::{Line, json_lines};
    let not_chat = || {
        coded(
            "not_chat",
            "--format chat takes JSON-lines conversations only; this datanet version holds plain text",
            "use --format auto (or completion), or a datanet of {\"messages\": [...]} lines",
        )
    };
    if media != alx_types::datanet::MediaType::Jsonl {
        if format == Format::Chat {
            return Err(not_chat());
        }
        return Ok(alx_blobs::ingest::documents(media, bytes)?
            .into_iter()
            .map(Sample::Text)
            .collect());
    }
    json_lines(bytes)?
        .into_iter()
        .map(|line| match (line, format) {
            (Line::Chat(m), Format::Auto | Format::Chat) => Ok(Sample::Chat(
                // Ingest admits only the template's roles.
                m.into_iter()
                    .map(|(role, content)| {
                        let role =
                            alx_model::Role::from_name(&role).unwrap_or(alx_model::Role::User);
                        alx_model::Message::new(role, content)
                    })
                    .collect(),
            )),
            (Line::Text(_), Format::Chat) => Err(not_chat()),
            (line, _) => Ok(Sample::Text(line.text())),
        })
        .collect()
}

/// The documents of one datanet version, checked against its root.
fn documents(
    client: &Client,
    d: DatanetVersionRef,
    format: Format,
) -> anyhow::Result<(TrainedOn, Vec<(ExampleKey, Sample)>)> {
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
        let key = (d.datanet.0, c.id.0);
        docs.extend(samples(c.content.media_type, &bytes, format)?.into_iter().map(|s| (key, s)));
    }
    let trained = TrainedOn {
        datanet: d.datanet,
        version: d.version,
        root: version.root,
        contributions: contributions.len() as u64,
    };
    Ok((trained, docs))
}

/// The longest training window, in tokens.
const WINDOW_MAX: usize = 8_192;
/// The most windows in one step.
const MICRO_BATCHES_MAX: usize = 1_024;

/// A fine-tune, fully specified: what `alx model finetune` builds from its flags and
/// `alx model verify-adapter` from a manifest.
struct Plan {
    base_path: PathBuf,
    datanets: Vec<DatanetVersionRef>,
    train: TrainConfig,
    window: usize,
    micro_batches: usize,
    held_out_bps: u32,
    format: Format,
    /// How the influence features are sketched and scored (`None`: not computed).
    influence: Option<alx_model::train::Scoring>,
}

/// Runs `plan` into `out` (resuming from a checkpoint there) and writes the adapter and its
/// manifest; returns the manifest, its bytes and the run's report.
/// With `json_events`, each event is a JSON line on stdout (for `finetune --json`).
fn run_plan(
    g: &Globals,
    plan: &Plan,
    out: &std::path::Path,
    json_events: bool,
) -> anyhow::Result<(AdapterManifest, Vec<u8>, alx_model::train::FinetuneReport)> {
    plan.train.validate().map_err(|e| {
        coded(
            "bad_hyperparameters",
            e.to_string(),
            "see `alx model finetune --help` for the ranges",
        )
    })?;
    let window_ok = (2..=WINDOW_MAX).contains(&plan.window);
    if !window_ok || !(1..=MICRO_BATCHES_MAX).contains(&plan.micro_batches) {
        return Err(coded(
            "bad_hyperparameters",
            format!(
                "window {} and micro-batches {}: a window is 2 to {WINDOW_MAX} tokens, a step 1 \
                 to {MICRO_BATCHES_MAX} windows",
                plan.window, plan.micro_batches
            ),
            "see `alx model finetune --help` for the ranges",
        ));
    }
    let client = Client::new(&g.node);
    let (mut trained_on, mut keys, mut docs) = (Vec::new(), Vec::new(), Vec::new());
    for d in &plan.datanets {
        let (t, more) = documents(&client, *d, plan.format)?;
        trained_on.push(t);
        for (key, sample) in more {
            keys.push(key);
            docs.push(sample);
        }
    }
    std::fs::create_dir_all(out)?;
    let load = alx_model::LoadConfig {
        threads: alx_model::kernel_threads(),
        ..alx_model::LoadConfig::DEFAULT
    };
    let tokenizer = alx_model::Model::load(&plan.base_path, &load)?;
    let corpus = Corpus::from_samples(
        tokenizer.tokenizer(),
        tokenizer.chat_template(),
        &docs,
        plan.window,
        plan.held_out_bps,
    )
    .map_err(|e| match e {
        alx_model::Error::InvalidConfig { .. } => coded(
            "datanet_too_small",
            format!("{} documents cannot be split for training: {e}", docs.len()),
            "train on a datanet version with at least two documents (or add --datanet)",
        ),
        other => other.into(),
    })?;
    let examples = super::model_influence::examples(&tokenizer, &corpus, &keys, &docs)?;
    drop(tokenizer);
    let base = FrozenBase::load(&plan.base_path, plan.window + 1)?;
    let options = FinetuneOptions {
        train: plan.train.clone(),
        micro_batches: plan.micro_batches,
        checkpoint_every: 10,
    };
    let (adapter_path, checkpoint) =
        (out.join("adapter.safetensors"), out.join("checkpoint.safetensors"));
    let bar = (!g.json).then(|| {
        let bar = indicatif::ProgressBar::new(plan.train.total_steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = finetune(&base, &corpus, &options, (&adapter_path, &checkpoint), |e| {
        if json_events {
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
    let influence = match &plan.influence {
        None => None,
        Some(scoring) => super::model_influence::features(
            g,
            (&base, &plan.train, &adapter_path),
            &examples,
            plan.window,
            scoring,
            &out.join("influence.safetensors"),
        )?,
    };
    let manifest = AdapterManifest {
        base_model: super::model::file_hash(&plan.base_path)?,
        adapter: super::model::file_hash(&adapter_path)?,
        datanets: trained_on,
        hyperparameters: serde_json::to_value(&options.train)?,
        data: serde_json::json!({
            "window": plan.window,
            "micro_batches": plan.micro_batches,
            "held_out_bps": plan.held_out_bps,
            "format": plan.format,
            "train_windows": corpus.train.len(),
            "held_out_windows": corpus.held_out.len(),
        }),
        engine: format!("alx-model {}", env!("CARGO_PKG_VERSION")),
        held_out_perplexity_before: report.held_out_perplexity_before,
        held_out_perplexity_after: report.held_out_perplexity_after,
        steps: report.steps,
        influence,
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(out.join("manifest.json"), &bytes)?;
    Ok((manifest, bytes, report))
}

pub(crate) fn run(g: &Globals, a: &FinetuneArgs) -> anyhow::Result<()> {
    let mut train = TrainConfig { lr: a.lr, ..TrainConfig::new(a.steps) };
    train.lora.rank = a.rank;
    train.lora.alpha = a.alpha;
    train.lora.seed = a.seed;
    train.lora.dropout = a.dropout;
    train.lora.targets = a.targets.clone();
    // Checked before anything is fetched or loaded.
    train.validate().map_err(|e| {
        coded(
            "bad_hyperparameters",
            e.to_string(),
            "see `alx model finetune --help` for the ranges",
        )
    })?;
    let plan = Plan {
        base_path: super::model_fetch::file_or_smollm2(&g.home, &a.base)?,
        datanets: a.datanets.clone(),
        train,
        window: a.window,
        micro_batches: a.micro_batches,
        held_out_bps: a.held_out_percent * 100,
        format: a.format,
        influence: (!a.no_influence).then_some(alx_model::train::Scoring::DEFAULT),
    };
    let (_, bytes, report) = run_plan(g, &plan, &a.out, g.json)?;
    let (adapter_path, manifest_path) =
        (a.out.join("adapter.safetensors"), a.out.join("manifest.json"));
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

/// `alx model verify-adapter`.
#[derive(Args)]
pub(crate) struct VerifyAdapterArgs {
    /// A manifest.json, or a registered model (name or id) whose manifest the node holds.
    manifest: String,
    /// The base model the manifest names: a GGUF file, or `smollm2`.
    #[arg(long, default_value = "smollm2")]
    base: String,
}

/// The manifest at a path, or the one a registered model names (fetched and checked against
/// its hash).
fn manifest_of(g: &Globals, what: &str) -> anyhow::Result<(AdapterManifest, alx_types::Hash)> {
    let bytes = if std::path::Path::new(what).is_file() {
        std::fs::read(what)?
    } else {
        let client = Client::new(&g.node);
        let model = client.model(what)?;
        let hash = model.spec.adapter.ok_or_else(|| {
            coded("no_adapter", format!("model {what} has no adapter"), "give a fine-tuned model")
        })?;
        let (_, mut reader) = client.get_blob(&hash)?;
        let mut bytes = Vec::new();
        reader.by_ref().take(alx_gateway::MANIFEST_BYTES_MAX as u64 + 1).read_to_end(&mut bytes)?;
        if alx_blobs::blake3_hash(&bytes) != hash {
            return Err(coded(
                "blob_mismatch",
                "the node served another manifest than the model registers",
                "the node may be lying; try another --node",
            ));
        }
        bytes
    };
    let manifest = serde_json::from_slice(&bytes).map_err(|e| {
        coded(
            "bad_manifest",
            format!("not an adapter manifest: {e}"),
            "give the manifest.json `alx model finetune` wrote",
        )
    })?;
    Ok((manifest, alx_blobs::blake3_hash(&bytes)))
}

pub(crate) fn verify_adapter(g: &Globals, a: &VerifyAdapterArgs) -> anyhow::Result<()> {
    let (manifest, manifest_hash) = manifest_of(g, &a.manifest)?;
    let base_path = super::model_fetch::file_or_smollm2(&g.home, &a.base)?;
    if super::model::file_hash(&base_path)? != manifest.base_model {
        return Err(coded(
            "adapter_base_mismatch",
            format!("{} is not the base the adapter was trained on", base_path.display()),
            format!("give --base the GGUF file whose BLAKE3 is {}", to_hex(&manifest.base_model)),
        ));
    }
    let field = |name: &str| manifest.data.get(name).and_then(serde_json::Value::as_u64);
    let (Some(window), Some(micro_batches), Some(held_out_bps)) =
        (field("window"), field("micro_batches"), field("held_out_bps"))
    else {
        return Err(coded(
            "bad_manifest",
            "the manifest's data settings are incomplete",
            "give a manifest `alx model finetune` wrote",
        ));
    };
    let train: TrainConfig =
        serde_json::from_value(manifest.hyperparameters.clone()).map_err(|e| {
            coded(
                "bad_manifest",
                format!("its hyperparameters: {e}"),
                "give a manifest `alx model finetune` wrote",
            )
        })?;
    let plan = Plan {
        base_path,
        datanets: manifest
            .datanets
            .iter()
            .map(|t| DatanetVersionRef { datanet: t.datanet, version: t.version })
            .collect(),
        train,
        window: usize::try_from(window)?,
        micro_batches: usize::try_from(micro_batches)?,
        held_out_bps: u32::try_from(held_out_bps)?,
        // Manifests from before the format was recorded trained as `auto` does.
        format: manifest
            .data
            .get("format")
            .map(|f| serde_json::from_value(f.clone()))
            .transpose()
            .map_err(|e| {
                coded(
                    "bad_manifest",
                    format!("its data format: {e}"),
                    "give a manifest `alx model finetune` wrote",
                )
            })?
            .unwrap_or(Format::Auto),
        influence: manifest.influence.as_ref().map(alx_gateway::influence::scoring),
    };
    let scratch = tempfile::tempdir()?;
    let (again, _, report) = run_plan(g, &plan, scratch.path(), false)?;
    let same_roots = again.datanets == manifest.datanets;
    let same_influence = again.influence == manifest.influence;
    let matches = again.adapter == manifest.adapter && same_roots && same_influence;
    let doc = serde_json::json!({
        "manifest": to_hex(&manifest_hash),
        "matches": matches,
        "adapter_expected": to_hex(&manifest.adapter),
        "adapter_reproduced": to_hex(&again.adapter),
        "datanet_roots_match": same_roots,
        "influence_features_match": same_influence,
        "engine_expected": manifest.engine,
        "engine": again.engine,
        "held_out_perplexity_after": report.held_out_perplexity_after,
        "seconds": report.seconds,
    });
    if !matches {
        let engine = if again.engine == manifest.engine { "" } else { " (another engine version)" };
        let roots = if same_roots { "" } else { "; the datanet versions have other roots now" };
        let roots = if same_influence {
            roots.to_owned()
        } else {
            format!("{roots}; the influence features differ")
        };
        return Err(coded(
            "adapter_mismatch",
            format!(
                "the fine-tune reproduces adapter {}, the manifest names {}{engine}{roots}",
                to_hex(&again.adapter),
                to_hex(&manifest.adapter)
            ),
            "the adapter was not trained as its manifest says, or on another engine",
        ));
    }
    if g.json {
        println!("{doc}");
    } else {
        println!(
            "adapter {} reproduced from its manifest ({} steps, {:.0} s)",
            to_hex(&again.adapter),
            report.steps,
            report.seconds
        );
    }
    Ok(())
}
