//! Models, deposits, API keys, settlement and claims. Account 1 owns a datanet and a model,
//! 2 and 3 contribute, 0 is the provider (and proposer), 4 pays.

use crate::*;
use alx_types::{
    ErrorCode, TxStatus,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec, MediaType, Policy},
    hash::sha256,
    model::{DatanetVersionRef, FeeSplit, ModelId, ModelOp, ModelSpec},
    usage::{Charge, Credit, UsageOp},
};

struct Chain {
    state: State,
    nonces: [u64; 5],
}

impl Chain {
    fn new() -> Self {
        let mut g = genesis();
        g.accounts.push(alx_state::GenesisAccount { address: addr(4), balance: Amount(1_000_000) });
        Self { state: State::from_genesis(&g).unwrap(), nonces: [0; 5] }
    }

    fn send(&mut self, from: u64, payload: Payload) -> Option<ErrorCode> {
        let nonce = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        let receipt = run(&mut self.state, &[tx(from, nonce, MIN_FEE, payload)]).remove(0);
        assert_eq!(total_held(&self.state), self.state.supply().unwrap().0, "supply moved");
        assert_eq!(receipt.status == TxStatus::Success, receipt.error.is_none());
        receipt.error
    }

    fn ok(&mut self, from: u64, payload: Payload) {
        assert_eq!(self.send(from, payload), None);
    }

    /// A failed transaction changes nothing but the sender's fee and nonce.
    fn refused(&mut self, from: u64, payload: Payload, code: ErrorCode) {
        let before = self.state.clone();
        assert_eq!(self.send(from, payload), Some(code));
        for i in 0..5 {
            if i != from && i != 0 {
                assert_eq!(
                    self.state.account(&addr(i)).unwrap(),
                    before.account(&addr(i)).unwrap()
                );
                assert_eq!(
                    self.state.rewards(&addr(i)).unwrap(),
                    before.rewards(&addr(i)).unwrap()
                );
                assert_eq!(
                    self.state.prepaid(&addr(i)).unwrap(),
                    before.prepaid(&addr(i)).unwrap()
                );
            }
        }
        assert_eq!(self.state.treasury().unwrap(), before.treasury().unwrap());
    }

    fn balance(&self, who: u64) -> u128 {
        self.state.account(&addr(who)).unwrap().unwrap_or_default().balance.0
    }
}

fn datanet(op: DatanetOp) -> Payload {
    Payload::Datanet(op)
}

fn usage(op: UsageOp) -> Payload {
    Payload::Usage(op)
}

fn model_spec(name: &str) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        base_model: sha256(&[b"smollm2"]),
        adapter: None,
        datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
        price_input_per_1k: Amount(100),
        price_output_per_1k: Amount(300),
        split: FeeSplit::DEFAULT,
    }
}

/// Datanet 0 with contributions 0 (by 2, 300 bytes) and 1 (by 3, 100 bytes) in version 1, a
/// model on it, and a deposit of 100,000 from 4, half of it moved to a key for provider 0.
fn setup() -> Chain {
    let mut c = Chain::new();
    let spec = DatanetSpec {
        name: "move".into(),
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
    c.ok(1, datanet(DatanetOp::Create(Box::new(spec))));
    for (id, (who, seed, size)) in [(2, "a", 300), (3, "b", 100)].into_iter().enumerate() {
        let content =
            ContentRef { hash: sha256(&[seed.as_bytes()]), size, media_type: MediaType::Code };
        c.ok(who, datanet(DatanetOp::Contribute { datanet: DatanetId(0), content }));
        let report = held(&c.state, DatanetId(0), ContributionId(id as u64));
        c.ok(0, attest(vec![report]));
    }
    c.ok(1, datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) }));
    c.ok(1, Payload::Model(ModelOp::Register(Box::new(model_spec("move-coder")))));
    c.ok(4, usage(UsageOp::Deposit { amount: Amount(100_000) }));
    c.ok(
        4,
        usage(UsageOp::CreateApiKey {
            key_hash: key_hash(),
            provider: addr(0),
            allowance: Amount(50_000),
        }),
    );
    c
}

fn key_hash() -> alx_types::Hash {
    sha256(&[b"alx-sk-secret"])
}

fn settlement(first: u64, amount: u128, credits: Vec<Credit>) -> Payload {
    usage(UsageOp::Settle(Box::new(committed(
        first,
        3,
        vec![Charge { key_hash: key_hash(), model: ModelId(0), amount: Amount(amount) }],
        credits,
    ))))
}

fn credit(contribution: u64, amount: u128) -> Credit {
    Credit {
        model: ModelId(0),
        datanet: DatanetId(0),
        contribution: ContributionId(contribution),
        amount: Amount(amount),
    }
}

#[test]
fn settlement_splits_fees_exactly_and_rewards_are_claimed() {
    let mut c = setup();
    let m = c.state.model(ModelId(0)).unwrap().unwrap();
    assert_eq!((m.owner, m.spec.name.as_str()), (addr(1), "move-coder"));
    assert_eq!(c.state.model_by_name("move-coder").unwrap(), Some(ModelId(0)));

    // 10,001 charged: data 5,000, owner 2,500, provider 1,500, protocol 1,001 (the dust).
    // Of the data share, 3,000 credited to contribution 0 and 1,000 to 1; the 1,000 left
    // goes to the datanet's owner.
    let (owner0, provider0) = (c.balance(1), c.balance(0));
    c.ok(0, settlement(0, 10_001, vec![credit(0, 3_000), credit(1, 1_000)]));
    assert_eq!(c.state.prepaid(&addr(4)).unwrap(), Amount(50_000), "the free deposit is untouched");
    let key = c.state.api_key(&key_hash()).unwrap().unwrap();
    assert_eq!((key.spent, key.allowance), (Amount(10_001), Amount(39_999)));
    assert_eq!(c.state.rewards(&addr(2)).unwrap().claimable, Amount(3_000));
    assert_eq!(c.state.rewards(&addr(3)).unwrap().claimable, Amount(1_000));
    assert_eq!(c.state.rewards(&addr(1)).unwrap().claimable, Amount(1_000));
    assert_eq!(c.balance(1), owner0 + 2_500);
    // The provider gets its share and pays its fee (to the validators' staking rewards).
    assert_eq!(c.balance(0) - provider0, 1_500 - MIN_FEE);
    assert_eq!(c.state.treasury().unwrap(), Amount(1_001));
    assert_eq!(
        c.state.contribution_earned(DatanetId(0), ContributionId(0)).unwrap(),
        Amount(3_000)
    );
    assert_eq!(c.state.next_receipt(&addr(0)).unwrap(), 3);

    // A receipt range is settled once.
    c.refused(0, settlement(0, 10, vec![]), ErrorCode::BadReceiptRange);

    // Claims move rewards to the balance, once.
    let before = c.balance(2);
    c.ok(2, usage(UsageOp::Claim));
    assert_eq!(c.balance(2), before - MIN_FEE + 3_000);
    assert_eq!(c.state.rewards(&addr(2)).unwrap().earned, Amount(3_000));
    c.refused(2, usage(UsageOp::Claim), ErrorCode::NothingToClaim);

    // Nothing attributed: the whole data share goes to the datanet's owner.
    c.ok(0, settlement(3, 1_000, vec![]));
    assert_eq!(c.state.rewards(&addr(1)).unwrap().claimable, Amount(1_500));
}

#[test]
fn bad_settlements_change_nothing() {
    let mut c = setup();
    // Over the data share (5,000 of 10,000).
    c.refused(0, settlement(0, 10_000, vec![credit(0, 5_001)]), ErrorCode::BadCredit);
    // A contribution the model's version does not hold.
    let content = ContentRef { hash: sha256(&[b"late"]), size: 10, media_type: MediaType::Text };
    c.ok(2, datanet(DatanetOp::Contribute { datanet: DatanetId(0), content }));
    c.refused(0, settlement(0, 10_000, vec![credit(2, 1)]), ErrorCode::BadCredit);
    c.refused(0, settlement(0, 10_000, vec![credit(9, 1)]), ErrorCode::BadCredit);
    // Someone else's key; the wrong receipt number; over the key's allowance.
    c.refused(3, settlement(0, 10, vec![]), ErrorCode::NotKeyParty);
    c.refused(0, settlement(5, 10, vec![]), ErrorCode::BadReceiptRange);
    c.refused(0, settlement(0, 50_001, vec![]), ErrorCode::OverLimit);
    // Totals other than the receipt root commits to: an amount, a token count, a receipt
    // count, a credit added, the children swapped; and totals out of canonical order.
    let good = match settlement(0, 10_000, vec![credit(0, 100), credit(1, 50)]) {
        Payload::Usage(UsageOp::Settle(s)) => *s,
        _ => unreachable!(),
    };
    let mut lies: Vec<alx_types::usage::Settlement> = vec![good; 7];
    lies[0].charges[0].amount = Amount(9_999);
    lies[1].completion_tokens += 1;
    lies[2].receipts += 1;
    lies[3].credits.push(credit(1, 1));
    lies[4].receipts_children.swap(0, 1);
    lies[5].credits.swap(0, 1);
    lies[6].credits[0].amount = Amount(0);
    for lie in lies {
        assert!(!lie.commits_to_its_totals());
        c.refused(0, usage(UsageOp::Settle(Box::new(lie))), ErrorCode::ReceiptRootMismatch);
    }
    // Only the free deposit can be withdrawn: the allowance stays for the provider.
    c.refused(
        4,
        usage(UsageOp::Withdraw { amount: Amount(50_001) }),
        ErrorCode::InsufficientDeposit,
    );
    c.ok(4, usage(UsageOp::Withdraw { amount: Amount(50_000) }));
    c.refused(
        4,
        usage(UsageOp::CreateApiKey {
            key_hash: sha256(&[b"k3"]),
            provider: addr(0),
            allowance: Amount(1),
        }),
        ErrorCode::InsufficientDeposit,
    );
    c.refused(
        4,
        usage(UsageOp::CreateApiKey {
            key_hash: key_hash(),
            provider: addr(0),
            allowance: Amount(0),
        }),
        ErrorCode::ApiKeyExists,
    );
    // Closed keys and retired models cannot be charged.
    c.refused(2, usage(UsageOp::RevokeApiKey { key_hash: key_hash() }), ErrorCode::NotKeyParty);
    c.ok(0, usage(UsageOp::RevokeApiKey { key_hash: key_hash() }));
    c.refused(0, settlement(0, 10, vec![]), ErrorCode::ApiKeyRevoked);
    c.refused(3, Payload::Model(ModelOp::Retire { model: ModelId(0) }), ErrorCode::NotModelOwner);
    c.ok(1, Payload::Model(ModelOp::Retire { model: ModelId(0) }));
    c.refused(1, Payload::Model(ModelOp::Retire { model: ModelId(0) }), ErrorCode::ModelRetired);
}

/// One deposit behind keys for two providers was served 1.7× over: each provider reserved
/// against the same deposit. An allowance belongs to one key, so the second key can only take
/// what the first left in the deposit.
#[test]
fn two_providers_never_share_an_allowance() {
    let mut c = setup();
    // 50,000 of 100,000 already went to provider 0's key; provider 1 gets the rest at most.
    let second = sha256(&[b"second"]);
    c.refused(
        4,
        usage(UsageOp::CreateApiKey {
            key_hash: second,
            provider: addr(1),
            allowance: Amount(50_001),
        }),
        ErrorCode::InsufficientDeposit,
    );
    c.ok(
        4,
        usage(UsageOp::CreateApiKey {
            key_hash: second,
            provider: addr(1),
            allowance: Amount(50_000),
        }),
    );
    assert_eq!(c.state.prepaid(&addr(4)).unwrap(), Amount::ZERO);
    // Each provider draws only its own key, and only up to it.
    c.refused(1, settlement(0, 10, vec![]), ErrorCode::NotKeyParty);
    c.ok(0, settlement(0, 50_000, vec![]));
    c.refused(0, settlement(3, 1, vec![]), ErrorCode::OverLimit);
    let s = committed(
        0,
        1,
        vec![Charge { key_hash: second, model: ModelId(0), amount: Amount(50_000) }],
        vec![],
    );
    c.ok(1, usage(UsageOp::Settle(Box::new(s))));
    // Both served in full, and the payer paid exactly its deposit.
    let paid: u128 =
        [key_hash(), second].iter().map(|k| c.state.api_key(k).unwrap().unwrap().spent.0).sum();
    assert_eq!(paid, 100_000);
}

/// Revoking right after each answer left the answers unpaid. Now a payer's revocation stops
/// service but keeps the allowance for the provider until the delay ends.
#[test]
fn revocation_waits_for_the_provider_to_settle() {
    use alx_types::usage::REVOKE_DELAY_BLOCKS;
    let mut c = setup();
    c.ok(4, usage(UsageOp::FundApiKey { key_hash: key_hash(), amount: Amount(1_000) }));
    assert_eq!(c.state.api_key(&key_hash()).unwrap().unwrap().allowance, Amount(51_000));
    c.refused(
        3,
        usage(UsageOp::FundApiKey { key_hash: key_hash(), amount: Amount(1) }),
        ErrorCode::NotKeyParty,
    );
    let revoked_at = c.state.height().unwrap().next();
    c.ok(4, usage(UsageOp::RevokeApiKey { key_hash: key_hash() }));
    let key = c.state.api_key(&key_hash()).unwrap().unwrap();
    assert!(!key.is_open() && !key.revoked, "{key:?}");
    assert_eq!(key.closes_at, revoked_at.saturating_add(REVOKE_DELAY_BLOCKS));
    c.refused(4, usage(UsageOp::RevokeApiKey { key_hash: key_hash() }), ErrorCode::ApiKeyRevoked);
    c.refused(
        4,
        usage(UsageOp::FundApiKey { key_hash: key_hash(), amount: Amount(1) }),
        ErrorCode::ApiKeyRevoked,
    );
    // The withdrawal takes only the free deposit; the provider still settles what it served.
    c.ok(4, usage(UsageOp::Withdraw { amount: Amount(49_000) }));
    c.ok(0, settlement(0, 10_000, vec![]));
    // At the end of the delay the key closes by itself and the rest goes back to the deposit.
    while c.state.height().unwrap() < key.closes_at {
        run(&mut c.state, &[]);
        assert_eq!(total_held(&c.state), c.state.supply().unwrap().0, "supply moved");
    }
    let key = c.state.api_key(&key_hash()).unwrap().unwrap();
    assert!(key.revoked);
    assert_eq!(key.allowance, Amount::ZERO);
    assert_eq!(c.state.prepaid(&addr(4)).unwrap(), Amount(41_000));
    c.refused(0, settlement(3, 1, vec![]), ErrorCode::ApiKeyRevoked);
}

#[test]
fn the_provider_closes_a_key_at_once() {
    let mut c = setup();
    c.ok(4, usage(UsageOp::RevokeApiKey { key_hash: key_hash() }));
    c.ok(0, settlement(0, 5_000, vec![]));
    // Settled everything: the provider closes the key without waiting out the delay.
    c.ok(0, usage(UsageOp::RevokeApiKey { key_hash: key_hash() }));
    let key = c.state.api_key(&key_hash()).unwrap().unwrap();
    assert!(key.revoked);
    assert_eq!(c.state.prepaid(&addr(4)).unwrap(), Amount(95_000));
    // The due entry was cancelled: nothing runs twice when the delay ends.
    for _ in 0..alx_types::usage::REVOKE_DELAY_BLOCKS + 1 {
        run(&mut c.state, &[]);
    }
    assert_eq!(c.state.prepaid(&addr(4)).unwrap(), Amount(95_000));
    assert_eq!(total_held(&c.state), c.state.supply().unwrap().0);
}

/// A flagged copy's share goes to the protection fund, never to the datanet's owner who
/// flagged it; the flag names the original it copies, an earlier approved contribution.
#[test]
fn flagged_copies_pay_the_protection_fund_never_the_flagger() {
    use alx_state::emission::PROTECTION_FUND;
    let mut c = setup();
    let flag = |contribution: u64, copies: u64| {
        datanet(DatanetOp::FlagNearDuplicate {
            datanet: DatanetId(0),
            contribution: ContributionId(contribution),
            copies: ContributionId(copies),
        })
    };
    c.ok(1, flag(1, 0));
    let fund = c.state.amount_global(PROTECTION_FUND).unwrap();
    c.ok(0, settlement(0, 10_000, vec![credit(0, 2_000), credit(1, 3_000)]));
    assert_eq!(c.state.rewards(&addr(3)).unwrap().claimable, Amount::ZERO);
    assert_eq!(c.state.rewards(&addr(2)).unwrap().claimable, Amount(2_000));
    assert_eq!(c.state.rewards(&addr(1)).unwrap().claimable, Amount::ZERO, "the flagger");
    assert_eq!(c.state.amount_global(PROTECTION_FUND).unwrap().0, fund.0 + 3_000);
    let flagged = c.state.contribution(DatanetId(0), ContributionId(1)).unwrap().unwrap();
    assert_eq!(flagged.copy_of, Some(ContributionId(0)));
    // The original must be earlier: a later contribution is no evidence.
    let content = ContentRef { hash: sha256(&[b"c"]), size: 10, media_type: MediaType::Text };
    c.ok(2, datanet(DatanetOp::Contribute { datanet: DatanetId(0), content }));
    c.refused(1, flag(0, 2), ErrorCode::BadOriginal);
    c.refused(1, flag(0, 1), ErrorCode::BadOriginal);
}

#[test]
fn model_registration_rules() {
    let mut c = setup();
    let register = |spec: ModelSpec| Payload::Model(ModelOp::Register(Box::new(spec)));
    c.refused(1, register(model_spec("move-coder")), ErrorCode::BadModelField);
    c.refused(1, register(model_spec("Bad Name")), ErrorCode::BadModelField);
    let mut unpublished = model_spec("v2");
    unpublished.datanets[0].version = 2;
    c.refused(1, register(unpublished), ErrorCode::BadModelField);
    let mut twice = model_spec("twice");
    twice.datanets.push(twice.datanets[0]);
    c.refused(1, register(twice), ErrorCode::BadModelField);
    let mut greedy = model_spec("greedy");
    greedy.split =
        FeeSplit { data_bps: 1_000, owner_bps: 7_500, provider_bps: 1_000, protocol_bps: 500 };
    c.refused(1, register(greedy), ErrorCode::BadModelField);
    let mut no_data = model_spec("plain");
    no_data.datanets.clear();
    c.ok(2, register(no_data));
    c.ok(
        2,
        Payload::Model(ModelOp::SetPrices {
            model: ModelId(1),
            input_per_1k: Amount(1),
            output_per_1k: Amount(2),
        }),
    );
    assert_eq!(c.state.model(ModelId(1)).unwrap().unwrap().spec.price_output_per_1k, Amount(2));
    // A model without datanets: the data share is its owner's.
    c.ok(
        4,
        usage(UsageOp::CreateApiKey {
            key_hash: sha256(&[b"k2"]),
            provider: addr(0),
            allowance: Amount(10_000),
        }),
    );
    let s = committed(
        0,
        1,
        vec![Charge { key_hash: sha256(&[b"k2"]), model: ModelId(1), amount: Amount(1_000) }],
        vec![],
    );
    c.ok(0, usage(UsageOp::Settle(Box::new(s))));
    assert_eq!(c.state.rewards(&addr(2)).unwrap().claimable, Amount(500));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// A settlement applies only if its receipt root commits to the totals it applies: any
    /// change to one of them, or to the root, fails it and moves nothing.
    #[test]
    fn settlement_totals_and_root_agree_or_it_fails(
        amount in 1u128..50_000,
        c0 in 1u128..10_000,
        which in 0usize..6,
        delta in 1u128..1_000,
    ) {
        let mut c = setup();
        let honest = match settlement(0, amount, vec![credit(0, c0.min(amount / 2).max(1))]) {
            Payload::Usage(UsageOp::Settle(s)) => *s,
            _ => unreachable!(),
        };
        let mut lie = honest.clone();
        match which {
            0 => lie.charges[0].amount = Amount(amount + delta),
            1 => lie.credits[0].amount = Amount(lie.credits[0].amount.0 + delta),
            2 => lie.prompt_tokens += u64::try_from(delta).unwrap(),
            3 => lie.receipts += 1,
            4 => lie.receipts_root = alx_types::hash::sha256(&[&delta.to_be_bytes()]),
            _ => lie.receipts_children[1] = alx_types::hash::ZERO,
        }
        let before = c.state.api_key(&key_hash()).unwrap().unwrap();
        proptest::prop_assert_eq!(
            c.send(0, usage(UsageOp::Settle(Box::new(lie)))),
            Some(ErrorCode::ReceiptRootMismatch)
        );
        proptest::prop_assert_eq!(c.state.api_key(&key_hash()).unwrap().unwrap(), before);
        if c0 <= amount / 2 {
            proptest::prop_assert_eq!(c.send(0, usage(UsageOp::Settle(Box::new(honest)))), None);
        }
    }

    /// Whatever is charged and credited, a settlement either applies and moves exactly what it
    /// charged (supply checked after every transaction by `send`), or changes nothing.
    #[test]
    fn settlements_conserve_supply(
        amount in 0u128..60_000,
        c0 in 0u128..40_000,
        c1 in 0u128..40_000,
        flag in proptest::bool::ANY,
    ) {
        let mut c = setup();
        if flag {
            c.ok(1, datanet(DatanetOp::FlagNearDuplicate { datanet: DatanetId(0), contribution: ContributionId(1), copies: ContributionId(0) }));
        }
        let allowance = |s: &State| s.api_key(&key_hash()).unwrap().unwrap().allowance.0;
        let before = allowance(&c.state);
        let paid_out = |s: &State| {
            s.claimable_total().unwrap().0 + s.treasury().unwrap().0
                + s.amount_global(alx_state::emission::PROTECTION_FUND).unwrap().0
                + s.account(&addr(1)).unwrap().unwrap().balance.0
                + s.account(&addr(0)).unwrap().unwrap().balance.0
                + s.amount_global(alx_state::staking_pools::STAKING_POOL).unwrap().0
        };
        let out_before = paid_out(&c.state);
        match c.send(0, settlement(0, amount, vec![credit(0, c0), credit(1, c1)])) {
            None => {
                proptest::prop_assert!(c0 + c1 <= amount / 2 + 1);
                proptest::prop_assert_eq!(before - allowance(&c.state), amount);
                proptest::prop_assert_eq!(paid_out(&c.state) - out_before, amount);
            }
            Some(code) => {
                proptest::prop_assert!(matches!(code, ErrorCode::BadCredit | ErrorCode::OverLimit));
                proptest::prop_assert_eq!(allowance(&c.state), before);
            }
        }
    }
}
