//! Emission in block execution: minted exactly by the schedule, never past the cap, split
//! exactly, the supply grown by what is minted, and the epoch pools paid by usage and work.

use crate::*;
use alx_emission::{Curve, EmissionParams, Schedule, ScheduleParams, Split, SubnetSplit};
use alx_state::emission::{POOL_COMPUTE, POOL_DATA, POOL_SUBNETS, PROTECTION_FUND};
use alx_types::{
    datanet::{ContributionId, DatanetId},
    model::ModelId,
};

fn params(curve: Curve, cap: u128) -> EmissionParams {
    EmissionParams {
        schedule: Schedule::new(ScheduleParams { curve, cap: Amount(cap) }).unwrap(),
        split: Split::DEFAULT,
        subnet_split: SubnetSplit::DEFAULT,
    }
}

fn chain(emission: EmissionParams) -> State {
    let mut g = genesis();
    g.emission = Some(emission);
    State::from_genesis(&g).unwrap()
}

fn empty_blocks(state: &mut State, n: u64) {
    for _ in 0..n {
        run(state, &[]);
        assert_eq!(total_held(state), state.supply().unwrap().0, "supply moved");
    }
}

#[test]
fn blocks_mint_the_schedule_and_split_it_exactly() {
    // 1,000,000 a day over 10 blocks a day, falling by 100,000 a day.
    let e = params(
        Curve::LinearDecay {
            initial_per_day: Amount(1_000_000),
            decrease_per_day: Amount(100_000),
            blocks_per_day: 10,
        },
        u128::MAX >> 40,
    );
    let mut state = chain(e);
    let genesis_supply = state.supply().unwrap().0;
    let proposer_before = state.account(&addr(0)).unwrap().unwrap().balance.0;
    empty_blocks(&mut state, 23);
    let minted = e.schedule.minted_through(Height(23));
    assert_eq!(minted, Amount(1_000_000 + 900_000 + 3 * 80_000), "day 0, day 1, 3 blocks of day 2");
    assert_eq!(state.minted().unwrap(), minted);
    assert_eq!(state.supply().unwrap().0, genesis_supply + minted.0);
    // Every block's split: 40/24/16/12/4/4 of 100,000 (day 0), 90,000 (day 1), 80,000 (day 2).
    let per = |bps: u128| (10 * 100_000 + 10 * 90_000 + 3 * 80_000) * bps / 10_000;
    assert_eq!(state.amount_global(POOL_SUBNETS).unwrap().0, per(4_000));
    assert_eq!(state.amount_global(PROTECTION_FUND).unwrap().0, per(400));
    assert_eq!(state.treasury().unwrap().0, per(400));
    // The chain-validator class is the one validator's staking reward: owed to it (commission
    // and its own delegation) but for the pool's rounding, under one unit per period.
    assert_eq!(state.account(&addr(0)).unwrap().unwrap().balance.0, proposer_before);
    let staking = alx_state::staking_pools::STAKING_POOL;
    assert_eq!(state.amount_global(staking).unwrap().0, per(1_200));
    assert!(per(1_200) - state.staking_unsettled(&addr(0)).unwrap().0 <= 1);
    // No usage yet: the data and compute pools carry over.
    assert_eq!(state.amount_global(POOL_DATA).unwrap().0, per(2_400));
    assert_eq!(state.amount_global(POOL_COMPUTE).unwrap().0, per(1_600));
}

#[test]
fn the_cap_is_never_passed() {
    let e =
        params(Curve::Halving { initial_per_block: Amount(1_000), interval_blocks: 1_000 }, 4_500);
    let mut state = chain(e);
    empty_blocks(&mut state, 4);
    assert_eq!(state.minted().unwrap(), Amount(4_000));
    empty_blocks(&mut state, 3);
    assert_eq!(
        state.minted().unwrap(),
        Amount(4_500),
        "the block that reaches the cap mints the rest"
    );
    assert_eq!(state.minted().unwrap(), e.schedule.minted_through(Height(7)));
}

#[test]
fn epoch_pools_pay_usage_and_work() {
    use alx_types::{
        datanet::{ContentRef, DatanetOp, DatanetSpec, MediaType, Policy},
        hash::sha256,
        model::{DatanetVersionRef, FeeSplit, ModelOp, ModelSpec},
        usage::{Charge, Credit, UsageOp},
    };
    let e = params(
        Curve::Halving { initial_per_block: Amount(10_000), interval_blocks: 1 << 40 },
        u128::MAX >> 40,
    );
    let mut state = chain(e);
    let mut nonces = [0u64; 4];
    // One block of transactions, each of which must apply.
    let mut block = |state: &mut State, txs: Vec<(u64, Payload)>| {
        let signed: Vec<_> = txs
            .into_iter()
            .map(|(from, payload)| {
                nonces[from as usize] += 1;
                tx(from, nonces[from as usize] - 1, MIN_FEE, payload)
            })
            .collect();
        for receipt in run(state, &signed) {
            assert_eq!(receipt.error, None);
        }
        assert_eq!(total_held(state), state.supply().unwrap().0, "supply moved");
    };
    let spec = DatanetSpec {
        name: "d".into(),
        description: String::new(),
        tags: vec![],
        license: "MIT".into(),
        policy: Policy::Open,
        contribution_fee: Amount(0),
        contribution_stake: Amount(0),
        daily_byte_cap: 0,
        curators: vec![],
        duplicate_threshold_bps: 0,
    };
    // Epoch length 5: blocks 1–4 set up, block 5 settles… heights [5, 9] form epoch 1.
    block(&mut state, vec![(1, Payload::Datanet(DatanetOp::Create(Box::new(spec))))]);
    let content = ContentRef { hash: sha256(&[b"x"]), size: 10, media_type: MediaType::Text };
    // The contribution and the validator's report that its data is held, in one block.
    let report = alx_types::availability::DataReport {
        datanet: DatanetId(0),
        contribution: ContributionId(0),
        verdict: alx_types::availability::DataVerdict::Held {
            text_hash: sha256(&[b"x text"]),
            coverage_bps: 0,
            covered_by: None,
            against_version: 0,
        },
    };
    block(
        &mut state,
        vec![
            (2, Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content })),
            (0, attest(vec![report])),
        ],
    );
    block(
        &mut state,
        vec![(1, Payload::Datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) }))],
    );
    let model = ModelSpec {
        name: "m".into(),
        base_model: sha256(&[b"w"]),
        adapter: None,
        datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
        price_input_per_1k: Amount(1),
        price_output_per_1k: Amount(1),
        split: FeeSplit::DEFAULT,
    };
    block(&mut state, vec![(1, Payload::Model(ModelOp::Register(Box::new(model))))]);
    assert_eq!(state.height().unwrap(), Height(4), "epoch 0 ended: pools carried over");
    block(&mut state, vec![(3, Payload::Usage(UsageOp::Deposit { amount: Amount(1_000) }))]);
    let key = sha256(&[b"k"]);
    let create =
        UsageOp::CreateApiKey { key_hash: key, provider: addr(0), allowance: Amount(1_000) };
    block(&mut state, vec![(3, Payload::Usage(create))]);
    let settle = committed(
        0,
        1,
        vec![Charge { key_hash: key, model: ModelId(0), amount: Amount(100) }],
        vec![Credit {
            model: ModelId(0),
            datanet: DatanetId(0),
            contribution: ContributionId(0),
            amount: Amount(50),
        }],
    );
    block(&mut state, vec![(0, Payload::Usage(UsageOp::Settle(Box::new(settle))))]);
    let data_pool = state.amount_global(POOL_DATA).unwrap().0;
    let compute_pool = state.amount_global(POOL_COMPUTE).unwrap().0;
    assert!(data_pool > 0 && compute_pool > 0);
    let (bob, provider) = (state.rewards(&addr(2)).unwrap(), state.rewards(&addr(0)).unwrap());
    assert_eq!(bob.claimable, Amount(50));
    // Blocks 8 and 9 end epoch 1. The settlement burned 10 (the protocol's 10% of 100): bob,
    // paid the whole data share, has a data weight of 54% of it (5, floor) and the provider a
    // compute weight of 36% (3). Each takes no more than its weight; the rest carries over.
    empty_blocks(&mut state, 2);
    assert_eq!(state.height().unwrap(), Height(9));
    let data_pool = data_pool + 2 * 10_000 * 2_400 / 10_000;
    let compute_pool = compute_pool + 2 * 10_000 * 1_600 / 10_000;
    assert_eq!(state.rewards(&addr(2)).unwrap().claimable.0, 50 + 5);
    assert_eq!(state.rewards(&addr(0)).unwrap().claimable.0, provider.claimable.0 + 3);
    assert_eq!(state.amount_global(POOL_DATA).unwrap().0, data_pool - 5);
    assert_eq!(state.amount_global(POOL_COMPUTE).unwrap().0, compute_pool - 3);
}
