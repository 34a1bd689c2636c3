//! `alx up --emission`: a chain made with a preset or a file mints by it, says which, and a bad
//! file or a resumed home is refused before anything is created or changed.

use crate::*;

fn emission_of(node: &Node) -> serde_json::Value {
    node.wait_height(3, Duration::from_secs(60));
    reqwest::blocking::get(format!("{}/api/emission", node.api)).unwrap().json().unwrap()
}

/// The error document a failed `--json` command prints.
fn refusal(out: &std::process::Output) -> serde_json::Value {
    assert!(!out.status.success(), "it succeeded");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    doc["error"].clone()
}

fn up_with(home: &Path, emission: &str) -> Node {
    let (api, p2p) = (free_port(), free_port());
    #[rustfmt::skip]
    let node = Node::spawn(home, api, &["up", "--api-addr", &format!("127.0.0.1:{api}"),
        "--p2p-port", &p2p.to_string(), "--no-sample", "--emission", emission]);
    node
}

#[test]
fn a_preset_or_a_file_fixes_the_emission_at_genesis_slow() {
    // Bittensor's: its curve, everything to subnets, 18/41/41 inside.
    let home = tempfile::tempdir().unwrap();
    let node = up_with(home.path(), "bittensor");
    let e = emission_of(&node);
    assert_eq!(e["preset"], "bittensor", "{e}");
    assert_eq!(e["params"]["schedule"]["curve"]["kind"], "supply_halving");
    assert_eq!(e["params"]["split"]["subnets"], 10_000);
    assert_eq!(
        e["params"]["subnet_split"],
        serde_json::json!({"owner": 1800, "miners": 4100, "validators": 4100})
    );
    assert_eq!(e["pool_data"], "0", "no data class under Bittensor's split: {e}");
    let genesis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.path().join("genesis.json")).unwrap()).unwrap();
    assert_eq!(genesis["emission"]["split"]["subnets"], 10_000, "the genesis file records it");
    drop(node);

    // Resuming cannot change it.
    let out = alx(home.path(), "http://127.0.0.1:9", &["up", "--emission", "morpheus"]);
    assert_eq!(refusal(&out)["code"], "emission_fixed");

    // A file: a halving curve and a split of our own.
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("emission.toml");
    std::fs::write(&file, FILE.replace("SUBNETS", "5000")).unwrap();
    let node = up_with(home.path(), file.to_str().unwrap());
    let e = emission_of(&node);
    assert!(e.get("preset").is_none(), "a file is no preset: {e}");
    assert_eq!(e["params"]["schedule"]["curve"]["kind"], "halving");
    assert_eq!(e["params"]["split"]["data_contributors"], 3_000);
    drop(node);
}

#[test]
fn a_bad_emission_creates_nothing() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("emission.toml");
    // Splits summing to 9,000 basis points.
    std::fs::write(&file, FILE.replace("SUBNETS", "4000")).unwrap();
    let fresh = home.path().join("chain");
    for (spec, says) in [(file.to_str().unwrap(), "sum"), ("tao", "neither a preset")] {
        let out = alx(&fresh, "http://127.0.0.1:9", &["up", "--emission", spec]);
        let err = refusal(&out);
        assert_eq!(err["code"], "bad_emission", "{err}");
        assert!(err["message"].as_str().unwrap().contains(says), "{err}");
        assert!(!fresh.join("genesis.json").exists(), "nothing was created");
    }
}

const FILE: &str = r#"
[schedule]
cap = "21000000000000000"

[schedule.curve]
kind = "halving"
initial_per_block = "50000000000"
interval_blocks = 210000

[split]
subnets = SUBNETS
data_contributors = 3000
compute = 1000
chain_validators = 1000
protection_fund = 0
community_treasury = 0

[subnet_split]
owner = 1800
miners = 4100
validators = 4100
"#;
