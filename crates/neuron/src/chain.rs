//! What a neuron needs from the chain, as a trait: the few reads it makes and one way to send
//! a transaction signed by its key. [`ClientChain`] implements it over the node's HTTP API
//! (`alx-client`); tests implement it over an in-memory subnet.
//!
//! Sending distinguishes a transaction that never reached the chain (the node refused it, or
//! it was never delivered: [`NeuronError::Client`]) from one whose fate is unknown
//! ([`NeuronError::Unconfirmed`]), because the weights store acts differently on each.

use crate::NeuronError;
use alx_client::{Client, ClientError};
use alx_types::{
    Address, Amount, ErrorCode, Height, SignedTx, Transaction, TxStatus,
    api::TxResponse,
    hash::to_hex,
    subnet::{SubnetId, Uid},
    subnet_api::{MetagraphJson, PendingCommitJson, SubnetJson},
    tx::Payload,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::time::Duration;

/// A transaction committed to a block, successfully or not.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Landed {
    /// The transaction (hex).
    pub hash: String,
    /// The height of its block.
    pub height: Height,
    /// Whether its receipt says it failed.
    pub failed: bool,
    /// The failed receipt's error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    /// The node's full answer, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<TxResponse>,
}

/// The chain as a neuron sees it. Every method may block on the network.
pub trait Chain {
    /// The address that signs what [`Chain::send`] sends.
    fn signer(&self) -> Address;
    /// The height of the last committed block.
    fn height(&self) -> Result<Height, NeuronError>;
    /// A subnet, by id or name.
    fn subnet(&self, id: &str) -> Result<SubnetJson, NeuronError>;
    /// Every uid of a subnet.
    fn metagraph(&self, subnet: SubnetId) -> Result<MetagraphJson, NeuronError>;
    /// The stake `who` has bonded (to any chain validator).
    fn bonded(&self, who: &Address) -> Result<Amount, NeuronError>;
    /// The chain's active validators (those stake may be bonded to).
    fn validators(&self) -> Result<Vec<Address>, NeuronError>;
    /// `uid`'s outstanding weight commit, if any.
    fn pending_commit(
        &self,
        subnet: SubnetId,
        uid: Uid,
    ) -> Result<Option<PendingCommitJson>, NeuronError>;
    /// Signs `payload` with the signer's next nonce, submits it and waits for its block.
    fn send(&self, payload: Payload) -> Result<Landed, NeuronError>;
    /// Waits a moment before the next poll; [`NeuronError::Stopped`] ends the caller's loop.
    fn pause(&self) -> Result<(), NeuronError>;
}

/// What [`ClientChain`] needs besides the node and the key.
#[derive(Clone, Copy, Debug)]
pub struct ClientChainConfig {
    /// The fee offered by every transaction.
    pub fee: Amount,
    /// How long [`Chain::pause`] sleeps between polls.
    pub poll: Duration,
    /// How long to wait for a transaction's block before calling it unconfirmed.
    pub tx_wait: Duration,
}

/// [`Chain`] over a node's HTTP API, signing with one key.
pub struct ClientChain {
    client: Client,
    key: PrivateKey,
    address: Address,
    config: ClientChainConfig,
}

impl std::fmt::Debug for ClientChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientChain")
            .field("node", &self.client.base())
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl ClientChain {
    /// The chain behind `client`, sending as `key`.
    #[must_use]
    pub fn new(client: Client, key: PrivateKey, config: ClientChainConfig) -> Self {
        let address = Address::from_public_key(&key.public_key());
        Self { client, key, address, config }
    }

    /// The client it reads with.
    #[must_use]
    pub const fn client(&self) -> &Client {
        &self.client
    }

    /// Signs `payload` with the sender's next nonce (reads only: nothing is sent).
    fn sign(&self, payload: Payload) -> Result<SignedTx, NeuronError> {
        let chain_id = self.client.status()?.chain_id;
        // Past the key's transactions still waiting in the node's mempool (a wallet command
        // of the same key), so this one queues behind them instead of colliding.
        let answer = self.client.account(&self.address, false)?;
        let nonce = answer.next_nonce.unwrap_or(answer.account.nonce).max(answer.account.nonce);
        let tx =
            Transaction { chain_id, sender: self.address, nonce, fee: self.config.fee, payload };
        Ok(tx.sign(&self.key))
    }
}

impl Chain for ClientChain {
    fn signer(&self) -> Address {
        self.address
    }

    fn height(&self) -> Result<Height, NeuronError> {
        Ok(self.client.status()?.height)
    }

    fn subnet(&self, id: &str) -> Result<SubnetJson, NeuronError> {
        Ok(self.client.subnet(id)?)
    }

    fn metagraph(&self, subnet: SubnetId) -> Result<MetagraphJson, NeuronError> {
        Ok(self.client.metagraph(&subnet.to_string())?)
    }

    fn bonded(&self, who: &Address) -> Result<Amount, NeuronError> {
        Ok(self.client.account(who, false)?.account.bonded)
    }

    fn validators(&self) -> Result<Vec<Address>, NeuronError> {
        Ok(self.client.status()?.validators)
    }

    fn pending_commit(
        &self,
        subnet: SubnetId,
        uid: Uid,
    ) -> Result<Option<PendingCommitJson>, NeuronError> {
        match self.client.pending_commit(&subnet.to_string(), uid) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn send(&self, payload: Payload) -> Result<Landed, NeuronError> {
        let tx = self.sign(payload)?;
        let hash = match self.client.submit(&tx) {
            Ok(hash) => to_hex(&hash),
            Err(e) if never_delivered(&e) => return Err(e.into()),
            Err(source) => {
                return Err(NeuronError::Unconfirmed { hash: to_hex(&tx.hash()), source });
            }
        };
        let committed = self
            .client
            .wait_for_tx(&hash, self.config.tx_wait)
            .map_err(|source| NeuronError::Unconfirmed { hash: hash.clone(), source })?;
        let failed = committed.receipt.status == TxStatus::Failed;
        let error = committed.receipt.error.filter(|_| failed);
        Ok(Landed { hash, height: committed.height, failed, error, committed: Some(committed) })
    }

    fn pause(&self) -> Result<(), NeuronError> {
        std::thread::sleep(self.config.poll);
        Ok(())
    }
}

/// Whether a failed submission certainly left nothing on chain: the node answered with a
/// refusal, or the connection was never made.
fn never_delivered(e: &ClientError) -> bool {
    match e {
        ClientError::Api { .. } => true,
        ClientError::Connect { source, .. } => source.is_connect(),
        _ => false,
    }
}
