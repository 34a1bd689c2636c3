//! `alx datanet` against a real node: create, list, show, and the errors a user meets first.

use crate::*;

#[test]
fn create_list_show_and_refusals_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let bob = node_address(h, "bob");

    let created = json(&alx(
        h,
        &node.api,
        &[
            "datanet",
            "create",
            "--from",
            "alice",
            "--name",
            "move-contracts",
            "--description",
            "Audited Move smart contracts",
            "--tag",
            "move",
            "--license",
            "Apache-2.0",
            "--contribution-stake",
            "1",
            "--daily-byte-cap",
            "1000000",
            "--curator",
            "bob",
        ],
    ));
    assert_eq!(created["committed"]["receipt"]["status"], "success");

    let list = json(&alx(h, &node.api, &["datanet", "list"]));
    assert_eq!(list[0]["id"], 0);
    assert_eq!(list[0]["name"], "move-contracts");
    assert_eq!(list[0]["policy"], "approval");
    assert_eq!(list[0]["contribution_stake"], "1000000000");
    assert_eq!(list[0]["curators"][0], bob);

    let shown = json(&alx(h, &node.api, &["datanet", "show", "0"]));
    assert_eq!(shown["datanet"]["version"], 0);
    assert!(shown["versions"].as_array().unwrap().is_empty());

    // A bad name fails on chain with a stable code and a hint; an empty datanet has no version.
    let out = alx(
        h,
        &node.api,
        &["datanet", "create", "--from", "alice", "--name", "Bad Name", "--license", "MIT"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad_datanet_field") && err.contains("hint:"), "{err}");
    let out = alx(h, &node.api, &["datanet", "version", "0", "--from", "alice"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing_to_publish"));
    let out = alx(h, &node.api, &["datanet", "show", "7"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no datanet 7"));
    // The API refuses a malformed id with a stable type.
    let resp = reqwest::blocking::get(format!("{}/api/datanets/x", node.api)).unwrap();
    assert_eq!(resp.status(), 400);
}

fn node_address(home: &std::path::Path, key: &str) -> String {
    let keys = json(&alx(home, "http://127.0.0.1:1", &["keys", "show", key]));
    keys["address"].as_str().unwrap().to_owned()
}
