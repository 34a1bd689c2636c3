//! The credit rule against golden vectors computed by an independent implementation of the
//! rule as the crate README states it (`tests/golden/rule.json`): retrieval and span parts,
//! their combination, the data share and the credits, exactly; and the influence part with the
//! three parts combined (`tests/golden/influence.json`).

use alx_attribution::rule::{self, Key, SpanReport};
use std::collections::BTreeMap;

fn keys(v: &serde_json::Value) -> Vec<Key> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|k| (k[0].as_u64().expect("datanet"), k[1].as_u64().expect("contribution")))
        .collect()
}

fn bps(v: &serde_json::Value) -> BTreeMap<Key, u32> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let bps = u32::try_from(e[2].as_u64().expect("bps")).expect("bps fits");
            ((e[0].as_u64().expect("datanet"), e[1].as_u64().expect("contribution")), bps)
        })
        .collect()
}

fn amount(v: &serde_json::Value) -> u128 {
    v.as_str().expect("a decimal string").parse().expect("an amount")
}

#[test]
fn the_rule_matches_its_golden_vectors() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden/rule.json")).expect("golden vectors");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let reports: Vec<SpanReport> = case["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .map(|r| SpanReport {
                datanet: r["datanet"].as_u64().expect("datanet"),
                covered_bytes: r["covered_bytes"].as_u64().expect("bytes"),
                shares: r["shares"]
                    .as_array()
                    .expect("shares")
                    .iter()
                    .map(|s| {
                        let bps = u32::try_from(s[1].as_u64().expect("bps")).expect("bps fits");
                        (s[0].as_u64().expect("contribution"), bps)
                    })
                    .collect(),
            })
            .collect();
        let spans = rule::span_shares(&reports);
        assert_eq!(spans, bps(&case["span_shares"]), "{name}: span shares");
        let shares = rule::combine(&keys(&case["ranked"]), &spans, &BTreeMap::new());
        assert_eq!(shares, bps(&case["shares"]), "{name}: shares");
        if !shares.is_empty() {
            assert_eq!(shares.values().sum::<u32>(), 10_000, "{name}: a whole");
        }
        let data_bps = u32::try_from(case["data_bps"].as_u64().expect("data_bps")).expect("fits");
        let data = rule::data_share(amount(&case["fee"]), data_bps);
        assert_eq!(data, amount(&case["data"]), "{name}: data share");
        let excluded = keys(&case["excluded"]);
        let credits = rule::credits(data, &shares, |k| excluded.contains(&k));
        let want: Vec<(Key, u128)> = case["credits"]
            .as_array()
            .expect("credits")
            .iter()
            .map(|c| {
                let key = (c[0].as_u64().expect("datanet"), c[1].as_u64().expect("contribution"));
                (key, amount(&c[2]))
            })
            .collect();
        assert_eq!(credits, want, "{name}: credits");
        assert!(
            credits.iter().map(|c| c.1).sum::<u128>() <= data,
            "{name}: no more than the share"
        );
    }
}

#[test]
fn the_influence_part_matches_its_golden_vectors() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden/influence.json")).expect("golden vectors");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let scores: BTreeMap<Key, i64> = case["scores"]
            .as_array()
            .expect("scores")
            .iter()
            .map(|e| {
                let key = (e[0].as_u64().expect("datanet"), e[1].as_u64().expect("contribution"));
                (key, e[2].as_i64().expect("a score"))
            })
            .collect();
        let influence = rule::influence_shares(&scores);
        assert_eq!(influence, bps(&case["influence_shares"]), "{name}: influence shares");
        let shares = rule::combine(&keys(&case["ranked"]), &bps(&case["span_shares"]), &influence);
        assert_eq!(shares, bps(&case["shares"]), "{name}: shares");
        if !shares.is_empty() {
            assert_eq!(shares.values().sum::<u32>(), 10_000, "{name}: a whole");
        }
    }
}
