//! The indexer against a real state machine and a real (local) blob store: the validator's
//! data verdicts (held, a whitespace copy, a near-copy, a lie about size), versions become
//! snapshots, attribution names the quoted contributor, flagged content earns nothing, and a
//! blob this node lost makes its version wait without writing anything.

use alx_blobs::{BlobConfig, BlobStore};
use alx_indexer::{DatanetIndexes, QueryError};
use alx_state::ContributionStatus;
use alx_state::{BlockContext, Genesis, GenesisAccount, GenesisValidator, Params, State};
use alx_types::{
    Address, Amount, SignedTx, Transaction,
    availability::{DataReport, DataVerdict, Refusal},
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec, MediaType, Policy},
    tx::Payload,
};
use bytes::Bytes;
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

fn key(i: u64) -> PrivateKey {
    PrivateKey::from_seed(i)
}

fn addr(i: u64) -> Address {
    Address::from_public_key(&key(i).public_key())
}

struct Chain {
    state: State,
    nonces: [u64; 4],
}

impl Chain {
    fn new() -> Self {
        let genesis = Genesis {
            chain_id: "alx-test".parse().unwrap(),
            params: Params { min_fee: Amount(10), epoch_length: 100, validators_max: 4 },
            accounts: (0..4)
                .map(|i| GenesisAccount { address: addr(i), balance: Amount(1_000_000) })
                .collect(),
            validators: vec![GenesisValidator {
                address: addr(0),
                stake: Amount(5000),
                p2p_addr: "127.0.0.1:1".parse().unwrap(),
            }],
            emission: None,
            providers: vec![],
        };
        Self { state: State::from_genesis(&genesis).unwrap(), nonces: [0; 4] }
    }

    fn send(&mut self, from: u64, op: DatanetOp) {
        let tx: SignedTx = Transaction {
            chain_id: "alx-test".parse().unwrap(),
            sender: addr(from),
            nonce: self.nonces[from as usize],
            fee: Amount(10),
            payload: Payload::Datanet(op),
        }
        .sign(&key(from));
        self.nonces[from as usize] += 1;
        let height = self.state.height().unwrap().next();
        let ctx = BlockContext { height, proposer: addr(0) };
        let receipts = self.state.execute_block(&ctx, &[tx], &[true]).unwrap().receipts;
        assert_eq!(receipts[0].error, None, "{receipts:?}");
    }
}

fn spec() -> DatanetSpec {
    DatanetSpec {
        name: "move".into(),
        description: "Move modules".into(),
        tags: vec![],
        license: "Apache-2.0".into(),
        policy: Policy::Approval,
        contribution_fee: Amount(0),
        contribution_stake: Amount(0),
        daily_byte_cap: 1 << 20,
        curators: vec![],
        duplicate_threshold_bps: 8_000,
    }
}

fn module(name: &str, seed: u64) -> String {
    let words = ["coin", "vault", "mint", "burn", "signer", "balance", "store", "drop", "key"];
    let mut x = seed;
    let mut body = String::new();
    for i in 0..60 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let w = words[(x >> 33) as usize % words.len()];
        body.push_str(&format!(
            "    public fun {name}_{w}_{i}(who: &signer) {{ {name}::{w}(who, {x}) }}\n"
        ));
    }
    format!("module 0x1::{name} {{\n{body}}}\n")
}

async fn contribute(chain: &mut Chain, store: &BlobStore, from: u64, text: &str) -> ContentRef {
    let (info, _) =
        store.put_bytes(Bytes::from(text.to_owned()), Some(MediaType::Code)).await.unwrap();
    let content = ContentRef { hash: info.hash, size: info.size, media_type: MediaType::Code };
    chain.send(from, DatanetOp::Contribute { datanet: DatanetId(0), content });
    content
}

/// The validator (account 0, the whole active set) judges contribution `id`'s data as a node
/// does, and reports it; returns the verdict.
async fn report(
    chain: &mut Chain,
    indexes: &DatanetIndexes,
    store: &BlobStore,
    id: ContributionId,
) -> DataVerdict {
    let c = chain.state.contribution(DatanetId(0), id).unwrap().unwrap();
    let bytes = store.get_verified(&c.content.hash).await.unwrap().unwrap();
    let verdict =
        indexes.data_verdict(DatanetId(0), &c, &bytes).unwrap().expect("its version is indexed");
    let reports = vec![DataReport { datanet: DatanetId(0), contribution: id, verdict }];
    chain.send(0, DatanetOp::Attest { reports });
    verdict
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_indexed_and_attributed() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        BlobStore::open(&BlobConfig::default(), dir.path(), &dir.path().join("staging"), 1 << 20)
            .unwrap();
    let indexes =
        std::sync::Arc::new(DatanetIndexes::new(&dir.path().join("index"), store.clone()));
    let mut chain = Chain::new();
    chain.send(1, DatanetOp::Create(Box::new(spec())));
    let (alice, bob) = (module("alice", 1), module("bob", 2));
    let sync = |indexes: std::sync::Arc<DatanetIndexes>, state: State| {
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || indexes.sync(&state, &handle).unwrap())
    };
    contribute(&mut chain, &store, 2, &alice).await;
    report(&mut chain, &indexes, &store, ContributionId(0)).await;
    chain.send(
        1,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(0), approve: true },
    );
    chain.send(1, DatanetOp::PublishVersion { datanet: DatanetId(0) });
    // Bob is measured against version 1, which must be indexed first.
    contribute(&mut chain, &store, 3, &bob).await;
    let c1 = chain.state.contribution(DatanetId(0), ContributionId(1)).unwrap().unwrap();
    let bytes = store.get_verified(&c1.content.hash).await.unwrap().unwrap();
    assert_eq!(
        indexes.data_verdict(DatanetId(0), &c1, &bytes).unwrap(),
        None,
        "version 1 not indexed yet"
    );
    let first = sync(indexes.clone(), chain.state.clone()).await.unwrap();
    assert_eq!(first.versions, vec![(DatanetId(0), 1)]);
    let verdict = report(&mut chain, &indexes, &store, ContributionId(1)).await;
    assert!(
        matches!(verdict, DataVerdict::Held { coverage_bps, .. } if coverage_bps < 2_000),
        "{verdict:?}"
    );
    chain.send(
        1,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(1), approve: true },
    );
    chain.send(1, DatanetOp::PublishVersion { datanet: DatanetId(0) });

    let report_v2 = sync(indexes.clone(), chain.state.clone()).await.unwrap();
    assert_eq!(report_v2.versions, vec![(DatanetId(0), 2)]);
    assert_eq!(indexes.indexed_version(DatanetId(0)), 2);
    let again = sync(indexes.clone(), chain.state.clone()).await.unwrap();
    assert!(again.versions.is_empty(), "a second sync has nothing to do");

    // Bob's text is in version 2 only.
    let quote = &bob[40..600];
    let v1 = indexes.attribute(&chain.state, DatanetId(0), Some(1), quote, None).unwrap();
    assert!(v1.contributions.is_empty(), "{v1:?}");
    let v2 = indexes.attribute(&chain.state, DatanetId(0), None, quote, None).unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.contributors[0].id, addr(3).to_string());
    assert_eq!(v2.contributions.iter().map(|c| c.bps).sum::<u32>(), 10_000);
    assert!(v2.covered_bytes > 500, "{v2:?}");

    // Flagged: evidence stays, the share goes.
    chain.send(
        1,
        DatanetOp::FlagNearDuplicate {
            datanet: DatanetId(0),
            contribution: ContributionId(1),
            copies: ContributionId(0),
        },
    );
    let flagged = indexes.attribute(&chain.state, DatanetId(0), Some(2), quote, None).unwrap();
    assert_eq!(flagged.excluded, vec![ContributionId(1)]);
    assert!(flagged.contributions.iter().all(|c| c.id != "1"), "{flagged:?}");

    // A near-copy of Alice's module: measured against version 2, mostly covered, mostly by
    // Alice's contribution, and refused by the chain with that evidence.
    let copy = format!("// mine now\n{}", &alice[..alice.len() - 40]);
    contribute(&mut chain, &store, 3, &copy).await;
    let cov = indexes.coverage(&chain.state, DatanetId(0), ContributionId(2)).await.unwrap();
    assert_eq!(cov.version, 2);
    assert!(cov.near_duplicate && cov.bps > 9_000, "{cov:?}");
    let verdict = report(&mut chain, &indexes, &store, ContributionId(2)).await;
    assert!(
        matches!(verdict, DataVerdict::Held { coverage_bps, covered_by: Some(ContributionId(0)), against_version: 2, .. } if coverage_bps > 9_000),
        "{verdict:?}"
    );
    let refused = chain.state.contribution(DatanetId(0), ContributionId(2)).unwrap().unwrap();
    assert_eq!(refused.status, ContributionStatus::Refused);
    assert!(matches!(
        refused.refusal,
        Some(Refusal::NearDuplicate { covered_by: Some(ContributionId(0)), .. })
    ));
    let fresh = indexes.coverage(&chain.state, DatanetId(0), ContributionId(0)).await.unwrap();
    assert_eq!((fresh.version, fresh.covered_bytes), (0, 0), "nothing before version 1");

    // Bob's module with other line endings and indentation: the same text, a duplicate.
    let reformatted = bob.replace('\n', "\r\n").replace("    ", "\t");
    contribute(&mut chain, &store, 2, &reformatted).await;
    report(&mut chain, &indexes, &store, ContributionId(3)).await;
    let refused = chain.state.contribution(DatanetId(0), ContributionId(3)).unwrap().unwrap();
    assert_eq!(refused.refusal, Some(Refusal::Duplicate { of: ContributionId(1) }));

    // A size lie: 10 bytes declared, far more stored.
    let big = module("carol", 3);
    let (info, _) = store.put_bytes(Bytes::from(big.clone()), None).await.unwrap();
    let lying = ContentRef { hash: info.hash, size: 10, media_type: MediaType::Code };
    chain.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: lying });
    let verdict = report(&mut chain, &indexes, &store, ContributionId(4)).await;
    assert_eq!(verdict, DataVerdict::WrongSize { actual: big.len() as u64 });
    assert_eq!(
        chain.state.contribution(DatanetId(0), ContributionId(4)).unwrap().unwrap().refusal,
        Some(Refusal::WrongSize { declared: 10, actual: big.len() as u64 })
    );

    // A contribution approved and then lost from this node's store (and no peer to ask): its
    // version waits, nothing is written, and it catches up once the bytes are back.
    let dave = module("dave", 4);
    contribute(&mut chain, &store, 2, &dave).await;
    report(&mut chain, &indexes, &store, ContributionId(5)).await;
    chain.send(
        1,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(5), approve: true },
    );
    chain.send(1, DatanetOp::PublishVersion { datanet: DatanetId(0) });
    let dave_hash = alx_blobs::blake3_hash(dave.as_bytes());
    let file = dir.path().join("blobs/blobs").join(alx_types::hash::to_hex(&dave_hash));
    std::fs::remove_file(&file).unwrap();
    let waiting = sync(indexes.clone(), chain.state.clone()).await.unwrap();
    assert_eq!(waiting.missing, vec![(DatanetId(0), ContributionId(5))]);
    assert_eq!(indexes.indexed_version(DatanetId(0)), 2);
    assert!(matches!(
        indexes.attribute(&chain.state, DatanetId(0), Some(3), quote, None),
        Err(QueryError::NotIndexed { version: 3, .. })
    ));
    store.put_bytes(Bytes::from(dave), None).await.unwrap();
    let caught_up = sync(indexes.clone(), chain.state.clone()).await.unwrap();
    assert_eq!(caught_up.versions, vec![(DatanetId(0), 3)]);

    // Bad queries are the caller's fault.
    let err = indexes.attribute(&chain.state, DatanetId(9), None, quote, None).unwrap_err();
    assert!(err.is_client_error(), "{err}");
    let err = indexes.attribute(&chain.state, DatanetId(0), None, quote, Some(0)).unwrap_err();
    assert!(err.is_client_error(), "{err}");
}

/// Text that repeats no long span: words and numbers from a seeded generator.
fn prose(seed: u64, bytes: usize) -> String {
    let words = ["resource", "module", "signer", "vault", "coin", "store", "ability", "struct"];
    let mut x = seed;
    let mut out = String::with_capacity(bytes + 64);
    while out.len() < bytes {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        out.push_str(words[(x >> 33) as usize % words.len()]);
        out.push(' ');
        out.push_str(&(x >> 40).to_string());
        out.push_str(if x.is_multiple_of(7) { ".\n" } else { " " });
    }
    out
}

/// A near-copy larger than one query (1 MiB) is measured whole, in windows: before, the
/// coverage check refused anything over 1 MiB, so large copies could not be checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_over_one_mebibyte_is_measured_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        BlobStore::open(&BlobConfig::default(), dir.path(), &dir.path().join("staging"), 8 << 20)
            .unwrap();
    let indexes =
        std::sync::Arc::new(DatanetIndexes::new(&dir.path().join("index"), store.clone()));
    let mut chain = Chain::new();
    chain.send(1, DatanetOp::Create(Box::new(DatanetSpec { daily_byte_cap: 0, ..spec() })));
    let original = prose(1, 1_500_000);
    let (info, _) = store.put_bytes(Bytes::from(original.clone()), None).await.unwrap();
    let content = ContentRef { hash: info.hash, size: info.size, media_type: MediaType::Text };
    chain.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content });
    report(&mut chain, &indexes, &store, ContributionId(0)).await;
    chain.send(
        1,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(0), approve: true },
    );
    chain.send(1, DatanetOp::PublishVersion { datanet: DatanetId(0) });
    let handle = tokio::runtime::Handle::current();
    let (i2, state) = (indexes.clone(), chain.state.clone());
    tokio::task::spawn_blocking(move || i2.sync(&state, &handle).unwrap()).await.unwrap();
    // The copy: a new opening, then the original almost whole.
    let copy = format!("My own notes on Move.\n{}", &original[..1_450_000]);
    let (info, _) = store.put_bytes(Bytes::from(copy), None).await.unwrap();
    let content = ContentRef { hash: info.hash, size: info.size, media_type: MediaType::Text };
    chain.send(3, DatanetOp::Contribute { datanet: DatanetId(0), content });
    let verdict = report(&mut chain, &indexes, &store, ContributionId(1)).await;
    assert!(
        matches!(verdict, DataVerdict::Held { coverage_bps, covered_by: Some(ContributionId(0)), .. } if coverage_bps > 9_900),
        "{verdict:?}"
    );
    assert!(matches!(
        chain.state.contribution(DatanetId(0), ContributionId(1)).unwrap().unwrap().refusal,
        Some(Refusal::NearDuplicate { .. })
    ));
    let cov = indexes.coverage(&chain.state, DatanetId(0), ContributionId(1)).await.unwrap();
    assert!(cov.bps > 9_900 && cov.total_bytes > 1 << 20, "{cov:?}");
}
