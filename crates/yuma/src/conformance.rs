//! The JSON-in/JSON-out driver behind `alx yuma run`: a subnet state, a list of chain
//! operations, and the result of every epoch among them. The format is documented in the
//! crate README; this module is its only implementation.
//!
//! Unknown fields are refused everywhere: a misspelt parameter would otherwise silently take
//! its default and produce a vector for a different subnet.

use crate::{
    EpochOutput, Params, StateInit, SubnetState, YumaError, epoch,
    params::activity_cutoff_for_tempo, state::Row,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use substrate_fixed::types::I32F32;

/// Why a conformance input was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// Not JSON, or not the documented shape.
    #[error("malformed input: {0}")]
    Json(#[from] serde_json::Error),
    /// The parameters are out of range.
    #[error("params: {0}")]
    Params(#[source] YumaError),
    /// The initial state is inconsistent.
    #[error("state: {0}")]
    State(#[source] YumaError),
    /// A weight or bond map has a key that is not a uid.
    #[error("state.{field}: key {key:?} is not a uid")]
    BadKey {
        /// `weights` or `bonds`.
        field: &'static str,
        /// The key.
        key: String,
    },
    /// An operation was refused; the ones before it were applied.
    #[error("ops[{index}] ({op}): {reason}")]
    Op {
        /// Position in `ops`.
        index: usize,
        /// The operation's name.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Parameters; absent ones take [`Params::subtensor_defaults`], and an absent
/// `activity_cutoff_blocks` is derived from `tempo` as subtensor does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsJson {
    yuma3: Option<bool>,
    liquid_alpha: Option<bool>,
    kappa_u16: Option<u16>,
    bonds_penalty_u16: Option<u16>,
    bonds_moving_average: Option<u64>,
    alpha_low_u16: Option<u16>,
    alpha_high_u16: Option<u16>,
    alpha_sigmoid_steepness: Option<i16>,
    stake_threshold: Option<u64>,
    tempo: Option<u16>,
    activity_cutoff_blocks: Option<u64>,
    max_allowed_validators: Option<u16>,
    bonds_reset_enabled: Option<bool>,
    emission: Option<u64>,
}

/// Base units paid per epoch when `params.emission` is absent: one token of 10^9 base units.
pub const EMISSION_DEFAULT: u64 = 1_000_000_000;

impl ParamsJson {
    fn resolve(&self) -> Params {
        let d = Params::subtensor_defaults();
        let tempo = self.tempo.unwrap_or(d.tempo);
        Params {
            yuma3: self.yuma3.unwrap_or(d.yuma3),
            liquid_alpha: self.liquid_alpha.unwrap_or(d.liquid_alpha),
            kappa: self.kappa_u16.unwrap_or(d.kappa),
            bonds_penalty: self.bonds_penalty_u16.unwrap_or(d.bonds_penalty),
            bonds_moving_average: self.bonds_moving_average.unwrap_or(d.bonds_moving_average),
            alpha_low: self.alpha_low_u16.unwrap_or(d.alpha_low),
            alpha_high: self.alpha_high_u16.unwrap_or(d.alpha_high),
            alpha_sigmoid_steepness: self
                .alpha_sigmoid_steepness
                .unwrap_or(d.alpha_sigmoid_steepness),
            stake_threshold: self.stake_threshold.unwrap_or(d.stake_threshold),
            tempo,
            activity_cutoff_blocks: self
                .activity_cutoff_blocks
                .unwrap_or_else(|| activity_cutoff_for_tempo(tempo)),
            max_allowed_validators: self.max_allowed_validators.unwrap_or(d.max_allowed_validators),
            bonds_reset_enabled: self.bonds_reset_enabled.unwrap_or(d.bonds_reset_enabled),
        }
    }
}

/// The initial state. `n` and `stake` are required; absent lists are all-false / all-zero /
/// empty.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateJson {
    n: usize,
    #[serde(default)]
    current_block: u64,
    #[serde(default)]
    last_epoch_block: u64,
    #[serde(default)]
    owner_uid: Option<u16>,
    stake: Vec<u64>,
    validator_permit: Option<Vec<bool>>,
    block_at_registration: Option<Vec<u64>>,
    last_update: Option<Vec<u64>>,
    #[serde(default)]
    weights: BTreeMap<String, Vec<(u16, u16)>>,
    #[serde(default)]
    bonds: BTreeMap<String, Vec<(u16, u16)>>,
}

fn rows(
    field: &'static str,
    map: BTreeMap<String, Row>,
    n: usize,
) -> Result<Vec<Row>, ConformanceError> {
    let mut out = vec![Vec::new(); n];
    for (key, row) in map {
        let bad = || ConformanceError::BadKey { field, key: key.clone() };
        let uid: u64 = key.parse().map_err(|_| bad())?;
        let slot = usize::try_from(uid)
            .ok()
            .and_then(|u| out.get_mut(u))
            .ok_or(ConformanceError::State(YumaError::UidOutOfRange { field, uid, n }))?;
        *slot = row;
    }
    Ok(out)
}

impl StateJson {
    fn into_state(self) -> Result<SubnetState, ConformanceError> {
        let n = self.n;
        if n > crate::limits::UIDS_MAX {
            return Err(ConformanceError::State(YumaError::TooManyUids {
                n,
                max: crate::limits::UIDS_MAX,
            }));
        }
        if self.stake.len() != n {
            return Err(ConformanceError::State(YumaError::LengthMismatch {
                field: "stake",
                len: self.stake.len(),
                n,
            }));
        }
        let init = StateInit {
            current_block: self.current_block,
            last_epoch_block: self.last_epoch_block,
            owner_uid: self.owner_uid,
            stake: self.stake,
            validator_permit: self.validator_permit.unwrap_or_else(|| vec![false; n]),
            block_at_registration: self.block_at_registration.unwrap_or_else(|| vec![0; n]),
            last_update: self.last_update.unwrap_or_else(|| vec![0; n]),
            weights: rows("weights", self.weights, n)?,
            bonds: rows("bonds", self.bonds, n)?,
        };
        SubnetState::new(init).map_err(ConformanceError::State)
    }
}

/// One chain operation.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Op {
    // A struct variant, so deny_unknown_fields applies to it too (a unit variant would let
    // `{"op": "epoch", "n": 1}` through).
    Epoch {},
    AdvanceBlocks { n: u64 },
    SetBlock { block: u64 },
    SetWeights { uids: Vec<u16>, dests: Vec<u16>, values: Vec<Vec<u16>> },
    ReplaceUid { uid: u16, stake: u64 },
    ResetBonds { uid: u16 },
}

impl Op {
    const fn name(&self) -> &'static str {
        match self {
            Self::Epoch {} => "epoch",
            Self::AdvanceBlocks { .. } => "advance_blocks",
            Self::SetBlock { .. } => "set_block",
            Self::SetWeights { .. } => "set_weights",
            Self::ReplaceUid { .. } => "replace_uid",
            Self::ResetBonds { .. } => "reset_bonds",
        }
    }
}

/// The whole input document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    params: ParamsJson,
    state: StateJson,
    #[serde(default)]
    ops: Vec<Op>,
}

/// One epoch's results. Fixed-point values are JSON numbers holding the exact value (every
/// `I32F32` the epoch produces is exactly representable in a binary64 number, and the JSON
/// text is the shortest one that reads back to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochJson {
    /// The block the epoch ran at.
    pub block: u64,
    /// Consensus, exact.
    pub consensus: Vec<f64>,
    /// Incentive, exact.
    pub incentive: Vec<f64>,
    /// Dividends, exact.
    pub dividends: Vec<f64>,
    /// Validator trust, exact.
    pub validator_trust: Vec<f64>,
    /// Consensus as stored.
    pub consensus_u16: Vec<u16>,
    /// Incentive as stored.
    pub incentive_u16: Vec<u16>,
    /// Dividends as stored.
    pub dividends_u16: Vec<u16>,
    /// Validator trust as stored.
    pub validator_trust_u16: Vec<u16>,
    /// Normalized stake as stored.
    pub stake_weight_u16: Vec<u16>,
    /// Whether each uid was active.
    pub active: Vec<bool>,
    /// The new permits.
    pub validator_permit: Vec<bool>,
    /// Stored bonds after the epoch as `[i, j, u16]`, row by row in stored order.
    pub bonds: Vec<[u16; 3]>,
    /// Base units per uid (normalized incentive + dividends).
    pub emission: Vec<u64>,
    /// Base units per uid for serving.
    pub server_emission: Vec<u64>,
    /// Base units per uid for validating.
    pub validator_emission: Vec<u64>,
}

/// The output document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// One entry per `epoch` operation, in order.
    pub epochs: Vec<EpochJson>,
}

fn exact(values: &[I32F32]) -> Vec<f64> {
    // Exact: |bits| < 2^53 for every value the epoch produces (all are at most n ≤ 4096).
    values.iter().map(|v| v.to_num::<f64>()).collect()
}

impl From<EpochOutput> for EpochJson {
    fn from(o: EpochOutput) -> Self {
        let bonds = o
            .bonds
            .iter()
            .enumerate()
            .flat_map(|(i, row)| {
                let i = crate::sparse::column(i);
                row.iter().map(move |&(j, b)| [i, j, b])
            })
            .collect();
        Self {
            block: o.block,
            consensus: exact(&o.consensus),
            incentive: exact(&o.incentive),
            dividends: exact(&o.dividends),
            validator_trust: exact(&o.validator_trust),
            consensus_u16: EpochOutput::to_u16(&o.consensus),
            incentive_u16: EpochOutput::to_u16(&o.incentive),
            dividends_u16: EpochOutput::to_u16(&o.dividends),
            validator_trust_u16: EpochOutput::to_u16(&o.validator_trust),
            stake_weight_u16: EpochOutput::to_u16(&o.stake_weight),
            active: o.active,
            validator_permit: o.validator_permit,
            bonds,
            emission: o.emission,
            server_emission: o.server_emission,
            validator_emission: o.validator_emission,
        }
    }
}

fn apply(
    params: &Params,
    emission: u64,
    state: &mut SubnetState,
    op: Op,
    out: &mut Vec<EpochJson>,
) -> Result<(), YumaError> {
    match op {
        Op::Epoch {} => out.push(epoch(params, state, emission).into()),
        Op::AdvanceBlocks { n } => state.advance_blocks(n)?,
        Op::SetBlock { block } => state.set_block(block),
        Op::SetWeights { uids, dests, values } => {
            if values.len() != uids.len() {
                return Err(YumaError::LengthMismatch {
                    field: "set_weights.values",
                    len: values.len(),
                    n: uids.len(),
                });
            }
            let mut rows = Vec::with_capacity(uids.len());
            for (uid, row) in uids.into_iter().zip(values) {
                if row.len() != dests.len() {
                    return Err(YumaError::LengthMismatch {
                        field: "set_weights.values[row]",
                        len: row.len(),
                        n: dests.len(),
                    });
                }
                rows.push((uid, dests.iter().copied().zip(row).collect()));
            }
            state.set_weights(rows)?;
        }
        Op::ReplaceUid { uid, stake } => state.replace_uid(uid, stake)?,
        Op::ResetBonds { uid } => state.reset_bonds(params, uid)?,
    }
    Ok(())
}

/// Runs a conformance document (see the crate README) and returns one result per epoch.
///
/// ```
/// let out = alx_yuma::conformance::run(
///     r#"{"state": {"n": 2, "current_block": 1, "stake": [1, 1], "validator_permit": [true, true]},
///         "ops": [{"op": "set_weights", "uids": [0], "dests": [1], "values": [[65535]]},
///                 {"op": "epoch"}]}"#,
/// )
/// .unwrap();
/// assert_eq!(out.epochs[0].incentive_u16, vec![0, 65535]);
/// ```
pub fn run(input: &str) -> Result<Output, ConformanceError> {
    let input: Input = serde_json::from_str(input)?;
    let params = input.params.resolve();
    params.validate().map_err(ConformanceError::Params)?;
    let emission = input.params.emission.unwrap_or(EMISSION_DEFAULT);
    let mut state = input.state.into_state()?;
    let mut epochs = Vec::new();
    for (index, op) in input.ops.into_iter().enumerate() {
        let name = op.name();
        apply(&params, emission, &mut state, op, &mut epochs)
            .map_err(|e| ConformanceError::Op { index, op: name, reason: e.to_string() })?;
    }
    Ok(Output { epochs })
}
