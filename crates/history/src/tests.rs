use super::*;
use alx_types::{
    BlockHeader, SignedTx, Transaction,
    hash::{ZERO, sha256},
    usage::{Charge, Credit, Settlement},
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

fn address(seed: u64) -> Address {
    Address::from_public_key(&key(seed).public_key())
}

fn signed(seed: u64, nonce: u64, payload: Payload) -> SignedTx {
    Transaction {
        chain_id: "alx-test".parse().unwrap(),
        sender: address(seed),
        nonce,
        fee: Amount(1),
        payload,
    }
    .sign(&key(seed))
}

fn transfer(from: u64, nonce: u64, to: u64) -> SignedTx {
    signed(from, nonce, Payload::Transfer { to: address(to), amount: Amount(5) })
}

fn settle(provider: u64, nonce: u64, credits: &[(u64, u64, u128)]) -> SignedTx {
    let credits: Vec<Credit> = credits
        .iter()
        .map(|&(d, c, amount)| Credit {
            model: ModelId(0),
            datanet: DatanetId(d),
            contribution: ContributionId(c),
            amount: Amount(amount),
        })
        .collect();
    signed(
        provider,
        nonce,
        Payload::Usage(UsageOp::Settle(Box::new(Settlement {
            first_receipt: nonce * 10,
            receipts: 10,
            receipts_root: ZERO,
            receipts_children: [ZERO, ZERO],
            prompt_tokens: 0,
            completion_tokens: 0,
            charges: (0..credits_count(&credits))
                .map(|k| Charge {
                    key_hash: sha256(&[&[k]]),
                    model: ModelId(u64::from(k % 2)),
                    amount: Amount(100),
                })
                .collect(),
            credits,
        }))),
    )
}

/// One charge per credit (at least one), alternating models 0 and 1.
fn credits_count(credits: &[Credit]) -> u8 {
    u8::try_from(credits.len().max(1)).unwrap()
}

fn block(height: u64, txs: Vec<SignedTx>) -> (Block, Vec<Receipt>) {
    let receipts = txs.iter().map(|t| Receipt::success(t.hash(), Amount(1))).collect();
    let header = BlockHeader {
        parent: ZERO,
        height: Height(height),
        epoch: 0,
        view: height,
        parent_view: height - 1,
        proposer: Address([7; 32]),
        timestamp_ms: 0,
        tx_root: ZERO,
        receipts_root: ZERO,
        state_root: sha256(&[&height.to_be_bytes()]),
    };
    (Block::new(header, txs), receipts)
}

fn open(dir: &tempfile::TempDir, genesis: u8) -> History {
    History::open(&dir.path().join("history.redb"), &sha256(&[&[genesis]])).unwrap()
}

#[test]
fn an_address_sees_what_it_sent_and_what_named_it_newest_first_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir, 0);
    let (b1, r1) = block(1, vec![transfer(1, 0, 2), transfer(3, 0, 4)]);
    let (b2, r2) = block(2, vec![transfer(2, 0, 1)]);
    h.index_block(&b1, &r1).unwrap();
    h.index_block(&b2, &r2).unwrap();
    let places = |a: &Address, before, limit| {
        h.account_txs(a, before, limit).unwrap().iter().map(|t| t.place).collect::<Vec<_>>()
    };
    let at = |height, index| TxPlace { height: Height(height), index };
    assert_eq!(places(&address(1), None, 10), vec![at(2, 0), at(1, 0)]);
    assert_eq!(places(&address(2), None, 10), vec![at(2, 0), at(1, 0)]);
    assert_eq!(places(&address(4), None, 10), vec![at(1, 1)]);
    assert_eq!(places(&address(1), None, 1), vec![at(2, 0)]);
    assert_eq!(places(&address(1), Some(at(2, 0)), 10), vec![at(1, 0)]);
    assert_eq!(places(&address(9), None, 10), vec![]);
    assert_eq!(h.account_txs(&address(3), None, 10).unwrap()[0].hash, b1.txs[1].hash());
}

#[test]
fn settlements_credit_contributions_and_failed_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir, 0);
    let (b1, r1) = block(1, vec![settle(5, 0, &[(0, 3, 700), (0, 4, 300), (1, 3, 9)])]);
    let (b2, mut r2) = block(2, vec![settle(5, 1, &[(0, 3, 50)]), settle(6, 0, &[(0, 3, 1)])]);
    r2[1] = Receipt::failed(r2[1].tx_hash, alx_types::ErrorCode::BadNonce, Amount(1));
    h.index_block(&b1, &r1).unwrap();
    h.index_block(&b2, &r2).unwrap();
    let got = h.contribution_credits(DatanetId(0), ContributionId(3), 10).unwrap();
    assert_eq!(got.iter().map(|c| c.amount.0).collect::<Vec<_>>(), vec![50, 700]);
    assert_eq!(got[0].provider, address(5));
    assert_eq!((got[0].first_receipt, got[0].receipts), (10, 10));
    assert_eq!(got[1].place, TxPlace { height: Height(1), index: 0 });
    assert_eq!(h.contribution_credits(DatanetId(1), ContributionId(3), 10).unwrap().len(), 1);
    assert!(h.contribution_credits(DatanetId(0), ContributionId(5), 10).unwrap().is_empty());
    // The settler is in its own history; the contributions are not addresses.
    assert_eq!(h.account_txs(&address(5), None, 10).unwrap().len(), 2);
}

#[test]
fn blocks_are_indexed_once_in_order_and_another_genesis_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir, 0);
    let (b1, r1) = block(1, vec![transfer(1, 0, 2)]);
    let (b3, r3) = block(3, vec![transfer(1, 1, 2)]);
    assert!(matches!(
        h.index_block(&b3, &r3),
        Err(HistoryError::OutOfOrder { expected: 1, got: 3 })
    ));
    assert!(matches!(h.index_block(&b1, &[]), Err(HistoryError::ReceiptCount { .. })));
    h.index_block(&b1, &r1).unwrap();
    h.index_block(&b1, &r1).unwrap();
    assert_eq!(h.next_height().unwrap(), Height(2));
    assert_eq!(h.account_txs(&address(1), None, 10).unwrap().len(), 1);
    drop(h);
    let again = open(&dir, 0);
    assert_eq!(again.next_height().unwrap(), Height(2), "kept across reopening");
    drop(again);
    let other = open(&dir, 1);
    assert_eq!(other.next_height().unwrap(), Height(1));
    assert!(other.account_txs(&address(1), None, 10).unwrap().is_empty());
}

#[test]
fn payload_addresses_are_found_once_and_the_sender_first() {
    let t = transfer(1, 0, 1);
    assert_eq!(addresses_touched(&t), vec![address(1)]);
    let bond = signed(2, 0, Payload::Bond { validator: address(3), amount: Amount(1) });
    assert_eq!(addresses_touched(&bond), vec![address(2), address(3)]);
}

#[test]
fn model_fees_sum_each_settlements_charges_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir, 0);
    // Three charges: models 0, 1, 0; then one charge for model 0; then a failed settlement.
    let (b1, r1) = block(1, vec![settle(5, 0, &[(0, 1, 1), (0, 2, 1), (0, 3, 1)])]);
    let (b2, mut r2) = block(2, vec![settle(5, 1, &[(0, 1, 1)]), settle(6, 0, &[(0, 1, 1)])]);
    r2[1] = Receipt::failed(r2[1].tx_hash, alx_types::ErrorCode::BadNonce, Amount(1));
    h.index_block(&b1, &r1).unwrap();
    h.index_block(&b2, &r2).unwrap();
    let zero = h.model_fees(ModelId(0), 10).unwrap();
    assert_eq!(
        zero.iter().map(|f| (f.place.height.0, f.fees.0, f.api_keys)).collect::<Vec<_>>(),
        vec![(2, 100, 1), (1, 200, 2)]
    );
    assert_eq!(zero[0].provider, address(5));
    let one = h.model_fees(ModelId(1), 10).unwrap();
    assert_eq!(one.iter().map(|f| f.fees.0).collect::<Vec<_>>(), vec![100]);
    assert!(h.model_fees(ModelId(2), 10).unwrap().is_empty());
}

#[test]
fn a_contributions_reviews_and_flags_are_recorded_oldest_first_and_failed_ones_are_not() {
    use alx_types::datanet::DatanetOp;
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir, 0);
    let op = |seed, nonce, op| signed(seed, nonce, Payload::Datanet(op));
    let review = |approve| DatanetOp::Review {
        datanet: DatanetId(0),
        contribution: ContributionId(3),
        approve,
    };
    let (b1, r1) = block(1, vec![op(1, 0, review(true))]);
    let flag = DatanetOp::FlagNearDuplicate {
        datanet: DatanetId(0),
        contribution: ContributionId(3),
        copies: ContributionId(1),
    };
    let (b2, mut r2) = block(2, vec![op(2, 0, flag), op(1, 1, review(false))]);
    r2[1] = Receipt::failed(r2[1].tx_hash, alx_types::ErrorCode::BadNonce, Amount(1));
    h.index_block(&b1, &r1).unwrap();
    h.index_block(&b2, &r2).unwrap();
    let got = h.contribution_events(DatanetId(0), ContributionId(3)).unwrap();
    assert_eq!(
        got.iter().map(|e| (e.place.height.0, e.event, e.by)).collect::<Vec<_>>(),
        vec![
            (1, ContributionEvent::Approved, address(1)),
            (2, ContributionEvent::Flagged { copies: ContributionId(1) }, address(2)),
        ]
    );
    assert_eq!(got[1].event.name(), "flagged_near_duplicate");
    assert!(h.contribution_events(DatanetId(0), ContributionId(4)).unwrap().is_empty());
}

#[test]
fn a_run_of_blocks_is_indexed_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir, 0);
    let (b1, r1) = block(1, vec![transfer(1, 0, 2)]);
    let (b2, r2) = block(2, vec![transfer(2, 0, 1), transfer(3, 0, 1)]);
    let (b3, r3) = block(3, vec![]);
    let (b4, r4) = block(4, vec![transfer(1, 1, 3)]);
    h.index_block(&b1, &r1).unwrap();
    // A gap inside the run refuses all of it.
    assert!(matches!(
        h.index_blocks([(&b2, r2.as_slice()), (&b4, r4.as_slice())]),
        Err(HistoryError::OutOfOrder { expected: 3, got: 4 })
    ));
    assert_eq!(h.next_height().unwrap(), Height(2));
    assert!(h.account_txs(&address(3), None, 10).unwrap().is_empty());
    // A run that starts with a block already indexed skips it; an empty block moves on.
    let run = [(&b1, r1.as_slice()), (&b2, &r2), (&b3, &r3), (&b4, &r4)];
    h.index_blocks(run).unwrap();
    assert_eq!(h.next_height().unwrap(), Height(5));
    let places: Vec<_> =
        h.account_txs(&address(1), None, 10).unwrap().iter().map(|t| t.place).collect();
    let at = |height, index| TxPlace { height: Height(height), index };
    assert_eq!(places, vec![at(4, 0), at(2, 1), at(2, 0), at(1, 0)]);
    assert_eq!(h.account_txs(&address(3), None, 10).unwrap()[0].hash, b4.txs[0].hash());
}

#[test]
fn damaged_or_lost_address_runs_start_the_index_over() {
    let dir = tempfile::tempdir().unwrap();
    let (b1, r1) = block(1, vec![transfer(1, 0, 2)]);
    let runs = dir.path().join("history.addresses");
    for damage in [
        |runs: &std::path::Path| std::fs::remove_dir_all(runs).unwrap(),
        |runs: &std::path::Path| std::fs::write(runs.join("MANIFEST"), b"damaged").unwrap(),
    ] {
        let h = open(&dir, 0);
        h.index_block(&b1, &r1).unwrap();
        assert_eq!(h.account_txs(&address(2), None, 10).unwrap().len(), 1);
        drop(h);
        damage(&runs);
        // The index starts over, so the node indexes every block again.
        let h = open(&dir, 0);
        assert_eq!(h.next_height().unwrap(), Height(1));
        h.index_block(&b1, &r1).unwrap();
        assert_eq!(h.account_txs(&address(2), None, 10).unwrap().len(), 1);
    }
}
