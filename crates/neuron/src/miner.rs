//! A subnet miner. It makes sure the node can serve the model (copying the weights into the
//! node's model directory, where the gateway finds them by content hash), takes a miner uid
//! with the model and its endpoint, then reports the uid's incentive and emission after every
//! subnet epoch. Serving itself is the node's gateway.
//!
//! ```text
//! the model is not the key's                 → NotModelOwner (nothing sent)
//! the key holds a validator uid              → UidIsValidator (nothing sent)
//! no uid                                     → RegisterMiner
//! every subnet epoch                         → Epoch { incentive, consensus, emission }
//! the uid went to another account (pruned)   → Pruned
//! ```

use crate::{NeuronError, chain::Chain};
use alx_types::{
    Amount, ErrorCode,
    model_api::ModelJson,
    subnet::{SubnetId, SubnetOp, Uid},
    subnet_api::NeuronRole,
    tx::Payload,
};
use std::path::{Path, PathBuf};

/// What [`run`] does.
#[derive(Clone, Debug)]
pub struct MinerConfig {
    /// The subnet, by id or name.
    pub subnet: String,
    /// The key's name, for messages and hints.
    pub key: String,
    /// Where validators and users reach the model (an http(s) URL).
    pub endpoint: String,
    /// Stop after this many subnet epochs (`None`: run until stopped).
    pub epochs: Option<u64>,
}

/// What the miner did, for progress lines and `--json` events.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MinerEvent {
    /// The miner runs as this uid.
    Joined {
        /// The subnet.
        subnet: SubnetId,
        /// Its name.
        name: String,
        /// The uid.
        uid: Uid,
        /// The model served.
        model: String,
        /// Where.
        endpoint: String,
    },
    /// A subnet epoch ran.
    Epoch {
        /// Epochs the subnet has run.
        epoch: u64,
        /// The uid.
        uid: Uid,
        /// Its incentive (of 65535).
        incentive: u16,
        /// Its consensus weight (of 65535).
        consensus: u16,
        /// What the epoch paid it.
        last_emission: Amount,
    },
}

impl std::fmt::Display for MinerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Joined { subnet, name, uid, model, endpoint } => write!(
                f,
                "miner uid {uid} in subnet {subnet} ({name}) serving {model} through {endpoint} \
                 (or model \"subnet/{name}\" while it leads)"
            ),
            Self::Epoch { epoch, incentive, last_emission, .. } => write!(
                f,
                "epoch {epoch}: incentive {:.4}, emission {last_emission}",
                f64::from(*incentive) / 65_535.0
            ),
        }
    }
}

/// Copies `weights` into `models_dir` (unless a file of that name is there), so that the
/// node serving from that directory finds them by content hash.
pub fn install_weights(weights: &Path, models_dir: &Path) -> Result<PathBuf, NeuronError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| NeuronError::Io { path, source }
    };
    std::fs::create_dir_all(models_dir).map_err(io(models_dir))?;
    let name = weights.file_name().ok_or_else(|| NeuronError::Io {
        path: weights.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
    })?;
    let dest = models_dir.join(name);
    if !dest.exists() {
        std::fs::copy(weights, &dest).map_err(io(weights))?;
    }
    Ok(dest)
}

/// Runs a miner of `model` in `config.subnet` as `chain`'s signer (see the module docs).
pub fn run(
    chain: &dyn Chain,
    model: &ModelJson,
    config: &MinerConfig,
    on_event: &mut dyn FnMut(&MinerEvent),
) -> Result<(), NeuronError> {
    let me = chain.signer();
    if model.owner != me {
        return Err(NeuronError::NotModelOwner {
            key: config.key.clone(),
            model: model.spec.name.clone(),
            owner: model.owner,
        });
    }
    let subnet = chain.subnet(&config.subnet)?;
    let id = subnet.id;
    let uid = take_uid(chain, model, config, id)?;
    on_event(&MinerEvent::Joined {
        subnet: id,
        name: subnet.spec.name.clone(),
        uid,
        model: model.spec.name.clone(),
        endpoint: config.endpoint.clone(),
    });
    let mut seen = subnet.epochs;
    let mut epochs = 0u64;
    while config.epochs.is_none_or(|n| epochs < n) {
        seen = loop {
            let s = chain.subnet(&id.to_string())?;
            if s.epochs > seen {
                break s.epochs;
            }
            chain.pause()?;
        };
        epochs += 1;
        let graph = chain.metagraph(id)?;
        let n = graph
            .neurons
            .iter()
            .find(|n| n.uid == uid && n.address == me)
            .ok_or(NeuronError::Pruned { subnet: id, uid })?;
        on_event(&MinerEvent::Epoch {
            epoch: seen,
            uid,
            incentive: n.incentive,
            consensus: n.consensus,
            last_emission: n.last_emission,
        });
    }
    Ok(())
}

/// The miner uid `chain`'s signer holds in subnet `id`, registering `model` if it holds none.
fn take_uid(
    chain: &dyn Chain,
    model: &ModelJson,
    config: &MinerConfig,
    id: SubnetId,
) -> Result<Uid, NeuronError> {
    let me = chain.signer();
    let own = || -> Result<_, NeuronError> {
        Ok(chain.metagraph(id)?.neurons.into_iter().find(|n| n.address == me))
    };
    match own()? {
        Some(n) if n.kind == NeuronRole::Validator => {
            Err(NeuronError::UidIsValidator { key: config.key.clone(), subnet: id, uid: n.uid })
        }
        Some(n) => Ok(n.uid),
        None => {
            let op = SubnetOp::RegisterMiner {
                subnet: id,
                model: model.id,
                endpoint: config.endpoint.clone(),
            };
            let landed = chain.send(Payload::Subnet(op))?;
            if landed.failed {
                return Err(NeuronError::TxFailed {
                    what: "subnet register-miner",
                    hash: landed.hash,
                    height: landed.height,
                    code: landed.error,
                    hint: register_hint(landed.error, &config.key),
                });
            }
            own()?.map(|n| n.uid).ok_or_else(|| NeuronError::NotRegistered {
                key: config.key.clone(),
                address: me,
                subnet: id,
            })
        }
    }
}

fn register_hint(code: Option<ErrorCode>, key: &str) -> String {
    match code {
        Some(ErrorCode::SubnetFull) => "every uid is taken and none can be replaced yet (uids \
             are immune for a while after registering, the owner's always)"
            .into(),
        Some(ErrorCode::NotModelOwner | ErrorCode::ModelRetired) => {
            "serve a model registered by --from and not retired (`alx model list`)".into()
        }
        Some(ErrorCode::BadEndpoint) => "give an http:// or https:// URL with a host".into(),
        Some(ErrorCode::InsufficientFunds) => {
            format!("registering pays the subnet's burn; check `alx balance {key}`")
        }
        _ => "see `alx tx show HASH`".into(),
    }
}
