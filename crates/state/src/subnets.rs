//! Subnets: creation, registration of miners and validators (with pruning when full), and
//! weights by commit-reveal. The epoch that turns weights into emission is `subnet_epoch`.
//!
//! Every operation checks everything first and writes only once nothing can fail, so a failed
//! transaction changes nothing but its fee and nonce.
//!
//! ```text
//! Create          spec valid, name free, < SUBNETS_MAX subnets, balance ≥ SUBNET_CREATION_LOCK
//!                 → lock moves to the subnet's pending emission; sender owns it; its first
//!                   epoch is scheduled at created_at + tempo
//! Register*       subnet exists; (miner: endpoint is http(s), model exists, not retired,
//!                 owned by the sender); sender holds no uid here; a uid is free or prunable;
//!                 balance ≥ registration_burn
//!                 → burn moves to the subnet's pending emission; the sender takes the uid
//! CommitWeights   sender's uid holds a validator permit → its one outstanding commit
//! RevealWeights   the commit was made in the previous subnet epoch, the hash matches,
//!                 the weights are well formed → stored row, last_update = height
//! ```
//!
//! Pruning: when all `max_uids` are taken, the new neuron replaces the uid with the lowest
//! pruning score (what the last epoch paid it; equal scores: the lower uid) among the uids
//! registered at least `immunity_blocks` ago and not held by the owner. The replaced uid gets
//! Yuma's `replace_uid` treatment: its weights and bonds rows are cleared, weights others set
//! on it become 0, its permit and results are reset, and its outstanding commit is dropped.
//!
//! Validator permits: the ones the last epoch computed (Yuma's top `max_validators` by stake,
//! the owner's uid always). Before a subnet's first epoch: the validators with the most
//! stake, up to `max_validators` (only non-zero stake; equal stakes: the higher uid, as Yuma
//! ranks), and the owner's uid.
//!
//! Stake: a validator uid counts its account's bonded chain stake (`Account::bonded`, over
//! all delegations); a miner uid counts 0, whatever it bonded, so a miner never holds a permit
//! or earns dividends: validating takes a validator uid (from another account).

use crate::{
    datanets::slug,
    execute::{PayloadError, PayloadResult, overflow},
    state::{CorruptState, State},
    subnet_records::{Neuron, NeuronKind, Subnet, WeightCommit},
};
use alx_types::{
    Address, ErrorCode,
    block::Height,
    limits::{SUBNET_CREATION_LOCK, SUBNETS_MAX},
    subnet::{
        IMMUNITY_BLOCKS_MAX, Salt, SubnetId, SubnetOp, SubnetSpec, TEMPO_MAX, TEMPO_MIN, UIDS_MAX,
        UIDS_MIN, Uid, VALIDATORS_MAX, is_endpoint, weights_commit,
    },
};
use std::collections::BTreeSet;

impl State {
    pub(crate) fn subnet_op(
        &mut self,
        height: Height,
        who: &Address,
        op: &SubnetOp,
    ) -> PayloadResult {
        match op {
            SubnetOp::Create(spec) => self.create_subnet(height, who, spec),
            SubnetOp::RegisterMiner { subnet, model, endpoint } => {
                let kind = NeuronKind::Miner { model: *model, endpoint: endpoint.clone() };
                self.register_neuron(height, who, *subnet, kind)
            }
            SubnetOp::RegisterValidator { subnet } => {
                self.register_neuron(height, who, *subnet, NeuronKind::Validator)
            }
            SubnetOp::CommitWeights { subnet, commit } => {
                let (s, uid) = self.sender_uid(*subnet, who)?;
                let neurons = self.neuron_records(*subnet, s.n)?;
                if !self.permits(&s, &neurons)?.get(usize::from(uid)).copied().unwrap_or(false) {
                    return Err(ErrorCode::NoValidatorPermit.into());
                }
                let c = WeightCommit { commit: *commit, block: height, epoch: s.epoch_of(height) };
                self.put_commit(*subnet, uid, &c);
                Ok(())
            }
            SubnetOp::RevealWeights { subnet, dests, values, salt } => {
                self.reveal_weights(height, who, *subnet, (dests, values), salt)
            }
            SubnetOp::SetLiquidAlpha { subnet, enabled, alpha_low, alpha_high } => {
                let wanted = alx_types::subnet::LiquidAlpha {
                    enabled: *enabled,
                    alpha_low: *alpha_low,
                    alpha_high: *alpha_high,
                };
                self.set_liquid_alpha(who, *subnet, wanted)
            }
            SubnetOp::SealEval { subnet, commitment } => {
                self.seal_eval(height, who, *subnet, *commitment)
            }
            SubnetOp::RevealEval { subnet, seal, salt, content } => {
                self.reveal_eval(height, who, *subnet, (*seal, salt, *content))
            }
        }
    }

    fn create_subnet(
        &mut self,
        height: Height,
        owner: &Address,
        spec: &SubnetSpec,
    ) -> PayloadResult {
        if !self.valid_subnet_spec(spec)? {
            return Err(ErrorCode::BadSubnetField.into());
        }
        let count = self.subnet_count()?;
        if count >= SUBNETS_MAX {
            return Err(ErrorCode::TooManySubnets.into());
        }
        let id = SubnetId(count);
        let mut account = self.existing_account(owner)?;
        account.balance = account
            .balance
            .checked_sub(SUBNET_CREATION_LOCK)
            .ok_or(ErrorCode::InsufficientFunds)?;
        let total =
            self.subnet_pending_total()?.checked_add(SUBNET_CREATION_LOCK).ok_or_else(overflow)?;
        let subnet = Subnet {
            owner: *owner,
            spec: spec.clone(),
            created_at: height,
            n: 0,
            pending: SUBNET_CREATION_LOCK,
            emission_mark: self.subnet_emission_acc()?,
            epochs: 0,
            last_epoch_block: Height(0),
        };
        self.put_account(owner, &account);
        self.put_subnet_pending_total(total);
        self.schedule_epoch(subnet.next_epoch_after(height), id);
        self.put_subnet(id, &subnet);
        self.put_subnet_name(&spec.name, id);
        self.put_subnet_count(id.next().0);
        Ok(())
    }

    /// The rules of a new subnet's fields (see `SubnetSpec`): the name as model names and
    /// unique; datanets as a model's, and at least one.
    fn valid_subnet_spec(&self, spec: &SubnetSpec) -> Result<bool, CorruptState> {
        use alx_types::subnet::{SUBNET_NAME_LEN_MAX, TASK_LEN_MAX};
        let ranges = slug(&spec.name, SUBNET_NAME_LEN_MAX)
            && spec.task.len() <= TASK_LEN_MAX
            && !spec.task.chars().any(char::is_control)
            && (TEMPO_MIN..=TEMPO_MAX).contains(&spec.tempo)
            && (UIDS_MIN..=UIDS_MAX).contains(&spec.max_uids)
            && (1..=VALIDATORS_MAX.min(spec.max_uids)).contains(&spec.max_validators)
            && spec.immunity_blocks <= IMMUNITY_BLOCKS_MAX
            && !spec.datanets.is_empty();
        if !ranges || self.subnet_by_name(&spec.name)?.is_some() {
            return Ok(false);
        }
        let mut seen = BTreeSet::new();
        for d in &spec.datanets {
            let published = self.datanet(d.datanet)?.map_or(0, |n| n.version);
            if !seen.insert(d.datanet) || d.version == 0 || d.version > published {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn register_neuron(
        &mut self,
        height: Height,
        who: &Address,
        id: SubnetId,
        kind: NeuronKind,
    ) -> PayloadResult {
        let mut subnet = self.subnet_record(id)?.ok_or(ErrorCode::UnknownSubnet)?;
        if let NeuronKind::Miner { model, endpoint } = &kind {
            if !is_endpoint(endpoint) {
                return Err(ErrorCode::BadEndpoint.into());
            }
            let m = self.model(*model)?.ok_or(ErrorCode::UnknownModel)?;
            if m.retired {
                return Err(ErrorCode::ModelRetired.into());
            }
            // Otherwise anyone could enter another builder's model and take its incentive.
            if m.owner != *who {
                return Err(ErrorCode::NotModelOwner.into());
            }
        }
        if self.uid_of(id, who)?.is_some() {
            return Err(ErrorCode::AlreadyRegistered.into());
        }
        let replaced = if subnet.n < subnet.spec.max_uids {
            None
        } else {
            Some(self.prune_candidate(id, &subnet, height)?.ok_or(ErrorCode::SubnetFull)?)
        };
        let burn = subnet.spec.registration_burn;
        let mut account = self.existing_account(who)?;
        account.balance = account.balance.checked_sub(burn).ok_or(ErrorCode::InsufficientFunds)?;
        subnet.pending = subnet.pending.checked_add(burn).ok_or_else(overflow)?;
        let total = self.subnet_pending_total()?.checked_add(burn).ok_or_else(overflow)?;
        // Everything is checked: write.
        let uid = match replaced {
            Some((uid, old)) => {
                self.replace_neuron(id, &subnet, uid, &old, height)?;
                uid
            }
            None => {
                subnet.n += 1;
                subnet.n - 1
            }
        };
        self.put_account(who, &account);
        self.put_subnet_pending_total(total);
        self.put_subnet(id, &subnet);
        self.put_neuron(id, uid, &Neuron::new(*who, kind, height));
        self.put_uid_of(id, who, uid);
        Ok(())
    }

    /// The uid a new neuron replaces in a full subnet, with its current holder.
    fn prune_candidate(
        &self,
        id: SubnetId,
        subnet: &Subnet,
        height: Height,
    ) -> Result<Option<(Uid, Neuron)>, CorruptState> {
        let mut best: Option<(Uid, Neuron)> = None;
        for (uid, n) in (0..).zip(self.neuron_records(id, subnet.n)?) {
            let immune = height.0.saturating_sub(n.registered_at.0) < subnet.spec.immunity_blocks;
            if immune || n.address == subnet.owner {
                continue;
            }
            // Strictly lower: an equal score keeps the lower uid found first.
            if best.as_ref().is_none_or(|(_, b)| n.last_emission < b.last_emission) {
                best = Some((uid, n));
            }
        }
        Ok(best)
    }

    /// Yuma's `replace_uid` on the stored state: the rows change exactly as the epoch crate
    /// defines (its own function does the work), and the old holder's index and commit go.
    fn replace_neuron(
        &mut self,
        id: SubnetId,
        subnet: &Subnet,
        uid: Uid,
        old: &Neuron,
        height: Height,
    ) -> Result<(), CorruptState> {
        let neurons = self.neuron_records(id, subnet.n)?;
        let (weights, bonds) = self.subnet_rows(id, subnet.n)?;
        let init = alx_yuma::StateInit {
            current_block: height.0,
            last_epoch_block: subnet.last_epoch_block.0,
            owner_uid: None,
            stake: vec![0; neurons.len()],
            validator_permit: neurons.iter().map(|n| n.permit).collect(),
            block_at_registration: neurons.iter().map(|n| n.registered_at.0).collect(),
            last_update: neurons.iter().map(|n| n.last_update.0).collect(),
            weights: weights.clone(),
            bonds,
        };
        let mut yuma = alx_yuma::SubnetState::new(init).map_err(|e| yuma_corrupt(id, &e))?;
        yuma.replace_uid(uid, 0).map_err(|e| yuma_corrupt(id, &e))?;
        let after = yuma.view();
        for (j, (new, old_row)) in (0..).zip(after.weights.iter().zip(&weights)) {
            if new != old_row {
                self.put_weights_row(id, j, new);
            }
        }
        self.put_bonds_row(id, uid, &after.bonds[usize::from(uid)]);
        self.delete_commit(id, uid);
        self.delete_uid_of(id, &old.address);
        Ok(())
    }

    fn reveal_weights(
        &mut self,
        height: Height,
        who: &Address,
        id: SubnetId,
        (dests, values): (&[Uid], &[u16]),
        salt: &Salt,
    ) -> PayloadResult {
        let (subnet, uid) = self.sender_uid(id, who)?;
        let commit = self.commit_record(id, uid)?.ok_or(ErrorCode::NoCommit)?;
        let epoch = subnet.epoch_of(height);
        if epoch <= commit.epoch {
            return Err(ErrorCode::RevealTooEarly.into());
        }
        if epoch > commit.epoch.saturating_add(1) {
            return Err(ErrorCode::RevealExpired.into());
        }
        if weights_commit(id, uid, dests, values, salt) != commit.commit {
            return Err(ErrorCode::RevealMismatch.into());
        }
        let n = usize::from(subnet.n);
        let mut seen = BTreeSet::new();
        if dests.len() != values.len()
            || dests.len() > n
            || !dests.iter().all(|&d| usize::from(d) < n && seen.insert(d))
        {
            return Err(ErrorCode::BadWeights.into());
        }
        let mut neuron = self.neuron_record(id, uid)?.ok_or_else(overflow)?;
        neuron.last_update = height;
        let row = dests.iter().copied().zip(values.iter().copied()).collect();
        self.put_weights_row(id, uid, &row);
        self.put_neuron(id, uid, &neuron);
        self.delete_commit(id, uid);
        Ok(())
    }

    fn sender_uid(&self, id: SubnetId, who: &Address) -> Result<(Subnet, Uid), PayloadError> {
        let subnet = self.subnet_record(id)?.ok_or(ErrorCode::UnknownSubnet)?;
        let uid = self.uid_of(id, who)?.ok_or(ErrorCode::NotRegistered)?;
        Ok((subnet, uid))
    }

    /// The stake Yuma counts for each neuron (see the module docs).
    pub(crate) fn neuron_stakes(&self, neurons: &[Neuron]) -> Result<Vec<u128>, CorruptState> {
        neurons
            .iter()
            .map(|n| {
                if n.is_validator() {
                    Ok(self.account(&n.address)?.map_or(0, |a| a.bonded.0))
                } else {
                    Ok(0)
                }
            })
            .collect()
    }

    /// Each uid's validator permit now (see the module docs).
    pub(crate) fn permits(
        &self,
        subnet: &Subnet,
        neurons: &[Neuron],
    ) -> Result<Vec<bool>, CorruptState> {
        let mut permits: Vec<bool> = neurons.iter().map(|n| n.permit).collect();
        if subnet.epochs == 0 {
            let stakes = self.neuron_stakes(neurons)?;
            let mut ranked: Vec<(u128, usize)> =
                stakes.iter().copied().zip(0..).filter(|(s, _)| *s > 0).collect();
            ranked.sort_by(|a, b| b.cmp(a));
            for (_, i) in ranked.into_iter().take(usize::from(subnet.spec.max_validators)) {
                permits[i] = true;
            }
        }
        for (p, n) in permits.iter_mut().zip(neurons) {
            *p |= n.address == subnet.owner;
        }
        Ok(permits)
    }

    /// The stored weights and bonds rows of `0..n`.
    pub(crate) fn subnet_rows(
        &self,
        id: SubnetId,
        n: u16,
    ) -> Result<(Vec<alx_yuma::Row>, Vec<alx_yuma::Row>), CorruptState> {
        let weights = (0..n).map(|uid| self.weights_row(id, uid)).collect::<Result<_, _>>()?;
        let bonds = (0..n).map(|uid| self.bonds_row(id, uid)).collect::<Result<_, _>>()?;
        Ok((weights, bonds))
    }
}

/// Stored rows Yuma refuses: only corrupt storage can produce them (every write is checked).
pub(crate) fn yuma_corrupt(id: SubnetId, e: &alx_yuma::YumaError) -> CorruptState {
    CorruptState {
        key: format!("subnet {id} ({e})"),
        source: commonware_codec::Error::Invalid("subnet", "stored rows refused by yuma"),
    }
}
