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

/// An account's rewards and prepaid deposit, read from proven state.
#[derive(serde::Serialize)]
pub(crate) struct ProvenRewards {
    pub(crate) address: alx_types::Address,
    pub(crate) claimable: alx_types::Amount,
    pub(crate) earned: alx_types::Amount,
    pub(crate) prepaid: alx_types::Amount,
    pub(crate) height: Height,
    pub(crate) epoch: u64,
    pub(crate) signers_needed: usize,
    pub(crate) validators: usize,
}

/// Reads `who`'s rewards record and prepaid deposit from the state of a finalized block: the
/// keys are computed here, the node's proofs checked against the state root of the header the
/// light client shows final, and the values decoded from the proven bytes.
pub(crate) fn proven_rewards(
    g: &Globals,
    client: &Client,
    who: &alx_types::Address,
) -> anyhow::Result<ProvenRewards> {
    use commonware_codec::{Copying, DecodeExt as _};
    let keys = [alx_state::rewards_key(who), alx_state::prepaid_key(who)];
    let resp = client.proofs(&keys)?;
    let mut light = from_home(g)?;
    let finalized = light.finalized(&NodeProofs(client), resp.height).map_err(|e| refused(&e))?;
    if resp.entries.len() != keys.len() {
        return Err(refused(&alx_light::LightError::Malformed {
            what: "proofs",
            detail: format!("{} entries for {} keys", resp.entries.len(), keys.len()),
        }));
    }
    let mut values = Vec::new();
    for (key, entry) in keys.iter().zip(&resp.entries) {
        let value = entry.value.as_deref().map(hex::decode).transpose()?;
        if entry.key != hex::encode(key)
            || !entry.proof.verify(&finalized.header.state_root, key, value.as_deref())
        {
            return Err(refused(&alx_light::LightError::BadStateProof { height: resp.height.0 }));
        }
        values.push(value);
    }
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
        height: resp.height,
        epoch: finalized.header.epoch,
        signers_needed: finalized.quorum,
        validators: finalized.validators,
    })
}
