//! Read accessors of subnets as the API shows them (`alx_types::subnet_api`): subnets with
//! their pending emission, neurons with the stake Yuma counts and their current permit, the
//! epoch history, and outstanding commits.

use crate::{
    state::{CorruptState, State},
    subnet_records::{Neuron, NeuronKind, Subnet},
};
use alx_types::{
    Amount,
    subnet::{SubnetId, Uid},
    subnet_api::{
        MetagraphJson, NeuronJson, NeuronRole, PendingCommitJson, SubnetEpochJson, SubnetJson,
    },
};

impl State {
    /// A subnet, if created.
    pub fn subnet(&self, id: SubnetId) -> Result<Option<SubnetJson>, CorruptState> {
        let Some(s) = self.subnet_record(id)? else { return Ok(None) };
        self.subnet_json(id, s).map(Some)
    }

    /// Every subnet, in id order.
    pub fn subnets(&self) -> Result<Vec<SubnetJson>, CorruptState> {
        let mut out = Vec::new();
        for id in (0..self.subnet_count()?).map(SubnetId) {
            if let Some(s) = self.subnet(id)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// One uid of a subnet.
    pub fn neuron(&self, id: SubnetId, uid: Uid) -> Result<Option<NeuronJson>, CorruptState> {
        let Some(m) = self.metagraph(id)? else { return Ok(None) };
        Ok(m.neurons.into_iter().nth(usize::from(uid)))
    }

    /// Every uid of a subnet, in uid order.
    pub fn metagraph(&self, id: SubnetId) -> Result<Option<MetagraphJson>, CorruptState> {
        let Some(subnet) = self.subnet_record(id)? else { return Ok(None) };
        let neurons = self.neuron_records(id, subnet.n)?;
        let stakes = self.neuron_stakes(&neurons)?;
        let permits = self.permits(&subnet, &neurons)?;
        let neurons = (0..)
            .zip(neurons)
            .zip(stakes.into_iter().zip(permits))
            .map(|((uid, n), (stake, permit))| neuron_json(uid, n, Amount(stake), permit))
            .collect();
        Ok(Some(MetagraphJson { subnet: id, height: self.height()?, neurons }))
    }

    /// The kept epochs of a subnet (at most `SUBNET_EPOCHS_KEPT`), oldest first.
    pub fn subnet_epochs(&self, id: SubnetId) -> Result<Vec<SubnetEpochJson>, CorruptState> {
        Ok(self
            .subnet_epoch_records(id)?
            .into_iter()
            .map(|(epoch, e)| SubnetEpochJson {
                epoch,
                block: e.block,
                owner_emission: e.owner_emission,
                total_emission: e.total_emission,
                emission: e.emission.into_iter().map(|x| Amount(u128::from(x))).collect(),
            })
            .collect())
    }

    /// A uid's outstanding weight commit.
    pub fn pending_commit(
        &self,
        id: SubnetId,
        uid: Uid,
    ) -> Result<Option<PendingCommitJson>, CorruptState> {
        Ok(self.commit_record(id, uid)?.map(|c| PendingCommitJson {
            subnet: id,
            uid,
            commit: c.commit,
            block: c.block,
            epoch: c.epoch,
        }))
    }

    fn subnet_json(&self, id: SubnetId, s: Subnet) -> Result<SubnetJson, CorruptState> {
        let pending =
            s.pending(self.subnet_emission_acc()?).ok_or_else(crate::execute::overflow)?;
        let next_epoch_block = s.next_epoch_after(s.last_epoch_block.max(s.created_at));
        Ok(SubnetJson {
            id,
            owner: s.owner,
            created_at: s.created_at,
            neurons: s.n,
            pending,
            epochs: s.epochs,
            last_epoch_block: s.last_epoch_block,
            next_epoch_block,
            spec: s.spec,
            liquid_alpha: self.liquid_alpha(id)?,
        })
    }
}

fn neuron_json(uid: Uid, n: Neuron, stake: Amount, permit: bool) -> NeuronJson {
    let (kind, model, endpoint) = match n.kind {
        NeuronKind::Miner { model, endpoint } => (NeuronRole::Miner, Some(model), Some(endpoint)),
        NeuronKind::Validator => (NeuronRole::Validator, None, None),
    };
    NeuronJson {
        uid,
        address: n.address,
        kind,
        model,
        endpoint,
        stake,
        validator_permit: permit,
        registered_at: n.registered_at,
        last_update: n.last_update,
        consensus: n.consensus,
        incentive: n.incentive,
        dividends: n.dividends,
        validator_trust: n.validator_trust,
        last_emission: n.last_emission,
    }
}
