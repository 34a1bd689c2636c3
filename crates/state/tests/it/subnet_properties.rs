//! Subnet property tests: random sequences of subnet operations keep the supply exact and
//! every subnet's pending emission accounted for (split from `subnets.rs`).

use crate::{subnets::*, *};
use alx_types::{
    Hash,
    model::ModelId,
    subnet::{SubnetId, SubnetOp, SubnetSpec, Uid},
};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Create { tempo: u16, burn: u128 },
    Validator { from: u64, subnet: SubnetId },
    Miner { from: u64, subnet: SubnetId },
    Bond { from: u64, amount: u128 },
    Commit { from: u64, subnet: SubnetId },
    Reveal { from: u64, subnet: SubnetId },
    Transfer { from: u64, amount: u128 },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 3..13u64;
    prop_oneof![
        1 => (10..14u16, 0..3u128).prop_map(|(tempo, b)| Op::Create { tempo, burn: b * BURN }),
        3 => (who.clone(), (0..2u64).prop_map(SubnetId)).prop_map(|(from, subnet)| Op::Validator { from, subnet }),
        3 => (who.clone(), (0..2u64).prop_map(SubnetId)).prop_map(|(from, subnet)| Op::Miner { from, subnet }),
        2 => (who.clone(), 1..1_000u128).prop_map(|(from, a)| Op::Bond { from, amount: a * ALX }),
        4 => (3..8u64, (0..2u64).prop_map(SubnetId)).prop_map(|(from, subnet)| Op::Commit { from, subnet }),
        4 => (3..8u64, (0..2u64).prop_map(SubnetId)).prop_map(|(from, subnet)| Op::Reveal { from, subnet }),
        1 => (who, 0..1_000_000u128).prop_map(|(from, a)| Op::Transfer { from, amount: a * ALX }),
    ]
}

/// What `from` commits and reveals: weights on uids 0 and 1 from its own number.
fn weights(from: u64) -> Vec<(Uid, u16)> {
    vec![(0, 1_000 + from as u16), (1, 7)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any mix of subnet operations, valid or not, over many epochs: the supply stays
    /// exactly what was minted plus genesis, and the pending balances add up to their total
    /// (checked after every block by `Chain::block`).
    #[test]
    fn subnets_conserve_the_supply(
        blocks in prop::collection::vec(prop::collection::vec(op(), 0..6), 1..40)
    ) {
        let mut c = Chain::new(true);
        let models: BTreeMap<u64, ModelId> =
            (3..13).map(|w| (w, c.model(w, &format!("p-{w}")))).collect();
        c.block((3..8).map(|w| (w, bond(u128::from(w) * ALX))).collect());
        c.subnet(SubnetSpec { max_uids: 6, max_validators: 3, ..spec("p-a") });
        c.subnet(SubnetSpec { max_uids: 6, max_validators: 3, yuma3: true, tempo: 11, ..spec("p-b") });
        c.block((3..7).flat_map(|w| {
            (0..2).map(SubnetId).map(move |subnet| (w, subnet_op(SubnetOp::RegisterValidator { subnet })))
        }).collect());
        let mut created = 0;
        for ops in blocks {
            let txs = ops
                .into_iter()
                .map(|op| match op {
                    Op::Create { tempo, burn } => {
                        created += 1;
                        let s = SubnetSpec {
                            tempo,
                            max_uids: 6,
                            max_validators: 3,
                            registration_burn: Amount(burn),
                            ..spec(&format!("p{created}"))
                        };
                        (1, subnet_op(SubnetOp::Create(Box::new(s))))
                    }
                    Op::Validator { from, subnet } => {
                        (from, subnet_op(SubnetOp::RegisterValidator { subnet }))
                    }
                    Op::Miner { from, subnet } => (from, miner_op(subnet, models[&from])),
                    Op::Bond { from, amount } => (from, bond(amount)),
                    Op::Commit { from, subnet } => {
                        let commit = c
                            .state
                            .uid_of(subnet, &addr(from))
                            .unwrap()
                            .map_or(Hash::from([0; 32]), |_| c.commit_of(subnet, from, &weights(from)));
                        (from, subnet_op(SubnetOp::CommitWeights { subnet, commit }))
                    }
                    Op::Reveal { from, subnet } => (from, reveal_op(subnet, from, &weights(from))),
                    Op::Transfer { from, amount } => {
                        (from, Payload::Transfer { to: addr(from + 1), amount: Amount(amount) })
                    }
                })
                .collect();
            c.block(txs);
            // A few empty blocks so epochs run between the bursts.
            for _ in 0..3 {
                c.block(vec![]);
            }
        }
    }
}
