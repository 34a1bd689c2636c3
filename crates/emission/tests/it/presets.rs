//! The presets reproduce their published figures.

use crate::block_at;
use alx_emission::presets::{BITTENSOR_CAP, MORPHEUS_CAP, bittensor, morpheus};
use alx_types::{Amount, Height, datanet::BLOCKS_PER_DAY};

/// Base units per token.
const TOKEN: u128 = 1_000_000_000;

#[test]
fn chain_day_is_86_400_blocks() {
    assert_eq!(BLOCKS_PER_DAY, 86_400);
}

/// Total minted by the end of day `day` (0-based) at the chain's pace.
fn morpheus_through_day(day: u64) -> Amount {
    morpheus(BLOCKS_PER_DAY).unwrap().minted_through(Height((day + 1) * BLOCKS_PER_DAY))
}

#[test]
fn morpheus_days() {
    let day_total = |day: u64| {
        let before = if day == 0 { Amount::ZERO } else { morpheus_through_day(day - 1) };
        morpheus_through_day(day).0 - before.0
    };
    assert_eq!(day_total(0), 14_400 * TOKEN);
    assert_eq!(day_total(1), 14_400 * TOKEN - 2_468_994_701);
    assert_eq!(day_total(2), 14_400 * TOKEN - 2 * 2_468_994_701);
    // The last day with emission, and the first without (day 5_833: "reaches 0 on day 5,833").
    assert_eq!(day_total(5_832), 822_903_768);
    assert_eq!(day_total(5_833), 0);
    assert_eq!(day_total(100_000), 0);
}

#[test]
fn morpheus_blocks_spread_each_day_exactly() {
    let schedule = morpheus(BLOCKS_PER_DAY).unwrap();
    // Day 0: 14_400 tokens / 86_400 blocks = 166_666_666 rem 57_600: the first 57_600 blocks
    // mint one base unit more.
    assert_eq!(block_at(&schedule, 1), Amount(166_666_667));
    assert_eq!(block_at(&schedule, 57_600), Amount(166_666_667));
    assert_eq!(block_at(&schedule, 57_601), Amount(166_666_666));
    assert_eq!(block_at(&schedule, 86_400), Amount(166_666_666));
    // Day 1: 14_397.531005299 tokens = 166_638_090 · 86_400 + 29_299.
    assert_eq!(block_at(&schedule, 86_401), Amount(166_638_091));
    assert_eq!(block_at(&schedule, 86_400 + 29_299), Amount(166_638_091));
    assert_eq!(block_at(&schedule, 86_400 + 29_300), Amount(166_638_090));
    // Day 5_832 mints 822_903_768 over 86_400 blocks: 9_524 each, the first 30_168 of them 9_525.
    let last_day = 5_832 * 86_400;
    assert_eq!(block_at(&schedule, last_day + 1), Amount(9_525));
    assert_eq!(block_at(&schedule, last_day + 30_168), Amount(9_525));
    assert_eq!(block_at(&schedule, last_day + 30_169), Amount(9_524));
    assert_eq!(block_at(&schedule, last_day + 86_400), Amount(9_524));
    assert_eq!(block_at(&schedule, last_day + 86_401), Amount::ZERO);
}

#[test]
fn morpheus_cumulative_table() {
    // Morpheus's published cumulative emission by end of year (365-day years), ±1 token.
    let published: [(u64, u128); 7] = [
        (1, 5_091_985),
        (2, 9_855_038),
        (3, 14_289_159),
        (4, 18_394_348),
        (8, 31_525_787),
        (12, 39_394_316),
        (16, 42_000_000),
    ];
    for (year, tokens) in published {
        let minted = morpheus_through_day(365 * year - 1).0;
        assert!(minted.abs_diff(tokens * TOKEN) <= TOKEN, "year {year}: {minted}");
    }
    // Exact totals, in base units.
    assert_eq!(morpheus_through_day(364), Amount(5_091_984_682_012_570));
    assert_eq!(morpheus_through_day(365 * 16 - 1), Amount(41_999_999_998_839_372));
}

#[test]
fn morpheus_total_stays_under_the_cap() {
    let schedule = morpheus(BLOCKS_PER_DAY).unwrap();
    assert_eq!(schedule.cap(), MORPHEUS_CAP);
    assert_eq!(schedule.total(), Amount(41_999_999_998_839_372));
    assert_eq!(schedule.minted_through(Height(5_833 * 86_400)), schedule.total());
    assert!(schedule.minted_through(Height(5_833 * 86_400 - 1)) < schedule.total());
    // Day totals do not depend on the pace: one block a day gives the same curve.
    assert_eq!(morpheus(1).unwrap().total(), schedule.total());
}

/// Checks that the block at `height` starts an era minting `rate`, the one before it minting
/// `previous`, with `minted` minted before it.
fn check_era_start(blocks_per_day: u64, height: u64, minted: u128, previous: u128, rate: u128) {
    let schedule = bittensor(blocks_per_day).unwrap();
    assert_eq!(schedule.minted_through(Height(height - 1)), Amount(minted), "height {height}");
    assert_eq!(block_at(&schedule, height - 1), Amount(previous), "height {}", height - 1);
    assert_eq!(block_at(&schedule, height), Amount(rate), "height {height}");
}

#[test]
fn bittensor_halvings_at_12_second_blocks() {
    // 7_200 blocks a day is Bittensor's pace: 1 token a block, halving when 10.5M, 15.75M,
    // 18.375M, … are minted, which is every 10.5M blocks while the rate divides exactly.
    let mut rate = TOKEN;
    let mut minted = 0;
    for era in 1..=10u64 {
        minted += 10_500_000 * rate;
        check_era_start(7_200, era * 10_500_000 + 1, minted, rate, rate / 2);
        rate /= 2;
    }
    assert_eq!(minted, 20_979_492_187_500_000);
    // Past era 10 the rate is no longer a power-of-two fraction of a token: 976_562 base
    // units leave a remainder, and era 11 starts six blocks later.
    check_era_start(7_200, 115_500_007, 20_989_746_094_359_372, 976_562, 488_281);
    let schedule = bittensor(7_200).unwrap();
    assert_eq!(schedule.total(), Amount(20_999_999_980_442_226));
    assert_eq!(schedule.minted_through(Height(328_414_167)), schedule.total());
    assert!(schedule.minted_through(Height(328_414_166)) < schedule.total());
}

#[test]
fn bittensor_halvings_at_the_chain_pace() {
    // 86_400 blocks a day: 7_200 tokens a day is 83_333_333 base units a block (truncated).
    // The first era needs 126_000_001 blocks to reach 10.5M tokens (about four years at one
    // block a second, as on Bittensor), overshooting it by 41_333_333.
    let blocks_per_day = BLOCKS_PER_DAY;
    check_era_start(blocks_per_day, 1, 0, 0, 83_333_333);
    check_era_start(blocks_per_day, 126_000_002, 10_500_000_041_333_333, 83_333_333, 41_666_666);
    check_era_start(blocks_per_day, 252_000_004, 15_750_000_040_666_665, 41_666_666, 20_833_333);
    check_era_start(blocks_per_day, 378_000_005, 18_375_000_019_499_998, 20_833_333, 10_416_666);
    check_era_start(blocks_per_day, 504_000_012, 19_687_500_008_416_660, 10_416_666, 5_208_333);
    let schedule = bittensor(blocks_per_day).unwrap();
    assert_eq!(schedule.cap(), BITTENSOR_CAP);
    // The rate reaches zero before the cap: 26 halvings, the last block at 3_516_696_430.
    assert_eq!(schedule.total(), Amount(20_999_999_843_537_808));
    assert_eq!(schedule.minted_through(Height(3_516_696_430)), schedule.total());
    assert!(schedule.minted_through(Height(3_516_696_429)) < schedule.total());
    assert_eq!(block_at(&schedule, 3_516_696_431), Amount::ZERO);
    assert!(schedule.total() <= BITTENSOR_CAP);
}

/// Every preset at the chain's pace: its name round-trips, its parameters are recognized as
/// it, and a day of blocks divides as its class split says (Morpheus: capital, code, compute
/// and community 24% each, protection 4%; Bittensor: everything to subnets, 18/41/41 inside).
#[test]
fn presets_carry_their_class_splits() {
    use alx_emission::{Class, presets::Preset};
    for preset in Preset::ALL {
        assert_eq!(Preset::named(preset.name()), Some(preset));
        let params = preset.params(BLOCKS_PER_DAY).unwrap();
        assert_eq!(Preset::of(&params, BLOCKS_PER_DAY), Some(preset));
        assert_eq!(Preset::of(&params, 7_200), None, "another pace is another schedule");
    }
    assert_eq!(Preset::named("tao"), None);
    let day = |preset: Preset| {
        let params = preset.params(BLOCKS_PER_DAY).unwrap();
        let mut by_class = [0u128; 6];
        let mut minted = Amount::ZERO;
        for h in 1..=BLOCKS_PER_DAY {
            let block = params.block(Height(h), minted);
            minted = Amount(minted.0 + block.total.0);
            for (i, (_, part)) in block.allocation.parts().iter().enumerate() {
                by_class[i] += part.0;
            }
        }
        (by_class, minted.0, params.subnet_split.split(Amount(100 * TOKEN)))
    };
    let (morpheus_day, total, inside) = day(Preset::Morpheus);
    assert_eq!(total, 14_400 * TOKEN, "Morpheus's day 0");
    let order = Class::ALL;
    let share = |c: Class| morpheus_day[order.iter().position(|x| *x == c).unwrap()];
    for class in [Class::Subnets, Class::DataContributors, Class::Compute, Class::ChainValidators] {
        assert_eq!(share(class), 3_456 * TOKEN, "{class:?}: 24% of 14,400");
    }
    assert_eq!(share(Class::ProtectionFund), 576 * TOKEN);
    assert_eq!(share(Class::CommunityTreasury), 0);
    assert_eq!(
        (inside.owner.0, inside.miners.0, inside.validators.0),
        (18 * TOKEN, 41 * TOKEN, 41 * TOKEN)
    );
    let (bittensor_day, total, _) = day(Preset::Bittensor);
    assert_eq!(bittensor_day[0], total, "all of it to subnets");
    assert_eq!(
        total,
        83_333_333 * BLOCKS_PER_DAY as u128,
        "7,200 tokens a day, less the per-block rounding"
    );
    let (alexandria_day, _, _) = day(Preset::Alexandria);
    assert_eq!(alexandria_day[0], 5_760 * TOKEN, "DESIGN.md: 40% to subnets");
}
