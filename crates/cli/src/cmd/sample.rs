//! The sample `alx up` sets up on a new home: SmolLM2 as the base model, a datanet of Move
//! notes the project ships (contributed by bob), a model drawing on it (owned by alice), and
//! an API key paid by carol, saved in `sample.json` for `alx chat`.

use crate::{Globals, wallet};
use alx_client::Client;
use alx_types::{
    Address, Amount,
    datanet::{ContentRef, DatanetId, DatanetOp, DatanetSpec, MediaType, Policy},
    model::{DatanetVersionRef, FeeSplit, ModelOp, ModelSpec},
    tx::Payload,
    usage::UsageOp,
};
use serde::{Deserialize, Serialize};
use std::{path::Path, time::Duration};

/// The sample's name for the model.
pub(crate) const MODEL_NAME: &str = "smollm2-move";
/// Where `alx chat` finds its defaults.
pub(crate) const SAMPLE_FILE: &str = "sample.json";

const DOCS: [(&str, &str); 3] = [
    ("modules.md", include_str!("../../../../samples/move-basics/modules.md")),
    ("coins.md", include_str!("../../../../samples/move-basics/coins.md")),
    ("testing.md", include_str!("../../../../samples/move-basics/testing.md")),
];

/// What `alx chat` needs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Sample {
    pub(crate) api: String,
    pub(crate) model: String,
    pub(crate) api_key: String,
}

fn committed(sent: &[wallet::Sent]) -> anyhow::Result<()> {
    for s in sent {
        if let Some(c) = &s.committed
            && let Some(code) = c.receipt.error
        {
            anyhow::bail!("sample transaction {} failed: {}", s.hash, code.as_str());
        }
    }
    Ok(())
}

/// Runs the sample set-up against the node at `api`, whose node key is `provider` (it serves
/// and charges the sample's API key), blocking for a few seconds.
pub(crate) fn set_up(
    root: &Path,
    api: &str,
    weights: &Path,
    provider: Address,
) -> anyhow::Result<Sample> {
    let g = Globals { home: root.to_owned(), node: api.to_owned(), json: false };
    let client = Client::new(api);
    let fee = Amount(1_000);
    let alice = wallet::unlock(&g, "alice")?;
    let bob = wallet::unlock(&g, "bob")?;
    let carol = wallet::unlock(&g, "carol")?;
    let spec = DatanetSpec {
        name: "move-basics".into(),
        description: "Notes on the Move language: modules, resources, coins, testing".into(),
        tags: vec!["move".into()],
        license: "CC-BY-4.0".into(),
        policy: Policy::Open,
        contribution_fee: Amount::ZERO,
        contribution_stake: Amount::ZERO,
        daily_byte_cap: 0,
        curators: vec![],
        duplicate_threshold_bps: alx_types::availability::DUPLICATE_THRESHOLD_BPS_DEFAULT,
    };
    let datanet =
        DatanetId(client.status().map(|_| client.datanets(DatanetId(0), 500))??.len() as u64);
    committed(&wallet::send_all(
        &g,
        &alice,
        fee,
        vec![Payload::Datanet(DatanetOp::Create(Box::new(spec)))],
        true,
    )?)?;
    let mut offers = Vec::new();
    for (name, text) in DOCS {
        let stored = crate::cmd::blob::upload(
            &client,
            &bob,
            Path::new(name),
            text.as_bytes().to_vec(),
            Some(MediaType::Markdown),
            false,
        )?;
        let content =
            ContentRef { hash: stored.hash, size: stored.size, media_type: MediaType::Markdown };
        offers.push(Payload::Datanet(DatanetOp::Contribute { datanet, content }));
    }
    committed(&wallet::send_all(&g, &bob, fee, offers, true)?)?;
    // The validator confirms it holds the data before the contributions count.
    crate::cmd::datanet_data::wait_held(&client, datanet, Duration::from_secs(60))?;
    committed(&wallet::send_all(
        &g,
        &alice,
        fee,
        vec![Payload::Datanet(DatanetOp::PublishVersion { datanet })],
        true,
    )?)?;
    let version = client.datanet(datanet)?.datanet.version;
    let model = ModelSpec {
        name: MODEL_NAME.into(),
        base_model: super::model::file_hash(weights)?,
        adapter: None,
        datanets: vec![DatanetVersionRef { datanet, version }],
        price_input_per_1k: Amount(1_000_000),
        price_output_per_1k: Amount(2_000_000),
        split: FeeSplit::DEFAULT,
    };
    committed(&wallet::send_all(
        &g,
        &alice,
        fee,
        vec![Payload::Model(ModelOp::Register(Box::new(model)))],
        true,
    )?)?;
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let api_key = format!("{}{}", super::usage::API_KEY_PREFIX, hex::encode(raw));
    let pay = vec![
        Payload::Usage(UsageOp::Deposit {
            amount: Amount::parse_alx("100").map_err(|e| anyhow::anyhow!("{e}"))?,
        }),
        Payload::Usage(UsageOp::CreateApiKey {
            key_hash: super::usage::api_key_hash(&api_key),
            provider,
            allowance: Amount::parse_alx("100").map_err(|e| anyhow::anyhow!("{e}"))?,
        }),
    ];
    committed(&wallet::send_all(&g, &carol, fee, pay, true)?)?;
    // Wait for the node to index the version, so the first answer already cites it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.datanet(datanet)?.indexed_version < version && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let sample = Sample { api: api.to_owned(), model: MODEL_NAME.into(), api_key };
    std::fs::write(root.join(SAMPLE_FILE), serde_json::to_vec_pretty(&sample)?)?;
    Ok(sample)
}

/// Points the saved sample of `root` (if any) at `api`, the address the node serves now (a
/// resumed home may serve elsewhere than when the sample was made).
pub(crate) fn point_at(root: &Path, api: &str) -> anyhow::Result<()> {
    let Some(mut sample) = load(root) else { return Ok(()) };
    if sample.api != api {
        api.clone_into(&mut sample.api);
        std::fs::write(root.join(SAMPLE_FILE), serde_json::to_vec_pretty(&sample)?)?;
    }
    Ok(())
}

/// The saved sample of a home, if any.
pub(crate) fn load(root: &Path) -> Option<Sample> {
    serde_json::from_slice(&std::fs::read(root.join(SAMPLE_FILE)).ok()?).ok()
}
