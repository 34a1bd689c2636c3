//! `/api/subnets…` over a subnet taken through a full commit-reveal cycle: account 1 owns the
//! datanet and the subnet, 2 validates (with bonded stake), 3 mines with its own model.

use crate::*;
use alx_types::{
    Height,
    datanet::{ContributionId, DatanetId},
    model::ModelId,
    subnet::SubnetId,
};
use alx_types::{
    datanet::{ContentRef, DatanetOp, DatanetSpec, MediaType, Policy},
    hash::sha256,
    model::{DatanetVersionRef, FeeSplit, ModelOp, ModelSpec},
    subnet::{SubnetOp, SubnetSpec, Uid, weights_commit},
    subnet_api::NeuronRole,
};

const TEMPO: u64 = 10;
const SALT: [u8; 32] = [7; 32];
/// The validator's weights on the miner (uid 1).
const WEIGHTS: [(Uid, u16); 1] = [(1, 65_535)];

fn error_type(v: &serde_json::Value) -> &str {
    v["error"]["type"].as_str().unwrap_or("<none>")
}

/// Datanet 0 version 1, model 0 owned by 3, subnet 0 "move-qa" owned by 1 with validator 2
/// (uid 0) and miner 3 (uid 1); returns the chain and the subnet's creation height.
fn subnet_with_neurons() -> (Chain, u64) {
    let c = Chain::new();
    let datanet = DatanetSpec {
        name: "move".into(),
        description: String::new(),
        tags: vec![],
        license: "MIT".into(),
        policy: Policy::Open,
        contribution_fee: Amount(0),
        contribution_stake: Amount(0),
        daily_byte_cap: 0,
        curators: vec![],
        duplicate_threshold_bps: 0,
    };
    let content = ContentRef { hash: sha256(&[b"held-out"]), size: 8, media_type: MediaType::Text };
    let version = DatanetVersionRef { datanet: DatanetId(0), version: 1 };
    let model = ModelSpec {
        name: "move-helper".into(),
        base_model: sha256(&[b"weights"]),
        adapter: None,
        datanets: vec![version],
        price_input_per_1k: Amount(1),
        price_output_per_1k: Amount(1),
        split: FeeSplit::DEFAULT,
    };
    let receipts = c.block(vec![
        (1, Payload::Datanet(DatanetOp::Create(Box::new(datanet)))),
        (2, Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content })),
        // The validator (account 0, the whole active set) holds the data.
        (0, crate::held_report(DatanetId(0), ContributionId(0), b"held-out")),
        (1, Payload::Datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) })),
        (3, Payload::Model(ModelOp::Register(Box::new(model)))),
        (2, Payload::Bond { validator: addr(0), amount: Amount(500 * ALX) }),
    ]);
    assert!(receipts.iter().all(|r| r.error.is_none()), "{receipts:?}");
    let spec = SubnetSpec {
        name: "move-qa".into(),
        task: "Answer Move questions".into(),
        datanets: vec![version],
        tempo: TEMPO as u16,
        max_uids: 8,
        max_validators: 4,
        registration_burn: Amount(ALX),
        immunity_blocks: 0,
        yuma3: false,
    };
    c.ok(1, Payload::Subnet(SubnetOp::Create(Box::new(spec))));
    let created = c.height();
    let endpoint = "https://miner.example/v1".to_owned();
    let receipts = c.block(vec![
        (2, Payload::Subnet(SubnetOp::RegisterValidator { subnet: SubnetId(0) })),
        (
            3,
            Payload::Subnet(SubnetOp::RegisterMiner {
                subnet: SubnetId(0),
                model: ModelId(0),
                endpoint,
            }),
        ),
    ]);
    assert!(receipts.iter().all(|r| r.error.is_none()), "{receipts:?}");
    (c, created)
}

#[test]
fn subnet_endpoints_follow_a_commit_reveal_cycle() {
    let (c, created) = subnet_with_neurons();
    let api = &c.client;

    let listed = api.subnets().unwrap();
    assert_eq!(listed.len(), 1);
    let s = api.subnet("0").unwrap();
    assert_eq!(s, listed[0]);
    assert_eq!(api.subnet("move-qa").unwrap(), s, "by name");
    assert_eq!(
        (s.id, s.owner, s.created_at, s.neurons),
        (SubnetId(0), addr(1), Height(created), 2)
    );
    assert_eq!((s.epochs, s.next_epoch_block), (0, Height(created + TEMPO)));
    assert!(s.pending.0 >= 100 * ALX, "the creation lock waits for the first epoch");

    let g = api.metagraph("move-qa").unwrap();
    assert_eq!((g.subnet, g.height), (SubnetId(0), Height(c.height())));
    let kinds: Vec<_> = g.neurons.iter().map(|n| (n.uid, n.address, n.kind)).collect();
    assert_eq!(kinds, [(0, addr(2), NeuronRole::Validator), (1, addr(3), NeuronRole::Miner)]);
    assert_eq!(g.neurons[0].stake, Amount(500 * ALX));
    assert!(g.neurons[0].validator_permit && !g.neurons[1].validator_permit);
    assert_eq!(g.neurons[1].model, Some(ModelId(0)));
    assert_eq!(g.neurons[1].endpoint.as_deref(), Some("https://miner.example/v1"));
    assert!(api.subnet_epochs("0").unwrap().is_empty());
    assert!(api.weights_row("0", 0).unwrap().weights.is_empty());
    assert!(api.pending_commit("0", 0).unwrap_err().is_not_found());

    // Epoch 0: the validator commits; the commit is visible until its reveal in epoch 1.
    let (dests, values): (Vec<Uid>, Vec<u16>) = WEIGHTS.iter().copied().unzip();
    let commit = weights_commit(SubnetId(0), 0, &dests, &values, &SALT);
    c.ok(2, Payload::Subnet(SubnetOp::CommitWeights { subnet: SubnetId(0), commit }));
    let pending = api.pending_commit("move-qa", 0).unwrap();
    assert_eq!((pending.subnet, pending.uid, pending.commit), (SubnetId(0), 0, commit));
    assert_eq!((pending.block, pending.epoch), (Height(c.height()), 0));
    c.advance_to(created + TEMPO);
    let e0 = api.subnet_epochs("0").unwrap();
    assert_eq!((e0.len(), e0[0].epoch, e0[0].block), (1, 0, Height(created + TEMPO)));

    c.ok(
        2,
        Payload::Subnet(SubnetOp::RevealWeights { subnet: SubnetId(0), dests, values, salt: SALT }),
    );
    assert!(api.pending_commit("0", 0).unwrap_err().is_not_found(), "a reveal spends it");
    let row = api.weights_row("move-qa", 0).unwrap();
    assert_eq!((row.subnet, row.uid, row.weights), (SubnetId(0), 0, WEIGHTS.to_vec()));
    c.advance_to(created + 2 * TEMPO);

    // Epoch 1 counted the weights: the miner earns incentive, the validator dividends.
    let g = api.metagraph("0").unwrap();
    assert_eq!(g.neurons[1].incentive, u16::MAX, "the only miner");
    assert!(g.neurons[0].dividends > 0, "{g:?}");
    let epochs = api.subnet_epochs("move-qa").unwrap();
    assert_eq!(epochs.len(), 2);
    let e1 = &epochs[1];
    assert_eq!((e1.epoch, e1.block, e1.emission.len()), (1, Height(created + 2 * TEMPO), 2));
    assert!(e1.total_emission.0 > 0 && e1.owner_emission.0 > 0);
    assert_eq!(e1.emission[1], g.neurons[1].last_emission);
    assert_eq!(e1.emission.iter().map(|a| a.0).sum::<u128>(), e1.total_emission.0);
    let s = api.subnet("0").unwrap();
    assert_eq!((s.epochs, s.last_epoch_block), (2, Height(created + 2 * TEMPO)));

    // /api/emission shows what waits in the subnets (here the one subnet's pending).
    let (status, emission) = c.get("/api/emission");
    assert_eq!(status, 200, "{emission}");
    let field = |name: &str| emission[name].as_str().and_then(|v| v.parse::<u128>().ok());
    assert_eq!(field("subnets_pending"), Some(s.pending.0), "{emission}");
}

#[test]
fn subnet_endpoints_refuse_unknown_and_malformed_ids() {
    let (c, _) = subnet_with_neurons();
    let check = |path: &str, status: u16, kind: &str| {
        let (got, body) = c.get(path);
        assert_eq!((got, error_type(&body)), (status, kind), "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    for tail in ["", "/metagraph", "/epochs", "/weights/0", "/commits/0"] {
        check(&format!("/api/subnets/7{tail}"), 404, "not_found");
        check(&format!("/api/subnets/no-such-subnet{tail}"), 404, "not_found");
        check(&format!("/api/subnets/Bad%20Name{tail}"), 400, "bad_request");
        check(&format!("/api/subnets/{}{tail}", "n".repeat(65)), 400, "bad_request");
    }
    for what in ["weights", "commits"] {
        check(&format!("/api/subnets/0/{what}/2"), 404, "not_found");
        check(&format!("/api/subnets/0/{what}/65535"), 404, "not_found");
        check(&format!("/api/subnets/0/{what}/65536"), 400, "bad_request");
        check(&format!("/api/subnets/0/{what}/-1"), 400, "bad_request");
        check(&format!("/api/subnets/0/{what}/x"), 400, "bad_request");
    }
    check("/api/subnets/0/commits/0", 404, "not_found");

    // The typed client says the same, and its ids cannot escape their path segment.
    let api = &c.client;
    assert!(api.subnet("7").unwrap_err().is_not_found());
    assert!(api.metagraph("no-such-subnet").unwrap_err().is_not_found());
    assert!(api.weights_row("0", 9).unwrap_err().is_not_found());
    for id in ["Bad Name", "0/metagraph", "..", "0?x=1"] {
        let err = api.subnet(id).unwrap_err();
        assert!(
            matches!(&err, alx_client::ClientError::Api { status: 400 | 404, .. }),
            "{id:?}: {err}"
        );
    }
}

#[test]
fn subnet_endpoints_are_in_the_openapi_document() {
    let c = Chain::new();
    let (status, spec) = c.get("/api/openapi.json");
    assert_eq!(status, 200);
    for path in [
        "/api/subnets",
        "/api/subnets/{id}",
        "/api/subnets/{id}/metagraph",
        "/api/subnets/{id}/epochs",
        "/api/subnets/{id}/evals",
        "/api/subnets/{id}/weights/{uid}",
        "/api/subnets/{id}/commits/{uid}",
    ] {
        let op = &spec["paths"][path]["get"];
        assert!(op["summary"].is_string(), "{path} is not documented");
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let reference = schema["$ref"].as_str().or_else(|| schema["items"]["$ref"].as_str());
        let name = reference.and_then(|r| r.strip_prefix("#/components/schemas/"));
        assert!(
            name.is_some_and(|n| spec["components"]["schemas"][n].is_object()),
            "{path}: {schema}"
        );
    }
    // An empty chain lists no subnets rather than failing.
    assert!(c.client.subnets().unwrap().is_empty());
}

/// The dispute and demand lists are documented, and an empty chain lists none of either.
#[test]
fn dispute_and_demand_endpoints_are_documented_and_empty_at_first() {
    let c = Chain::new();
    let (_, spec) = c.get("/api/openapi.json");
    for (path, method) in [
        ("/api/disputes", "get"),
        ("/api/demands", "get"),
        ("/api/disputes/judge", "post"),
        ("/api/evaluate", "post"),
    ] {
        assert!(spec["paths"][path][method]["summary"].is_string(), "{path} is not documented");
    }
    assert!(c.client.disputes().unwrap().is_empty());
    assert!(c.client.demands().unwrap().is_empty());
}
