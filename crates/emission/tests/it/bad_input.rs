//! Refused parameters: a typed error naming what is wrong, never a panic, from Rust and from
//! JSON alike.

use alx_emission::{
    CAP_MAX, Curve, EmissionError, EmissionParams, Schedule, ScheduleParams, Split, SplitBps,
    SubnetSplit, SubnetSplitBps, presets,
};
use alx_types::Amount;
use serde_json::json;

fn linear(initial: u128, blocks_per_day: u64) -> Curve {
    Curve::LinearDecay {
        initial_per_day: Amount(initial),
        decrease_per_day: Amount(1),
        blocks_per_day,
    }
}

fn refused(curve: Curve, cap: u128) -> EmissionError {
    match Schedule::new(ScheduleParams { curve, cap: Amount(cap) }) {
        Ok(s) => panic!("accepted {s:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_schedules() {
    assert_eq!(refused(linear(10, 1), 0), EmissionError::ZeroCap);
    assert_eq!(
        refused(linear(10, 1), CAP_MAX.0 + 1),
        EmissionError::CapTooLarge { cap: Amount(CAP_MAX.0 + 1), max: CAP_MAX }
    );
    assert!(matches!(refused(linear(10, 1), u128::MAX), EmissionError::CapTooLarge { .. }));
    assert_eq!(refused(linear(10, 0), 100), EmissionError::ZeroBlocksPerDay);
    assert_eq!(refused(linear(0, 1), 100), EmissionError::ZeroInitial { field: "initial_per_day" });
    assert_eq!(
        refused(linear(101, 1), 100),
        EmissionError::InitialAboveCap {
            field: "initial_per_day",
            initial: Amount(101),
            cap: Amount(100)
        }
    );
    let halving = |initial, interval_blocks| Curve::Halving {
        initial_per_block: Amount(initial),
        interval_blocks,
    };
    assert_eq!(refused(halving(1, 0), 100), EmissionError::ZeroInterval);
    assert_eq!(
        refused(halving(0, 1), 100),
        EmissionError::ZeroInitial { field: "initial_per_block" }
    );
    assert!(matches!(
        refused(halving(u128::MAX, 1), CAP_MAX.0),
        EmissionError::InitialAboveCap { .. }
    ));
    let supply = |initial| Curve::SupplyHalving { initial_per_block: Amount(initial) };
    assert_eq!(refused(supply(0), 100), EmissionError::ZeroInitial { field: "initial_per_block" });
    assert!(matches!(refused(supply(101), 100), EmissionError::InitialAboveCap { .. }));
}

#[test]
fn bad_presets() {
    assert_eq!(presets::morpheus(0), Err(EmissionError::ZeroBlocksPerDay));
    assert_eq!(presets::bittensor(0), Err(EmissionError::ZeroBlocksPerDay));
    // More blocks a day than base units in a day: nothing per block.
    assert_eq!(
        presets::bittensor(u64::MAX),
        Err(EmissionError::ZeroInitial { field: "initial_per_block" })
    );
    // The extreme but valid pace still works, closed forms included: all of u64 heights is
    // exactly day 0.
    let fast = presets::morpheus(u64::MAX).unwrap();
    assert_eq!(fast.total(), presets::MORPHEUS_INITIAL_PER_DAY);
}

#[test]
fn bad_splits() {
    let bps = Split::DEFAULT.bps();
    assert_eq!(
        Split::new(SplitBps { subnets: 4_001, ..bps }),
        Err(EmissionError::SplitSum { split: "emission", sum: 10_001 })
    );
    assert_eq!(
        Split::new(SplitBps { protection_fund: 0, ..bps }),
        Err(EmissionError::SplitSum { split: "emission", sum: 9_600 })
    );
    // u16 weights whose sum overflows u16 are summed without wrapping.
    let max = SplitBps {
        subnets: u16::MAX,
        data_contributors: u16::MAX,
        compute: u16::MAX,
        chain_validators: u16::MAX,
        protection_fund: u16::MAX,
        community_treasury: u16::MAX,
    };
    assert_eq!(
        Split::new(max),
        Err(EmissionError::SplitSum { split: "emission", sum: 6 * 65_535 })
    );
    // 10_000 + 65_536 − 65_536 would wrap to 10_000 in u16; it must not pass.
    let wrap = SubnetSplitBps { owner: 10_000, miners: 65_535, validators: 1 };
    assert_eq!(
        SubnetSplit::new(wrap),
        Err(EmissionError::SplitSum { split: "subnet", sum: 75_536 })
    );
    assert_eq!(
        SubnetSplit::new(SubnetSplitBps { owner: 1_800, miners: 4_100, validators: 4_000 }),
        Err(EmissionError::SplitSum { split: "subnet", sum: 9_900 })
    );
}

fn params_json() -> serde_json::Value {
    json!({
        "schedule": {
            "curve": {
                "kind": "linear_decay",
                "initial_per_day": "14400000000000",
                "decrease_per_day": "2468994701",
                "blocks_per_day": 86400
            },
            "cap": "42000000000000000"
        },
        "split": {
            "subnets": 4000, "data_contributors": 2400, "compute": 1600,
            "chain_validators": 1200, "protection_fund": 400, "community_treasury": 400
        },
        "subnet_split": { "owner": 1800, "miners": 4100, "validators": 4100 }
    })
}

/// Deserializes `doc` and returns the error message, failing if it was accepted.
fn refused_json(doc: &serde_json::Value) -> String {
    match serde_json::from_value::<EmissionParams>(doc.clone()) {
        Ok(p) => panic!("accepted {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn genesis_json() {
    let params: EmissionParams = serde_json::from_value(params_json()).unwrap();
    assert_eq!(params.schedule, presets::morpheus(86_400).unwrap());
    assert_eq!(params.split, Split::DEFAULT);
    assert_eq!(params.subnet_split, SubnetSplit::DEFAULT);
    assert_eq!(serde_json::to_value(params).unwrap(), params_json());

    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = params_json();
        edit(&mut doc);
        refused_json(&doc)
    };
    let msg = with(&|d| d["split"]["subnets"] = json!(4001));
    assert!(msg.contains("emission basis points sum to 10001"), "{msg}");
    let msg = with(&|d| d["subnet_split"]["owner"] = json!(1000));
    assert!(msg.contains("subnet basis points sum to 9200"), "{msg}");
    let msg = with(&|d| d["schedule"]["curve"]["blocks_per_day"] = json!(0));
    assert!(msg.contains("blocks_per_day is zero"), "{msg}");
    let msg = with(&|d| d["schedule"]["cap"] = json!("0"));
    assert!(msg.contains("cap is zero"), "{msg}");
    let msg = with(&|d| d["schedule"]["cap"] = json!(u128::MAX.to_string()));
    assert!(msg.contains("exceeds the limit"), "{msg}");
    let msg = with(&|d| d["schedule"]["cap"] = json!("1".repeat(40)));
    assert!(msg.contains("number too large"), "{msg}");
    let msg = with(&|d| d["schedule"]["curve"]["kind"] = json!("exponential"));
    assert!(msg.contains("unknown variant"), "{msg}");
    let msg = with(&|d| d["schedule"]["curve"]["extra"] = json!(1));
    assert!(msg.contains("unknown field"), "{msg}");
    let msg = with(&|d| d["split"]["extra"] = json!(1));
    assert!(msg.contains("unknown field"), "{msg}");
    let msg = with(&|d| d["split"]["subnets"] = json!(70_000));
    assert!(msg.contains("invalid value"), "{msg}");
    let msg = with(&|d| d["schedule"]["curve"]["initial_per_day"] = json!(-5));
    assert!(msg.contains("invalid type"), "{msg}");
    let halving = json!({ "kind": "halving", "initial_per_block": "1", "interval_blocks": 0 });
    let msg = with(&|d| d["schedule"]["curve"] = halving.clone());
    assert!(msg.contains("interval_blocks is zero"), "{msg}");
}
