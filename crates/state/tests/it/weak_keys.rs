//! Keys nobody holds, or anybody holds: small-order and non-point addresses never sign, never
//! receive into a new account, and are never named as curators, providers or genesis accounts.

use crate::*;
use alx_types::{
    ErrorCode, Receipt, TxStatus,
    datanet::{DatanetOp, DatanetSpec, Policy},
    strict::SMALL_ORDER_ENCODINGS,
    usage::UsageOp,
};
use commonware_codec::DecodeExt as _;
use commonware_cryptography::ed25519::Signature;

/// A transfer "signed" by a small-order key: R = the key's point, s = 0, which satisfies the
/// cofactored equation for every message.
fn forged_from(weak: [u8; 32], to: Address) -> SignedTx {
    let tx = Transaction {
        chain_id: "alx-test".parse().unwrap(),
        sender: Address(weak),
        nonce: 0,
        fee: Amount(MIN_FEE),
        payload: Payload::Transfer { to, amount: Amount(1) },
    };
    let mut raw = [0u8; 64];
    raw[..32].copy_from_slice(&weak);
    SignedTx::from_parts(tx, Signature::decode(commonware_codec::Copying(&raw[..])).unwrap())
}

fn run_one(state: &mut State, tx: SignedTx) -> Receipt {
    let receipt = run(state, &[tx]).remove(0);
    assert_eq!(total_held(state), state.supply().unwrap().0, "supply moved");
    receipt
}

#[test]
fn nobody_spends_from_a_small_order_address() {
    let mut g = genesis();
    // The signature check comes before any balance check: whatever such an address holds,
    // its "signature" is refused and nothing is charged.
    let mut state = State::from_genesis(&g).unwrap();
    for weak in SMALL_ORDER_ENCODINGS {
        let receipt = run_one(&mut state, forged_from(weak, addr(1)));
        assert_eq!(receipt.error, Some(ErrorCode::BadSignature), "{}", Address(weak));
        assert!(receipt.fee_paid.is_zero());
    }
    // A genesis that funds one is refused outright.
    g.accounts.push(alx_state::GenesisAccount {
        address: Address(SMALL_ORDER_ENCODINGS[2]),
        balance: Amount(5),
    });
    assert!(matches!(State::from_genesis(&g), Err(alx_state::GenesisError::NotAKey(_))));
}

#[test]
fn new_accounts_must_be_strict_keys() {
    let mut state = State::from_genesis(&genesis()).unwrap();
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2; // y = 2 has no x on the curve
    let mut nonce = 0;
    let mut send = |state: &mut State, payload: Payload| {
        let receipt = run_one(state, tx(1, nonce, MIN_FEE, payload));
        nonce += 1;
        receipt
    };
    let before = state.account(&addr(1)).unwrap().unwrap().balance;
    for to in [not_a_point, SMALL_ORDER_ENCODINGS[0], SMALL_ORDER_ENCODINGS[4]] {
        let receipt =
            send(&mut state, Payload::Transfer { to: Address(to), amount: Amount(1_000) });
        assert_eq!(receipt.error, Some(ErrorCode::BadAddress));
        assert!(state.account(&Address(to)).unwrap().is_none(), "no account was created");
    }
    // Only the three fees left the sender; the amounts stayed.
    let after = state.account(&addr(1)).unwrap().unwrap().balance;
    assert_eq!(before.0 - after.0, 3 * MIN_FEE);
    // A fresh honest key and an existing account both receive.
    let fresh = Address::from_public_key(&key(99).public_key());
    let receipt = send(&mut state, Payload::Transfer { to: fresh, amount: Amount(7) });
    assert_eq!(receipt.status, TxStatus::Success);
    let receipt = send(&mut state, Payload::Transfer { to: addr(2), amount: Amount(7) });
    assert_eq!(receipt.status, TxStatus::Success);

    // Curators and providers are named to sign later: they must be keys too.
    let spec = DatanetSpec {
        name: "weak".into(),
        description: String::new(),
        tags: vec![],
        license: "MIT".into(),
        policy: Policy::Open,
        contribution_fee: Amount::ZERO,
        contribution_stake: Amount::ZERO,
        daily_byte_cap: 0,
        curators: vec![Address(SMALL_ORDER_ENCODINGS[1])],
        duplicate_threshold_bps: 0,
    };
    let receipt = send(&mut state, Payload::Datanet(DatanetOp::Create(Box::new(spec))));
    assert_eq!(receipt.error, Some(ErrorCode::BadAddress));
    let create_key = UsageOp::CreateApiKey {
        key_hash: alx_types::hash::sha256(&[b"k"]),
        provider: Address(not_a_point),
        allowance: Amount(0),
    };
    let receipt = send(&mut state, Payload::Usage(create_key));
    assert_eq!(receipt.error, Some(ErrorCode::BadAddress));
}
