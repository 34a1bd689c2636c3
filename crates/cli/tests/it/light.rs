//! The light client against a real node: the finalization certificates the consensus engine
//! assembled verify against the validators of the home's genesis file, with alx-light's own
//! reading of the message, namespace and quorum; and what a lying node could alter is refused.

use crate::*;
use alx_types::Height;

#[test]
fn a_nodes_certificates_verify_against_its_genesis_validators() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    node.wait_height(4, Duration::from_secs(60));
    let text = std::fs::read_to_string(home.path().join("genesis.json")).unwrap();
    let genesis: alx_state::Genesis = serde_json::from_str(&text).unwrap();
    let set =
        alx_light::ValidatorSet::new(0, genesis.validators.iter().map(|v| v.address)).unwrap();
    let client = node.client();
    for height in 1..=3 {
        let proof = client.finalization(Height(height)).unwrap();
        assert_eq!(proof.height, Height(height));
        let headers: Vec<Vec<u8>> = proof.headers.iter().map(|h| hex::decode(h).unwrap()).collect();
        let certificate = hex::decode(&proof.certificate).unwrap();
        let verified = alx_light::verify_finalization(&set, &headers, &certificate)
            .unwrap_or_else(|e| panic!("height {height}: {e}"));
        assert_eq!(verified[0].height, Height(height));
        // The header the node serves at that height is the one proven final.
        let block = client.block(&height.to_string()).unwrap();
        assert_eq!(alx_types::hash::to_hex(&verified[0].state_root), block.header.state_root);

        // What a lying node could change: the state root, the certificate's signatures.
        let mut altered = headers.clone();
        let last = altered.len() - 1;
        let at = altered[last].len() - 1; // the state root's last byte
        altered[last][at] ^= 1;
        assert!(alx_light::verify_finalization(&set, &altered, &certificate).is_err());
        let mut forged = certificate.clone();
        let at = forged.len() - 1;
        forged[at] ^= 1;
        assert!(alx_light::verify_finalization(&set, &headers, &forged).is_err());
    }
    // The genesis block needs no certificate; a height not yet committed has none.
    assert!(client.finalization(Height(0)).is_err());
    assert!(client.finalization(Height(1_000_000)).unwrap_err().is_not_found());
}

/// From the genesis file alone, across two epoch changes: each boundary block's certificate is
/// checked with its epoch's set, the next set is proven against that block's state root, and a
/// block of epoch 2 is checked with the set so learned. A set the node alters is refused.
#[test]
fn the_light_client_follows_the_validator_set_across_epochs() {
    const EPOCH: u64 = 5;
    let home = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let node = Node::spawn(
        home.path(),
        api_port,
        &[
            "up",
            "--api-addr",
            &format!("127.0.0.1:{api_port}"),
            "--p2p-port",
            &free_port().to_string(),
            "--no-sample",
            "--epoch-length",
            &EPOCH.to_string(),
        ],
    );
    node.wait_height(2 * EPOCH + 2, Duration::from_secs(90));
    let text = std::fs::read_to_string(home.path().join("genesis.json")).unwrap();
    let genesis: alx_state::Genesis = serde_json::from_str(&text).unwrap();
    assert_eq!(genesis.params.epoch_length, EPOCH);
    let client = node.client();
    let proof_of = |height: u64| {
        let proof = client.finalization(Height(height)).unwrap();
        let headers: Vec<Vec<u8>> = proof.headers.iter().map(|h| hex::decode(h).unwrap()).collect();
        (headers, hex::decode(&proof.certificate).unwrap())
    };
    let mut set =
        alx_light::ValidatorSet::new(0, genesis.validators.iter().map(|v| v.address)).unwrap();
    for epoch in 0..2 {
        let boundary = (epoch + 1) * EPOCH - 1;
        let (headers, certificate) = proof_of(boundary);
        let verified = alx_light::verify_finalization(&set, &headers, &certificate).unwrap();
        let record = client.epoch_set(epoch + 1).unwrap();
        assert_eq!(record.boundary, Height(boundary));
        let value = hex::decode(&record.validators).unwrap();
        // A node that adds a validator of its own to the set is caught by the proof.
        let mut padded = value.clone();
        padded.extend_from_slice(&[0xff; 32]);
        assert!(matches!(
            alx_light::next_set(&set, EPOCH, &verified[0], &padded, &record.proof),
            Err(alx_light::LightError::BadStateProof { .. })
        ));
        // Nor can it pass off another block as the boundary.
        let (other, other_certificate) = proof_of(boundary - 1);
        let other = alx_light::verify_finalization(&set, &other, &other_certificate).unwrap();
        assert!(alx_light::next_set(&set, EPOCH, &other[0], &value, &record.proof).is_err());
        set = alx_light::next_set(&set, EPOCH, &verified[0], &value, &record.proof).unwrap();
        assert_eq!(set.epoch(), epoch + 1);
    }
    let (headers, certificate) = proof_of(2 * EPOCH + 1);
    let verified = alx_light::verify_finalization(&set, &headers, &certificate).unwrap();
    assert_eq!(verified[0].epoch, 2);
    // Epoch 0's set cannot stand in for epoch 2's.
    let genesis_set =
        alx_light::ValidatorSet::new(0, genesis.validators.iter().map(|v| v.address)).unwrap();
    assert!(alx_light::verify_finalization(&genesis_set, &headers, &certificate).is_err());
    assert!(client.epoch_set(0).is_err());
    assert!(client.epoch_set(99).unwrap_err().is_not_found());
}

/// What the lying node changes in what it forwards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Lie {
    Nothing,
    /// The balance in the account's JSON.
    Balance,
    /// The account record whose proof it sends (another account's).
    Record,
    /// One byte of the finalization certificate.
    Certificate,
    /// The headers before the certified one (a gap).
    Headers,
    /// The receipt of a transaction (its fee).
    Receipt,
    /// A block's list of transactions (one hash).
    BlockTxs,
    /// A transaction's contents (its nonce), its hash left alone.
    TxContents,
    /// A settled batch's first leaf (its fee).
    BatchLeaf,
    /// A settled batch's first signed receipt (its output).
    BatchReceipt,
}

/// An HTTP proxy in front of `node` that alters answers as `lie` says (one connection per
/// request; bounded by the test's own requests).
pub(crate) fn lying_proxy(node: &str, lie: std::sync::Arc<std::sync::Mutex<Lie>>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let node = node.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let Ok(resp) = reqwest::blocking::get(format!("{node}{path}")) else { continue };
            let status = resp.status().as_u16();
            let mut body: serde_json::Value = resp.json().unwrap_or_default();
            alter(&path, &mut body, *lie.lock().unwrap());
            let body = body.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn alter(path: &str, body: &mut serde_json::Value, lie: Lie) {
    let flip = |text: &str| {
        let mut bytes = hex::decode(text).unwrap();
        let at = bytes.len() - 1;
        bytes[at] ^= 1;
        hex::encode(bytes)
    };
    if path.starts_with("/api/accounts/") {
        match lie {
            Lie::Balance => body["account"]["balance"] = "999000000000000000".into(),
            Lie::Record => {
                if let Some(value) = body["proof"]["value"].as_str() {
                    body["proof"]["value"] = flip(value).into();
                }
            }
            _ => {}
        }
    }
    if path.starts_with("/api/proofs") && lie == Lie::Record {
        // Claim a record where there is none, or alter the one there is.
        let entry = &mut body["entries"][0];
        let altered = entry["value"].as_str().map_or_else(|| "00".to_owned(), flip);
        entry["value"] = altered.into();
    }
    if path.starts_with("/api/txs/") && lie == Lie::Receipt {
        body["receipt"]["fee_paid"] = "1".into();
    }
    if path.starts_with("/api/txs/") && lie == Lie::TxContents {
        let nonce = body["tx"]["nonce"].as_u64().unwrap();
        body["tx"]["nonce"] = (nonce + 1).into();
    }
    if path.starts_with("/api/settlements/") {
        match lie {
            Lie::BatchLeaf => {
                let fee: u128 = body["leaves"][0]["fee"].as_str().unwrap().parse().unwrap();
                body["leaves"][0]["fee"] = (fee + 1).to_string().into();
            }
            Lie::BatchReceipt => body["receipts"][0]["output"] = "something else".into(),
            _ => {}
        }
    }
    if path.starts_with("/api/blocks/")
        && lie == Lie::BlockTxs
        && let Some(tx) = body["txs"].as_array_mut().and_then(|t| t.first_mut())
    {
        let hash = tx["tx"]["hash"].as_str().unwrap().to_owned();
        tx["tx"]["hash"] = flip(&hash).into();
    }
    if path.starts_with("/api/light/finalizations/") {
        match lie {
            Lie::Certificate => {
                let certificate = body["certificate"].as_str().unwrap().to_owned();
                body["certificate"] = flip(&certificate).into();
            }
            Lie::Headers => {
                let headers = body["headers"].as_array_mut().unwrap();
                if headers.len() > 1 {
                    headers.remove(0);
                } else {
                    let header = headers[0].as_str().unwrap().to_owned();
                    headers[0] = flip(&header).into();
                }
            }
            _ => {}
        }
    }
}

/// `alx balance --proof` through a node that lies: every lie is refused with `proof_refused`;
/// through the same proxy telling the truth, the balance is shown with what was checked.
#[test]
fn balance_proof_refuses_a_lying_node() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    node.wait_height(3, Duration::from_secs(60));
    let lie = std::sync::Arc::new(std::sync::Mutex::new(Lie::Nothing));
    let proxy = lying_proxy(&node.api, lie.clone());
    let h = home.path();

    let honest = json(&alx(h, &proxy, &["balance", "bob", "--proof"]));
    assert_eq!(honest["account"]["balance"], "1000000000000000");
    assert!(honest["verified"]["signers_needed"].as_u64().unwrap() >= 1, "{honest}");

    let refused = |lies: &[Lie], args: &[&str]| {
        for told in lies {
            *lie.lock().unwrap() = *told;
            let out = alx(h, &proxy, args);
            assert!(!out.status.success(), "{told:?} was believed: {args:?}");
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["error"]["code"], "proof_refused", "{told:?}: {doc}");
        }
    };
    refused(
        &[Lie::Balance, Lie::Record, Lie::Certificate, Lie::Headers],
        &["balance", "bob", "--proof"],
    );
    // A transaction's inclusion: proven through the honest proxy, refused when it lies.
    let sent =
        json(&alx(h, &node.api, &["transfer", "--from", "alice", "--to", "bob", "--amount", "1"]));
    let hash = sent["hash"].as_str().unwrap().to_owned();
    *lie.lock().unwrap() = Lie::Nothing;
    let shown = json(&alx(h, &proxy, &["tx", "show", &hash, "--proof"]));
    assert_eq!(shown["receipt"]["status"], "success");
    assert!(shown["verified"]["height"].as_u64().unwrap() >= 1, "{shown}");
    refused(
        &[Lie::Receipt, Lie::BlockTxs, Lie::Certificate, Lie::TxContents],
        &["tx", "show", &hash, "--proof"],
    );
    // Rewards read from proven state, and refused when the node alters the records or the
    // certificate.
    *lie.lock().unwrap() = Lie::Nothing;
    let rewards = json(&alx(h, &proxy, &["rewards", "show", "bob", "--proof"]));
    assert_eq!(rewards["claimable"], "0", "{rewards}");
    assert!(rewards["signers_needed"].as_u64().unwrap() >= 1, "{rewards}");
    refused(&[Lie::Record, Lie::Certificate], &["rewards", "show", "bob", "--proof"]);
    // Without --proof the CLI shows what the node says (it claims nothing more).
    *lie.lock().unwrap() = Lie::Balance;
    let believed = json(&alx(h, &proxy, &["balance", "bob"]));
    assert_eq!(believed["account"]["balance"], "999000000000000000");
}
