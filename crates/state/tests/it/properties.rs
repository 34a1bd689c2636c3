use crate::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Transfer { from: u64, to: u64, amount: u128, fee: u128 },
    Bond { from: u64, amount: u128 },
    Unbond { from: u64, amount: u128 },
    Register { from: u64 },
    BadNonce { from: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5u64, 0..5u64, 0..2_000_000u128, 0..30u128)
            .prop_map(|(from, to, amount, fee)| Op::Transfer { from, to, amount, fee }),
        1 => (0..5u64, 0..50_000u128).prop_map(|(from, amount)| Op::Bond { from, amount }),
        1 => (0..5u64, 0..50_000u128).prop_map(|(from, amount)| Op::Unbond { from, amount }),
        1 => (0..5u64).prop_map(|from| Op::Register { from }),
        1 => (0..5u64).prop_map(|from| Op::BadNonce { from }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn supply_is_conserved_and_nonces_only_grow(
        blocks in prop::collection::vec(prop::collection::vec(op(), 0..12), 1..12)
    ) {
        let mut s = State::from_genesis(&genesis()).unwrap();
        let supply = s.supply().unwrap().0;
        for ops in blocks {
            let mut nonces: Vec<u64> = (0..5)
                .map(|i| s.account(&addr(i)).unwrap().map_or(0, |a| a.nonce))
                .collect();
            let before = nonces.clone();
            let txs: Vec<SignedTx> = ops.iter().map(|op| {
                let (from, fee, payload) = match *op {
                    Op::Transfer { from, to, amount, fee } =>
                        (from, fee, Payload::Transfer { to: addr(to), amount: Amount(amount) }),
                    Op::Bond { from, amount } =>
                        (from, MIN_FEE, Payload::Bond { validator: addr(0), amount: Amount(amount) }),
                    Op::Unbond { from, amount } =>
                        (from, MIN_FEE, Payload::Unbond { validator: addr(0), amount: Amount(amount) }),
                    Op::Register { from } => (from, MIN_FEE, register()),
                    Op::BadNonce { from } => {
                        let n = nonces[from as usize] + 7;
                        return tx(from, n, MIN_FEE, register());
                    }
                };
                let n = nonces[from as usize];
                nonces[from as usize] += 1;
                tx(from, n, fee, payload)
            }).collect();
            let receipts = run(&mut s, &txs);
            prop_assert_eq!(receipts.len(), txs.len());
            prop_assert_eq!(total_held(&s), supply);
            for i in 0..5u64 {
                let now = s.account(&addr(i)).unwrap().map_or(0, |a| a.nonce);
                prop_assert!(now >= before[i as usize]);
            }
            // Every charged fee advanced exactly one nonce.
            let charged = receipts.iter().filter(|r| !r.fee_paid.is_zero()).count() as u64;
            let advanced: u64 = (0..5u64)
                .map(|i| s.account(&addr(i)).unwrap().map_or(0, |a| a.nonce) - before[i as usize])
                .sum();
            prop_assert_eq!(charged, advanced);
        }
    }
}
