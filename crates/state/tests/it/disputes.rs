//! Disputes on settled receipts: what the chain checks before it opens one (the leaf under the
//! root, the provider's signature, the receipt being the leaf's), the challenge bond in escrow,
//! the validators' votes and the three endings (guilty, innocent, undecided). Every refusal
//! moves nothing but the fee; supply is checked after every transaction.
//!
//! The market of `challenges` (provider 2 bonded with `BOND`, 4's key for it), with four
//! validators (0, 1, 3, 5: a quorum is 3) and challenger 4 rich enough for the bond.

use crate::{
    challenges::{BOND, Market, PROVIDER, key, market_from, settle_leaves, usage},
    *,
};
use alx_state::emission::PROTECTION_FUND;
use alx_types::{
    ErrorCode,
    dispute::{Claim, DISPUTE_BOND, DISPUTE_VOTING_BLOCKS, Dispute, Verdict},
    model::ModelId,
    settled::{LeafProof, SettledReceipt},
    usage::UsageOp,
    usage_api::{ReceiptBody, RequestInput, UsageReceipt},
};

const CHALLENGER: u64 = 4;
const VALIDATORS: [u64; 4] = [0, 1, 3, 5];

fn market() -> Market {
    let mut g = genesis();
    g.accounts.push(alx_state::GenesisAccount { address: addr(4), balance: Amount(1 << 50) });
    g.accounts.push(alx_state::GenesisAccount { address: addr(5), balance: Amount(1_000_000) });
    g.validators = VALIDATORS
        .iter()
        .map(|&i| alx_state::GenesisValidator {
            address: addr(i),
            stake: Amount(5_000),
            p2p_addr: format!("127.0.0.1:{}", 7000 + i).parse().unwrap(),
        })
        .collect();
    market_from(&g)
}

/// Receipt `number` signed by `signer`: 10 prompt and 5 generated tokens for 20, greedy.
fn receipt(number: u64, signer: u64) -> UsageReceipt {
    let body = ReceiptBody {
        number,
        provider: addr(PROVIDER),
        model: ModelId(0),
        model_name: "plain".into(),
        key_hash: key(),
        prompt_tokens: 10,
        completion_tokens: 5,
        fee: Amount(20),
        datanets: vec![],
        citations: vec![],
        span_shares: vec![],
        shares: vec![],
        credits: vec![],
        output: format!("answer {number}"),
        input: RequestInput::Completion { prompt: "q".into(), retrieval: false },
        output_tokens: vec![1, 2, 3, 4, 5],
        greedy: true,
        penalties: None,
        influence: Vec::new(),
    };
    UsageReceipt::sign(body, &crate::key(signer))
}

fn leaf_of(r: &UsageReceipt) -> SettledReceipt {
    SettledReceipt {
        number: r.body.number,
        id: r.id,
        key_hash: key(),
        model: ModelId(0),
        prompt_tokens: 10,
        completion_tokens: 5,
        fee: Amount(20),
        credits: vec![],
    }
}

/// Three greedy receipts of provider 2, settled from 0.
fn settled(m: &mut Market) -> (Vec<UsageReceipt>, Vec<SettledReceipt>) {
    let receipts: Vec<_> = (0..3).map(|n| receipt(n, PROVIDER)).collect();
    let leaves: Vec<_> = receipts.iter().map(leaf_of).collect();
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    (receipts, leaves)
}

/// The dispute of receipt `i` with `claim`.
fn dispute(
    receipts: &[UsageReceipt],
    leaves: &[SettledReceipt],
    i: usize,
    claim: Claim,
) -> Dispute {
    Dispute {
        provider: addr(PROVIDER),
        first_receipt: 0,
        leaf: leaves[i].clone(),
        proof: LeafProof::of(leaves, i).unwrap(),
        receipt: serde_json::to_string(&receipts[i]).unwrap(),
        claim,
    }
}

fn file(d: Dispute) -> Payload {
    usage(UsageOp::Dispute(Box::new(d)))
}

fn vote(id: u64, guilty: bool) -> Payload {
    usage(UsageOp::Verdicts(vec![Verdict { dispute: id, guilty }]))
}

#[test]
fn a_dispute_opens_only_on_a_signed_receipt_under_the_root() {
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    let ok = dispute(&receipts, &leaves, 1, Claim::Attribution);
    // Another leaf's proof, a receipt of another leaf, a receipt signed by someone else, an
    // altered receipt, a settlement that does not exist: refused, nothing moves.
    let mut wrong_proof = ok.clone();
    wrong_proof.proof = LeafProof::of(&leaves, 0).unwrap();
    let mut other_receipt = ok.clone();
    other_receipt.receipt = serde_json::to_string(&receipts[2]).unwrap();
    let mut forged = ok.clone();
    forged.receipt = serde_json::to_string(&receipt(1, 3)).unwrap();
    let mut altered = receipts[1].clone();
    altered.body.output = "something else".into();
    let mut edited = ok.clone();
    edited.receipt = serde_json::to_string(&altered).unwrap();
    let mut garbage = ok.clone();
    garbage.receipt = "{".into();
    let mut elsewhere = ok.clone();
    elsewhere.first_receipt = 7;
    for (d, code) in [
        (wrong_proof, ErrorCode::DisputeRejected),
        (other_receipt, ErrorCode::DisputeRejected),
        (forged, ErrorCode::DisputeRejected),
        (edited, ErrorCode::DisputeRejected),
        (garbage, ErrorCode::DisputeRejected),
        (elsewhere, ErrorCode::NoSuchSettlement),
    ] {
        m.refused(CHALLENGER, file(d), code);
    }
    // The escrow is untouched by refusals; a good dispute takes the bond.
    assert_eq!(m.state.dispute_bonds_total().unwrap(), Amount::ZERO);
    let before = m.balance(CHALLENGER);
    m.ok(CHALLENGER, file(ok));
    assert_eq!(m.balance(CHALLENGER), before - DISPUTE_BOND.0 - MIN_FEE);
    assert_eq!(m.state.dispute_bonds_total().unwrap(), DISPUTE_BOND);
    assert_eq!(m.state.open_disputes().unwrap().len(), 1);
}

#[test]
fn a_generation_claim_needs_a_replayable_receipt() {
    let mut m = market();
    let mut body = receipt(0, PROVIDER).body;
    body.greedy = false;
    let sampled = UsageReceipt::sign(body, &crate::key(PROVIDER));
    let receipts = vec![sampled];
    let leaves: Vec<_> = receipts.iter().map(leaf_of).collect();
    m.ok(PROVIDER, settle_leaves(0, &leaves));
    m.refused(
        CHALLENGER,
        file(dispute(&receipts, &leaves, 0, Claim::Generation)),
        ErrorCode::DisputeRejected,
    );
    m.ok(CHALLENGER, file(dispute(&receipts, &leaves, 0, Claim::Attribution)));
}

#[test]
fn a_quorum_of_guilty_votes_slashes_and_returns_the_bond() {
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    m.ok(CHALLENGER, file(dispute(&receipts, &leaves, 2, Claim::Generation)));
    // Only the active set votes, on disputes that exist.
    m.refused(CHALLENGER, vote(0, true), ErrorCode::NotActiveValidator);
    m.refused(0, vote(9, true), ErrorCode::UnknownDispute);
    // The bond is locked while the vote runs (past the settlement's own window).
    let fund = m.state.amount_global(PROTECTION_FUND).unwrap().0;
    let challenger = m.balance(CHALLENGER);
    m.ok(0, vote(0, true));
    m.ok(0, vote(0, true)); // a second vote of the same validator counts once
    m.ok(1, vote(0, false));
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
    m.ok(3, vote(0, true));
    assert_eq!(m.state.dispute(0).unwrap().map(|d| d.guilty.len()), Some(2));
    m.ok(5, vote(0, true));
    // Three of four found it guilty: the bond is slashed, half to the challenger.
    assert_eq!(m.state.dispute(0).unwrap(), None);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount::ZERO);
    assert_eq!(m.balance(CHALLENGER), challenger + DISPUTE_BOND.0 + BOND / 2);
    assert_eq!(m.state.amount_global(PROTECTION_FUND).unwrap().0, fund + BOND / 2);
    assert_eq!(m.state.dispute_bonds_total().unwrap(), Amount::ZERO);
    // The settlement is closed: no second slash, no second dispute.
    m.refused(
        CHALLENGER,
        file(dispute(&receipts, &leaves, 1, Claim::Attribution)),
        ErrorCode::NoSuchSettlement,
    );
}

#[test]
fn an_acquittal_sends_the_challenge_bond_to_the_protection_fund() {
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    let challenger = m.balance(CHALLENGER);
    m.ok(CHALLENGER, file(dispute(&receipts, &leaves, 0, Claim::Attribution)));
    let fund = m.state.amount_global(PROTECTION_FUND).unwrap().0;
    m.ok(0, vote(0, false));
    assert!(m.state.dispute(0).unwrap().is_some(), "one innocent vote of four decides nothing");
    m.ok(1, vote(0, false));
    // Two of four: guilt can no longer reach three.
    assert_eq!(m.state.dispute(0).unwrap(), None);
    assert_eq!(m.balance(CHALLENGER), challenger - DISPUTE_BOND.0 - MIN_FEE);
    assert_eq!(m.state.amount_global(PROTECTION_FUND).unwrap().0, fund + DISPUTE_BOND.0);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
    m.refused(3, vote(0, true), ErrorCode::UnknownDispute);
}

#[test]
fn an_undecided_dispute_returns_the_bond_at_its_deadline_and_unlocks_the_provider() {
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    let challenger = m.balance(CHALLENGER);
    m.empty_blocks(100);
    m.ok(CHALLENGER, file(dispute(&receipts, &leaves, 0, Claim::Generation)));
    m.ok(0, vote(0, true));
    let unbond = usage(UsageOp::UnbondProvider { amount: Amount(BOND) });
    // Past the settlement's window, the vote still holds the bond.
    // Filed at h, voted at h + 1: blocks h + 2 ..= h + 298 pass, unbonding fails at h + 299.
    m.empty_blocks(DISPUTE_VOTING_BLOCKS - 3);
    m.refused(PROVIDER, unbond.clone(), ErrorCode::BondLocked);
    assert!(m.state.dispute(0).unwrap().is_some());
    m.empty_blocks(1);
    assert_eq!(m.state.dispute(0).unwrap(), None, "closed at its deadline");
    assert_eq!(m.balance(CHALLENGER), challenger - MIN_FEE);
    assert_eq!(m.state.dispute_bonds_total().unwrap(), Amount::ZERO);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
    m.ok(PROVIDER, unbond);
}

fn demand(number: u64) -> Payload {
    usage(UsageOp::Demand(alx_types::withheld::Demand {
        provider: addr(PROVIDER),
        first_receipt: 0,
        number,
    }))
}

fn answer(
    receipts: &[UsageReceipt],
    leaves: &[SettledReceipt],
    i: usize,
) -> alx_types::withheld::Answer {
    alx_types::withheld::Answer {
        provider: addr(PROVIDER),
        first_receipt: 0,
        leaf: leaves[i].clone(),
        proof: LeafProof::of(leaves, i).unwrap(),
        receipt: serde_json::to_string(&receipts[i]).unwrap(),
    }
}

fn open(a: alx_types::withheld::Answer) -> Payload {
    usage(UsageOp::Answer(Box::new(a)))
}

#[test]
fn a_demanded_receipt_opened_on_chain_pays_the_provider_the_escrow() {
    use alx_types::withheld::DEMAND_BOND;
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    m.refused(CHALLENGER, demand(3), ErrorCode::DemandRejected);
    m.refused(
        CHALLENGER,
        usage(UsageOp::Demand(alx_types::withheld::Demand {
            provider: addr(PROVIDER),
            first_receipt: 9,
            number: 9,
        })),
        ErrorCode::NoSuchSettlement,
    );
    let challenger = m.balance(CHALLENGER);
    m.ok(CHALLENGER, demand(1));
    assert_eq!(m.balance(CHALLENGER), challenger - DEMAND_BOND.0 - MIN_FEE);
    assert_eq!(m.state.demand_bonds_total().unwrap(), DEMAND_BOND);
    m.refused(CHALLENGER, demand(1), ErrorCode::DemandRejected);
    // Answers that do not open receipt 1: another leaf, another receipt, a forged signature.
    m.refused(PROVIDER, open(answer(&receipts, &leaves, 0)), ErrorCode::BadAnswer);
    let mut other = answer(&receipts, &leaves, 1);
    other.receipt = serde_json::to_string(&receipts[2]).unwrap();
    m.refused(PROVIDER, open(other), ErrorCode::BadAnswer);
    let mut forged = answer(&receipts, &leaves, 1);
    forged.receipt = serde_json::to_string(&receipt(1, 3)).unwrap();
    m.refused(3, open(forged), ErrorCode::BadAnswer);
    // The provider opens it: the escrow is its pay, the demand is closed.
    let provider = m.balance(PROVIDER);
    m.ok(PROVIDER, open(answer(&receipts, &leaves, 1)));
    assert_eq!(m.balance(PROVIDER), provider + DEMAND_BOND.0 - MIN_FEE);
    assert_eq!(m.state.demand_bonds_total().unwrap(), Amount::ZERO);
    assert!(m.state.open_demands(None).unwrap().is_empty());
    m.refused(PROVIDER, open(answer(&receipts, &leaves, 1)), ErrorCode::BadAnswer);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
}

#[test]
fn an_unanswered_demand_slashes_the_provider_at_its_deadline() {
    use alx_types::withheld::DEMAND_ANSWER_BLOCKS;
    let mut m = market();
    let _ = settled(&mut m);
    let challenger = m.balance(CHALLENGER);
    let fund = m.state.amount_global(PROTECTION_FUND).unwrap().0;
    m.ok(CHALLENGER, demand(2));
    m.empty_blocks(DEMAND_ANSWER_BLOCKS - 1);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
    m.empty_blocks(1);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount::ZERO);
    assert_eq!(m.balance(CHALLENGER), challenger - MIN_FEE + BOND / 2);
    assert_eq!(m.state.amount_global(PROTECTION_FUND).unwrap().0, fund + BOND / 2);
    assert_eq!(m.state.demand_bonds_total().unwrap(), Amount::ZERO);
}

/// A client holds a receipt the provider signed for request 1; the provider settled another
/// receipt under number 1. The chain checks both signatures against the root and slashes.
#[test]
fn two_receipts_for_one_request_are_slashed_at_once() {
    use alx_types::challenge::{Challenge, Evidence};
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    let challenge = |receipt: &UsageReceipt, i: usize| {
        usage(UsageOp::Challenge(Box::new(Challenge {
            provider: addr(PROVIDER),
            first_receipt: 0,
            evidence: Evidence::Receipt {
                receipt: serde_json::to_string(receipt).unwrap(),
                leaf: leaves[i].clone(),
                proof: LeafProof::of(&leaves, i).unwrap(),
            },
        })))
    };
    // The settled receipt itself, one of another number, one signed by someone else: nothing.
    m.refused(CHALLENGER, challenge(&receipts[1], 1), ErrorCode::ChallengeRejected);
    m.refused(CHALLENGER, challenge(&receipts[2], 1), ErrorCode::ChallengeRejected);
    m.refused(CHALLENGER, challenge(&receipt(1, 3), 1), ErrorCode::ChallengeRejected);
    // What the client was given for request 1: another answer, signed by the provider.
    let mut given = receipts[1].body.clone();
    given.output = "the answer the client saw".into();
    let given = UsageReceipt::sign(given, &crate::key(PROVIDER));
    let (challenger, fund) =
        (m.balance(CHALLENGER), m.state.amount_global(PROTECTION_FUND).unwrap().0);
    m.ok(CHALLENGER, challenge(&given, 1));
    assert_eq!(m.balance(CHALLENGER), challenger - MIN_FEE + BOND / 2);
    assert_eq!(m.state.amount_global(PROTECTION_FUND).unwrap().0, fund + BOND / 2);
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount::ZERO);
}

/// A settlement is slashed once: a demand left unanswered after a dispute already slashed the
/// same settlement takes nothing from the bond posted since; its escrow returns.
#[test]
fn a_settlement_is_slashed_once_whatever_convicts_it() {
    use alx_types::withheld::DEMAND_ANSWER_BLOCKS;
    let mut m = market();
    let (receipts, leaves) = settled(&mut m);
    m.ok(CHALLENGER, demand(2));
    m.ok(CHALLENGER, file(dispute(&receipts, &leaves, 0, Claim::Generation)));
    // Verdicts race: one naming a closed dispute beside an open one still counts.
    for v in [0, 1, 3] {
        m.ok(
            v,
            usage(UsageOp::Verdicts(vec![
                Verdict { dispute: 7, guilty: true },
                Verdict { dispute: 0, guilty: true },
            ])),
        );
    }
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount::ZERO);
    m.ok(PROVIDER, usage(UsageOp::BondProvider { amount: Amount(BOND) }));
    let challenger = m.balance(CHALLENGER);
    m.empty_blocks(DEMAND_ANSWER_BLOCKS);
    assert!(m.state.open_demands(None).unwrap().is_empty(), "the demand's deadline passed");
    assert_eq!(m.state.provider_bond(&addr(PROVIDER)).unwrap().amount, Amount(BOND));
    assert_eq!(m.balance(CHALLENGER), challenger + alx_types::withheld::DEMAND_BOND.0);
}
