//! What a light client pays to believe a balance: the finalization certificate of the block
//! (one ed25519 verification per signer, a quorum of the epoch's set) and the Merkle proof of
//! the account against that block's state root. `cargo bench -p alx-light --bench verify`.

#![allow(missing_docs)]

use alx_light::{ValidatorSet, fixture, verify_finalization};
use alx_types::{Address, Amount, BlockHeader, Height, hash::ZERO};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn header(state_root: alx_types::Hash) -> BlockHeader {
    BlockHeader {
        parent: ZERO,
        height: Height(10),
        epoch: 0,
        view: 10,
        parent_view: 9,
        proposer: Address([1; 32]),
        timestamp_ms: 0,
        tx_root: ZERO,
        receipts_root: ZERO,
        state_root,
    }
}

fn bench(c: &mut Criterion) {
    // A state of 100,000 accounts, one of which the client asks about.
    let accounts: Vec<alx_state::GenesisAccount> = (0..100_000u64)
        .map(|i| {
            let key = commonware_cryptography::ed25519::PrivateKey::from_seed(10_000 + i);
            let address = Address::from_public_key(&key.public_key());
            alx_state::GenesisAccount { address, balance: Amount(u128::from(i) + 1) }
        })
        .collect();
    let validator = fixture::keys(1).remove(0);
    let genesis = alx_state::Genesis {
        chain_id: "alx-bench".parse().unwrap(),
        params: alx_state::Params { min_fee: Amount(1), epoch_length: 100, validators_max: 4 },
        accounts,
        validators: vec![alx_state::GenesisValidator {
            address: Address::from_public_key(&validator.public_key()),
            stake: Amount(1),
            p2p_addr: "127.0.0.1:1".parse().unwrap(),
        }],
        emission: None,
        providers: vec![],
    };
    let mut state = alx_state::State::from_genesis(&genesis).unwrap();
    let root = state.root();
    let who = genesis.accounts[54_321].address;
    let (key, value, proof) = state.prove_account(&who);
    let value = value.unwrap();
    let header = header(root);
    let headers = vec![header.encode().to_vec()];

    c.bench_function("merkle proof of an account (100k accounts)", |b| {
        b.iter(|| assert!(black_box(&proof).verify(&root, &key, Some(&value))));
    });
    for n in [4u64, 16, 64] {
        let keys = fixture::keys(n);
        let set =
            ValidatorSet::new(0, keys.iter().map(|k| Address::from_public_key(&k.public_key())))
                .unwrap();
        let signers: Vec<usize> = (0..set.quorum()).collect();
        let cert = fixture::certificate(&keys, &signers, 0, header.digest(), fixture::NAMESPACE);
        c.bench_function(&format!("certificate, {n} validators ({} signers)", set.quorum()), |b| {
            b.iter(|| verify_finalization(&set, black_box(&headers), black_box(&cert)).unwrap());
        });
        c.bench_function(&format!("balance: certificate ({n} validators) + merkle proof"), |b| {
            b.iter(|| {
                let h = verify_finalization(&set, black_box(&headers), black_box(&cert)).unwrap();
                assert!(proof.verify(&h[0].state_root, &key, Some(&value)));
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
