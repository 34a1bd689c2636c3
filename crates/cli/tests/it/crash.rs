use crate::*;
use alx_types::{
    Address, Amount, Transaction,
    hash::{parse_hex, to_hex},
    tx::Payload,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::collections::BTreeMap;

/// A load of transfers, `kill -9` of the node mid-load, restart: the state root equals the last
/// committed block's, every balance verifies against it, and no transaction seen committed is
/// lost.
#[test]
fn kill_9_mid_load_loses_nothing_acknowledged_slow() {
    let home = tempfile::tempdir().unwrap();
    let (api_port, p2p_port) = (free_port(), free_port());
    let node = Node::up(home.path(), api_port, p2p_port);
    let client = node.client();
    let chain_id = client.status().unwrap().chain_id;

    // Fund 20 fresh senders from alice, then let each send many transfers.
    let keys_out = json(&alx(home.path(), &node.api, &["keys", "show", "alice"]));
    let alice: Address = keys_out["address"].as_str().unwrap().parse().unwrap();
    let senders: Vec<PrivateKey> = (0..20u64).map(|i| PrivateKey::from_seed(500 + i)).collect();
    for s in &senders {
        let to = Address::from_public_key(&s.public_key());
        let out = alx(
            home.path(),
            &node.api,
            &["transfer", "--from", "alice", "--to", &to.to_string(), "--amount", "10"],
        );
        json(&out);
    }
    let _ = alice;
    let recipient = Address::from_public_key(&PrivateKey::from_seed(42).public_key());
    let mut txs = Vec::new();
    for nonce in 0..150u64 {
        for s in &senders {
            txs.push(
                Transaction {
                    chain_id,
                    sender: Address::from_public_key(&s.public_key()),
                    nonce,
                    fee: Amount(1_000),
                    payload: Payload::Transfer { to: recipient, amount: Amount(1) },
                }
                .sign(s),
            );
        }
    }
    // Submit in chunks, and record transactions the node reports committed along the way.
    let mut seen_committed: BTreeMap<String, u64> = BTreeMap::new();
    for chunk in txs.chunks(300) {
        client.submit_batch(chunk).unwrap();
        for tx in chunk.iter().step_by(37) {
            if let Ok(t) = client.tx(&to_hex(&tx.hash())) {
                seen_committed.insert(t.tx.hash.clone(), t.height.0);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    for tx in txs.iter().step_by(11) {
        if let Ok(t) = client.tx(&to_hex(&tx.hash())) {
            seen_committed.insert(t.tx.hash.clone(), t.height.0);
        }
    }
    let height_before = client.status().unwrap().height.0;
    node.kill9();

    let node = Node::up(home.path(), api_port, p2p_port);
    let client = node.client();
    let status = client.status().unwrap();
    assert!(status.height.0 >= height_before, "restarted below the acknowledged height");
    for (hash, height) in &seen_committed {
        let t = client
            .tx(hash)
            .unwrap_or_else(|e| panic!("committed tx {hash} lost after kill -9: {e}"));
        assert_eq!(t.height.0, *height);
    }
    // Every balance verifies against the state root of the last block's header.
    let tip = client.block(&status.height.0.to_string()).unwrap();
    let root = parse_hex(&tip.header.state_root).unwrap();
    let mut total_to_recipient = 0u128;
    for s in senders.iter().map(|s| Address::from_public_key(&s.public_key())).chain([recipient]) {
        let a = client.account(&s, true).unwrap();
        if a.height != status.height {
            continue; // a block landed between the two reads
        }
        let p = a.proof.unwrap();
        let key = hex::decode(&p.key).unwrap();
        let value = p.value.as_deref().map(|v| hex::decode(v).unwrap());
        assert!(p.proof.verify(&root, &key, value.as_deref()), "proof of {s} fails");
        if s == recipient {
            total_to_recipient = a.account.balance.0;
        }
    }
    assert!(total_to_recipient as usize <= txs.len());
    assert!(!seen_committed.is_empty(), "the load committed nothing before the kill");
}
