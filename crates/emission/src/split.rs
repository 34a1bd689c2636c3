//! Exact splits of an amount by basis points.
//!
//! Largest-remainder rule, for weights `b_i` summing to 10_000 and an amount `A`:
//!
//! 1. every part gets `⌊A·b_i / 10_000⌋`;
//! 2. the `L = A − Σ parts` base units left over (`L` < the number of parts) go one each to
//!    the `L` parts with the largest remainders `A·b_i mod 10_000`;
//! 3. equal remainders are ordered by declaration order: the part declared first wins.
//!
//! The parts therefore sum to `A` exactly, each part is within one base unit of its exact
//! share, and a part with weight 0 always gets 0 (its remainder is 0, and more than `L` parts
//! have a nonzero remainder whenever `L > 0`). `A·b_i` is never formed: it is computed as
//! `⌊A / 10_000⌋·b_i + (A mod 10_000)·b_i / 10_000`, so any `u128` amount splits.

use crate::error::EmissionError;
use alx_types::Amount;
use serde::{Deserialize, Serialize};

/// Basis points in a whole.
pub const BPS_TOTAL: u16 = 10_000;

/// Splits `amount` by `bps` (summing to [`BPS_TOTAL`]) with the largest-remainder rule.
fn apportion<const N: usize>(amount: u128, bps: [u16; N]) -> [u128; N] {
    let whole = u128::from(BPS_TOTAL);
    let (quotient, rest) = (amount / whole, amount % whole);
    let mut parts = [0u128; N];
    let mut remainders = [0u128; N];
    for (i, &b) in bps.iter().enumerate() {
        // quotient·b ≤ amount and rest·b < 10^8: no overflow.
        let scaled = rest * u128::from(b);
        parts[i] = quotient * u128::from(b) + scaled / whole;
        remainders[i] = scaled % whole;
    }
    // Σ parts ≤ quotient·10_000 + rest = amount, so this does not underflow.
    let left = amount - parts.iter().sum::<u128>();
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    // Stable sort: equal remainders keep declaration order.
    order.sort_by_key(|&i| std::cmp::Reverse(remainders[i]));
    for &i in order.iter().take(usize::try_from(left).unwrap_or(N)) {
        parts[i] += 1;
    }
    parts
}

/// Refuses weights that do not sum to exactly [`BPS_TOTAL`].
fn check_sum(split: &'static str, bps: &[u16]) -> Result<(), EmissionError> {
    let sum: u32 = bps.iter().map(|&b| u32::from(b)).sum();
    if sum == u32::from(BPS_TOTAL) { Ok(()) } else { Err(EmissionError::SplitSum { split, sum }) }
}

/// A class of emission recipients, in tie order (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Subnets, shared among them, then inside each by [`SubnetSplit`] and Yuma Consensus.
    Subnets,
    /// Data contributors, by attributed usage.
    DataContributors,
    /// Compute providers, by verified paid work.
    Compute,
    /// Chain validators and their stakers.
    ChainValidators,
    /// The protection fund, paid out only against adjudicated claims.
    ProtectionFund,
    /// The community treasury.
    CommunityTreasury,
}

impl Class {
    /// Every class, in tie order.
    pub const ALL: [Self; 6] = [
        Self::Subnets,
        Self::DataContributors,
        Self::Compute,
        Self::ChainValidators,
        Self::ProtectionFund,
        Self::CommunityTreasury,
    ];
}

/// Basis points per class, as written in a genesis file. Validated into a [`Split`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitBps {
    /// [`Class::Subnets`].
    pub subnets: u16,
    /// [`Class::DataContributors`].
    pub data_contributors: u16,
    /// [`Class::Compute`].
    pub compute: u16,
    /// [`Class::ChainValidators`].
    pub chain_validators: u16,
    /// [`Class::ProtectionFund`].
    pub protection_fund: u16,
    /// [`Class::CommunityTreasury`].
    pub community_treasury: u16,
}

impl SplitBps {
    /// The weights in [`Class::ALL`] order.
    const fn as_array(self) -> [u16; 6] {
        [
            self.subnets,
            self.data_contributors,
            self.compute,
            self.chain_validators,
            self.protection_fund,
            self.community_treasury,
        ]
    }
}

/// A validated multi-class split of each block's emission (weights sum to 10_000).
/// Serializes as its [`SplitBps`]; deserializing validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SplitBps", into = "SplitBps")]
pub struct Split {
    bps: SplitBps,
}

impl Split {
    /// DESIGN.md's default: subnets 40%, data contributors 24%, compute 16%, chain validators
    /// and stakers 12%, protection fund 4%, community treasury 4%.
    pub const DEFAULT: Self = Self {
        bps: SplitBps {
            subnets: 4_000,
            data_contributors: 2_400,
            compute: 1_600,
            chain_validators: 1_200,
            protection_fund: 400,
            community_treasury: 400,
        },
    };

    /// Validates that the weights sum to exactly 10_000.
    pub fn new(bps: SplitBps) -> Result<Self, EmissionError> {
        check_sum("emission", &bps.as_array())?;
        Ok(Self { bps })
    }

    /// A split fixed in the source; one whose weights do not sum to 10_000 fails to compile.
    #[must_use]
    pub const fn const_new(bps: SplitBps) -> Self {
        let [a, b, c, d, e, f] = bps.as_array();
        let sum = a as u32 + b as u32 + c as u32 + d as u32 + e as u32 + f as u32;
        assert!(sum == BPS_TOTAL as u32, "a split's weights sum to 10_000");
        Self { bps }
    }

    /// The weights.
    #[must_use]
    pub const fn bps(&self) -> SplitBps {
        self.bps
    }

    /// Splits `amount`; the parts sum to it exactly (largest-remainder rule, ties to the class
    /// declared first in [`Class`]).
    #[must_use]
    pub fn split(&self, amount: Amount) -> Allocation {
        let [subnets, data_contributors, compute, chain_validators, protection_fund, treasury] =
            apportion(amount.0, self.bps.as_array()).map(Amount);
        Allocation {
            subnets,
            data_contributors,
            compute,
            chain_validators,
            protection_fund,
            community_treasury: treasury,
        }
    }
}

impl TryFrom<SplitBps> for Split {
    type Error = EmissionError;

    fn try_from(bps: SplitBps) -> Result<Self, Self::Error> {
        Self::new(bps)
    }
}

impl From<Split> for SplitBps {
    fn from(split: Split) -> Self {
        split.bps
    }
}

/// One block's emission by class. The fields sum to the amount split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// [`Class::Subnets`].
    pub subnets: Amount,
    /// [`Class::DataContributors`].
    pub data_contributors: Amount,
    /// [`Class::Compute`].
    pub compute: Amount,
    /// [`Class::ChainValidators`].
    pub chain_validators: Amount,
    /// [`Class::ProtectionFund`].
    pub protection_fund: Amount,
    /// [`Class::CommunityTreasury`].
    pub community_treasury: Amount,
}

impl Allocation {
    /// The part of `class`.
    #[must_use]
    pub const fn get(&self, class: Class) -> Amount {
        match class {
            Class::Subnets => self.subnets,
            Class::DataContributors => self.data_contributors,
            Class::Compute => self.compute,
            Class::ChainValidators => self.chain_validators,
            Class::ProtectionFund => self.protection_fund,
            Class::CommunityTreasury => self.community_treasury,
        }
    }

    /// Every part with its class, in [`Class::ALL`] order.
    #[must_use]
    pub fn parts(&self) -> [(Class, Amount); 6] {
        Class::ALL.map(|class| (class, self.get(class)))
    }

    /// The sum of the parts (equal to the amount split), or `None` on overflow, which a
    /// split never produces.
    #[must_use]
    pub fn total(&self) -> Option<Amount> {
        self.parts().iter().try_fold(Amount::ZERO, |sum, &(_, part)| sum.checked_add(part))
    }
}

/// Basis points inside a subnet, as written in a genesis file. Validated into a
/// [`SubnetSplit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSplitBps {
    /// The subnet owner's cut.
    pub owner: u16,
    /// The miners (model builders), shared by Yuma incentive.
    pub miners: u16,
    /// The validators and their stakers, shared by Yuma dividends.
    pub validators: u16,
}

/// A validated split of a subnet's emission (weights sum to 10_000). Serializes as its
/// [`SubnetSplitBps`]; deserializing validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SubnetSplitBps", into = "SubnetSplitBps")]
pub struct SubnetSplit {
    bps: SubnetSplitBps,
}

impl SubnetSplit {
    /// DESIGN.md's default, Bittensor's dTAO split: 18% owner, 41% miners, 41% validators.
    pub const DEFAULT: Self =
        Self { bps: SubnetSplitBps { owner: 1_800, miners: 4_100, validators: 4_100 } };

    /// Validates that the weights sum to exactly 10_000.
    pub fn new(bps: SubnetSplitBps) -> Result<Self, EmissionError> {
        check_sum("subnet", &[bps.owner, bps.miners, bps.validators])?;
        Ok(Self { bps })
    }

    /// The weights.
    #[must_use]
    pub const fn bps(&self) -> SubnetSplitBps {
        self.bps
    }

    /// Splits `amount`; the parts sum to it exactly (largest-remainder rule, ties to owner,
    /// then miners, then validators).
    #[must_use]
    pub fn split(&self, amount: Amount) -> SubnetAllocation {
        let [owner, miners, validators] =
            apportion(amount.0, [self.bps.owner, self.bps.miners, self.bps.validators]).map(Amount);
        SubnetAllocation { owner, miners, validators }
    }
}

impl TryFrom<SubnetSplitBps> for SubnetSplit {
    type Error = EmissionError;

    fn try_from(bps: SubnetSplitBps) -> Result<Self, Self::Error> {
        Self::new(bps)
    }
}

impl From<SubnetSplit> for SubnetSplitBps {
    fn from(split: SubnetSplit) -> Self {
        split.bps
    }
}

/// A subnet's emission by role. The fields sum to the amount split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetAllocation {
    /// The subnet owner's cut.
    pub owner: Amount,
    /// The miners' pool.
    pub miners: Amount,
    /// The validators' pool.
    pub validators: Amount,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_with_declaration_order_ties() {
        let check = |amount: u128, bps: [u16; 3], expect: [u128; 3]| {
            assert_eq!(apportion(amount, bps), expect, "{amount} by {bps:?}");
        };
        check(1, [1_800, 4_100, 4_100], [0, 1, 0]);
        check(2, [1_800, 4_100, 4_100], [0, 1, 1]);
        check(3, [1_800, 4_100, 4_100], [1, 1, 1]);
        check(100, [1_800, 4_100, 4_100], [18, 41, 41]);
        check(1, [5_000, 0, 5_000], [1, 0, 0]);
        check(1, [0, 5_000, 5_000], [0, 1, 0]);
        check(7, [0, 0, 10_000], [0, 0, 7]);
        check(u128::MAX, [3_333, 3_333, 3_334], {
            let q = u128::MAX / 10_000;
            // 1455 left over: 1455·3333 = 4_849_515 and 1455·3334 = 4_850_970, so floors
            // 484, 484, 485 with remainders 9515, 9515, 970: the first two get the last 2.
            assert_eq!(u128::MAX % 10_000, 1_455);
            [q * 3_333 + 485, q * 3_333 + 485, q * 3_334 + 485]
        });
    }

    #[test]
    fn default_split_of_small_amounts() {
        let split = Split::DEFAULT;
        let parts = |amount: u128| split.split(Amount(amount)).parts().map(|(_, a)| a.0);
        assert_eq!(parts(0), [0; 6]);
        assert_eq!(parts(1), [1, 0, 0, 0, 0, 0]);
        // 3: floors 1,0,0,0,0,0; remainders 2000,7200,4800,3600,1200,1200.
        assert_eq!(parts(3), [1, 1, 1, 0, 0, 0]);
        // 5: floors 2,1,0,0,0,0; remainders 0,2000,8000,6000,2000,2000.
        assert_eq!(parts(5), [2, 1, 1, 1, 0, 0]);
        assert_eq!(parts(100), [40, 24, 16, 12, 4, 4]);
    }
}
