use crate::*;

#[test]
fn up_then_keys_and_a_transfer_through_the_cli_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();

    let keys = json(&alx(h, &node.api, &["keys", "list"]));
    let names: Vec<&str> =
        keys.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);

    let sent = json(&alx(
        h,
        &node.api,
        &["transfer", "--from", "alice", "--to", "bob", "--amount", "1.5"],
    ));
    let hash = sent["hash"].as_str().unwrap().to_owned();
    assert_eq!(sent["committed"]["receipt"]["status"], "success");

    let bob = json(&alx(h, &node.api, &["balance", "bob", "--proof"]));
    assert_eq!(bob["account"]["balance"], "1000001500000000");
    let shown = json(&alx(h, &node.api, &["tx", "show", &hash]));
    assert_eq!(shown["tx"]["payload"]["kind"], "transfer");

    // Delegate stake to the validator.
    let validator = node.client().status().unwrap().validators[0].to_string();
    let bonded = json(&alx(
        h,
        &node.api,
        &["stake", "bond", "--from", "carol", "--validator", &validator, "--amount", "100"],
    ));
    assert_eq!(bonded["committed"]["receipt"]["status"], "success");
    let carol = json(&alx(h, &node.api, &["balance", "carol"]));
    assert_eq!(carol["account"]["bonded"], "100000000000");

    // A new encrypted key, used without a prompt through ALX_PASSPHRASE.
    let out = Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(h)
        .args(["--json", "keys", "new", "dave"])
        .env("ALX_PASSPHRASE", "correct horse")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let dave = json(&out);
    assert_eq!(dave["mnemonic"].as_str().unwrap().split(' ').count(), 24);

    // Bad input: a clear error with a hint, nothing sent.
    let out =
        alx(h, &node.api, &["transfer", "--from", "alice", "--to", "nobody", "--amount", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hint:"), "{err}");
    let out =
        alx(h, &node.api, &["transfer", "--from", "bob", "--to", "alice", "--amount", "5000000"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("insufficient_funds"));
    // Locked key without ALX_PASSPHRASE and no terminal: refused with a hint.
    let out = alx(h, &node.api, &["transfer", "--from", "dave", "--to", "alice", "--amount", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALX_PASSPHRASE"));
}

/// Two commands of one key in quick succession (a miner in the background and a transfer, in
/// the README's subnet section): the second queues behind the first one still waiting in the
/// mempool instead of colliding on its nonce ("underpriced").
#[test]
fn a_second_transaction_of_a_key_queues_behind_the_waiting_first_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let send = |amount: &str| {
        let args = ["transfer", "--from", "alice", "--to", "bob", "--amount", amount, "--no-wait"];
        let out = alx(h, &node.api, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json(&out)["hash"].as_str().unwrap().to_owned()
    };
    let hashes = [send("1"), send("2"), send("3")];
    for hash in &hashes {
        let shown = node.client().wait_for_tx(hash, Duration::from_secs(30)).unwrap();
        assert_eq!(shown.receipt.status, alx_types::receipt::TxStatus::Success, "{hash}");
    }
    let bob = json(&alx(h, &node.api, &["balance", "bob"]));
    assert_eq!(bob["account"]["balance"], "1000006000000000");
}
