//! Splits sum exactly, stay within one base unit of the exact share, and give nothing to a
//! zero weight; every block's allocation sums to that block's emission.

use crate::{any_height, any_schedule, small_schedule};
use alx_emission::{
    BPS_TOTAL, Class, EmissionParams, Split, SplitBps, SubnetSplit, SubnetSplitBps,
};
use alx_types::{Amount, Height};
use proptest::prelude::*;

/// `n` weights summing to 10_000: cut points in `0..=10_000`, sorted, and their gaps (zeros
/// included).
fn weights<const N: usize>() -> impl Strategy<Value = [u16; N]> {
    proptest::array::uniform::<_, N>(0..=BPS_TOTAL).prop_map(|mut cuts| {
        cuts.sort_unstable();
        let mut out = [0u16; N];
        let mut last = 0;
        for i in 0..N - 1 {
            out[i] = cuts[i] - last;
            last = cuts[i];
        }
        out[N - 1] = BPS_TOTAL - last;
        out
    })
}

fn split_of(w: [u16; 6]) -> Split {
    Split::new(SplitBps {
        subnets: w[0],
        data_contributors: w[1],
        compute: w[2],
        chain_validators: w[3],
        protection_fund: w[4],
        community_treasury: w[5],
    })
    .unwrap()
}

/// Every part is within one base unit of `amount·w / 10_000`, and zero for a zero weight.
fn check_parts(amount: u128, weights: &[u16], parts: &[u128]) -> Result<(), TestCaseError> {
    let whole = u128::from(BPS_TOTAL);
    let sum = parts.iter().try_fold(0u128, |s, &p| s.checked_add(p));
    prop_assert_eq!(sum, Some(amount));
    for (&w, &part) in weights.iter().zip(parts) {
        let w = u128::from(w);
        // floor(amount·w / 10_000), without forming amount·w.
        let floor = amount / whole * w + amount % whole * w / whole;
        prop_assert!(part == floor || part == floor + 1, "{} vs floor {}", part, floor);
        if w == 0 {
            prop_assert_eq!(part, 0);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn class_split_is_exact(w in weights::<6>(), amount in any::<u128>()) {
        let allocation = split_of(w).split(Amount(amount));
        prop_assert_eq!(allocation.total(), Some(Amount(amount)));
        check_parts(amount, &w, &allocation.parts().map(|(_, a)| a.0))?;
    }

    #[test]
    fn subnet_split_is_exact(w in weights::<3>(), amount in any::<u128>()) {
        let split = SubnetSplit::new(SubnetSplitBps { owner: w[0], miners: w[1], validators: w[2] })
            .unwrap();
        let a = split.split(Amount(amount));
        check_parts(amount, &w, &[a.owner.0, a.miners.0, a.validators.0])?;
    }

    /// Every block's allocation sums exactly to that block's emission, at any height.
    #[test]
    fn block_allocation_sums_to_block_emission(
        schedule in prop_oneof![small_schedule(), any_schedule()],
        height in prop_oneof![1u64..1_000, any_height()],
        w in weights::<6>(),
    ) {
        let params = EmissionParams {
            schedule,
            split: split_of(w),
            subnet_split: SubnetSplit::DEFAULT,
        };
        let before = schedule.minted_through(Height(height - 1));
        let block = params.block(Height(height), before);
        prop_assert_eq!(block.total, schedule.emission_at(Height(height), before));
        prop_assert_eq!(block.allocation.total(), Some(block.total));
        let subnet = params.subnet_split.split(block.allocation.subnets);
        prop_assert_eq!(
            subnet.owner.checked_add(subnet.miners).and_then(|s| s.checked_add(subnet.validators)),
            Some(block.allocation.subnets)
        );
    }
}

#[test]
fn default_splits_match_design() {
    let bps = Split::DEFAULT.bps();
    assert_eq!(
        [
            bps.subnets,
            bps.data_contributors,
            bps.compute,
            bps.chain_validators,
            bps.protection_fund,
            bps.community_treasury
        ],
        [4_000, 2_400, 1_600, 1_200, 400, 400]
    );
    assert_eq!(Split::new(bps), Ok(Split::DEFAULT));
    let subnet = SubnetSplit::DEFAULT.bps();
    assert_eq!([subnet.owner, subnet.miners, subnet.validators], [1_800, 4_100, 4_100]);
    assert_eq!(SubnetSplit::new(subnet), Ok(SubnetSplit::DEFAULT));
}

#[test]
fn default_split_of_one_block() {
    // Morpheus day 0's first block, 166_666_667 base units: floors 66_666_666, 40_000_000,
    // 26_666_666, 20_000_000, 6_666_666, 6_666_666 leave 3, which go to the largest
    // remainders: 8_000 (subnets), 7_200 (compute), and the first of the tied 6_800s
    // (protection fund before community treasury).
    let a = Split::DEFAULT.split(Amount(166_666_667));
    assert_eq!(
        a.parts().map(|(_, v)| v.0),
        [66_666_667, 40_000_000, 26_666_667, 20_000_000, 6_666_667, 6_666_666]
    );
    assert_eq!(a.get(Class::Compute), Amount(26_666_667));
    let s = SubnetSplit::DEFAULT.split(a.subnets);
    // 66_666_667: floors 12_000_000, 27_333_333, 27_333_333 leave 1, remainders 600, 4_700,
    // 4_700: the tie goes to the miners, declared first.
    assert_eq!([s.owner.0, s.miners.0, s.validators.0], [12_000_000, 27_333_334, 27_333_333]);
}
