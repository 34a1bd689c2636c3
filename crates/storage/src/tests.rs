use super::*;
use alx_types::{
    Address, Amount, BlockHeader,
    hash::{ZERO, sha256},
};

fn block(height: u64, parent: Hash) -> Block {
    block_with(height, parent, vec![])
}

fn transfer() -> alx_types::SignedTx {
    transfer_numbered(0)
}

fn transfer_numbered(nonce: u64) -> alx_types::SignedTx {
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
    let key = PrivateKey::from_seed(1);
    alx_types::Transaction {
        chain_id: "alx-test".parse().unwrap(),
        sender: Address::from_public_key(&key.public_key()),
        nonce,
        fee: Amount(3),
        payload: alx_types::Payload::Transfer { to: Address([9; 32]), amount: Amount(1) },
    }
    .sign(&key)
}

fn block_with(height: u64, parent: Hash, txs: Vec<alx_types::SignedTx>) -> Block {
    Block::new(
        BlockHeader {
            parent,
            height: Height(height),
            epoch: 0,
            view: height,
            parent_view: height - 1,
            proposer: Address([7; 32]),
            timestamp_ms: 0,
            tx_root: ZERO,
            receipts_root: ZERO,
            state_root: sha256(&[&height.to_be_bytes()]),
        },
        txs,
    )
}

#[test]
fn commits_are_ordered_idempotent_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let genesis = sha256(&[b"genesis"]);
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.committed_height().unwrap(), None);
        store.commit_genesis(&genesis, &[(b"a".to_vec(), Some(b"1".to_vec()))]).unwrap();
        let tx = transfer();
        let b1 = block_with(1, ZERO, vec![tx.clone()]);
        let r = Receipt::success(tx.hash(), Amount(3));
        // One receipt per transaction, or nothing is written.
        assert!(matches!(
            store.commit_block(&b1, &[], &[], None),
            Err(StorageError::Corrupt { what: "receipts", .. })
        ));
        assert!(
            store
                .commit_block(
                    &b1,
                    std::slice::from_ref(&r),
                    &[(b"b".to_vec(), Some(b"2".to_vec()))],
                    None
                )
                .unwrap()
        );
        // At-least-once delivery: the same block again changes nothing.
        assert!(
            !store
                .commit_block(
                    &b1,
                    std::slice::from_ref(&r),
                    &[(b"c".to_vec(), Some(b"3".to_vec()))],
                    None
                )
                .unwrap()
        );
        // A gap is refused.
        assert!(matches!(
            store.commit_block(&block(3, ZERO), &[], &[], None),
            Err(StorageError::OutOfOrder { committed: Height(1), got: Height(3) })
        ));
        let b2 = block(2, b1.digest());
        store.commit_block(&b2, &[], &[(b"a".to_vec(), None)], Some((1, b"set"))).unwrap();
        assert_eq!(store.epoch_set(1).unwrap().as_deref(), Some(&b"set"[..]));
        assert_eq!(store.epoch_set(2).unwrap(), None);
        assert_eq!(store.receipts(Height(1)).unwrap(), vec![r]);
        assert_eq!(store.tx_location(&tx.hash()).unwrap(), Some((Height(1), 0)));
    }
    let store = Store::open(&path).unwrap();
    store.check_genesis(&genesis).unwrap();
    assert!(matches!(
        store.check_genesis(&sha256(&[b"other"])),
        Err(StorageError::GenesisMismatch { .. })
    ));
    assert_eq!(store.committed_height().unwrap(), Some(Height(2)));
    assert_eq!(store.state_entries().unwrap(), vec![(b"b".to_vec(), b"2".to_vec())]);
    let b2 = store.block(Height(2)).unwrap().unwrap();
    assert_eq!(store.height_of(&b2.digest()).unwrap(), Some(Height(2)));
    assert_eq!(store.block(Height(9)).unwrap(), None);
}

/// Commits `blocks` blocks of `per_block` transfers after genesis; returns each block's
/// transaction hashes.
fn commit_transfers(store: &Store, blocks: u64, per_block: u64) -> Vec<Vec<Hash>> {
    commit_transfers_of(store, b"genesis", blocks, per_block, 0)
}

/// [`commit_transfers`] on the genesis `genesis`, transfers numbered from `first`.
fn commit_transfers_of(
    store: &Store,
    genesis: &[u8],
    blocks: u64,
    per_block: u64,
    first: u64,
) -> Vec<Vec<Hash>> {
    store.commit_genesis(&sha256(&[genesis]), &[]).unwrap();
    let mut parent = ZERO;
    (1..=blocks)
        .map(|height| {
            let txs: Vec<_> =
                (0..per_block).map(|i| transfer_numbered(first + height * per_block + i)).collect();
            let receipts: Vec<_> =
                txs.iter().map(|t| Receipt::success(t.hash(), Amount(3))).collect();
            let b = block_with(height, parent, txs);
            parent = b.digest();
            store.commit_block(&b, &receipts, &[], None).unwrap();
            receipts.iter().map(|r| r.tx_hash).collect()
        })
        .collect()
}

fn assert_all_found(store: &Store, hashes: &[Vec<Hash>]) {
    for (height, block) in (1..).zip(hashes) {
        for (i, hash) in (0..).zip(block) {
            assert_eq!(store.tx_location(hash).unwrap(), Some((Height(height), i)));
        }
    }
}

#[test]
fn transactions_are_found_as_soon_as_committed_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let hashes = {
        let store = Store::open(&path).unwrap();
        // No pause between commits and lookups: entries not yet in their file are found in
        // memory.
        let hashes = commit_transfers(&store, 60, 40);
        assert_all_found(&store, &hashes);
        hashes
    };
    assert!(dir.path().join("chain.txs").is_dir());
    let store = Store::open(&path).unwrap();
    assert_all_found(&store, &hashes);
    assert_eq!(store.tx_location(&sha256(&[b"never sent"])).unwrap(), None);
}

#[test]
fn a_lost_transaction_index_is_rebuilt_from_the_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let hashes = commit_transfers(&Store::open(&path).unwrap(), 5, 3);
    std::fs::remove_dir_all(dir.path().join("chain.txs")).unwrap();
    assert_all_found(&Store::open(&path).unwrap(), &hashes);
}

#[test]
fn a_transaction_index_ahead_of_its_chain_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let hashes = commit_transfers(&Store::open(&path).unwrap(), 5, 3);
    // The chain is replaced by a new one; the old index stays beside it.
    std::fs::remove_file(&path).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.tx_location(&hashes[0][0]).unwrap(), None);
    let again = commit_transfers(&store, 2, 3);
    assert_all_found(&store, &again);
}

#[test]
fn a_damaged_transaction_index_is_rebuilt_from_the_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let hashes = commit_transfers(&Store::open(&path).unwrap(), 5, 3);
    std::fs::write(dir.path().join("chain.txs").join("MANIFEST"), b"damaged").unwrap();
    assert_all_found(&Store::open(&path).unwrap(), &hashes);
}

#[test]
fn an_index_that_disagrees_with_its_chain_is_reported_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let hashes = commit_transfers(&Store::open(&path).unwrap(), 3, 2);
    let index = dir.path().join("chain.txs");
    std::fs::rename(&index, dir.path().join("kept")).unwrap();
    // Another chain of the same height, whose blocks hold other transactions.
    std::fs::remove_file(&path).unwrap();
    commit_transfers_of(&Store::open(&path).unwrap(), b"other", 3, 2, 100);
    std::fs::remove_dir_all(&index).unwrap();
    std::fs::rename(dir.path().join("kept"), &index).unwrap();
    let store = Store::open(&path).unwrap();
    assert!(matches!(
        store.tx_location(&hashes[1][0]),
        Err(StorageError::Corrupt { what: "transaction index", .. })
    ));
}
