//! The settler against a real chain: it never jams. A key revoked after service has its
//! receipts written off while the rest is paid (before, its credits stayed in the batch and the
//! chain refused it for good); a settlement refused because the state moved between building it
//! and its block is diagnosed, rebuilt without the refused part, and the range moves on.

use crate::*;
use alx_gateway::{BatchLimits, Catalog, Gateway, GatewayConfig, LocalBackend, settle::Settler};
use alx_types::{
    datanet::{ContributionId, DatanetId},
    hash::sha256,
    model::{DatanetVersionRef, FeeSplit, ModelId, ModelOp, ModelSpec},
    usage::{Credit, REVOKE_DELAY_BLOCKS, UsageOp},
    usage_api::ReceiptBody,
};

const FEE: u128 = 10_000;

/// The served chain of `served_chain` at 500,000 base units per 1,000 tokens (so a receipt of
/// 10 + 10 tokens costs exactly `FEE`; the settler never charges more than tokens cost), and
/// the gateway of provider 0 over an empty model directory.
fn setup() -> (Chain, Arc<Gateway>) {
    let chain = served_chain(Amount(500_000));
    let backend = LocalBackend::new(
        Catalog::new(&chain.dir.path().join("models"), alx_model::LoadConfig::DEFAULT),
        BatchLimits { batch_max: 1, cache_budget_bytes: 1 << 20 },
    );
    let gateway = gateway_over(&chain, Arc::new(backend), GatewayConfig::default());
    (chain, gateway)
}

/// A served request on `payer`'s key: `FEE`, half of it credited to contribution 0.
fn serve(g: &Gateway, chain: &Chain, payer: u64) {
    let body = ReceiptBody {
        number: 0,
        provider: addr(0),
        model: ModelId(0),
        model_name: "m".into(),
        key_hash: key_of(payer),
        prompt_tokens: 10,
        completion_tokens: 10,
        fee: Amount(FEE),
        datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
        citations: vec![],
        span_shares: vec![],
        shares: vec![],
        credits: vec![Credit {
            model: ModelId(0),
            datanet: DatanetId(0),
            contribution: ContributionId(0),
            amount: Amount(FEE / 2),
        }],
        output: "answer".into(),
        input: alx_types::usage_api::RequestInput::None,
        output_tokens: Vec::new(),
        greedy: false,
        penalties: None,
        influence: Vec::new(),
    };
    let floor = chain.ledger.committed().state.next_receipt(&addr(0)).unwrap();
    g.receipts().issue(body, floor).unwrap();
}

fn spent(chain: &Chain, payer: u64) -> u128 {
    chain.ledger.committed().state.api_key(&key_of(payer)).unwrap().unwrap().spent.0
}

fn next_receipt(chain: &Chain) -> u64 {
    chain.ledger.committed().state.next_receipt(&addr(0)).unwrap()
}

#[test]
fn a_key_revoked_after_service_is_written_off_and_the_rest_is_paid() {
    let (chain, g) = setup();
    let mut settler = Settler::default();
    serve(&g, &chain, 3);
    serve(&g, &chain, 4);
    serve(&g, &chain, 3);
    // Payer 3 revokes; nobody settles within the window (the node was down, say).
    chain.ok(3, Payload::Usage(UsageOp::RevokeApiKey { key_hash: key_of(3) }));
    for _ in 0..REVOKE_DELAY_BLOCKS {
        chain.block(vec![]);
    }
    assert!(chain.ledger.committed().state.api_key(&key_of(3)).unwrap().unwrap().revoked);
    // Payer 4's receipt is paid, credit and all; payer 3's two are written off.
    assert!(settler.round(&g).is_some(), "a settlement was submitted");
    let receipts = chain.block(vec![]);
    assert!(receipts.iter().all(|r| r.error.is_none()), "{receipts:?}");
    assert_eq!(next_receipt(&chain), 3, "the whole range moved on");
    assert_eq!((spent(&chain, 3), spent(&chain, 4)), (0, FEE));
    assert_eq!(chain.ledger.committed().state.rewards(&addr(2)).unwrap().claimable.0, FEE / 2);
    assert!(settler.round(&g).is_none(), "nothing left to settle");
    assert_eq!(g.stats().written_off(), 2);
    // Settlement goes on for later service.
    serve(&g, &chain, 4);
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 4);
    assert_eq!(spent(&chain, 4), 2 * FEE);
}

#[test]
fn a_settlement_refused_by_the_chain_is_rebuilt_and_the_range_moves_on() {
    let (chain, g) = setup();
    let mut settler = Settler::default();
    serve(&g, &chain, 4);
    assert!(settler.round(&g).is_some());
    // The owner retires the model in the same block, just before the settlement.
    let receipts = chain.block(vec![(1, Payload::Model(ModelOp::Retire { model: ModelId(0) }))]);
    assert_eq!(receipts[0].error, None);
    assert_eq!(receipts[1].error, Some(alx_types::ErrorCode::ModelRetired), "{receipts:?}");
    assert_eq!(next_receipt(&chain), 0);
    // Diagnosed, rebuilt: the retired model's receipt cannot be charged, so it is written off.
    let second = settler.round(&g).expect("submitted again");
    let receipts = chain.block(vec![]);
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(receipts[0].error, None, "{receipts:?}");
    assert_eq!(next_receipt(&chain), 1);
    assert!(settler.round(&g).is_none(), "nothing left to settle");
    assert_eq!(g.stats().failed(), 1);
    assert_eq!(g.stats().written_off(), 1);
    assert_eq!(spent(&chain, 4), 0, "nobody paid for a model that could not be charged");
    // Of the two attempts at the range, the one the chain applied is published.
    let batch = g.settled_batch(&addr(0), 0).unwrap();
    assert_eq!(batch.tx_hash, second);
    let report = batch.check(&committed_settlement(&chain, &second)).unwrap();
    assert_eq!((report.charged, report.written_off), (0, 1));
}

#[test]
fn every_refusal_code_moves_the_range_within_three_attempts() {
    use alx_gateway::settle::{BatchPolicy, escalates, next_batch};
    let (chain, g) = setup();
    serve(&g, &chain, 4);
    serve(&g, &chain, 3);
    let state = chain.ledger.committed().state.clone();
    let receipts: Vec<_> = (0..2).map(|n| g.receipts().by_number(n).unwrap()).collect();
    // Every code a receipt can carry is either about the transaction (submitted again as is)
    // or about the settlement (each attempt leaves more out, down to nothing charged).
    for code in (0..=u16::MAX).filter_map(alx_types::ErrorCode::from_code) {
        assert_eq!(escalates(code), code.fee_charged(), "{code:?}");
    }
    let full = next_batch(&state, 0, &receipts, BatchPolicy::Full).unwrap();
    assert_eq!((full.settlement.charges.len(), full.settlement.credits.len()), (2, 1));
    let charges_only = next_batch(&state, 0, &receipts, BatchPolicy::NoCredits).unwrap();
    assert_eq!(
        (charges_only.settlement.charges.len(), charges_only.settlement.credits.len()),
        (2, 0)
    );
    let nothing = next_batch(&state, 0, &receipts, BatchPolicy::WriteOffAll).unwrap();
    assert!(nothing.settlement.charges.is_empty() && nothing.settlement.credits.is_empty());
    assert_eq!((nothing.settlement.receipts, nothing.written_off.len()), (2, 2));
    // The last resort always applies: an empty charge list over the range.
    let s = UsageOp::Settle(Box::new(nothing.settlement));
    chain.ok(0, Payload::Usage(s));
    assert_eq!(next_receipt(&chain), 2);
}

/// A receipt that credits more contributions than one settlement can hold still settles (its
/// largest credits kept): before, the batch builder returned nothing and settlement stopped.
#[test]
fn a_receipt_with_too_many_credits_still_settles() {
    let (chain, g) = setup();
    let mut settler = Settler::default();
    let floor = chain.ledger.committed().state.next_receipt(&addr(0)).unwrap();
    let mut body = ReceiptBody {
        number: 0,
        provider: addr(0),
        model: ModelId(0),
        model_name: "m".into(),
        key_hash: key_of(4),
        prompt_tokens: 10,
        completion_tokens: 10,
        fee: Amount(FEE),
        datanets: vec![DatanetVersionRef { datanet: DatanetId(0), version: 1 }],
        citations: vec![],
        span_shares: vec![],
        shares: vec![],
        credits: vec![],
        output: "a long answer".into(),
        input: alx_types::usage_api::RequestInput::None,
        output_tokens: Vec::new(),
        greedy: false,
        penalties: None,
        influence: Vec::new(),
    };
    // 100 credits, of which only contribution 0 exists: the rest the chain would refuse, and
    // the batch must not exceed 64 either way.
    body.credits = (0..100)
        .map(|c| Credit {
            model: ModelId(0),
            datanet: DatanetId(0),
            contribution: ContributionId(c),
            amount: Amount(10),
        })
        .collect();
    g.receipts().issue(body, floor).unwrap();
    assert!(settler.round(&g).is_some(), "a settlement is submitted");
    let receipts = chain.block(vec![]);
    assert_eq!(receipts[0].error, None, "{receipts:?}");
    assert_eq!(next_receipt(&chain), 1);
    assert_eq!(spent(&chain, 4), FEE);
}

/// Retiring one's own model while a settlement is in flight refuses that settlement; the
/// rebuilt batch writes off only that model's receipts, and everyone else's are paid.
#[test]
fn a_retired_model_does_not_take_other_payers_receipts_with_it() {
    let (chain, g) = setup();
    let mut settler = Settler::default();
    let second = ModelSpec {
        name: "m2".into(),
        base_model: sha256(&[b"weights"]),
        adapter: None,
        datanets: vec![],
        price_input_per_1k: Amount(500_000),
        price_output_per_1k: Amount(500_000),
        split: FeeSplit::DEFAULT,
    };
    chain.ok(2, Payload::Model(ModelOp::Register(Box::new(second))));
    serve(&g, &chain, 4); // model 0, an honest payer
    let floor = chain.ledger.committed().state.next_receipt(&addr(0)).unwrap();
    let mut attacker = g.receipts().by_number(0).unwrap().body;
    attacker.model = ModelId(1);
    attacker.key_hash = key_of(3);
    attacker.credits.clear();
    g.receipts().issue(attacker, floor).unwrap();
    assert!(settler.round(&g).is_some());
    // The attacker (owner of model 1) retires it just before the settlement.
    let receipts = chain.block(vec![(2, Payload::Model(ModelOp::Retire { model: ModelId(1) }))]);
    assert_eq!(receipts[1].error, Some(alx_types::ErrorCode::ModelRetired));
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 2);
    assert_eq!(spent(&chain, 4), FEE, "the honest payer's receipt is paid");
    assert_eq!(spent(&chain, 3), 0);
    assert_eq!(chain.ledger.committed().state.rewards(&addr(2)).unwrap().claimable.0, FEE / 2);
}

/// A receipt file lost from disk is written off alone; settlement goes on after it.
#[test]
fn a_lost_receipt_file_does_not_stop_settlement() {
    let (chain, g) = setup();
    let mut settler = Settler::default();
    serve(&g, &chain, 4);
    serve(&g, &chain, 4);
    std::fs::remove_file(chain.dir.path().join("receipts").join(format!("{:020}.json", 0)))
        .unwrap();
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 1, "the lost one written off");
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 2);
    assert_eq!(spent(&chain, 4), FEE);
}

/// A settlement that waits in the mempool and is never included is given up after
/// `STUCK_AFTER_BLOCKS` and the range submitted again; when both later reach a block, the
/// range settles once (the second is refused: its range moved) and the key pays once.
#[test]
fn a_settlement_stuck_in_the_mempool_is_given_up_and_nothing_settles_twice() {
    let (chain, g) = setup();
    let mut settler = Settler::default();
    serve(&g, &chain, 3);
    let first = settler.round(&g).expect("submitted");
    assert!(chain.ledger.mempool_contains(&first));
    for _ in 0..alx_gateway::settle::STUCK_AFTER_BLOCKS - 1 {
        chain.empty_block();
        assert_eq!(settler.round(&g), None, "still waiting");
    }
    chain.empty_block();
    let second = settler.round(&g).expect("given up and submitted again");
    assert_ne!(first, second);
    for _ in 0..4 {
        chain.block(vec![]);
        settler.round(&g);
    }
    assert_eq!(next_receipt(&chain), 1);
    assert_eq!(spent(&chain, 3), FEE, "charged once");
}

/// The settlement `tx` as the chain committed it.
fn committed_settlement(chain: &Chain, tx: &alx_types::Hash) -> alx_types::usage::Settlement {
    use alx_ledger::ChainView as _;
    let (height, index) = chain.ledger.tx_location(tx).unwrap().expect("committed");
    let block = chain.ledger.block(height).unwrap().unwrap();
    match &block.txs[index as usize].tx.payload {
        Payload::Usage(UsageOp::Settle(s)) => (**s).clone(),
        other => panic!("not a settlement: {other:?}"),
    }
}

/// A settled batch, as published, checks against the settlement on chain: every leaf against
/// its signed receipt, the leaves against the root. Every alteration of what is published is
/// caught, with its code.
#[test]
fn a_published_batch_checks_against_its_settlement_and_alterations_are_caught() {
    use alx_types::settled_batch::BatchError;
    let (chain, g) = setup();
    let mut settler = Settler::default();
    serve(&g, &chain, 3);
    serve(&g, &chain, 4);
    serve(&g, &chain, 4);
    chain.ok(3, Payload::Usage(UsageOp::RevokeApiKey { key_hash: key_of(3) }));
    for _ in 0..REVOKE_DELAY_BLOCKS {
        chain.block(vec![]);
    }
    let tx = settler.round(&g).expect("submitted");
    chain.block(vec![]);
    let settlement = committed_settlement(&chain, &tx);
    assert!(settlement.commits_to_its_totals());
    assert_eq!((settlement.prompt_tokens, settlement.completion_tokens), (20, 20));
    let batch = g.settled_batch(&addr(0), 0).expect("published");
    assert_eq!(batch.tx_hash, tx);
    assert!(g.settled_batch(&addr(1), 0).is_none(), "only this node's batches");
    assert_eq!(g.settled_batch(&addr(0), 2).as_ref(), Some(&batch), "found by any receipt in it");
    assert!(g.settled_batch(&addr(0), 3).is_none(), "receipt 3 is not settled");
    let report = batch.check(&settlement).unwrap();
    assert_eq!((report.receipts, report.charged, report.written_off), (3, 2, 1));
    assert_eq!(report.fee, Amount(2 * FEE));
    // Each receipt proves into the root on its own.
    let root = alx_types::settled::root(&batch.leaves).unwrap();
    for (i, leaf) in batch.leaves.iter().enumerate() {
        let proof = alx_types::settled::LeafProof::of(&batch.leaves, i).unwrap();
        assert_eq!(proof.root_of(leaf), Some(settlement.receipts_root));
    }
    assert_eq!(root.digest, settlement.receipts_root);

    let altered = |f: &dyn Fn(&mut alx_types::settled_batch::SettledBatch)| {
        let mut b = batch.clone();
        f(&mut b);
        b.check(&settlement).unwrap_err()
    };
    // A leaf charging less than it did: the root moves.
    let e = altered(&|b| b.leaves[1].fee = Amount(FEE - 1));
    assert_eq!(e.code(), "batch_root_mismatch", "{e}");
    // A receipt withheld.
    let e = altered(&|b| b.receipts.retain(|r| r.body.number != 2));
    assert_eq!(e, BatchError::Missing(2));
    // A receipt's credit altered after signing.
    let e = altered(&|b| b.receipts[1].body.credits[0].amount = Amount(1));
    assert_eq!(e, BatchError::Unsigned(1));
    // A leaf dropped.
    let e = altered(&|b| {
        b.leaves.pop();
    });
    assert_eq!(e.code(), "batch_range_mismatch", "{e}");
}

/// A provider whose leaves charge more than its signed receipts say is caught even when its
/// settlement and its root agree (the chain saw nothing wrong).
#[test]
fn leaves_that_overcharge_their_receipts_are_caught() {
    use alx_gateway::settle::{BatchPolicy, next_batch};
    let (chain, g) = setup();
    serve(&g, &chain, 4);
    serve(&g, &chain, 4);
    let receipts: Vec<_> = (0..2).filter_map(|n| g.receipts().by_number(n)).collect();
    let state = chain.ledger.committed().state.clone();
    let mut batch = next_batch(&state, 0, &receipts, BatchPolicy::Full).unwrap();
    batch.leaves[1].fee = Amount(FEE + 1);
    let root = alx_types::settled::root(&batch.leaves).unwrap();
    let settlement = alx_types::usage::Settlement::from_root(0, root);
    assert!(settlement.commits_to_its_totals(), "the chain would accept it");
    let published = alx_types::settled_batch::SettledBatch {
        provider: addr(0),
        first_receipt: 0,
        tx_hash: alx_types::hash::ZERO,
        leaves: batch.leaves,
        receipts,
    };
    let e = published.check(&settlement).unwrap_err();
    assert_eq!(e.code(), "leaf_disagrees_with_receipt", "{e}");
}

/// A provider whose bond's cap for the epoch is reached settles what fits and holds the rest
/// until the next epoch or a larger bond: nothing is refused, nothing written off.
#[test]
fn the_bond_cap_delays_settlement_and_writes_nothing_off() {
    let (chain, g) = setup();
    let bond = chain.ledger.committed().state.provider_bond(&addr(0)).unwrap().amount.0;
    chain.ok(0, Payload::Usage(UsageOp::UnbondProvider { amount: Amount(bond - 15_000) }));
    let mut settler = Settler::default();
    serve(&g, &chain, 4);
    serve(&g, &chain, 4);
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 1, "one fee of 10,000 fits a bond of 15,000");
    assert!(settler.round(&g).is_none(), "the second waits (for the next epoch, or more bond)");
    chain.ok(0, Payload::Usage(UsageOp::BondProvider { amount: Amount(FEE) }));
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 2);
    assert_eq!(spent(&chain, 4), 2 * FEE);
    assert_eq!(g.stats().written_off(), 0);
    assert_eq!(g.stats().failed(), 0);
}

/// A price cut between serving and settling: the receipt is charged at the new price (the
/// provider's loss), so no challenge can ever find it over the model's price; and a receipt
/// costing more than the provider's whole bond is written off rather than holding every later
/// receipt behind it.
#[test]
fn fees_follow_a_price_cut_and_a_receipt_over_the_bond_is_written_off() {
    let (chain, g) = setup();
    let owner = chain.ledger.committed().state.model(ModelId(0)).unwrap().unwrap().owner;
    let owner = (0..8).find(|&i| addr(i) == owner).expect("a test account owns the model");
    let mut settler = Settler::default();
    serve(&g, &chain, 4);
    let cut = ModelOp::SetPrices {
        model: ModelId(0),
        input_per_1k: Amount(250_000),
        output_per_1k: Amount(250_000),
    };
    chain.ok(owner, Payload::Model(cut));
    let tx = settler.round(&g).expect("submitted");
    chain.block(vec![]);
    assert_eq!(spent(&chain, 4), FEE / 2, "charged at the price of the settlement");
    let batch = g.settled_batch(&addr(0), 0).unwrap();
    assert_eq!(batch.leaves[0].fee, Amount(FEE / 2));
    batch.check(&committed_settlement(&chain, &tx)).expect("a discount is no disagreement");
    // The bond down to less than one fee (nothing at risk once the window closed).
    for _ in 0..=alx_types::challenge::CHALLENGE_WINDOW_BLOCKS {
        chain.block(vec![]);
    }
    let bond = chain.ledger.committed().state.provider_bond(&addr(0)).unwrap().amount.0;
    chain.ok(0, Payload::Usage(UsageOp::UnbondProvider { amount: Amount(bond - FEE / 4) }));
    serve(&g, &chain, 4);
    assert!(settler.round(&g).is_some());
    chain.block(vec![]);
    assert_eq!(next_receipt(&chain), 2, "the range moved on");
    assert_eq!(spent(&chain, 4), FEE / 2, "the receipt over the bond was not charged");
    assert!(settler.round(&g).is_none(), "nothing left");
    assert_eq!(g.stats().written_off(), 1);
}
