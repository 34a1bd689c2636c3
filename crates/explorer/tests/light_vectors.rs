//! The browser's light client (`assets/light.mjs`) against alx-light: the same bytes — valid
//! certificates, every kind of alteration, state proofs, list roots, addresses and a client
//! following the validator set across an epoch — are judged by both, and the verdicts (and the
//! failed check's name) must agree. The JavaScript runs in Node, whose WebCrypto is the one
//! Chromium ships (SHA-256, Ed25519).

use alx_light::{LightClient, LightError, ProofSource, fixture, verify_finalization};
use alx_types::{
    Address, BlockHeader, Hash, Height,
    api::{EpochSetProof, FinalizationResponse},
    hash::{ZERO, sha256},
    merkle::{ACTIVE_SET_KEY, StateProof, bucket_hash, key_hash, leaf_hash, list_root, node_hash},
};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde_json::{Value, json};
use std::{collections::BTreeMap, path::Path, process::Command};

fn code(e: &LightError) -> &'static str {
    match e {
        LightError::Malformed { .. } => "malformed",
        LightError::HeaderCount { .. } => "header_count",
        LightError::BrokenChain { .. } => "broken_chain",
        LightError::WrongBlock { .. } => "wrong_block",
        LightError::WrongEpoch { .. } => "wrong_epoch",
        LightError::WrongParticipants { .. } => "wrong_participants",
        LightError::NoQuorum { .. } => "no_quorum",
        LightError::BadSignature { .. } => "bad_signature",
        LightError::NotBoundary { .. } => "not_boundary",
        LightError::BadStateProof { .. } => "bad_state_proof",
        LightError::Source(_) => "source",
        LightError::InvalidSet(_) => "invalid_set",
    }
}

fn verdict<T>(r: &Result<T, LightError>) -> Value {
    match r {
        Ok(_) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "code": code(e) }),
    }
}

fn address(k: &PrivateKey) -> Address {
    Address::from_public_key(&k.public_key())
}

/// Headers `from..from + count` of `epoch`, each the parent of the next; the first's parent is
/// `parent`, and `root(h)` gives height h's state root.
fn chain(
    parent: Hash,
    from: u64,
    count: u64,
    epoch: u64,
    root: impl Fn(u64) -> Hash,
) -> Vec<BlockHeader> {
    let mut parent = parent;
    (from..from + count)
        .map(|h| {
            let header = BlockHeader {
                parent,
                height: Height(h),
                epoch,
                view: h,
                parent_view: h.saturating_sub(1),
                proposer: Address([7; 32]),
                timestamp_ms: h * 1000,
                tx_root: ZERO,
                receipts_root: ZERO,
                state_root: root(h),
            };
            parent = header.digest();
            header
        })
        .collect()
}

fn encoded(headers: &[BlockHeader]) -> Vec<Vec<u8>> {
    headers.iter().map(|h| h.encode().to_vec()).collect()
}

/// One finalization case: judged here, then by the script.
fn finalization_case(
    name: String,
    keys: &[PrivateKey],
    epoch: u64,
    headers: &[Vec<u8>],
    certificate: &[u8],
) -> Value {
    let set = alx_light::ValidatorSet::new(epoch, keys.iter().map(address)).unwrap();
    json!({
        "kind": "finalization",
        "name": name,
        "epoch": epoch,
        "keys": keys.iter().map(|k| hex::encode(address(k).as_bytes())).collect::<Vec<_>>(),
        "headers": headers.iter().map(hex::encode).collect::<Vec<_>>(),
        "certificate": hex::encode(certificate),
        "expect": verdict(&verify_finalization(&set, headers, certificate)),
    })
}

fn finalization_cases() -> Vec<Value> {
    let keys = fixture::keys(4);
    let headers = chain(ZERO, 10, 3, 0, |h| sha256(&[&h.to_be_bytes()]));
    let tip = headers[2].digest();
    let good = fixture::certificate(&keys, &[0, 1, 2], 0, tip, fixture::NAMESPACE);
    let strangers: Vec<PrivateKey> = {
        let mut k: Vec<PrivateKey> = (100..104).map(PrivateKey::from_seed).collect();
        k.sort_by_key(|k| k.public_key());
        k
    };
    let mut five = keys.clone();
    five.push(PrivateKey::from_seed(50));
    five.sort_by_key(|k| k.public_key());
    let all = encoded(&headers);
    let mut cases = vec![
        finalization_case("valid".into(), &keys, 0, &all, &good),
        finalization_case(
            "all four signed, one header".into(),
            &keys,
            0,
            &all[..1],
            &fixture::certificate(&keys, &[0, 1, 2, 3], 0, headers[0].digest(), fixture::NAMESPACE),
        ),
    ];
    let mut add =
        |name: &str, keys: &[PrivateKey], epoch: u64, headers: &[Vec<u8>], cert: &[u8]| {
            cases.push(finalization_case(name.into(), keys, epoch, headers, cert));
        };
    add(
        "two of four",
        &keys,
        0,
        &all,
        &fixture::certificate(&keys, &[0, 1], 0, tip, fixture::NAMESPACE),
    );
    add(
        "notarize namespace",
        &keys,
        0,
        &all,
        &fixture::certificate(&keys, &[0, 1, 2], 0, tip, b"_ALX_CONSENSUS_NOTARIZE"),
    );
    add(
        "another block",
        &keys,
        0,
        &all,
        &fixture::certificate(&keys, &[0, 1, 2], 0, headers[1].digest(), fixture::NAMESPACE),
    );
    add(
        "another epoch",
        &keys,
        0,
        &all,
        &fixture::certificate(&keys, &[0, 1, 2], 1, tip, fixture::NAMESPACE),
    );
    add("checked against epoch 1", &keys, 1, &all, &good);
    add(
        "strangers",
        &keys,
        0,
        &all,
        &fixture::certificate(&strangers, &[0, 1, 2], 0, tip, fixture::NAMESPACE),
    );
    add(
        "five-wide bitmap",
        &keys,
        0,
        &all,
        &fixture::certificate(&five, &[0, 1, 2, 3], 0, tip, fixture::NAMESPACE),
    );
    add("no headers", &keys, 0, &[], &good);
    add("junk header", &keys, 0, &[vec![1, 2, 3]], &good);
    add("gap", &keys, 0, &[all[0].clone(), all[2].clone()], &good);
    let mut long = good.clone();
    long.push(0);
    add("trailing byte", &keys, 0, &all, &long);
    add("truncated", &keys, 0, &all, &good[..good.len() - 1]);
    // The epoch varint written in two bytes (0x80 0x00): the same value, not the one encoding.
    let mut padded = vec![0x80, 0x00];
    padded.extend_from_slice(&good[1..]);
    add("non-canonical varint", &keys, 0, &all, &padded);
    for at in 0..3 {
        let mut altered = headers.clone();
        altered[at].state_root = ZERO;
        add(&format!("header {at} altered"), &keys, 0, &encoded(&altered), &good);
    }
    for i in 0..good.len() {
        for bit in [0, 3, 7] {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            add(&format!("certificate byte {i} bit {bit}"), &keys, 0, &all, &bad);
        }
    }
    cases
}

/// A state tree holding only `entries` in one bucket, with made-up siblings: its root and the
/// proof of `key`.
fn one_bucket(entries: &[(&[u8], &[u8])], key: &[u8]) -> (Hash, StateProof) {
    let mut bucket: Vec<(Hash, Hash)> =
        entries.iter().map(|(k, v)| (key_hash(k), leaf_hash(k, v))).collect();
    bucket.sort();
    let siblings: Vec<Hash> = (0u8..16).map(|i| sha256(&[&[i, 0xee]])).collect();
    let mut hash = bucket_hash(bucket.iter().map(|(k, l)| (k, l)));
    let mut index = alx_types::merkle::bucket_of(&key_hash(key));
    for s in &siblings {
        hash = if index & 1 == 0 { node_hash(&hash, s) } else { node_hash(s, &hash) };
        index >>= 1;
    }
    (hash, StateProof { bucket, siblings })
}

fn state_cases() -> Vec<Value> {
    let key: &[u8] = b"\x01an-account";
    let (root, proof) = one_bucket(&[(key, b"value")], key);
    let case = |name: &str, proof: &StateProof, root: &Hash, key: &[u8], value: Option<&[u8]>| {
        json!({
            "kind": "state", "name": name, "root": hex::encode(root), "key": hex::encode(key),
            "value": value.map(hex::encode), "proof": proof,
            "expect": { "ok": proof.verify(root, key, value) },
        })
    };
    let mut sibling = proof.clone();
    sibling.siblings[5] = ZERO;
    let mut short = proof.clone();
    short.siblings.pop();
    let (absent_root, absent) = one_bucket(&[], key);
    vec![
        case("present", &proof, &root, key, Some(b"value")),
        case("another value", &proof, &root, key, Some(b"valuf")),
        case("claimed absent", &proof, &root, key, None),
        case("a sibling altered", &sibling, &root, key, Some(b"value")),
        case("15 siblings", &short, &root, key, Some(b"value")),
        case("another root", &proof, &ZERO, key, Some(b"value")),
        case("absent", &absent, &absent_root, key, None),
        case("absent claimed present", &absent, &absent_root, key, Some(b"value")),
    ]
}

fn list_and_address_cases() -> Vec<Value> {
    let mut cases: Vec<Value> = (0u8..10)
        .map(|n| {
            let items: Vec<Hash> = (0..n).map(|i| sha256(&[&[i, n]])).collect();
            json!({
                "kind": "list", "name": format!("{n} items"),
                "items": items.iter().map(hex::encode).collect::<Vec<_>>(),
                "expect": { "ok": true, "root": hex::encode(list_root(&items)) },
            })
        })
        .collect();
    for seed in 0..5 {
        let a = address(&PrivateKey::from_seed(seed)).to_string();
        let mut altered = a.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'q' { b'p' } else { b'q' };
        for (name, text) in [
            ("valid", a.clone()),
            ("checksum", String::from_utf8(altered).unwrap()),
            ("upper", a.to_uppercase()),
        ] {
            let parsed = text.parse::<Address>().ok().filter(|_| text == text.to_lowercase());
            cases.push(json!({
                "kind": "address", "name": format!("{name} {seed}"), "text": text,
                "expect": { "ok": parsed.is_some(), "bytes": parsed.map(|a| hex::encode(a.as_bytes())) },
            }));
        }
    }
    cases
}

/// Proofs a node would serve for a chain of epoch length 4 whose set changes at height 3.
#[derive(Clone)]
struct Served {
    finalizations: BTreeMap<u64, FinalizationResponse>,
    sets: BTreeMap<u64, EpochSetProof>,
}

impl ProofSource for Served {
    fn finalization(&self, height: Height) -> Result<FinalizationResponse, String> {
        self.finalizations.get(&height.0).cloned().ok_or_else(|| "none".into())
    }
    fn epoch_set(&self, epoch: u64) -> Result<EpochSetProof, String> {
        self.sets.get(&epoch).cloned().ok_or_else(|| "none".into())
    }
}

fn epoch_cases() -> Vec<Value> {
    let (old, new) = (fixture::keys(4), {
        let mut k: Vec<PrivateKey> = (20..23).map(PrivateKey::from_seed).collect();
        k.sort_by_key(|k| k.public_key());
        k
    });
    let mut members: Vec<Address> = new.iter().map(address).collect();
    members.sort();
    let value: Vec<u8> = members.iter().flat_map(|a| a.as_bytes().to_vec()).collect();
    let (root, proof) = one_bucket(&[(ACTIVE_SET_KEY, &value)], ACTIVE_SET_KEY);
    let first = chain(ZERO, 1, 3, 0, |h| if h == 3 { root } else { ZERO });
    let second = chain(first[2].digest(), 4, 2, 1, |_| ZERO);
    let proof_of = |headers: &[BlockHeader], keys: &[PrivateKey], epoch| {
        let tip = headers.last().unwrap();
        FinalizationResponse {
            height: headers[0].height,
            certified_height: tip.height,
            headers: encoded(headers).iter().map(hex::encode).collect(),
            certificate: hex::encode(fixture::certificate(
                keys,
                &[0, 1, 2],
                epoch,
                tip.digest(),
                fixture::NAMESPACE,
            )),
        }
    };
    let honest = Served {
        finalizations: BTreeMap::from([
            (3, proof_of(&first[2..], &old, 0)),
            (5, proof_of(&second[1..], &new, 1)),
        ]),
        sets: BTreeMap::from([(
            1,
            EpochSetProof { epoch: 1, boundary: Height(3), validators: hex::encode(&value), proof },
        )]),
    };
    let mut padded = honest.clone();
    padded.sets.get_mut(&1).unwrap().validators.push_str("00");
    let mut stale = honest.clone();
    stale.finalizations.insert(5, proof_of(&second[1..], &old, 1));
    let genesis: Vec<String> = old.iter().map(|k| address(k).to_string()).collect();
    [("followed", honest), ("padded set", padded), ("old set signs epoch 1", stale)]
        .into_iter()
        .map(|(name, served)| {
            let mut client = LightClient::from_genesis(4, old.iter().map(address)).unwrap();
            let got = client.finalized(&served, Height(5));
            json!({
                "kind": "epochs", "name": name, "genesis": { "epoch_length": 4, "validators": genesis },
                "height": 5, "finalizations": served.finalizations, "sets": served.sets,
                "expect": match &got {
                    Ok(f) => json!({ "ok": true, "digest": hex::encode(f.header.digest()) }),
                    Err(e) => json!({ "ok": false, "code": code(e) }),
                },
            })
        })
        .collect()
}

#[test]
fn the_browser_light_client_agrees_with_alx_light() {
    let mut cases = finalization_cases();
    cases.extend(state_cases());
    cases.extend(list_and_address_cases());
    cases.extend(epoch_cases());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let input = std::env::temp_dir().join(format!("alx-light-vectors-{}.json", std::process::id()));
    std::fs::write(&input, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = Command::new("node")
        .arg(dir.join("tests/light_vectors.mjs"))
        .arg(&input)
        .output()
        .expect("node is installed (.ci/run installs it)");
    let _ = std::fs::remove_file(&input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got.len(), cases.len());
    let mut refused = 0;
    for (case, got) in cases.iter().zip(&got) {
        assert_eq!(got, &case["expect"], "{}: {}", case["kind"], case["name"]);
        refused += usize::from(case["expect"]["ok"] == false);
    }
    assert!(refused > 100, "the alterations are refused by both: {refused}");
}
