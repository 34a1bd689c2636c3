//! Every refused subnet operation gets its receipt and changes nothing but the sender's fee
//! and nonce (`Chain::refused` compares the written entries with a chain that ran an empty
//! block instead).

use crate::subnets::{ALX, BURN, Chain, bond, miner_op, reveal_op, spec, subnet_op};
use crate::*;
use alx_types::{
    ErrorCode,
    datanet::DatanetId,
    limits::{SUBNET_CREATION_LOCK, SUBNETS_MAX},
    model::{DatanetVersionRef, ModelId, ModelOp},
    subnet::{SubnetId, SubnetOp, SubnetSpec},
};

fn create(spec: SubnetSpec) -> Payload {
    subnet_op(SubnetOp::Create(Box::new(spec)))
}

/// Runs empty blocks so that the next block is the first of subnet epoch `e`.
fn to_epoch(c: &mut Chain, created: u64, e: u64) {
    c.advance_to(created + 10 * e);
}

#[test]
fn bad_subnet_specs_are_refused() {
    let mut c = Chain::new(true);
    c.subnet(spec("taken"));
    let v = |datanet, version| DatanetVersionRef { datanet, version };
    let bad = [
        SubnetSpec { name: "Upper".into(), ..spec("x") },
        SubnetSpec { name: String::new(), ..spec("x") },
        spec("taken"),
        SubnetSpec { task: "bell\u{7}".into(), ..spec("x") },
        SubnetSpec { tempo: 9, ..spec("x") },
        SubnetSpec { tempo: 10_001, ..spec("x") },
        SubnetSpec { max_uids: 1, max_validators: 1, ..spec("x") },
        SubnetSpec { max_uids: 257, ..spec("x") },
        SubnetSpec { max_validators: 0, ..spec("x") },
        SubnetSpec { max_uids: 100, max_validators: 65, ..spec("x") },
        SubnetSpec { max_uids: 4, max_validators: 5, ..spec("x") },
        SubnetSpec { immunity_blocks: 100_001, ..spec("x") },
        SubnetSpec { datanets: vec![], ..spec("x") },
        SubnetSpec { datanets: vec![v(DatanetId(7), 1)], ..spec("x") },
        SubnetSpec { datanets: vec![v(DatanetId(0), 2)], ..spec("x") },
        SubnetSpec { datanets: vec![v(DatanetId(0), 0)], ..spec("x") },
        SubnetSpec { datanets: vec![v(DatanetId(0), 1), v(DatanetId(0), 1)], ..spec("x") },
    ];
    for s in bad {
        c.refused(1, create(s), ErrorCode::BadSubnetField);
    }
    // The bounds themselves are accepted.
    c.ok(
        1,
        create(SubnetSpec {
            tempo: 10_000,
            max_uids: 256,
            max_validators: 64,
            immunity_blocks: 100_000,
            task: "t".repeat(256),
            ..spec("x")
        }),
    );
    // The lock must be affordable.
    let keep = SUBNET_CREATION_LOCK.0 - 1 + MIN_FEE;
    let give = c.balance(19) - MIN_FEE - keep;
    c.ok(19, Payload::Transfer { to: addr(18), amount: Amount(give) });
    c.refused(19, create(spec("poor")), ErrorCode::InsufficientFunds);
}

#[test]
fn the_number_of_subnets_is_capped() {
    let mut c = Chain::new(false);
    let creates = (0..SUBNETS_MAX).map(|i| (1, create(spec(&format!("s{i}"))))).collect();
    assert!(c.block(creates).iter().all(Option::is_none));
    c.refused(1, create(spec("one-more")), ErrorCode::TooManySubnets);
}

#[test]
fn bad_registrations_are_refused() {
    let mut c = Chain::new(true);
    let (id, _) = c.subnet(spec("reg"));
    let model = c.model(8, "mine");
    let unknown: SubnetId = SubnetId(99);
    c.refused(
        3,
        subnet_op(SubnetOp::RegisterValidator { subnet: unknown }),
        ErrorCode::UnknownSubnet,
    );
    c.refused(8, miner_op(unknown, model), ErrorCode::UnknownSubnet);
    c.refused(8, miner_op(id, ModelId(42)), ErrorCode::UnknownModel);
    c.refused(9, miner_op(id, model), ErrorCode::NotModelOwner);
    for endpoint in ["ftp://x", "https://", "https://a b", ""] {
        let op = SubnetOp::RegisterMiner { subnet: id, model, endpoint: endpoint.into() };
        c.refused(8, subnet_op(op), ErrorCode::BadEndpoint);
    }
    let retired = c.model(9, "old");
    c.ok(9, Payload::Model(ModelOp::Retire { model: retired }));
    c.refused(9, miner_op(id, retired), ErrorCode::ModelRetired);

    // One uid per account and subnet, whatever the role.
    c.validator(id, 3);
    c.refused(
        3,
        subnet_op(SubnetOp::RegisterValidator { subnet: id }),
        ErrorCode::AlreadyRegistered,
    );
    c.ok(8, miner_op(id, model));
    c.refused(8, miner_op(id, model), ErrorCode::AlreadyRegistered);
    c.refused(
        8,
        subnet_op(SubnetOp::RegisterValidator { subnet: id }),
        ErrorCode::AlreadyRegistered,
    );

    // The burn must be affordable (after the fee).
    let (dear, _) =
        c.subnet(SubnetSpec { registration_burn: Amount(2_000_000 * ALX), ..spec("dear") });
    c.refused(
        4,
        subnet_op(SubnetOp::RegisterValidator { subnet: dear }),
        ErrorCode::InsufficientFunds,
    );
    let (exact, _) = c.subnet(SubnetSpec { registration_burn: Amount(BURN), ..spec("exact") });
    let give = c.balance(17) - MIN_FEE - (BURN - 1 + MIN_FEE);
    c.ok(17, Payload::Transfer { to: addr(18), amount: Amount(give) });
    c.refused(
        17,
        subnet_op(SubnetOp::RegisterValidator { subnet: exact }),
        ErrorCode::InsufficientFunds,
    );
}

#[test]
fn a_full_subnet_without_a_prunable_uid_refuses_newcomers() {
    let mut c = Chain::new(true);
    let (id, _) = c.subnet(SubnetSpec {
        max_uids: 2,
        max_validators: 2,
        immunity_blocks: 1_000,
        ..spec("full")
    });
    c.validator(id, 3);
    c.validator(id, 4);
    c.refused(5, subnet_op(SubnetOp::RegisterValidator { subnet: id }), ErrorCode::SubnetFull);
    // The owner's uid is never pruned, even once its immunity is over.
    let (own, _) = c.subnet(SubnetSpec { max_uids: 2, max_validators: 2, ..spec("owned") });
    c.validator(own, 1);
    c.validator(own, 3);
    c.validator(own, 4);
    assert_eq!((c.uid(own, 1), c.uid(own, 4)), (0, 1));
    assert_eq!(c.state.uid_of(own, &addr(3)).unwrap(), None);
}

#[test]
fn commits_need_a_uid_with_a_permit() {
    let mut c = Chain::new(true);
    c.block(vec![(3, bond(100 * ALX)), (4, bond(50 * ALX))]);
    let (id, _) = c.subnet(SubnetSpec { max_validators: 1, ..spec("permits") });
    let commit = alx_types::hash::sha256(&[b"w"]);
    let op = |subnet| subnet_op(SubnetOp::CommitWeights { subnet, commit });
    c.refused(3, op(SubnetId(99)), ErrorCode::UnknownSubnet);
    c.refused(3, op(id), ErrorCode::NotRegistered);
    c.validator(id, 3);
    c.validator(id, 4);
    c.validator(id, 5);
    c.miner(id, 8);
    c.refused(8, op(id), ErrorCode::NoValidatorPermit);
    c.refused(5, op(id), ErrorCode::NoValidatorPermit);
    // One permit: the largest stake takes it.
    c.refused(4, op(id), ErrorCode::NoValidatorPermit);
    c.ok(3, op(id));
    let g = c.state.metagraph(id).unwrap().unwrap();
    let permits: Vec<bool> = g.neurons.iter().map(|n| n.validator_permit).collect();
    assert_eq!(permits, vec![true, false, false, false]);
}

#[test]
fn reveals_are_checked_against_their_commit_and_epoch() {
    let mut c = Chain::new(true);
    c.block(vec![(3, bond(100 * ALX))]);
    let (id, created) = c.subnet(spec("reveal"));
    c.validator(id, 3);
    c.validator(id, 4);
    c.miner(id, 8);
    let good = [(2, 100), (0, 7)];
    c.refused(3, reveal_op(id, 3, &good), ErrorCode::NoCommit);
    c.refused(9, reveal_op(id, 9, &good), ErrorCode::NotRegistered);
    c.refused(3, reveal_op(SubnetId(99), 3, &good), ErrorCode::UnknownSubnet);

    // Committed in epoch 0: not in epoch 0, not with other weights or salt.
    c.commit(id, 3, &good);
    c.refused(3, reveal_op(id, 3, &good), ErrorCode::RevealTooEarly);
    to_epoch(&mut c, created, 1);
    c.refused(3, reveal_op(id, 3, &[(2, 101), (0, 7)]), ErrorCode::RevealMismatch);
    c.refused(3, reveal_op(id, 4, &good), ErrorCode::RevealMismatch);
    c.refused(4, reveal_op(id, 4, &good), ErrorCode::NoCommit);
    c.ok(3, reveal_op(id, 3, &good));
    c.refused(3, reveal_op(id, 3, &good), ErrorCode::NoCommit);

    // A commit from epoch 1 expires after epoch 2; a newer commit replaces an older one.
    c.commit(id, 3, &[(2, 1)]);
    c.commit(id, 3, &good);
    to_epoch(&mut c, created, 2);
    c.refused(3, reveal_op(id, 3, &[(2, 1)]), ErrorCode::RevealMismatch);
    to_epoch(&mut c, created, 3);
    c.refused(3, reveal_op(id, 3, &good), ErrorCode::RevealExpired);

    // Malformed weights fail even when they match their commit (n = 3).
    let mut epoch = 3;
    let bad: [(&[u16], &[u16]); 4] =
        [(&[2, 2], &[1, 1]), (&[3], &[1]), (&[2], &[1, 1]), (&[0, 1, 2, 0], &[1, 1, 1, 1])];
    for (dests, values) in bad {
        let commit =
            alx_types::subnet::weights_commit(id, 0, dests, values, &crate::subnets::salt(3));
        c.ok(3, subnet_op(SubnetOp::CommitWeights { subnet: id, commit }));
        epoch += 1;
        to_epoch(&mut c, created, epoch);
        let reveal = SubnetOp::RevealWeights {
            subnet: id,
            dests: dests.to_vec(),
            values: values.to_vec(),
            salt: crate::subnets::salt(3),
        };
        c.refused(3, subnet_op(reveal), ErrorCode::BadWeights);
    }
    assert_eq!(c.state.weights_row(id, 0).unwrap(), good.to_vec(), "the last good reveal");
}

/// Liquid alpha: only the owner sets it, only on a Yuma3 subnet, only within subtensor's
/// ranges (1,638 ≤ low ≤ high); each refusal changes nothing. Turning it off keeps the bounds.
#[test]
fn liquid_alpha_is_the_owners_within_subtensors_ranges() {
    use alx_types::subnet::{ALPHA_MIN, LiquidAlpha};
    let mut c = Chain::new(true);
    let (legacy, _) = c.subnet(spec("legacy"));
    let (id, _) = c.subnet(SubnetSpec { yuma3: true, ..spec("liquid") });
    let set = |subnet, enabled, alpha_low, alpha_high| {
        subnet_op(SubnetOp::SetLiquidAlpha { subnet, enabled, alpha_low, alpha_high })
    };
    assert_eq!(ALPHA_MIN, 1_638);
    assert_eq!(c.state.liquid_alpha(id).unwrap(), LiquidAlpha::OFF);
    c.refused(2, set(id, true, 2_000, 60_000), ErrorCode::NotSubnetOwner);
    c.refused(1, set(SubnetId(9), true, 2_000, 60_000), ErrorCode::UnknownSubnet);
    c.refused(1, set(legacy, true, 2_000, 60_000), ErrorCode::LiquidAlphaNeedsYuma3);
    c.refused(1, set(id, true, 1_638, 1_637), ErrorCode::AlphaHighTooLow);
    c.refused(1, set(id, true, 1_637, 60_000), ErrorCode::AlphaLowOutOfRange);
    c.refused(1, set(id, true, 60_001, 60_000), ErrorCode::AlphaLowOutOfRange);
    // The bounds themselves are accepted.
    c.ok(1, set(id, true, 1_638, 1_638));
    let on = LiquidAlpha { enabled: true, alpha_low: 1_638, alpha_high: 1_638 };
    assert_eq!(c.state.liquid_alpha(id).unwrap(), on);
    c.ok(1, set(id, false, 0, 0));
    assert_eq!(c.state.liquid_alpha(id).unwrap(), LiquidAlpha { enabled: false, ..on });
    assert_eq!(c.state.liquid_alpha(legacy).unwrap(), LiquidAlpha::OFF);
}
