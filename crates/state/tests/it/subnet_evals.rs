//! Sealed evaluation sets: only the owner seals and reveals, a reveal must open its commitment
//! in a later subnet epoch and name a text or JSONL blob, sets are revealed in the order they
//! were sealed, at most 8 wait sealed, and the last 8 revealed are kept. Every refusal moves
//! nothing.

use crate::{subnets::*, *};
use alx_types::{
    ErrorCode,
    datanet::{ContentRef, MediaType},
    hash::sha256,
    subnet::{EVAL_SEALS_PENDING_MAX, SubnetId, SubnetOp, eval_commitment},
};

fn set(n: u8) -> ContentRef {
    ContentRef { hash: sha256(&[b"eval set", &[n]]), size: 1_000, media_type: MediaType::Jsonl }
}

fn seal_op(subnet: SubnetId, n: u8) -> Payload {
    let commitment = eval_commitment(subnet, &[n; 32], &set(n));
    subnet_op(SubnetOp::SealEval { subnet, commitment })
}

fn reveal_op(subnet: SubnetId, seal: u64, n: u8, content: ContentRef) -> Payload {
    subnet_op(SubnetOp::RevealEval { subnet, seal, salt: [n; 32], content })
}

#[test]
fn sealed_sets_open_only_to_their_commitment_an_epoch_later() {
    let mut c = Chain::new(true);
    let (id, created) = c.subnet(spec("evals"));
    let tempo = u64::from(spec("evals").tempo);
    c.refused(2, seal_op(id, 0), ErrorCode::NotSubnetOwner);
    c.refused(1, seal_op(SubnetId(9), 0), ErrorCode::UnknownSubnet);
    c.ok(1, seal_op(id, 0));
    let seals = c.state.eval_seals(id).unwrap();
    assert_eq!(seals.len(), 1);
    assert_eq!(seals[0].0, 0);
    assert!(seals[0].1.revealed.is_none());
    // In the seal's own epoch: too early, even with the right salt and set.
    c.refused(1, reveal_op(id, 0, 0, set(0)), ErrorCode::EvalRevealTooEarly);
    c.advance_to(created + tempo + 1);
    c.refused(2, reveal_op(id, 0, 0, set(0)), ErrorCode::NotSubnetOwner);
    c.refused(1, reveal_op(id, 1, 0, set(0)), ErrorCode::UnknownSeal);
    c.refused(1, reveal_op(id, 0, 1, set(0)), ErrorCode::RevealMismatch);
    c.refused(1, reveal_op(id, 0, 0, set(1)), ErrorCode::RevealMismatch);
    for bad in [
        ContentRef { media_type: MediaType::Code, ..set(0) },
        ContentRef { size: 0, ..set(0) },
        ContentRef { size: alx_types::datanet::CONTRIBUTION_SIZE_MAX + 1, ..set(0) },
    ] {
        c.refused(1, reveal_op(id, 0, 0, bad), ErrorCode::BadEvalContent);
    }
    c.ok(1, reveal_op(id, 0, 0, set(0)));
    let (_, seal) = c.state.eval_seals(id).unwrap()[0];
    assert_eq!(seal.revealed, Some((alx_types::Height(c.height()), set(0))));
    // Once only.
    c.refused(1, reveal_op(id, 0, 0, set(0)), ErrorCode::UnknownSeal);
}

#[test]
fn at_most_eight_wait_sealed_and_eight_revealed_are_kept() {
    let mut c = Chain::new(true);
    let (id, created) = c.subnet(spec("evals"));
    let tempo = u64::from(spec("evals").tempo);
    for n in 0..EVAL_SEALS_PENDING_MAX as u8 {
        c.ok(1, seal_op(id, n));
    }
    c.refused(1, seal_op(id, 99), ErrorCode::TooManySeals);
    c.advance_to(created + tempo + 1);
    // In the order they were sealed: the owner cannot pick among its sets.
    c.refused(1, reveal_op(id, 1, 1, set(1)), ErrorCode::EvalSealOutOfOrder);
    // Revealing frees room; twelve reveals in all keep the last eight.
    for n in 0..12u8 {
        if n >= EVAL_SEALS_PENDING_MAX as u8 {
            c.ok(1, seal_op(id, n));
            c.advance_to(c.height() + tempo);
        }
        c.ok(1, reveal_op(id, u64::from(n), n, set(n)));
    }
    let kept: Vec<u64> = c.state.eval_seals(id).unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(kept, (4..12).collect::<Vec<u64>>());
}
