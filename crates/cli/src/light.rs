//! The light client as the CLI uses it: started from the home's genesis file, asking the node
//! given by `--node` (which it does not trust) for proofs.

use crate::{Globals, output::coded};
use alx_client::Client;
use alx_light::{LightClient, ProofSource};
use alx_types::{
    Height,
    api::{EpochSetProof, FinalizationResponse},
};

/// The node's proof endpoints, for the light client.
pub(crate) struct NodeProofs<'a>(pub(crate) &'a Client);

impl ProofSource for NodeProofs<'_> {
    fn finalization(&self, height: Height) -> Result<FinalizationResponse, String> {
        self.0.finalization(height).map_err(|e| e.to_string())
    }

    fn epoch_set(&self, epoch: u64) -> Result<EpochSetProof, String> {
        self.0.epoch_set(epoch).map_err(|e| e.to_string())
    }
}

/// A light client trusting only `HOME/genesis.json`.
pub(crate) fn from_home(g: &Globals) -> anyhow::Result<LightClient> {
    let path = g.home.join("genesis.json");
    let genesis = alx_node::home::read_genesis(&path).map_err(|e| {
        coded(
            "no_genesis",
            format!("--proof checks the node's answer against the chain's genesis file: {e:#}"),
            "put the chain's genesis.json in --home (`alx up` makes it there), or drop --proof",
        )
    })?;
    LightClient::from_genesis(
        genesis.params.epoch_length,
        genesis.validators.iter().map(|v| v.address),
    )
    .map_err(|e| anyhow::anyhow!("the genesis file's validators are not a valid set: {e}"))
}

/// Why the node's answer is not believed.
pub(crate) fn refused(e: &alx_light::LightError) -> anyhow::Error {
    coded(
        "proof_refused",
        format!("the node's answer is not proven: {e}"),
        "the node may be lying or behind; ask another node with --node",
    )
}

/// What a `--proof` command checked: the block its answer comes from, and who finalized it.
#[derive(serde::Serialize)]
pub(crate) struct Verified {
    pub(crate) height: Height,
    pub(crate) epoch: u64,
    pub(crate) signers_needed: usize,
    pub(crate) validators: usize,
    pub(crate) epochs_followed: u64,
}

impl Verified {
    pub(crate) fn of(finalized: &alx_light::Finalized) -> Self {
        Self {
            height: finalized.header.height,
            epoch: finalized.header.epoch,
            signers_needed: finalized.quorum,
            validators: finalized.validators,
            epochs_followed: finalized.epochs_followed,
        }
    }
}

/// The header at `height`, shown final by a light client started from the home's genesis.
pub(crate) fn finalized(
    g: &Globals,
    client: &Client,
    height: Height,
) -> anyhow::Result<alx_light::Finalized> {
    from_home(g)?.finalized(&NodeProofs(client), height).map_err(|e| refused(&e))
}

/// State entries the node sent for `keys` (computed here), checked against the state root of
/// the block at `height`, which the light client shows final. Returns that block and the
/// proven values (`None`: the key is absent).
pub(crate) fn proven_entries(
    g: &Globals,
    client: &Client,
    height: Height,
    keys: &[Vec<u8>],
    entries: &[(Option<&str>, &alx_types::merkle::StateProof)],
) -> anyhow::Result<(alx_light::Finalized, Vec<Option<Vec<u8>>>)> {
    let finalized = finalized(g, client, height)?;
    if entries.len() != keys.len() {
        return Err(refused(&alx_light::LightError::Malformed {
            what: "proofs",
            detail: format!("{} entries for {} keys", entries.len(), keys.len()),
        }));
    }
    let mut values = Vec::with_capacity(keys.len());
    for (key, (value, proof)) in keys.iter().zip(entries) {
        let value = value.map(hex::decode).transpose()?;
        if !proof.verify(&finalized.header.state_root, key, value.as_deref()) {
            return Err(refused(&alx_light::LightError::BadStateProof { height: height.0 }));
        }
        values.push(value);
    }
    Ok((finalized, values))
}

/// An account's rewards and prepaid deposit, read from proven state.
#[derive(serde::Serialize)]
pub(crate) struct ProvenRewards {
    pub(crate) address: alx_types::Address,
    pub(crate) claimable: alx_types::Amount,
    pub(crate) earned: alx_types::Amount,
    pub(crate) prepaid: alx_types::Amount,
    #[serde(flatten)]
    pub(crate) verified: Verified,
}

/// Reads `who`'s rewards record and prepaid deposit from the state of a finalized block, the
/// values decoded from the proven bytes.
pub(crate) fn proven_rewards(
    g: &Globals,
    client: &Client,
    who: &alx_types::Address,
) -> anyhow::Result<ProvenRewards> {
    use commonware_codec::{Copying, DecodeExt as _};
    let keys = [alx_state::rewards_key(who), alx_state::prepaid_key(who)];
    let resp = client.proofs(&keys)?;
    let keyed = resp.entries.iter().zip(&keys).all(|(e, k)| e.key == hex::encode(k));
    if !keyed {
        return Err(refused(&alx_light::LightError::BadStateProof { height: resp.height.0 }));
    }
    let entries: Vec<_> = resp.entries.iter().map(|e| (e.value.as_deref(), &e.proof)).collect();
    let (finalized, values) = proven_entries(g, client, resp.height, &keys, &entries)?;
    let bad = |e: commonware_codec::Error| anyhow::anyhow!("a proven record does not decode: {e}");
    let rewards = match &values[0] {
        Some(bytes) => alx_state::Rewards::decode(Copying(bytes.as_slice())).map_err(bad)?,
        None => alx_state::Rewards::default(),
    };
    let prepaid = match &values[1] {
        Some(bytes) => alx_types::Amount::decode(Copying(bytes.as_slice())).map_err(bad)?,
        None => alx_types::Amount::ZERO,
    };
    Ok(ProvenRewards {
        address: *who,
        claimable: rewards.claimable,
        earned: rewards.earned,
        prepaid,
        verified: Verified::of(&finalized),
    })
}
