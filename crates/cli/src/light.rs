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
