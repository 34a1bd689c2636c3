//! Emission: every block mints what the genesis schedule says (`alx-emission`, never past its
//! cap) and divides it exactly among the classes:
//!
//! | class | where it goes |
//! |---|---|
//! | chain validators | with the block's fees, the active set by stake: commission, then each validator's pool (`staking_pools`) |
//! | data contributors | the epoch's data pool, paid at the epoch's last block by the epoch's data weights (below) |
//! | compute | the epoch's compute pool, paid the same way by the compute weights |
//! | subnets | shared equally among the subnets' pending balances (floor), paid at each subnet's epoch (`subnet_epoch`); the dust, and everything while no subnet exists, goes to the subnet pool, which is released to the subnets again at most at the class's rate per block |
//! | protection fund, treasury | their chain accounts |
//!
//! **Weights are matched burns**, so that self-dealing never pays (docs/design/emission.md has
//! the arithmetic). Of each settled fee, the protocol part goes to the treasury: nobody who
//! pays it can get it back, whatever roles it plays. A settlement gives weight only against
//! that burned part: [`DATA_MATCH_BPS`] of it to the accounts paid the data share (pro rata to
//! what each was paid), [`COMPUTE_MATCH_BPS`] to the provider. At the epoch's end each pool
//! pays every account `min(pool · weight / Σ weights, weight)`: a unit of weight never earns
//! more than a unit of emission. So an actor that pays fees to itself earns at most 90% of
//! what it burned back in emission, and loses the rest and its transaction fees.
//!
//! Pool payouts are floors; what the weights do not take (the dust, the part above the
//! weights, a pool with no usage in an epoch) carries over to the next epoch. The supply grows by exactly what is minted, and everything minted is held
//! somewhere the supply check counts.
//!
//! ```text
//! 0x13 ‖ epoch (BE) ‖ address → Amount   data weight in that epoch (matched burns)
//! 0x14 ‖ epoch (BE) ‖ address → Amount   compute weight in that epoch (matched burns)
//! 0x05 ‖ "emission" → EmissionParams (codec, see `encode_params`); "minted", "pool_subnets", "pool_data",
//!        "pool_compute", "protection_fund" → Amount
//! ```

use crate::{
    keys::{self, global_key},
    model_records::GLOBAL_TREASURY,
    reward_ledger::PaidTo,
    state::{CorruptState, State, hex_key},
};
use alx_emission::EmissionParams;
use alx_types::{Address, Amount, block::Height, staking::RewardSource};
use commonware_codec::Error as CodecError;

const PREFIX_EPOCH_USAGE: u8 = 0x13;
const PREFIX_EPOCH_WORK: u8 = 0x14;
const GLOBAL_EMISSION: &str = "emission";
const GLOBAL_MINTED: &str = "minted";
/// Subnet-class emission no subnet has taken yet: the per-block dust, and all of it while no
/// subnet existed (released to the subnets at most at the class's rate per block).
pub const POOL_SUBNETS: &str = "pool_subnets";
/// Data contributors' pool of the current epoch.
pub const POOL_DATA: &str = "pool_data";
/// Compute providers' pool of the current epoch.
pub const POOL_COMPUTE: &str = "pool_compute";
/// Data weight per unit of fee burned (basis points).
pub const DATA_MATCH_BPS: u16 = 5_400;
/// Compute weight per unit of fee burned (basis points). With [`DATA_MATCH_BPS`], 90% in all:
/// the split of the data and compute classes (24:16), scaled so the two never reach a whole.
pub const COMPUTE_MATCH_BPS: u16 = 3_600;
/// The protection fund.
pub const PROTECTION_FUND: &str = "protection_fund";

fn weight_key(prefix: u8, epoch: u64, who: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(prefix);
    k.extend_from_slice(&epoch.to_be_bytes());
    k.extend_from_slice(who.as_bytes());
    k
}

fn add(a: Amount, b: Amount) -> Result<Amount, CorruptState> {
    a.checked_add(b).ok_or_else(crate::execute::overflow)
}

impl State {
    /// The emission parameters fixed at genesis (`None`: this chain mints nothing).
    pub fn emission_params(&self) -> Result<Option<EmissionParams>, CorruptState> {
        let Some(bytes) = self.auth().get(&global_key(GLOBAL_EMISSION)) else { return Ok(None) };
        decode_params(bytes)
            .map(Some)
            .map_err(|source| CorruptState { key: GLOBAL_EMISSION.into(), source })
    }

    pub(crate) fn put_emission_params(&mut self, params: &EmissionParams) {
        self.auth_mut().put(global_key(GLOBAL_EMISSION), encode_params(params));
    }

    /// Minted by emission so far.
    pub fn minted(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_MINTED)
    }

    /// Mints the block's emission and divides it (see the module docs). Returns the
    /// chain-validator class, which the caller shares with the block's fees.
    pub(crate) fn emit(&mut self, height: Height) -> Result<Amount, CorruptState> {
        let Some(params) = self.emission_params()? else { return Ok(Amount::ZERO) };
        let minted = self.minted()?;
        let block = params.block(height, minted);
        if block.total.is_zero() {
            return Ok(Amount::ZERO);
        }
        let a = block.allocation;
        self.put_amount_global_named(GLOBAL_MINTED, add(minted, block.total)?);
        let supply = add(self.supply()?, block.total)?;
        self.put_amount_global_named("supply", supply);
        self.share_subnet_emission(a.subnets)?;
        for (name, part) in [
            (POOL_DATA, a.data_contributors),
            (POOL_COMPUTE, a.compute),
            (PROTECTION_FUND, a.protection_fund),
            (GLOBAL_TREASURY, a.community_treasury),
        ] {
            let held = add(self.amount_global(name)?, part)?;
            self.put_amount_global_named(name, held);
        }
        Ok(a.chain_validators)
    }

    /// Records `amount` of data-share earnings (`data`) or settled fees (`!data`) for `who` in
    /// the epoch of `height`.
    pub(crate) fn record_epoch_weight(
        &mut self,
        height: Height,
        data: bool,
        who: &Address,
        amount: Amount,
    ) -> Result<(), CorruptState> {
        if amount.is_zero() {
            return Ok(());
        }
        let prefix = if data { PREFIX_EPOCH_USAGE } else { PREFIX_EPOCH_WORK };
        let k = weight_key(prefix, height.0 / self.params().epoch_length, who);
        let old: Amount = self.get(&k)?.unwrap_or_default();
        self.put(k, &add(old, amount)?);
        Ok(())
    }

    /// At an epoch's last block: pays the data and compute pools pro rata to the epoch's
    /// weights, no account more than its weight, as claimable rewards, and clears the weights.
    pub(crate) fn pay_epoch_pools(&mut self, height: Height) -> Result<(), CorruptState> {
        let epoch = height.0 / self.params().epoch_length;
        for (prefix, pool) in [(PREFIX_EPOCH_USAGE, POOL_DATA), (PREFIX_EPOCH_WORK, POOL_COMPUTE)] {
            let mut start = vec![prefix];
            start.extend_from_slice(&epoch.to_be_bytes());
            let weights: Vec<(Vec<u8>, Address, Amount)> = self
                .auth()
                .scan_prefix(&start)
                .map(|(k, v)| {
                    let corrupt = |source| CorruptState { key: hex_key(k), source };
                    let who = k
                        .get(9..41)
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .map(Address)
                        .ok_or_else(|| corrupt(CodecError::InvalidLength(k.len())))?;
                    let amount = keys::decode::<Amount>(v).map_err(corrupt)?;
                    Ok((k.to_vec(), who, amount))
                })
                .collect::<Result<_, CorruptState>>()?;
            let total: u128 = weights.iter().map(|(_, _, a)| a.0).sum();
            let available = self.amount_global(pool)?;
            let mut paid = 0u128;
            if total > 0 && !available.is_zero() {
                let source = if pool == POOL_DATA {
                    RewardSource::DataPool
                } else {
                    RewardSource::ComputePool
                };
                for (_, who, weight) in &weights {
                    let part = crate::usage::mul_div(available.0, weight.0, total).min(weight.0);
                    paid += part;
                    self.earn(who, source, Amount(part), PaidTo::Claimable)?;
                }
            }
            self.put_amount_global_named(pool, Amount(available.0 - paid));
            for (k, _, _) in weights {
                self.auth_mut().delete(&k);
            }
        }
        Ok(())
    }
}

/// The emission parameters in the state's one encoding (commonware's codec, fixed-width big
/// endian): the curve's tag and fields, the cap, the six class shares and the three subnet
/// shares in basis points.
fn encode_params(params: &EmissionParams) -> Vec<u8> {
    use alx_emission::Curve;
    use commonware_codec::Write as _;
    let mut out = Vec::with_capacity(96);
    let schedule = params.schedule.params();
    match schedule.curve {
        Curve::LinearDecay { initial_per_day, decrease_per_day, blocks_per_day } => {
            0u8.write(&mut out);
            initial_per_day.write(&mut out);
            decrease_per_day.write(&mut out);
            blocks_per_day.write(&mut out);
        }
        Curve::Halving { initial_per_block, interval_blocks } => {
            1u8.write(&mut out);
            initial_per_block.write(&mut out);
            interval_blocks.write(&mut out);
        }
        Curve::SupplyHalving { initial_per_block } => {
            2u8.write(&mut out);
            initial_per_block.write(&mut out);
        }
    }
    schedule.cap.write(&mut out);
    let split = params.split.bps();
    for bps in [
        split.subnets,
        split.data_contributors,
        split.compute,
        split.chain_validators,
        split.protection_fund,
        split.community_treasury,
    ] {
        bps.write(&mut out);
    }
    let subnet = params.subnet_split.bps();
    for bps in [subnet.owner, subnet.miners, subnet.validators] {
        bps.write(&mut out);
    }
    out
}

/// Reads what [`encode_params`] wrote, and checks it as genesis did (a stored value that is not
/// valid parameters is corrupt state).
fn decode_params(bytes: &[u8]) -> Result<EmissionParams, CodecError> {
    use alx_emission::{
        Curve, Schedule, ScheduleParams, Split, SplitBps, SubnetSplit, SubnetSplitBps,
    };
    use bytes::Buf as _;
    use commonware_codec::ReadExt as _;
    let mut input = commonware_codec::Copying(bytes);
    let buf = &mut input;
    let curve = match u8::read(buf)? {
        0 => Curve::LinearDecay {
            initial_per_day: Amount::read(buf)?,
            decrease_per_day: Amount::read(buf)?,
            blocks_per_day: u64::read(buf)?,
        },
        1 => Curve::Halving {
            initial_per_block: Amount::read(buf)?,
            interval_blocks: u64::read(buf)?,
        },
        2 => Curve::SupplyHalving { initial_per_block: Amount::read(buf)? },
        tag => return Err(CodecError::InvalidEnum(tag)),
    };
    let cap = Amount::read(buf)?;
    let mut bps = [0u16; 9];
    for b in &mut bps {
        *b = u16::read(buf)?;
    }
    if buf.has_remaining() {
        return Err(CodecError::ExtraData(buf.remaining()));
    }
    let invalid = |_| CodecError::Invalid("emission", "not valid emission parameters");
    let [
        subnets,
        data_contributors,
        compute,
        chain_validators,
        protection_fund,
        community_treasury,
        owner,
        miners,
        validators,
    ] = bps;
    Ok(EmissionParams {
        schedule: Schedule::new(ScheduleParams { curve, cap }).map_err(invalid)?,
        split: Split::new(SplitBps {
            subnets,
            data_contributors,
            compute,
            chain_validators,
            protection_fund,
            community_treasury,
        })
        .map_err(invalid)?,
        subnet_split: SubnetSplit::new(SubnetSplitBps { owner, miners, validators })
            .map_err(invalid)?,
    })
}

#[cfg(test)]
mod codec_tests {
    use super::*;
    use alx_emission::{Curve, Schedule, ScheduleParams, Split, SubnetSplit};

    #[test]
    fn emission_params_round_trip_and_bad_bytes_are_corrupt() {
        let curves = [
            Curve::LinearDecay {
                initial_per_day: Amount(1_000_000),
                decrease_per_day: Amount(7),
                blocks_per_day: 86_400,
            },
            Curve::Halving { initial_per_block: Amount(50), interval_blocks: 210_000 },
            Curve::SupplyHalving { initial_per_block: Amount(50) },
        ];
        for curve in curves {
            let params = EmissionParams {
                schedule: Schedule::new(ScheduleParams { curve, cap: Amount(21_000_000) }).unwrap(),
                split: Split::DEFAULT,
                subnet_split: SubnetSplit::DEFAULT,
            };
            let bytes = encode_params(&params);
            assert_eq!(decode_params(&bytes).unwrap(), params);
            assert!(decode_params(&bytes[..bytes.len() - 1]).is_err(), "truncated");
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_params(&longer).is_err(), "trailing bytes");
            let mut bad_split = bytes.clone();
            let at = bytes.len() - 2;
            bad_split[at] ^= 0x01; // the shares no longer sum to 10,000
            assert!(decode_params(&bad_split).is_err(), "invalid shares");
        }
        assert!(decode_params(&[9]).is_err(), "unknown curve");
    }
}
