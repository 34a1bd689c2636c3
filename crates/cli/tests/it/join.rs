//! A validator joins a running chain: `alx node init`, funding, `alx node register`,
//! `alx node start`; from the next epoch on the chain cannot finalize without it.

use crate::*;
use alx_types::{Address, Height};

#[test]
fn a_registered_node_joins_the_set_at_the_next_epoch_slow() {
    let home = tempfile::tempdir().unwrap();
    let (api_port, p2p_port) = (free_port(), free_port());
    let (epoch_length, stake) = (10, "1000");
    let founder = Node::spawn(
        home.path(),
        api_port,
        &[
            "up",
            "--api-addr",
            &format!("127.0.0.1:{api_port}"),
            "--p2p-port",
            &p2p_port.to_string(),
            "--epoch-length",
            &epoch_length.to_string(),
            "--no-sample",
        ],
    );
    founder.wait_height(1, Duration::from_secs(90));
    let client = founder.client();
    let first = client.status().unwrap().validators;
    assert_eq!(first.len(), 1);

    let joiner_home = tempfile::tempdir().unwrap();
    let j = joiner_home.path();
    let (joiner_api, joiner_p2p) = (free_port(), free_port());
    let genesis = home.path().join("genesis.json");
    let created = json(&alx(
        j,
        &founder.api,
        &[
            "node",
            "init",
            "--genesis",
            genesis.to_str().unwrap(),
            "--api-addr",
            &format!("127.0.0.1:{joiner_api}"),
            "--p2p-addr",
            &format!("127.0.0.1:{joiner_p2p}"),
        ],
    ));
    let address: Address = created["address"].as_str().unwrap().parse().unwrap();

    // Registering before funding fails clearly (the node key's account cannot pay).
    let out = alx(j, &founder.api, &["node", "register", "--stake", stake]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));

    let funded = json(&alx(
        home.path(),
        &founder.api,
        &["transfer", "--from", "alice", "--to", &address.to_string(), "--amount", "1001"],
    ));
    assert_eq!(funded["committed"]["receipt"]["status"], "success");
    let registered = json(&alx(j, &founder.api, &["node", "register", "--stake", stake]));
    assert_eq!(registered["register"]["committed"]["receipt"]["status"], "success");
    assert_eq!(registered["bond"]["committed"]["receipt"]["status"], "success");
    let bonded_at = registered["bond"]["committed"]["height"].as_u64().unwrap();

    let joiner = Node::spawn(j, joiner_api, &["node", "start"]);
    // The set of the epoch after the bond holds both; that epoch starts at its first height.
    let next_epoch_start = (bonded_at + 1).div_ceil(epoch_length) * epoch_length;
    let start = Instant::now();
    while !client.status().unwrap().validators.contains(&address) {
        assert!(start.elapsed() < Duration::from_secs(120), "the joiner never entered the set");
        std::thread::sleep(Duration::from_millis(200));
    }
    // With two validators every block needs both votes: progress proves the joiner votes.
    let target = next_epoch_start + 6;
    founder.wait_height(target, Duration::from_secs(120));
    joiner.wait_height(target, Duration::from_secs(60));
    let joiner_client = joiner.client();
    let mut proposed_by_joiner = 0;
    for h in next_epoch_start..=target {
        let ours = client.block(&h.to_string()).unwrap();
        let theirs = joiner_client.block(&h.to_string()).unwrap();
        assert_eq!(ours.header.hash, theirs.header.hash, "the nodes disagree at height {h}");
        assert_eq!(ours.header.epoch, h / epoch_length);
        assert_eq!(ours.header.height, Height(h));
        if ours.header.proposer == address {
            proposed_by_joiner += 1;
        }
    }
    assert!(proposed_by_joiner > 0, "the joiner proposed none of the blocks of its epoch");

    // Data uploaded to the founder counts once both validators (the whole quorum) hold it:
    // the joiner fetches it from the peer `node init` recorded.
    let h = home.path();
    let ok = |args: &[&str]| json(&alx(h, &founder.api, args));
    ok(&[
        "datanet",
        "create",
        "--from",
        "alice",
        "--name",
        "joint",
        "--license",
        "MIT",
        "--policy",
        "open",
    ]);
    let doc = h.join("joint.md");
    std::fs::write(&doc, "Both validators must hold this before it counts.").unwrap();
    let sent = ok(&["datanet", "contribute", "0", doc.to_str().unwrap(), "--from", "bob"]);
    assert_eq!(sent[0]["status"], "approved", "{sent}");
}
