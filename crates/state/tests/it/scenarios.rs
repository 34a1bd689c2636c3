use crate::*;
use alx_types::{ErrorCode, TxStatus, limits::UNBONDING_PERIOD_BLOCKS};

#[test]
fn transfer_charges_fee_and_moves_amount() {
    let mut s = State::from_genesis(&genesis()).unwrap();
    let receipts =
        run(&mut s, &[tx(1, 0, MIN_FEE, Payload::Transfer { to: addr(2), amount: Amount(500) })]);
    assert_eq!(receipts[0].status, TxStatus::Success);
    assert_eq!(s.account(&addr(1)).unwrap().unwrap().balance, Amount(1_000_000 - 500 - MIN_FEE));
    assert_eq!(s.account(&addr(2)).unwrap().unwrap().balance, Amount(1_000_500));
    // The fee is the staking reward of the one validator (account 0, the only one bonded to
    // it): its 10% commission (1) and the pool's 9, less the pool's rounding of at most one
    // unit, which stays in the staking pool.
    assert_eq!(s.account(&addr(0)).unwrap().unwrap().balance, Amount(1_000_000));
    let staking = alx_state::staking_pools::STAKING_POOL;
    assert_eq!(s.amount_global(staking).unwrap(), Amount(MIN_FEE));
    let due = s.staking_unsettled(&addr(0)).unwrap().0;
    assert!(due == MIN_FEE || due == MIN_FEE - 1, "{due}");
    assert_eq!(total_held(&s), s.supply().unwrap().0);
}

#[test]
fn every_failure_code_leaves_state_as_documented() {
    let mut s = State::from_genesis(&genesis()).unwrap();
    let check = |s: &mut State, t: SignedTx, code: ErrorCode| {
        let before = s.account(&addr(1)).unwrap().unwrap();
        let r = run(s, &[t]).remove(0);
        assert_eq!(r.status, TxStatus::Failed, "{code:?}");
        assert_eq!(r.error, Some(code));
        let after = s.account(&addr(1)).unwrap().unwrap();
        if code.fee_charged() {
            assert_eq!(after.nonce, before.nonce + 1, "{code:?}");
            assert_eq!(after.balance.0, before.balance.0 - MIN_FEE, "{code:?}");
        } else {
            assert_eq!(after, before, "{code:?}");
        }
    };
    let transfer = |amount| Payload::Transfer { to: addr(2), amount: Amount(amount) };

    // Signed by account 2 but claiming to be account 1.
    let mut wrong_signer = tx(2, 0, MIN_FEE, transfer(1));
    wrong_signer.tx.sender = addr(1);
    let wrong_signer = SignedTx::from_parts(wrong_signer.tx, wrong_signer.signature);
    check(&mut s, wrong_signer, ErrorCode::BadSignature);

    let mut other_chain = tx(1, 0, MIN_FEE, transfer(1)).tx;
    other_chain.chain_id = "alx-other".parse().unwrap();
    check(&mut s, other_chain.sign(&key(1)), ErrorCode::WrongChainId);
    check(&mut s, tx(1, 5, MIN_FEE, transfer(1)), ErrorCode::BadNonce);
    check(&mut s, tx(1, 0, MIN_FEE - 1, transfer(1)), ErrorCode::FeeTooLow);
    check(&mut s, tx(1, 0, 2_000_000, transfer(1)), ErrorCode::InsufficientFee);
    check(&mut s, tx(1, 0, MIN_FEE, transfer(5_000_000)), ErrorCode::InsufficientFunds);
    check(&mut s, tx(1, 1, MIN_FEE, transfer(0)), ErrorCode::ZeroAmount);
    check(
        &mut s,
        tx(1, 2, MIN_FEE, Payload::Bond { validator: addr(3), amount: Amount(1) }),
        ErrorCode::UnknownValidator,
    );
    check(
        &mut s,
        tx(1, 3, MIN_FEE, Payload::Unbond { validator: addr(0), amount: Amount(1) }),
        ErrorCode::InsufficientStake,
    );
    let unspecified = Payload::RegisterValidator { p2p_addr: "0.0.0.0:7701".parse().unwrap() };
    check(&mut s, tx(1, 4, MIN_FEE, unspecified), ErrorCode::BadP2pAddr);
    assert_eq!(s.validator(&addr(1)).unwrap(), None);
    assert_eq!(run(&mut s, &[tx(1, 5, MIN_FEE, register())])[0].error, None);
    check(&mut s, tx(1, 6, MIN_FEE, register()), ErrorCode::AlreadyValidator);
    assert_eq!(
        s.validator_p2p_addr(&addr(1)).unwrap(),
        Some("127.0.0.1:7701".parse().unwrap()),
        "registration records where to dial"
    );
    assert_eq!(s.validator_p2p_addr(&addr(0)).unwrap(), Some("127.0.0.1:1".parse().unwrap()));
    assert_eq!(total_held(&s), s.supply().unwrap().0);
}

#[test]
fn replayed_transaction_fails_with_bad_nonce() {
    let mut s = State::from_genesis(&genesis()).unwrap();
    let t = tx(1, 0, MIN_FEE, Payload::Transfer { to: addr(2), amount: Amount(1) });
    let receipts = run(&mut s, &[t.clone(), t.clone()]);
    assert_eq!(receipts[0].status, TxStatus::Success);
    assert_eq!(receipts[1].error, Some(ErrorCode::BadNonce));
    assert_eq!(run(&mut s, &[t])[0].error, Some(ErrorCode::BadNonce));
}

#[test]
fn bond_unbond_mature_and_rotate() {
    let mut s = State::from_genesis(&genesis()).unwrap();
    // Account 1 registers and bonds more than validator 0: the last block of epoch 0 (height 4,
    // epoch_length 5) makes both active (validators_max 4).
    run(&mut s, &[tx(1, 0, MIN_FEE, register())]);
    run(&mut s, &[tx(1, 1, MIN_FEE, Payload::Bond { validator: addr(1), amount: Amount(9000) })]);
    run(&mut s, &[tx(2, 0, MIN_FEE, Payload::Bond { validator: addr(1), amount: Amount(100) })]);
    assert_eq!(s.validator(&addr(1)).unwrap().unwrap().stake, Amount(9100));
    assert_eq!(s.active_set().unwrap(), vec![addr(0)]);
    run(&mut s, &[]);
    assert_eq!(s.height().unwrap().0, 4);
    let mut expected = vec![addr(0), addr(1)];
    expected.sort();
    assert_eq!(s.active_set().unwrap(), expected);

    // Unbond: stake leaves at once, balance returns after the period.
    let r = run(
        &mut s,
        &[tx(2, 1, MIN_FEE, Payload::Unbond { validator: addr(1), amount: Amount(60) })],
    );
    assert_eq!(r[0].status, TxStatus::Success);
    let unbond_height = s.height().unwrap().0;
    let a = s.account(&addr(2)).unwrap().unwrap();
    assert_eq!((a.bonded, a.unbonding, a.unbonding_count), (Amount(40), Amount(60), 1));
    let balance_before = a.balance;
    while s.height().unwrap().0 < unbond_height + UNBONDING_PERIOD_BLOCKS - 1 {
        run(&mut s, &[]);
    }
    assert_eq!(s.account(&addr(2)).unwrap().unwrap().balance, balance_before);
    run(&mut s, &[]);
    let a = s.account(&addr(2)).unwrap().unwrap();
    assert_eq!(a.balance, Amount(balance_before.0 + 60));
    assert_eq!((a.unbonding, a.unbonding_count), (Amount(0), 0));
    assert_eq!(total_held(&s), s.supply().unwrap().0);
}

#[test]
fn stored_entries_rebuild_the_same_state() {
    let mut s = State::from_genesis(&genesis()).unwrap();
    let mut stored = std::collections::BTreeMap::new();
    let mut persist = |s: &mut State| {
        for (k, v) in s.take_changes() {
            match v {
                Some(v) => stored.insert(k, v),
                None => stored.remove(&k),
            };
        }
    };
    persist(&mut s);
    for n in 0..3 {
        run(&mut s, &[tx(1, n, MIN_FEE, Payload::Transfer { to: addr(3), amount: Amount(7) })]);
        persist(&mut s);
    }
    let mut rebuilt = State::from_entries(stored).unwrap();
    assert_eq!(rebuilt.root(), s.root());
    assert_eq!(rebuilt.height().unwrap(), s.height().unwrap());
    let (key, value, proof) = rebuilt.prove_account(&addr(3));
    assert!(proof.verify(&s.root(), &key, value.as_deref()));
}

#[test]
fn wrong_height_is_refused_without_change() {
    let mut s = State::from_genesis(&genesis()).unwrap();
    let root = s.root();
    let ctx = BlockContext { height: Height(3), proposer: addr(0) };
    assert!(s.execute_block(&ctx, &[], &[]).is_err());
    assert_eq!(s.root(), root);
}

#[test]
fn genesis_refuses_bad_validators_and_short_epochs() {
    let mut g = genesis();
    g.params.epoch_length = 1;
    assert!(State::from_genesis(&g).is_err());
    let mut g = genesis();
    for bad in ["0.0.0.0:7701", "127.0.0.1:0", "[ff02::1]:7701"] {
        g.validators[0].p2p_addr = bad.parse().unwrap();
        assert!(matches!(State::from_genesis(&g), Err(alx_state::GenesisError::BadP2pAddr(..))));
    }
    let mut g = genesis();
    // The y-coordinate 2 is not on the curve.
    let mut bytes = [0u8; 32];
    bytes[0] = 2;
    g.validators[0].address = Address(bytes);
    assert!(matches!(State::from_genesis(&g), Err(alx_state::GenesisError::NotAKey(_))));
}
