//! The light client proper: the genesis validators, the sets learned since, and a node to ask
//! (which it does not trust).

use crate::{LightError, ValidatorSet, next_set, verify_finalization};
use alx_types::{
    Address, Height,
    api::{EpochSetProof, FinalizationResponse},
    block::BlockHeader,
};

/// Where proofs come from: a node's API (any node; it may lie).
pub trait ProofSource {
    /// `GET /api/light/finalizations/{height}`.
    ///
    /// # Errors
    /// If the node cannot be asked or has no proof (as text, for the report).
    fn finalization(&self, height: Height) -> Result<FinalizationResponse, String>;

    /// `GET /api/light/epochs/{epoch}`.
    ///
    /// # Errors
    /// If the node cannot be asked or has no proof.
    fn epoch_set(&self, epoch: u64) -> Result<EpochSetProof, String>;
}

/// A header shown final, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalized {
    /// The header.
    pub header: BlockHeader,
    /// Signers needed for its epoch's certificates, and the size of the set.
    pub quorum: usize,
    /// Validators of its epoch.
    pub validators: usize,
    /// Epoch changes followed from genesis to reach it.
    pub epochs_followed: u64,
}

/// A light client started from the genesis file's validators.
#[derive(Clone, Debug)]
pub struct LightClient {
    epoch_length: u64,
    /// Epoch `i`'s set at index `i`, learned in order.
    sets: Vec<ValidatorSet>,
}

fn decode(what: &'static str, text: &str) -> Result<Vec<u8>, LightError> {
    hex::decode(text).map_err(|e| LightError::Malformed { what, detail: e.to_string() })
}

impl LightClient {
    /// Trusts only the genesis: its validators (epoch 0's set) and its epoch length.
    ///
    /// # Errors
    /// If the validators are not a valid set, or the epoch length is zero.
    pub fn from_genesis(
        epoch_length: u64,
        validators: impl IntoIterator<Item = Address>,
    ) -> Result<Self, LightError> {
        if epoch_length == 0 {
            return Err(LightError::InvalidSet("an epoch length of zero".into()));
        }
        Ok(Self { epoch_length, sets: vec![ValidatorSet::new(0, validators)?] })
    }

    /// The header at `height`, shown final by a certificate of its epoch's validators, the set
    /// followed from genesis as far as needed.
    ///
    /// # Errors
    /// The source failing, or any check failing (see [`LightError`]).
    pub fn finalized(
        &mut self,
        source: &impl ProofSource,
        height: Height,
    ) -> Result<Finalized, LightError> {
        let epoch = height.0 / self.epoch_length;
        while (self.sets.len() as u64) <= epoch {
            self.learn_next(source)?;
        }
        let set = &self.sets[usize::try_from(epoch).unwrap_or(usize::MAX)];
        let header = self.verify_at(source, set, height)?;
        Ok(Finalized {
            header,
            quorum: set.quorum(),
            validators: set.keys().len(),
            epochs_followed: epoch,
        })
    }

    fn verify_at(
        &self,
        source: &impl ProofSource,
        set: &ValidatorSet,
        height: Height,
    ) -> Result<BlockHeader, LightError> {
        let proof = source.finalization(height).map_err(LightError::Source)?;
        if proof.height != height {
            return Err(LightError::Malformed {
                what: "finalization proof",
                detail: format!("for height {} instead of {height}", proof.height),
            });
        }
        let headers =
            proof.headers.iter().map(|h| decode("header", h)).collect::<Result<Vec<_>, _>>()?;
        let certificate = decode("certificate", &proof.certificate)?;
        let verified = verify_finalization(set, &headers, &certificate)?;
        verified
            .into_iter()
            .next()
            .filter(|h| h.height == height)
            .ok_or(LightError::BrokenChain { height: height.0 })
    }

    fn learn_next(&mut self, source: &impl ProofSource) -> Result<(), LightError> {
        let current = self
            .sets
            .last()
            .cloned()
            .ok_or_else(|| LightError::InvalidSet("no genesis set".into()))?;
        let boundary = Height((current.epoch() + 1) * self.epoch_length - 1);
        let header = self.verify_at(source, &current, boundary)?;
        let record = source.epoch_set(current.epoch() + 1).map_err(LightError::Source)?;
        let value = decode("validator set", &record.validators)?;
        let next = next_set(&current, self.epoch_length, &header, &value, &record.proof)?;
        self.sets.push(next);
        Ok(())
    }
}
