//! Staking operations beyond bond and unbond, and where rewards come from.
//!
//! ```text
//! StakingOp = 0 SetCommission { bps (u16) }                 a validator's cut of its pool
//!           | 1 Redelegate { from, to, amount }             move stake without unbonding
//! RewardSource = tag (u8) ‖ id                               see `RewardSource`
//! ```
//!
//! A validator's share of each block's staking rewards (the chain-validator class of emission
//! plus the block's fees, divided among the active set by stake) pays its commission first;
//! the rest is shared by everyone bonded to it, the validator's own bond included, pro rata to
//! stake. A commission change takes effect [`COMMISSION_NOTICE_EPOCHS`] epoch boundaries
//! later, so delegators see it coming and can leave.

use crate::{Address, Amount, datanet::DatanetId, model::ModelId, subnet::SubnetId};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

/// The highest commission a validator may set: half of its share.
pub const COMMISSION_MAX_BPS: u16 = 5_000;
/// The commission of a validator that never set one.
pub const COMMISSION_DEFAULT_BPS: u16 = 1_000;
/// A commission change applies from the start of the epoch after next: at least one whole
/// epoch of notice.
pub const COMMISSION_NOTICE_EPOCHS: u64 = 2;
/// The most validators one account may delegate to at once: a claim settles every one of
/// them, so their number bounds its work.
pub const DELEGATIONS_PER_ACCOUNT_MAX: usize = 16;

/// A staking operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StakingOp {
    /// The sender, a registered validator, sets the commission it keeps of its pool's rewards
    /// (at most [`COMMISSION_MAX_BPS`]), from the start of the epoch after next.
    SetCommission {
        /// Basis points of the validator's share.
        bps: u16,
    },
    /// Move `amount` of the sender's stake from one validator to another at once, without the
    /// unbonding period. Stake that arrived by redelegation cannot move again until an
    /// unbonding period has passed (no chains of hops).
    Redelegate {
        /// The validator the stake leaves.
        from: Address,
        /// The validator it joins.
        to: Address,
        /// Amount moved.
        amount: Amount,
    },
}

impl StakingOp {
    const TAG_SET_COMMISSION: u8 = 0;
    const TAG_REDELEGATE: u8 = 1;

    /// A stable lowercase name of the operation, as shown by the API.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::SetCommission { .. } => "staking_set_commission",
            Self::Redelegate { .. } => "staking_redelegate",
        }
    }
}

impl Write for StakingOp {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::SetCommission { bps } => {
                buf.put_u8(Self::TAG_SET_COMMISSION);
                bps.write(buf);
            }
            Self::Redelegate { from, to, amount } => {
                buf.put_u8(Self::TAG_REDELEGATE);
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
        }
    }
}

impl EncodeSize for StakingOp {
    fn encode_size(&self) -> usize {
        match self {
            Self::SetCommission { .. } => 1 + u16::SIZE,
            Self::Redelegate { .. } => 1 + 2 * Address::SIZE + Amount::SIZE,
        }
    }
}

impl Read for StakingOp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            Self::TAG_SET_COMMISSION => Self::SetCommission { bps: u16::read(buf)? },
            Self::TAG_REDELEGATE => Self::Redelegate {
                from: Address::read(buf)?,
                to: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// Where a credit came from. Every amount the chain pays anyone as earnings carries one, so
/// an account's rewards can be explained line by line (`alx rewards show`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum RewardSource {
    /// The data share of settled fees, paid to contributions of a datanet (claimable).
    DataCredits {
        /// The datanet.
        datanet: DatanetId,
    },
    /// The data share no credit claimed, paid to a datanet's owner (claimable).
    DatanetOwner {
        /// The datanet.
        datanet: DatanetId,
    },
    /// Contribution fees a datanet's owner receives (balance).
    DatanetFees {
        /// The datanet.
        datanet: DatanetId,
    },
    /// A model owner's share of its fees (balance), and its data share when it names no
    /// datanet (claimable).
    ModelOwner {
        /// The model.
        model: ModelId,
    },
    /// The serving provider's share of a model's fees (balance).
    Provider {
        /// The model.
        model: ModelId,
    },
    /// A delegation's share of a validator's pool (claimable).
    Staking {
        /// The validator.
        validator: Address,
    },
    /// A validator's commission on its pool (claimable).
    Commission,
    /// A subnet miner's incentive (balance).
    SubnetIncentive {
        /// The subnet.
        subnet: SubnetId,
    },
    /// A subnet validator's dividends (balance).
    SubnetDividends {
        /// The subnet.
        subnet: SubnetId,
    },
    /// A subnet owner's cut of the subnet's emission (balance).
    SubnetOwner {
        /// The subnet.
        subnet: SubnetId,
    },
    /// The epoch's data-contributor emission pool (claimable).
    DataPool,
    /// The epoch's compute emission pool (claimable).
    ComputePool,
    /// A share of a slashed bond or stake, paid to whoever brought the evidence (balance).
    Reporter,
}

impl RewardSource {
    /// A short stable name of the kind, as in the JSON `source` field.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::DataCredits { .. } => "data_credits",
            Self::DatanetOwner { .. } => "datanet_owner",
            Self::DatanetFees { .. } => "datanet_fees",
            Self::ModelOwner { .. } => "model_owner",
            Self::Provider { .. } => "provider",
            Self::Staking { .. } => "staking",
            Self::Commission => "commission",
            Self::SubnetIncentive { .. } => "subnet_incentive",
            Self::SubnetDividends { .. } => "subnet_dividends",
            Self::SubnetOwner { .. } => "subnet_owner",
            Self::DataPool => "data_pool",
            Self::ComputePool => "compute_pool",
            Self::Reporter => "reporter",
        }
    }

    /// True if the source pays only to the balance, never into claimable rewards.
    #[must_use]
    pub const fn paid_to_balance(&self) -> bool {
        matches!(
            self,
            Self::DatanetFees { .. }
                | Self::Provider { .. }
                | Self::SubnetIncentive { .. }
                | Self::SubnetDividends { .. }
                | Self::SubnetOwner { .. }
                | Self::Reporter
        )
    }

    /// What the source names, for display: `datanet 3`, `model 1`, `subnet 2`, a validator's
    /// address, or nothing.
    #[must_use]
    pub fn subject(&self) -> Option<String> {
        match self {
            Self::DataCredits { datanet }
            | Self::DatanetOwner { datanet }
            | Self::DatanetFees { datanet } => Some(format!("datanet {datanet}")),
            Self::ModelOwner { model } | Self::Provider { model } => Some(format!("model {model}")),
            Self::Staking { validator } => Some(format!("validator {validator}")),
            Self::SubnetIncentive { subnet }
            | Self::SubnetDividends { subnet }
            | Self::SubnetOwner { subnet } => Some(format!("subnet {subnet}")),
            Self::Commission | Self::DataPool | Self::ComputePool | Self::Reporter => None,
        }
    }

    const fn tag(&self) -> u8 {
        match self {
            Self::DataCredits { .. } => 0,
            Self::DatanetOwner { .. } => 1,
            Self::DatanetFees { .. } => 2,
            Self::ModelOwner { .. } => 3,
            Self::Provider { .. } => 4,
            Self::Staking { .. } => 5,
            Self::Commission => 6,
            Self::SubnetIncentive { .. } => 7,
            Self::SubnetDividends { .. } => 8,
            Self::SubnetOwner { .. } => 9,
            Self::DataPool => 10,
            Self::ComputePool => 11,
            Self::Reporter => 12,
        }
    }
}

impl Write for RewardSource {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            Self::DataCredits { datanet }
            | Self::DatanetOwner { datanet }
            | Self::DatanetFees { datanet } => datanet.write(buf),
            Self::ModelOwner { model } | Self::Provider { model } => model.write(buf),
            Self::Staking { validator } => validator.write(buf),
            Self::SubnetIncentive { subnet }
            | Self::SubnetDividends { subnet }
            | Self::SubnetOwner { subnet } => subnet.write(buf),
            Self::Commission | Self::DataPool | Self::ComputePool | Self::Reporter => {}
        }
    }
}

impl EncodeSize for RewardSource {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Staking { .. } => Address::SIZE,
            Self::Commission | Self::DataPool | Self::ComputePool | Self::Reporter => 0,
            _ => u64::SIZE,
        }
    }
}

impl Read for RewardSource {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::DataCredits { datanet: DatanetId::read(buf)? },
            1 => Self::DatanetOwner { datanet: DatanetId::read(buf)? },
            2 => Self::DatanetFees { datanet: DatanetId::read(buf)? },
            3 => Self::ModelOwner { model: ModelId::read(buf)? },
            4 => Self::Provider { model: ModelId::read(buf)? },
            5 => Self::Staking { validator: Address::read(buf)? },
            6 => Self::Commission,
            7 => Self::SubnetIncentive { subnet: SubnetId::read(buf)? },
            8 => Self::SubnetDividends { subnet: SubnetId::read(buf)? },
            9 => Self::SubnetOwner { subnet: SubnetId::read(buf)? },
            10 => Self::DataPool,
            11 => Self::ComputePool,
            12 => Self::Reporter,
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};

    #[test]
    fn ops_and_sources_round_trip_and_unknown_tags_are_refused() {
        let ops = [
            StakingOp::SetCommission { bps: 700 },
            StakingOp::Redelegate {
                from: Address([1; 32]),
                to: Address([2; 32]),
                amount: Amount(5),
            },
        ];
        for op in ops {
            let bytes = op.encode();
            assert_eq!(bytes.len(), op.encode_size());
            assert_eq!(StakingOp::decode(bytes).unwrap(), op);
        }
        assert!(StakingOp::decode(commonware_codec::Copying(&[2u8][..])).is_err());
        let sources = [
            RewardSource::DataCredits { datanet: DatanetId(3) },
            RewardSource::DatanetOwner { datanet: DatanetId(3) },
            RewardSource::DatanetFees { datanet: DatanetId(3) },
            RewardSource::ModelOwner { model: ModelId(1) },
            RewardSource::Provider { model: ModelId(1) },
            RewardSource::Staking { validator: Address([7; 32]) },
            RewardSource::Commission,
            RewardSource::SubnetIncentive { subnet: SubnetId(2) },
            RewardSource::SubnetDividends { subnet: SubnetId(2) },
            RewardSource::SubnetOwner { subnet: SubnetId(2) },
            RewardSource::DataPool,
            RewardSource::ComputePool,
            RewardSource::Reporter,
        ];
        for s in sources {
            let bytes = s.encode();
            assert_eq!(bytes.len(), s.encode_size());
            assert_eq!(RewardSource::decode(bytes).unwrap(), s);
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json["source"], s.name());
        }
        assert!(RewardSource::decode(commonware_codec::Copying(&[13u8][..])).is_err());
    }
}
