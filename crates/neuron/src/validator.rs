//! A subnet validator: the one commit-reveal loop.
//!
//! ```text
//! join     the key's uid is a miner's                 → UidIsMiner (nothing sent)
//!          bonded < stake (when asked to stake)       → Bond the difference to a chain validator
//!          bonded = 0                                 → NoStake (nothing sent)
//!          no uid                                     → RegisterValidator
//! permit   until the metagraph shows the uid's permit: WaitingForPermit once per subnet epoch
//!          (a permit is handed out at an epoch, or at once before the subnet's first epoch);
//!          NoPermit after `permit_wait_epochs` epochs
//! loop     saved weights (the store), matched against the chain's outstanding commit:
//!            same commit, made in epoch c, next block in c + 1 → RevealWeights, delete the file
//!            same commit, next block still in c              → wait for c + 1
//!            no commit on chain, another one, or c + 1 past  → delete the file (it can never be
//!                                                              revealed)
//!          stop once `epochs` reveals landed
//!          score every miner, commit (saved before sent), wait for the epoch after the commit
//! ```
//!
//! Nothing the reveal needs lives only in memory: a validator killed between its commit and
//! its reveal finds the weights and salt in the store on restart, and reveals them in the
//! epoch after the commit. The chain decides the epoch of each transaction by its block, so
//! the loop reads the commit's epoch from the chain rather than guessing it.

use crate::{
    NeuronError,
    chain::Chain,
    score::{self, Score, Scorer},
    store::WeightsStore,
    weights::{self, Committer},
};
use alx_types::{
    Address, Amount, ErrorCode, Height,
    subnet::{SubnetId, SubnetOp, Uid},
    subnet_api::{NeuronJson, NeuronRole, SubnetJson},
    tx::Payload,
};

/// What [`run`] does.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// The subnet, by id or name.
    pub subnet: String,
    /// The key's name, for messages and hints.
    pub key: String,
    /// Bond stake up to this amount before registering, when the key has less bonded.
    pub stake: Option<Amount>,
    /// The chain validator that stake is bonded to (default: the first active one).
    pub stake_to: Option<Address>,
    /// Most subnet epochs to wait for a validator permit.
    pub permit_wait_epochs: u64,
    /// Stop after revealing weights this many times (`None`: run until stopped).
    pub epochs: Option<u64>,
}

/// What the validator did, for progress lines and `--json` events.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ValidatorEvent {
    /// Stake bonded to a chain validator before registering.
    Bonded {
        /// The amount bonded now.
        amount: Amount,
        /// To whom.
        validator: Address,
        /// The transaction.
        hash: String,
    },
    /// The key took a validator uid.
    Registered {
        /// The subnet.
        subnet: SubnetId,
        /// The uid.
        uid: Uid,
        /// The transaction.
        hash: String,
    },
    /// The validator runs as this uid.
    Joined {
        /// The subnet.
        subnet: SubnetId,
        /// Its name.
        name: String,
        /// The uid.
        uid: Uid,
        /// The stake its weights count with.
        stake: Amount,
    },
    /// The uid has no validator permit yet; the validator waits for the next subnet epoch.
    WaitingForPermit {
        /// The uid.
        uid: Uid,
        /// The subnet epoch now.
        epoch: u64,
        /// The height of the next subnet epoch, where permits are handed out.
        next_epoch_block: Height,
        /// The uid's stake.
        stake: Amount,
    },
    /// The uid holds a validator permit.
    Permitted {
        /// The uid.
        uid: Uid,
        /// The subnet epoch.
        epoch: u64,
    },
    /// Saved weights were revealed.
    Revealed {
        /// The epoch of the reveal.
        epoch: u64,
        /// The epoch of the commit.
        committed_epoch: u64,
        /// The transaction.
        hash: String,
    },
    /// Saved weights were dropped: they can never be revealed.
    Discarded {
        /// Why.
        reason: String,
    },
    /// A miner's score.
    Scored {
        /// The miner's uid.
        uid: Uid,
        /// Its score.
        score: Score,
    },
    /// A miner that could not be scored (weight 0).
    NotScored {
        /// The miner's uid.
        uid: Uid,
        /// Why.
        reason: String,
    },
    /// No miner to score this epoch: nothing is committed.
    NoMiners {
        /// The subnet epoch.
        epoch: u64,
    },
    /// Weights committed (and saved).
    Committed {
        /// The subnet epoch of the commit's block.
        epoch: u64,
        /// Destination uids.
        dests: Vec<Uid>,
        /// Their weights.
        values: Vec<u16>,
        /// The transaction.
        hash: String,
    },
}

impl std::fmt::Display for ValidatorEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bonded { amount, validator, hash } => {
                write!(f, "bonded {amount} to chain validator {validator} ({hash})")
            }
            Self::Registered { subnet, uid, hash } => {
                write!(f, "registered validator uid {uid} in subnet {subnet} ({hash})")
            }
            Self::Joined { subnet, name, uid, stake } => {
                write!(f, "validator uid {uid} in subnet {subnet} ({name}), stake {stake}")
            }
            Self::WaitingForPermit { uid, epoch, next_epoch_block, stake } => write!(
                f,
                "epoch {epoch}: uid {uid} (stake {stake}) has no validator permit yet; waiting \
                 for the subnet epoch at block {next_epoch_block}"
            ),
            Self::Permitted { uid, epoch } => {
                write!(f, "epoch {epoch}: uid {uid} holds a validator permit")
            }
            Self::Revealed { epoch, committed_epoch, .. } => {
                write!(
                    f,
                    "epoch {epoch}: revealed the weights committed in epoch {committed_epoch}"
                )
            }
            Self::Discarded { reason } => write!(f, "saved weights dropped: {reason}"),
            Self::Scored { uid, score } => {
                let answers = score
                    .accuracy
                    .map(|a| format!(", {}/{} answers", a.correct, a.asked))
                    .unwrap_or_default();
                write!(
                    f,
                    "  uid {uid}: {:.4} nats/byte{answers} ({} tokens, {} bytes)",
                    score.nats_per_byte, score.tokens, score.bytes
                )
            }
            Self::NotScored { uid, reason } => write!(f, "  uid {uid}: not scored: {reason}"),
            Self::NoMiners { epoch } => write!(f, "epoch {epoch}: no miner to score yet"),
            Self::Committed { epoch, dests, values, .. } => {
                write!(f, "epoch {epoch}: committed weights {values:?} for uids {dests:?}")
            }
        }
    }
}

/// Everything the loop works with.
struct Validator<'a> {
    chain: &'a dyn Chain,
    store: &'a WeightsStore,
    config: &'a ValidatorConfig,
    on_event: &'a mut dyn FnMut(&ValidatorEvent),
    me: Address,
    subnet: SubnetJson,
    uid: Uid,
}

/// Runs a validator of `config.subnet` as `chain`'s signer (see the module docs). Returns
/// after `config.epochs` reveals, or with the error that stopped it.
pub fn run(
    chain: &dyn Chain,
    store: &WeightsStore,
    scorer: &mut dyn Scorer,
    config: &ValidatorConfig,
    on_event: &mut dyn FnMut(&ValidatorEvent),
) -> Result<(), NeuronError> {
    let subnet = chain.subnet(&config.subnet)?;
    let me = chain.signer();
    let mut v = Validator { chain, store, config, on_event, me, subnet, uid: 0 };
    v.uid = v.join()?;
    v.wait_for_permit()?;
    let mut revealed = 0u64;
    loop {
        if v.reveal_saved()? {
            revealed += 1;
        }
        if config.epochs.is_some_and(|n| revealed >= n) {
            return Ok(());
        }
        let Some(committed_epoch) = v.score_and_commit(scorer)? else {
            // Nothing committed (no miners, or the permit was lost and is back): try again
            // next epoch.
            let epoch = v.next_block_epoch()?;
            v.wait_for_epoch(epoch + 1)?;
            continue;
        };
        v.wait_for_epoch(committed_epoch + 1)?;
    }
}

impl Validator<'_> {
    fn emit(&mut self, event: ValidatorEvent) {
        (self.on_event)(&event);
    }

    fn key(&self) -> String {
        self.config.key.clone()
    }

    /// The uid to validate with, registering one (and bonding stake) if needed.
    fn join(&mut self) -> Result<Uid, NeuronError> {
        let id = self.subnet.id;
        let mine = self.own_neuron()?;
        if let Some(n) = mine.as_ref().filter(|n| n.kind == NeuronRole::Miner) {
            return Err(NeuronError::UidIsMiner { key: self.key(), subnet: id, uid: n.uid });
        }
        let mut bonded = self.chain.bonded(&self.me)?;
        if let Some(target) = self.config.stake.filter(|t| *t > bonded) {
            let validator = match self.config.stake_to {
                Some(v) => v,
                None => *self
                    .chain
                    .validators()?
                    .first()
                    .ok_or(NeuronError::NoStake { key: self.key(), subnet: id })?,
            };
            let amount = Amount(target.0 - bonded.0);
            let landed = self.chain.send(Payload::Bond { validator, amount })?;
            if landed.failed {
                return Err(NeuronError::TxFailed {
                    what: "bond",
                    hash: landed.hash,
                    height: landed.height,
                    code: landed.error,
                    hint: format!(
                        "bonding {amount} needs that much spendable balance; check `alx \
                         balance {}`",
                        self.config.key
                    ),
                });
            }
            self.emit(ValidatorEvent::Bonded { amount, validator, hash: landed.hash });
            bonded = self.chain.bonded(&self.me)?;
        }
        if bonded.is_zero() {
            return Err(NeuronError::NoStake { key: self.key(), subnet: id });
        }
        let uid = match mine {
            Some(n) => n.uid,
            None => self.register()?,
        };
        let (name, stake) = (self.subnet.spec.name.clone(), bonded);
        self.emit(ValidatorEvent::Joined { subnet: id, name, uid, stake });
        Ok(uid)
    }

    fn register(&mut self) -> Result<Uid, NeuronError> {
        let id = self.subnet.id;
        let landed =
            self.chain.send(Payload::Subnet(SubnetOp::RegisterValidator { subnet: id }))?;
        if landed.failed {
            let hint = match landed.error {
                Some(ErrorCode::SubnetFull) => "every uid is taken and none can be replaced yet \
                     (uids are immune for a while after registering, the owner's always)"
                    .to_owned(),
                Some(ErrorCode::InsufficientFunds) => format!(
                    "registering pays the subnet's burn of {}; check `alx balance {}`",
                    self.subnet.spec.registration_burn, self.config.key
                ),
                _ => "see `alx tx show HASH`".to_owned(),
            };
            return Err(NeuronError::TxFailed {
                what: "subnet register-validator",
                hash: landed.hash,
                height: landed.height,
                code: landed.error,
                hint,
            });
        }
        let uid = self.own_neuron()?.map(|n| n.uid).ok_or_else(|| NeuronError::NotRegistered {
            key: self.key(),
            address: self.me,
            subnet: id,
        })?;
        self.emit(ValidatorEvent::Registered { subnet: id, uid, hash: landed.hash });
        Ok(uid)
    }

    /// The neuron this key holds in the subnet, if any.
    fn own_neuron(&self) -> Result<Option<NeuronJson>, NeuronError> {
        let graph = self.chain.metagraph(self.subnet.id)?;
        Ok(graph.neurons.into_iter().find(|n| n.address == self.me))
    }

    /// The neuron at our uid, which must still be ours.
    fn our_neuron(&self) -> Result<NeuronJson, NeuronError> {
        let graph = self.chain.metagraph(self.subnet.id)?;
        graph
            .neurons
            .into_iter()
            .find(|n| n.uid == self.uid && n.address == self.me)
            .ok_or(NeuronError::Pruned { subnet: self.subnet.id, uid: self.uid })
    }

    /// The subnet epoch the next block belongs to: where a transaction sent now lands, at the
    /// earliest.
    fn next_block_epoch(&self) -> Result<u64, NeuronError> {
        Ok(self.subnet.schedule().epoch_of(self.chain.height()?.saturating_add(1)))
    }

    /// Polls until the next block belongs to `epoch` or later.
    fn wait_for_epoch(&self, epoch: u64) -> Result<(), NeuronError> {
        while self.next_block_epoch()? < epoch {
            self.chain.pause()?;
        }
        Ok(())
    }

    /// Waits until the uid holds a validator permit (see the module docs).
    fn wait_for_permit(&mut self) -> Result<(), NeuronError> {
        let start = self.next_block_epoch()?;
        let mut told = None;
        loop {
            let n = self.our_neuron()?;
            let epoch = self.next_block_epoch()?;
            if n.validator_permit {
                if told.is_some() {
                    self.emit(ValidatorEvent::Permitted { uid: self.uid, epoch });
                }
                return Ok(());
            }
            if n.stake.is_zero() {
                return Err(NeuronError::NoStake { key: self.key(), subnet: self.subnet.id });
            }
            if epoch > start.saturating_add(self.config.permit_wait_epochs) {
                return Err(NeuronError::NoPermit {
                    key: self.key(),
                    subnet: self.subnet.id,
                    uid: self.uid,
                    epochs: self.config.permit_wait_epochs,
                    max_validators: self.subnet.spec.max_validators,
                });
            }
            if told != Some(epoch) {
                told = Some(epoch);
                let next_epoch_block = self.subnet.schedule().last_block(epoch);
                let (uid, stake) = (self.uid, n.stake);
                self.emit(ValidatorEvent::WaitingForPermit { uid, epoch, next_epoch_block, stake });
            }
            self.chain.pause()?;
        }
    }

    /// Reveals the saved weights if the chain holds their commit and this is the epoch after
    /// it, waiting for that epoch if needed; drops weights that can never be revealed. True
    /// when a reveal landed.
    fn reveal_saved(&mut self) -> Result<bool, NeuronError> {
        let id = self.subnet.id;
        let Some(saved) = self.store.load(id, &self.me)? else { return Ok(false) };
        let on_chain = self.chain.pending_commit(id, self.uid)?;
        let Some(c) = on_chain.filter(|c| c.commit == saved.commit() && c.uid == saved.uid) else {
            let reason = "the chain holds no matching commit (never sent, revealed, or replaced)";
            return self.discard(reason.into());
        };
        self.wait_for_epoch(c.epoch + 1)?;
        let epoch = self.next_block_epoch()?;
        if epoch > c.epoch + 1 {
            let reason = format!("the commit of epoch {} expired in epoch {epoch}", c.epoch);
            return self.discard(reason);
        }
        match weights::reveal(self.chain, self.store, &self.config.key, &self.subnet) {
            Ok(r) => {
                let epoch = self.subnet.schedule().epoch_of(r.landed.height);
                let hash = r.landed.hash;
                self.emit(ValidatorEvent::Revealed { epoch, committed_epoch: c.epoch, hash });
                Ok(true)
            }
            Err(NeuronError::TxFailed { code, hash, .. }) => {
                let code = code.map_or("unknown", ErrorCode::as_str);
                self.discard(format!("the reveal {hash} failed ({code})"))
            }
            Err(e) => Err(e),
        }
    }

    fn discard(&mut self, reason: String) -> Result<bool, NeuronError> {
        self.store.remove(self.subnet.id, &self.me)?;
        self.emit(ValidatorEvent::Discarded { reason });
        Ok(false)
    }

    /// Scores every miner and commits the weights; the commit's epoch, or `None` when nothing
    /// was committed.
    fn score_and_commit(&mut self, scorer: &mut dyn Scorer) -> Result<Option<u64>, NeuronError> {
        let id = self.subnet.id;
        // Refresh the subnet: scoring reads its datanet versions.
        self.subnet = self.chain.subnet(&id.to_string())?;
        let graph = self.chain.metagraph(id)?;
        let miners: Vec<&NeuronJson> =
            graph.neurons.iter().filter(|n| n.kind == NeuronRole::Miner).collect();
        if miners.is_empty() {
            let epoch = self.next_block_epoch()?;
            self.emit(ValidatorEvent::NoMiners { epoch });
            return Ok(None);
        }
        // One node missing a blob, busy or behind must not stop the subnet's validators, nor
        // blame the miners: this epoch commits nothing, the next tries again.
        let skip = |me: &mut Self, e: &NeuronError| {
            for n in &miners {
                me.emit(ValidatorEvent::NotScored { uid: n.uid, reason: e.to_string() });
            }
        };
        match scorer.prepare(&self.subnet) {
            Ok(()) => {}
            Err(e @ NeuronError::EvalUnavailable(_)) => {
                skip(self, &e);
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let mut scores = Vec::with_capacity(miners.len());
        for n in &miners {
            match scorer.score(n) {
                Ok(score) => {
                    self.emit(ValidatorEvent::Scored { uid: n.uid, score });
                    scores.push(Some(score));
                }
                Err(e @ NeuronError::EvaluatorUnavailable(_)) => {
                    skip(self, &e);
                    return Ok(None);
                }
                Err(e @ NeuronError::EvaluatorRefused(_)) => return Err(e),
                Err(e) => {
                    self.emit(ValidatorEvent::NotScored { uid: n.uid, reason: e.to_string() });
                    scores.push(None);
                }
            }
        }
        let dests: Vec<Uid> = miners.iter().map(|n| n.uid).collect();
        let values = score::weights(&scores);
        let who = Committer { key: &self.config.key, subnet: &self.subnet, uid: self.uid };
        match weights::commit(self.chain, self.store, who, (&dests, &values)) {
            Ok(c) => {
                let epoch = self.subnet.schedule().epoch_of(c.landed.height);
                let hash = c.landed.hash;
                self.emit(ValidatorEvent::Committed { epoch, dests, values, hash });
                Ok(Some(epoch))
            }
            // Outranked at an epoch: wait for the permit again rather than stop.
            Err(NeuronError::TxFailed { code: Some(ErrorCode::NoValidatorPermit), .. }) => {
                self.wait_for_permit()?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
