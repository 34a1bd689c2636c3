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

/// A Move module whose functions carry `name`, so two modules share no long span.
fn module(name: &str) -> String {
    let mut body = String::new();
    for i in 0..40 {
        body.push_str(&format!(
            "    public fun {name}_transfer_{i}({name}_from: &signer, {name}_to: address) {{ {name}::send({name}_from, {name}_to, {i}) }}\n"
        ));
    }
    format!("module 0x1::{name} {{\n{body}}}\n")
}

#[test]
fn contribute_review_version_and_attribute_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let h = home.path();
    let ok = |args: &[&str]| {
        let out = alx(h, &node.api, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out)
    };
    ok(&["datanet", "create", "--from", "alice", "--name", "move", "--license", "MIT"]);

    let files = tempfile::tempdir().unwrap();
    let (vault, pool) = (module("vault"), module("pool"));
    let vault_file = files.path().join("vault.move");
    let pool_file = files.path().join("pool.move");
    std::fs::write(&vault_file, &vault).unwrap();
    std::fs::write(&pool_file, &pool).unwrap();
    let (vault_path, pool_path) = (vault_file.to_str().unwrap(), pool_file.to_str().unwrap());

    // Binary content and unknown datanets are refused before anything is sent.
    let binary = files.path().join("lib.rs");
    std::fs::write(&binary, b"fn main() {}\0\x01\x02").unwrap();
    let out = alx(
        h,
        &node.api,
        &["datanet", "contribute", "0", binary.to_str().unwrap(), "--from", "bob"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("binary content") && err.contains("hint:"),
        "{err}"
    );
    let hash = hex::encode(blake3::hash(b"fn main() {}\0\x01\x02").as_bytes());
    let head = reqwest::blocking::Client::new()
        .head(format!("{}/api/blobs/{hash}", node.api))
        .send()
        .unwrap();
    assert_eq!(head.status(), 404, "a refused file leaves no blob");
    let out = alx(h, &node.api, &["datanet", "contribute", "9", vault_path, "--from", "bob"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no datanet 9"));

    // Two contributors, one file each, reviewed and published as two versions. The command
    // returns once the validator confirmed the data held: pending review.
    let bob = ok(&["datanet", "contribute", "0", vault_path, "--from", "bob"]);
    assert_eq!(bob[0]["contribution"], 0);
    assert_eq!(bob[0]["status"], "pending");
    let carol = ok(&["datanet", "contribute", "0", pool_path, "--from", "carol"]);
    assert_eq!(carol[0]["contribution"], 1);
    ok(&["datanet", "approve", "0", "0", "--from", "alice"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    ok(&["datanet", "approve", "0", "1", "--from", "alice"]);
    ok(&["datanet", "version", "0", "--from", "alice"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ok(&["datanet", "show", "0"])["indexed_version"] != 2 {
        assert!(std::time::Instant::now() < deadline, "version 2 was never indexed");
        std::thread::sleep(Duration::from_millis(200));
    }

    // An answer quoting carol's module is attributed to carol.
    let answer = format!("Here is how to do it:\n{}\nHope this helps.", &pool[100..900]);
    let r = ok(&["datanet", "attribute", "0", "--text", &answer]);
    assert_eq!(r["version"], 2);
    let carol_addr = node_address(h, "carol");
    assert_eq!(r["contributors"][0]["id"], carol_addr.as_str(), "{r}");
    assert_eq!(r["contributors"][0]["bps"], 10_000);
    // Version 1 did not hold it yet.
    let v1 = ok(&["datanet", "attribute", "0", "--text", &answer, "--at", "1"]);
    assert!(v1["contributors"].as_array().unwrap().is_empty(), "{v1}");

    // A near-copy is refused by the validators' verdict, with the evidence: the coverage, the
    // contribution it copies, the version measured against.
    let copy = files.path().join("copy.move");
    std::fs::write(&copy, format!("// forked\n{vault}")).unwrap();
    let out = alx(
        h,
        &node.api,
        &["datanet", "contribute", "0", copy.to_str().unwrap(), "--from", "alice"],
    );
    assert!(!out.status.success());
    let refused: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(refused[0]["status"], "refused", "{refused}");
    assert_eq!(refused[0]["refusal"]["reason"], "near_duplicate", "{refused}");
    assert_eq!(refused[0]["refusal"]["covered_by"], 0, "{refused}");
    assert_eq!(refused[0]["refusal"]["against_version"], 2, "{refused}");
    let cov = ok(&["datanet", "coverage", "0", "2"]);
    assert_eq!(cov["near_duplicate"], true, "{cov}");
    // The same module with Windows line endings is the same text: refused as a duplicate.
    let crlf = files.path().join("crlf.move");
    std::fs::write(&crlf, vault.replace('\n', "\r\n")).unwrap();
    let out = alx(
        h,
        &node.api,
        &["datanet", "contribute", "0", crlf.to_str().unwrap(), "--from", "carol"],
    );
    let refused: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(refused[0]["refusal"]["reason"], "duplicate", "{refused}");
    assert_eq!(refused[0]["refusal"]["of"], 0, "{refused}");

    // Blobs: download verified; a wrong hash is refused with a stable type and stores nothing.
    let out_file = files.path().join("back.move");
    ok_silent(
        h,
        &node.api,
        &["blob", "get", bob[0]["hash"].as_str().unwrap(), "-o", out_file.to_str().unwrap()],
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), vault);
    // Uploads: anonymous ones store nothing; `alx blob put --from` signs; a signed upload
    // whose bytes do not hash to the path is refused with a stable type.
    let wrong = hex::encode([7u8; 32]);
    let resp = reqwest::blocking::Client::new()
        .put(format!("{}/api/blobs/{wrong}", node.api))
        .body("some text")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["error"]["type"], "upload_unauthorized");
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/blobs?media_type=jsonl", node.api))
        .body("{\"text\": 1}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    let notes = files.path().join("notes.txt");
    std::fs::write(&notes, "notes kept for later").unwrap();
    let put = ok(&["blob", "put", notes.to_str().unwrap(), "--from", "carol"]);
    assert_eq!(put["created"], true, "{put}");
    let out = alx(h, &node.api, &["blob", "put", notes.to_str().unwrap()]);
    assert!(!out.status.success(), "--from is required");
}

fn ok_silent(home: &std::path::Path, api: &str, args: &[&str]) {
    let out = alx(home, api, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
