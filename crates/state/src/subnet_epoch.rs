//! Subnet emission and epochs: how the subnet class of every block's emission reaches miners,
//! validators and owners.
//!
//! ```text
//! every block   release = min(pool_subnets, subnets_class)     (the backlog, paced)
//!               share = ⌊(subnets_class + release) / count⌋ to each subnet's pending
//!               balance; the dust (< count base units) goes back to pool_subnets; with no
//!               subnet the whole class goes there
//! recycling     the creation lock and every registration burn go to their own subnet's
//!               pending balance (the supply is unchanged)
//! epoch         at heights created_at + k·tempo (k ≥ 1), after the block's transactions:
//!               owner  = ⌊pending · owner_bps / 10_000⌋            → owner's balance
//!               yuma   = min(pending − owner, u64::MAX)           → alx_yuma::epoch
//!               uid i  = server_emission_i + validator_emission_i → holder's balance
//!               pending −= owner + Σ uid i                        (the rounding stays)
//! ```
//!
//! `owner_bps` is the genesis subnet split's owner part (18% by default, also when the chain
//! mints nothing). Yuma's epoch splits the rest between miners (incentive) and validators
//! (dividends); what it leaves unpaid (rounding, or no stake and no weights) stays pending and
//! goes into the next epoch. The owner's cut is taken from everything pending.
//!
//! The per-block credit is O(1) whatever the number of subnets: a chain-wide accumulator grows
//! by each block's share, and a subnet's pending balance is its stored amount plus the growth
//! of the accumulator since it last took its shares (at creation and at each epoch). The total
//! of all pending balances is kept alongside, so the supply check stays exact.
//!
//! Yuma's input per uid: stake as `subnets` describes (scaled down together, by one common
//! divisor, when the total passes Yuma's `STAKE_TOTAL_MAX`, so proportions hold), permits (the
//! last epoch's, or the pre-first-epoch rule), registration height, last update, weights and
//! bonds rows; the owner's uid, if it holds one. Params: subtensor's defaults with the
//! subnet's `yuma3`, `tempo`, `max_validators`, and the activity cutoff subtensor derives from
//! the tempo. The results are stored: permits, bonds, consensus, incentive, dividends and
//! validator trust (as `u16`), each uid's payout, and a history entry (the last
//! `SUBNET_EPOCHS_KEPT` epochs).

use crate::{
    emission::POOL_SUBNETS,
    execute::overflow,
    keys,
    reward_ledger::PaidTo,
    state::{CorruptState, State, hex_key},
    subnet_records::{PREFIX_EPOCH_SCHEDULE, PREFIX_SUBNET_EPOCH, key, read_count},
    subnets::yuma_corrupt,
    usage::mul_div,
};
use alx_emission::SubnetSplit;
use alx_types::{
    Amount,
    block::Height,
    staking::RewardSource,
    subnet::{LiquidAlpha, SUBNET_EPOCHS_KEPT, SubnetId, SubnetSpec},
};
use alx_yuma::{EpochOutput, Params, StateInit, SubnetState, limits::STAKE_TOTAL_MAX};
use bytes::BufMut as _;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};

fn add(a: Amount, b: Amount) -> Result<Amount, CorruptState> {
    a.checked_add(b).ok_or_else(overflow)
}

fn sub(a: Amount, b: Amount) -> Result<Amount, CorruptState> {
    a.checked_sub(b).ok_or_else(overflow)
}

/// Stakes as Yuma takes them: `u64`, summing to at most `STAKE_TOTAL_MAX`. Over that, every
/// stake is divided by the same `⌊total / max⌋ + 1`, which keeps their proportions (floors
/// aside) where clamping each one would not.
pub(crate) fn yuma_stakes(stakes: &[u128]) -> Vec<u64> {
    let total = stakes.iter().fold(0u128, |a, s| a.saturating_add(*s));
    let max = u128::from(STAKE_TOTAL_MAX);
    let divisor = if total <= max { 1 } else { total / max + 1 };
    stakes.iter().map(|s| u64::try_from(s / divisor).unwrap_or(STAKE_TOTAL_MAX)).collect()
}

/// Yuma's parameters for a subnet.
pub(crate) fn yuma_params(spec: &SubnetSpec, liquid: LiquidAlpha) -> Params {
    Params {
        yuma3: spec.yuma3,
        liquid_alpha: liquid.enabled,
        alpha_low: liquid.alpha_low,
        alpha_high: liquid.alpha_high,
        tempo: spec.tempo,
        max_allowed_validators: spec.max_validators,
        activity_cutoff_blocks: alx_yuma::activity_cutoff_for_tempo(spec.tempo),
        ..Params::subtensor_defaults()
    }
}

impl State {
    /// Credits the block's subnet-class emission `amount` equally to every subnet, with part
    /// of the backlog in `pool_subnets`; what cannot be split evenly (or everything, while no
    /// subnet exists) goes to the backlog.
    ///
    /// The backlog is released at most at the class's own rate (`min(pool, amount)` per
    /// block): a chain that ran without subnets pays its backlog out over as many blocks as
    /// it took to build, so the first subnet does not take it all and later ones share in it.
    pub(crate) fn share_subnet_emission(&mut self, amount: Amount) -> Result<(), CorruptState> {
        let pool = self.amount_global(POOL_SUBNETS)?;
        let count = u128::from(self.subnet_count()?);
        if count == 0 {
            self.put_amount_global_named(POOL_SUBNETS, add(pool, amount)?);
            return Ok(());
        }
        let release = pool.min(amount);
        let available = add(amount, release)?;
        let share = available.0 / count;
        let shared = Amount(share * count);
        if share > 0 {
            self.put_subnet_emission_acc(add(self.subnet_emission_acc()?, Amount(share))?);
            self.put_subnet_pending_total(add(self.subnet_pending_total()?, shared)?);
        }
        self.put_amount_global_named(
            POOL_SUBNETS,
            add(sub(pool, release)?, sub(available, shared)?)?,
        );
        Ok(())
    }

    /// Runs the epoch of every subnet due at `height`, in id order.
    pub(crate) fn run_subnet_epochs(&mut self, height: Height) -> Result<(), CorruptState> {
        for id in self.take_due_epochs(height)? {
            self.subnet_epoch(id, height)?;
        }
        Ok(())
    }

    fn subnet_epoch(&mut self, id: SubnetId, height: Height) -> Result<(), CorruptState> {
        let missing = || CorruptState {
            key: format!("subnet {id}"),
            source: commonware_codec::Error::Invalid("subnet", "scheduled but missing"),
        };
        let mut subnet = self.subnet_record(id)?.ok_or_else(missing)?;
        let acc = self.subnet_emission_acc()?;
        let pending = subnet.pending(acc).ok_or_else(overflow)?;
        subnet.emission_mark = acc;
        let split = self.emission_params()?.map_or(SubnetSplit::DEFAULT, |p| p.subnet_split);
        let owner_emission = Amount(mul_div(pending.0, u128::from(split.bps().owner), 10_000));
        let source = RewardSource::SubnetOwner { subnet: id };
        self.earn(&subnet.owner, source, owner_emission, PaidTo::Balance)?;
        let rest = sub(pending, owner_emission)?;

        let mut neurons = self.neuron_records(id, subnet.n)?;
        let stakes = yuma_stakes(&self.neuron_stakes(&neurons)?);
        let permits = self.permits(&subnet, &neurons)?;
        let (weights, bonds) = self.subnet_rows(id, subnet.n)?;
        let owner_uid = self.uid_of(id, &subnet.owner)?;
        let init = StateInit {
            current_block: height.0,
            last_epoch_block: subnet.last_epoch_block.0,
            owner_uid,
            stake: stakes,
            validator_permit: permits,
            block_at_registration: neurons.iter().map(|n| n.registered_at.0).collect(),
            last_update: neurons.iter().map(|n| n.last_update.0).collect(),
            weights,
            bonds: bonds.clone(),
        };
        let mut yuma = SubnetState::new(init).map_err(|e| yuma_corrupt(id, &e))?;
        let emission = u64::try_from(rest.0).unwrap_or(u64::MAX);
        let params = yuma_params(&subnet.spec, self.liquid_alpha(id)?);
        let out = alx_yuma::epoch(&params, &mut yuma, emission);

        // Pay each uid its serving and validating shares. Yuma's floors sum to at most
        // `emission`; the cap only makes that certain.
        let mut left = u128::from(emission);
        let mut paid = Vec::with_capacity(neurons.len());
        for (i, neuron) in neurons.iter().enumerate() {
            let serving = u128::from(out.server_emission[i]).min(left);
            let validating = u128::from(out.validator_emission[i]).min(left - serving);
            let pay = serving + validating;
            left -= pay;
            for (source, amount) in [
                (RewardSource::SubnetIncentive { subnet: id }, serving),
                (RewardSource::SubnetDividends { subnet: id }, validating),
            ] {
                self.earn(&neuron.address, source, Amount(amount), PaidTo::Balance)?;
            }
            paid.push(u64::try_from(pay).unwrap_or(u64::MAX));
        }
        let total_emission = Amount(u128::from(emission) - left);
        self.store_results(id, &mut neurons, &out, &paid, &bonds);

        let epoch = subnet.epoch_of(height);
        let record = SubnetEpoch { block: height, owner_emission, total_emission, emission: paid };
        self.put_subnet_epoch(id, epoch, &record);
        if let Some(old) = epoch.checked_sub(SUBNET_EPOCHS_KEPT) {
            self.delete_subnet_epoch(id, old);
        }
        let spent = add(owner_emission, total_emission)?;
        subnet.pending = sub(pending, spent)?;
        subnet.epochs += 1;
        subnet.last_epoch_block = height;
        self.put_subnet_pending_total(sub(self.subnet_pending_total()?, spent)?);
        self.schedule_epoch(subnet.next_epoch_after(height), id);
        self.put_subnet(id, &subnet);
        Ok(())
    }

    /// Stores an epoch's permits, results and bonds (only what changed is written).
    fn store_results(
        &mut self,
        id: SubnetId,
        neurons: &mut [crate::subnet_records::Neuron],
        out: &EpochOutput,
        paid: &[u64],
        bonds: &[alx_yuma::Row],
    ) {
        let consensus = EpochOutput::to_u16(&out.consensus);
        let incentive = EpochOutput::to_u16(&out.incentive);
        let dividends = EpochOutput::to_u16(&out.dividends);
        let trust = EpochOutput::to_u16(&out.validator_trust);
        for (uid, (i, neuron)) in (0..).zip(neurons.iter_mut().enumerate()) {
            let before = neuron.clone();
            neuron.permit = out.validator_permit[i];
            neuron.consensus = consensus[i];
            neuron.incentive = incentive[i];
            neuron.dividends = dividends[i];
            neuron.validator_trust = trust[i];
            neuron.last_emission = Amount(u128::from(paid[i]));
            if *neuron != before {
                self.put_neuron(id, uid, neuron);
            }
            if out.bonds[i] != bonds[i] {
                self.put_bonds_row(id, uid, &out.bonds[i]);
            }
        }
    }
}

// The epoch history and schedule (layout in `subnet_records`).

fn schedule_key(height: Height, subnet: SubnetId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(PREFIX_EPOCH_SCHEDULE);
    k.put_u64(height.0);
    k.put_u64(subnet.0);
    k
}

/// One epoch's payout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubnetEpoch {
    pub(crate) block: Height,
    pub(crate) owner_emission: Amount,
    pub(crate) total_emission: Amount,
    /// Per uid (each at most Yuma's `u64` emission).
    pub(crate) emission: Vec<u64>,
}

impl Write for SubnetEpoch {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.block.write(buf);
        self.owner_emission.write(buf);
        self.total_emission.write(buf);
        // At most UIDS_MAX entries, one per uid.
        buf.put_u16(self.emission.len() as u16);
        for e in &self.emission {
            e.write(buf);
        }
    }
}

impl EncodeSize for SubnetEpoch {
    fn encode_size(&self) -> usize {
        8 + 2 * Amount::SIZE + 2 + 8 * self.emission.len()
    }
}

impl Read for SubnetEpoch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let block = Height::read(buf)?;
        let owner_emission = Amount::read(buf)?;
        let total_emission = Amount::read(buf)?;
        let emission = (0..read_count(buf)?).map(|_| u64::read(buf)).collect::<Result<_, _>>()?;
        Ok(Self { block, owner_emission, total_emission, emission })
    }
}

impl State {
    pub(crate) fn put_subnet_epoch(&mut self, subnet: SubnetId, epoch: u64, e: &SubnetEpoch) {
        self.put(key(PREFIX_SUBNET_EPOCH, subnet, &epoch.to_be_bytes()), e);
    }

    pub(crate) fn delete_subnet_epoch(&mut self, subnet: SubnetId, epoch: u64) {
        self.auth_mut().delete(&key(PREFIX_SUBNET_EPOCH, subnet, &epoch.to_be_bytes()));
    }

    /// The kept epochs of a subnet, oldest first.
    pub(crate) fn subnet_epoch_records(
        &self,
        subnet: SubnetId,
    ) -> Result<Vec<(u64, SubnetEpoch)>, CorruptState> {
        let prefix = key(PREFIX_SUBNET_EPOCH, subnet, &[]);
        self.auth()
            .scan_prefix(&prefix)
            .map(|(k, v)| {
                let corrupt = |source| CorruptState { key: hex_key(k), source };
                let epoch = k
                    .get(9..17)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| corrupt(CodecError::InvalidLength(k.len())))?;
                Ok((epoch, keys::decode(v).map_err(corrupt)?))
            })
            .collect()
    }

    pub(crate) fn schedule_epoch(&mut self, height: Height, subnet: SubnetId) {
        self.auth_mut().put(schedule_key(height, subnet), Vec::new());
    }

    /// The subnets whose epoch runs at `height`, in id order, taken off the schedule.
    pub(crate) fn take_due_epochs(
        &mut self,
        height: Height,
    ) -> Result<Vec<SubnetId>, CorruptState> {
        let mut prefix = vec![PREFIX_EPOCH_SCHEDULE];
        prefix.put_u64(height.0);
        let due = self
            .auth()
            .scan_prefix(&prefix)
            .map(|(k, _)| {
                k.get(9..17)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(|b| (k.clone(), SubnetId(u64::from_be_bytes(b))))
                    .ok_or_else(|| CorruptState {
                        key: hex_key(k),
                        source: CodecError::InvalidLength(k.len()),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (k, _) in &due {
            self.auth_mut().delete(k);
        }
        Ok(due.into_iter().map(|(_, id)| id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stakes_scale_down_together() {
        assert_eq!(yuma_stakes(&[5, 0, 7]), vec![5, 0, 7]);
        let max = u128::from(STAKE_TOTAL_MAX);
        let scaled = yuma_stakes(&[max, max, 2 * max]);
        assert!(scaled.iter().map(|&s| u128::from(s)).sum::<u128>() <= max);
        assert_eq!((scaled[0], scaled[2]), (scaled[1], 2 * scaled[1]));
        let huge = yuma_stakes(&[u128::MAX, 1]);
        assert!(huge.iter().map(|&s| u128::from(s)).sum::<u128>() <= max);
    }

    #[test]
    fn the_epoch_runs_with_the_subnets_liquid_alpha() {
        let spec = SubnetSpec {
            name: "s".into(),
            task: "t".into(),
            datanets: vec![],
            tempo: 10,
            max_uids: 8,
            max_validators: 4,
            registration_burn: alx_types::Amount::ZERO,
            immunity_blocks: 0,
            yuma3: true,
        };
        let off = yuma_params(&spec, LiquidAlpha::OFF);
        assert!(!off.liquid_alpha);
        let on = LiquidAlpha { enabled: true, alpha_low: 2_000, alpha_high: 60_000 };
        let p = yuma_params(&spec, on);
        assert!(p.liquid_alpha && p.yuma3);
        assert_eq!((p.alpha_low, p.alpha_high), (2_000, 60_000));
        assert_eq!(p.alpha_sigmoid_steepness, Params::subtensor_defaults().alpha_sigmoid_steepness);
    }
}
