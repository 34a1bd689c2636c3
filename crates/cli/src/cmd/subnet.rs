//! `alx subnet …`: create subnets, register miners and validators, read metagraphs and epochs,
//! and commit and reveal weights by hand (`weights`, over `alx-neuron`).

use crate::{
    Globals,
    cmd::{
        model::datanet_version,
        wallet::{TxOptions, amount},
        weights,
    },
    output::{TxFailed, emit, hinted},
    wallet::{self, Sent},
};
use alx_client::Client;
use alx_types::{
    Address, Amount, ErrorCode,
    model::DatanetVersionRef,
    subnet::{SubnetId, SubnetOp, SubnetSpec, Uid, is_endpoint},
    subnet_api::{MetagraphJson, SubnetJson},
    tx::Payload,
};
use clap::{Args, Subcommand};

/// `alx subnet …`.
#[derive(Subcommand)]
pub(crate) enum SubnetCommand {
    /// Create a subnet owned by --from: a competition of models on the held-out split of its
    /// datanets. Locks 100 ALX, paid out as the subnet's first emission.
    Create(CreateArgs),
    /// List subnets.
    List,
    /// One subnet, by id or name: its task, datanets, hyperparameters and pending emission.
    Show {
        /// Id or name.
        subnet: String,
    },
    /// Every uid of a subnet: kind, address, model, stake, permit and the last epoch's results.
    Metagraph {
        /// Id or name.
        subnet: String,
    },
    /// A subnet's last epochs (up to 64): what the owner and the uids were paid.
    Epochs {
        /// Id or name.
        subnet: String,
    },
    /// Take a uid as a miner serving a model you own at an http(s) endpoint (pays the
    /// subnet's registration burn).
    RegisterMiner(RegisterMinerArgs),
    /// Take a uid as a validator, which scores miners and sets weights (pays the subnet's
    /// registration burn). Bonded stake earns a validator permit.
    RegisterValidator {
        /// Id or name.
        subnet: String,
        /// Your key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Seal a private evaluation set (subnet owner): commit to a `.jsonl` (question/answer
    /// lines) or text file on chain while keeping it private; reveal it from the next subnet
    /// epoch on. Validators score each miner on the latest set revealed after it registered,
    /// which its model cannot have been trained on. The salt is saved in HOME/evals.
    SealEval {
        /// Id or name.
        subnet: String,
        /// The set: a `.jsonl` file of {"question", "answer"} lines, or text.
        #[arg(long)]
        file: std::path::PathBuf,
        /// The subnet owner's key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Publish a sealed evaluation set (uploads it, then reveals it on chain).
    RevealEval {
        /// Id or name.
        subnet: String,
        /// The seal's number (`alx subnet evals SUBNET`).
        #[arg(long)]
        seal: u64,
        /// The subnet owner's key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// A subnet's evaluation sets: sealed, and revealed with their blobs.
    Evals {
        /// Id or name.
        subnet: String,
    },
    /// Turn liquid alpha on (subnet owner, Yuma3 subnets): each bond follows its weight at a
    /// rate between --low and --high (x / 65535; subtensor's range: 1638 ≤ low ≤ high), faster
    /// where a validator's weight departs from consensus. `--off` turns it off.
    SetLiquidAlpha {
        /// Id or name.
        subnet: String,
        /// The subnet owner's key.
        #[arg(long)]
        from: String,
        /// Lowest rate, x / 65535 (subtensor's default 45875: 0.7).
        #[arg(long, default_value_t = 45_875, conflicts_with = "off")]
        low: u16,
        /// Highest rate, x / 65535 (subtensor's default 58982: 0.9).
        #[arg(long, default_value_t = 58_982, conflicts_with = "off")]
        high: u16,
        /// Turn it off (the bounds are kept).
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// The weights a uid last revealed.
    Weights {
        /// Id or name.
        subnet: String,
        /// The uid.
        uid: Uid,
    },
    /// Commit weights (validators with a permit): sends their hash with a random salt, and
    /// saves the weights and salt in `<home>/weights/` for `alx subnet reveal` in the next
    /// subnet epoch. Pays the default fee.
    Commit(CommitArgs),
    /// Reveal the weights saved by `alx subnet commit`, in the subnet epoch after the commit.
    /// Pays the default fee.
    Reveal {
        /// Id or name.
        subnet: String,
        /// The key that committed.
        #[arg(long)]
        from: String,
    },
}

/// `alx subnet create`.
#[derive(Args)]
pub(crate) struct CreateArgs {
    /// Short name: lowercase letters, digits and '-' (unique on chain).
    #[arg(long)]
    name: String,
    /// What the models compete on (at most 256 bytes).
    #[arg(long)]
    task: String,
    /// A datanet version whose held-out split defines the evaluation, as DATANET@VERSION
    /// (repeatable, 1 to 8).
    #[arg(long = "datanet", value_parser = datanet_version, required = true)]
    datanets: Vec<DatanetVersionRef>,
    /// Blocks per epoch (10 to 10000).
    #[arg(long, default_value_t = 100)]
    tempo: u16,
    /// Most uids (2 to 256).
    #[arg(long, default_value_t = 64)]
    max_uids: u16,
    /// Most validator permits (1 to 64, at most --max-uids).
    #[arg(long, default_value_t = 16)]
    max_validators: u16,
    /// Paid by every registration into the subnet's emission, in ALX.
    #[arg(long, default_value = "1", value_parser = amount)]
    registration_burn: Amount,
    /// Blocks after registration during which a uid cannot be replaced (at most 100000).
    #[arg(long, default_value_t = 200)]
    immunity_blocks: u64,
    /// Yuma3 bonds instead of the legacy ones.
    #[arg(long)]
    yuma3: bool,
    /// The owner's key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

/// `alx subnet register-miner`.
#[derive(Args)]
pub(crate) struct RegisterMinerArgs {
    /// Id or name.
    subnet: String,
    /// The model served (id or name; registered and owned by --from).
    #[arg(long)]
    model: String,
    /// Where validators reach it: an http:// or https:// URL.
    #[arg(long)]
    endpoint: String,
    /// The miner's key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

/// `alx subnet commit`.
#[derive(Args)]
pub(crate) struct CommitArgs {
    /// Id or name.
    subnet: String,
    /// The validator's key.
    #[arg(long)]
    from: String,
    /// Weights as UID=VALUE,… with VALUE in 0..=65535; each row is normalized, so only the
    /// ratios matter (e.g. 3=3,5=1 gives uid 3 three times uid 5's share).
    #[arg(long, value_parser = weight_list)]
    weights: WeightList,
}

/// Parsed `--weights`.
#[derive(Clone)]
pub(crate) struct WeightList(Vec<(Uid, u16)>);

fn weight_list(text: &str) -> Result<WeightList, String> {
    text.split(',')
        .map(|pair| {
            let (uid, value) = pair.trim().split_once('=').ok_or("expected UID=VALUE,…")?;
            let uid = uid.trim().parse().map_err(|_| format!("bad uid {uid:?}"))?;
            let value =
                value.trim().parse().map_err(|_| format!("bad value {value:?} (0 to 65535)"))?;
            Ok((uid, value))
        })
        .collect::<Result<_, String>>()
        .map(WeightList)
}

pub(crate) fn run(g: &Globals, cmd: SubnetCommand) -> anyhow::Result<()> {
    dispatch(g, cmd).inspect_err(|err| print_failure(g, err))
}

fn dispatch(g: &Globals, cmd: SubnetCommand) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    match cmd {
        SubnetCommand::Create(a) => create(g, a),
        SubnetCommand::List => {
            let subnets = client.subnets()?;
            emit(g.json, &subnets, || {
                if subnets.is_empty() {
                    return "no subnets yet (hint: alx subnet create --help)".into();
                }
                subnets.iter().map(line).collect::<Vec<_>>().join("\n")
            })
        }
        SubnetCommand::Show { subnet } => {
            let s = find(&client, &subnet)?;
            emit(g.json, &s, || details(&s))
        }
        SubnetCommand::Metagraph { subnet } => {
            let m = client.metagraph(&find(&client, &subnet)?.id.to_string())?;
            emit(g.json, &m, || super::subnet_table::metagraph(&m))
        }
        SubnetCommand::Epochs { subnet } => {
            let e = client.subnet_epochs(&find(&client, &subnet)?.id.to_string())?;
            emit(g.json, &e, || super::subnet_table::epochs(&subnet, &e))
        }
        SubnetCommand::RegisterMiner(a) => register_miner(g, a),
        SubnetCommand::RegisterValidator { subnet, from, opts } => {
            let s = find(&client, &subnet)?;
            let op = SubnetOp::RegisterValidator { subnet: s.id };
            let sent = wallet::send(g, &from, opts.fee, Payload::Subnet(op), !opts.no_wait)?;
            registered(g, "subnet register-validator", &s, &from, sent)
        }
        SubnetCommand::SealEval { subnet, file, from, opts } => {
            super::subnet_eval::seal(g, &find(&client, &subnet)?.id, &file, &from, &opts)
        }
        SubnetCommand::RevealEval { subnet, seal, from, opts } => {
            super::subnet_eval::reveal(g, &find(&client, &subnet)?.id, seal, &from, &opts)
        }
        SubnetCommand::Evals { subnet } => super::subnet_eval::list(g, &find(&client, &subnet)?.id),
        SubnetCommand::SetLiquidAlpha { subnet, from, low, high, off, opts } => {
            let s = find(&client, &subnet)?;
            let op = SubnetOp::SetLiquidAlpha {
                subnet: s.id,
                enabled: !off,
                alpha_low: low,
                alpha_high: high,
            };
            let sent = wallet::send(g, &from, opts.fee, Payload::Subnet(op), !opts.no_wait)?;
            if let Some(failed) = sent.failure("subnet set-liquid-alpha", |code| match code {
                Some(ErrorCode::NotSubnetOwner) => {
                    format!("only subnet {}'s owner ({}) sets it", s.id, s.owner)
                }
                Some(ErrorCode::LiquidAlphaNeedsYuma3) => {
                    "liquid alpha applies to Yuma3 bonds: this subnet was created without --yuma3"
                        .into()
                }
                Some(ErrorCode::AlphaHighTooLow | ErrorCode::AlphaLowOutOfRange) => {
                    "pass 1638 ≤ --low ≤ --high (each x / 65535)".into()
                }
                _ => "see `alx tx show HASH`".into(),
            }) {
                return Err(failed.into());
            }
            let out = Outcome { subnet: Some(s.id), uid: None, sent: &sent };
            emit(g.json, &out, || match (&sent.committed, off) {
                (Some(t), false) => format!(
                    "liquid alpha on in subnet {} at height {} (rates {low}–{high} / 65535)",
                    s.id, t.height
                ),
                (Some(t), true) => {
                    format!("liquid alpha off in subnet {} at height {}", s.id, t.height)
                }
                (None, _) => {
                    format!("subnet set-liquid-alpha {} accepted; not waiting for it", sent.hash)
                }
            })
        }
        SubnetCommand::Weights { subnet, uid } => {
            let row = client.weights_row(&find(&client, &subnet)?.id.to_string(), uid)?;
            emit(g.json, &row, || super::subnet_table::weights(&row))
        }
        SubnetCommand::Commit(a) => commit(g, &client, a),
        SubnetCommand::Reveal { subnet, from } => reveal(g, &client, &subnet, &from),
    }
}

fn commit(g: &Globals, client: &Client, a: CommitArgs) -> anyhow::Result<()> {
    let s = find(client, &a.subnet)?;
    let (dests, values): (Vec<Uid>, Vec<u16>) = a.weights.0.into_iter().unzip();
    let c = weights::commit(g, &a.from, &s, &dests, &values)?;
    emit(g.json, &c, || {
        format!(
            "commit {} committed at height {}: uid {} sets {} weights in subnet {}\n\
             saved to {}; reveal it after block {} with `alx subnet reveal {} --from {}`",
            c.landed.hash,
            c.landed.height,
            c.uid,
            dests.len(),
            s.id,
            c.saved.display(),
            s.schedule().end_of(c.landed.height),
            s.id,
            a.from
        )
    })
}

fn reveal(g: &Globals, client: &Client, subnet: &str, from: &str) -> anyhow::Result<()> {
    let s = find(client, subnet)?;
    let r = weights::reveal(g, from, &s)?;
    emit(g.json, &r, || {
        format!(
            "reveal {} committed at height {}: uid {} set {} weights in subnet {}; they \
             count at the epoch of block {}",
            r.landed.hash,
            r.landed.height,
            r.uid,
            r.weights.len(),
            s.id,
            s.schedule().end_of(r.landed.height)
        )
    })
}

/// With `--json`, a failed receipt also goes to stdout, as `report` does for other commands.
fn print_failure(g: &Globals, err: &anyhow::Error) {
    if let Some(f) = err.downcast_ref::<TxFailed>().filter(|_| g.json) {
        let value = serde_json::json!({
            "hash": f.hash,
            "height": f.height,
            "status": "failed",
            "error": f.code.map(ErrorCode::as_str),
        });
        let _ = emit(true, &value, String::new);
    }
}

/// A subnet by id or name, with a hint when there is none.
fn find(client: &Client, subnet: &str) -> anyhow::Result<SubnetJson> {
    client.subnet(subnet).map_err(|e| {
        if e.is_not_found() {
            hinted(format!("no subnet {subnet}"), "list them with `alx subnet list`")
        } else {
            e.into()
        }
    })
}

fn create(g: &Globals, a: CreateArgs) -> anyhow::Result<()> {
    let spec = SubnetSpec {
        name: a.name.clone(),
        task: a.task,
        datanets: a.datanets,
        tempo: a.tempo,
        max_uids: a.max_uids,
        max_validators: a.max_validators,
        registration_burn: a.registration_burn,
        immunity_blocks: a.immunity_blocks,
        yuma3: a.yuma3,
    };
    let op = SubnetOp::Create(Box::new(spec));
    let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Subnet(op), !a.opts.no_wait)?;
    if let Some(failed) = sent.failure("subnet create", |code| match code {
        Some(ErrorCode::BadSubnetField) => "check the rules in `alx subnet create --help`: a \
             free [a-z0-9-] name, published datanet versions, each datanet once"
            .into(),
        Some(ErrorCode::InsufficientFunds) => {
            "creating a subnet locks 100 ALX; check `alx balance KEY`".into()
        }
        _ => "see `alx tx show HASH`".into(),
    }) {
        return Err(failed.into());
    }
    // The id is known once the transaction is committed.
    let id = match sent.committed {
        Some(_) => Some(Client::new(&g.node).subnet(&a.name)?.id),
        None => None,
    };
    let out = Outcome { subnet: id, uid: None, sent: &sent };
    emit(g.json, &out, || match id {
        Some(id) => format!(
            "subnet {id} ({}) created by {} at height {}\nnext: alx subnet register-validator \
             {id} --from KEY, alx subnet register-miner {id} --model M --endpoint URL --from KEY",
            a.name,
            a.from,
            sent.committed.as_ref().map_or(0, |t| t.height.0),
        ),
        None => format!("subnet create {} accepted; not waiting for it", sent.hash),
    })
}

fn register_miner(g: &Globals, a: RegisterMinerArgs) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    let s = find(&client, &a.subnet)?;
    if !is_endpoint(&a.endpoint) {
        return Err(hinted(
            format!("{:?} is not a miner endpoint", a.endpoint),
            "give an http:// or https:// URL with a host, at most 256 bytes, no spaces",
        ));
    }
    let model = client.model(&a.model).map_err(|e| {
        if e.is_not_found() {
            hinted(format!("no model {}", a.model), "register one with `alx model register`")
        } else {
            e.into()
        }
    })?;
    let op = SubnetOp::RegisterMiner { subnet: s.id, model: model.id, endpoint: a.endpoint };
    let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Subnet(op), !a.opts.no_wait)?;
    registered(g, "subnet register-miner", &s, &a.from, sent)
}

/// Reports a registration: the failure with its code and a fix, or the uid taken.
fn registered(
    g: &Globals,
    what: &str,
    s: &SubnetJson,
    from: &str,
    sent: Sent,
) -> anyhow::Result<()> {
    let id = s.id;
    if let Some(failed) = sent.failure(what, |code| match code {
        Some(ErrorCode::AlreadyRegistered) => {
            format!("{from} already holds a uid here; see `alx subnet metagraph {id}`")
        }
        Some(ErrorCode::SubnetFull) => format!(
            "every uid is taken and none can be replaced yet (uids are immune for {} blocks \
             after registering, the owner's always)",
            s.spec.immunity_blocks
        ),
        Some(ErrorCode::NotModelOwner | ErrorCode::ModelRetired) => {
            "serve a model registered by --from and not retired (`alx model list`)".into()
        }
        Some(ErrorCode::InsufficientFunds) => format!(
            "registering pays the subnet's burn of {}; check `alx balance {from}`",
            s.spec.registration_burn
        ),
        _ => "see `alx tx show HASH`".into(),
    }) {
        return Err(failed.into());
    }
    let uid = match sent.committed {
        Some(_) => {
            let address = wallet::resolve_address(g, from)?;
            own_uid(&Client::new(&g.node).metagraph(&id.to_string())?, &address)
        }
        None => None,
    };
    let out = Outcome { subnet: Some(id), uid, sent: &sent };
    emit(g.json, &out, || match uid {
        Some(uid) => format!(
            "{what} {} committed at height {}: {from} holds uid {uid} in subnet {id}",
            sent.hash,
            sent.committed.as_ref().map_or(0, |t| t.height.0)
        ),
        None => format!("{what} {} accepted; not waiting for it", sent.hash),
    })
}

/// The uid `address` holds in `graph`, if any.
fn own_uid(graph: &MetagraphJson, address: &Address) -> Option<Uid> {
    graph.neurons.iter().find(|n| n.address == *address).map(|n| n.uid)
}

/// What a subnet transaction did: the transaction, and the subnet or uid it made.
#[derive(serde::Serialize)]
struct Outcome<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    subnet: Option<SubnetId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<Uid>,
    #[serde(flatten)]
    sent: &'a Sent,
}

fn line(s: &SubnetJson) -> String {
    format!(
        "{:>4}  {:<24} {:>3} uids, tempo {}, pending {}, {} epochs — {}",
        s.id, s.spec.name, s.neurons, s.spec.tempo, s.pending, s.epochs, s.spec.task
    )
}

fn details(s: &SubnetJson) -> String {
    let datanets: Vec<String> =
        s.spec.datanets.iter().map(|d| format!("{}@{}", d.datanet, d.version)).collect();
    format!(
        "subnet {} ({})\n  task              {}\n  owner             {}\n  datanets          {}\n  \
         uids              {} of {} ({} validator permits)\n  tempo             {} blocks{}\n  \
         registration burn {}\n  immunity          {} blocks\n  pending emission  {}\n  \
         epochs            {} (last at block {}, next at block {})\n  created at        {}",
        s.id,
        s.spec.name,
        s.spec.task,
        s.owner,
        datanets.join(", "),
        s.neurons,
        s.spec.max_uids,
        s.spec.max_validators,
        s.spec.tempo,
        match (s.spec.yuma3, s.liquid_alpha.enabled) {
            (true, true) => format!(
                ", Yuma3 bonds, liquid alpha {}–{} / 65535",
                s.liquid_alpha.alpha_low, s.liquid_alpha.alpha_high
            ),
            (true, false) => ", Yuma3 bonds".to_owned(),
            _ => String::new(),
        },
        s.spec.registration_burn,
        s.spec.immunity_blocks,
        s.pending,
        s.epochs,
        s.last_epoch_block,
        s.next_epoch_block,
        s.created_at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_lists() {
        let ok = |text: &str| weight_list(text).map(|w| w.0).unwrap();
        assert_eq!(ok("1=65535"), vec![(1, 65_535)]);
        assert_eq!(ok("3=3, 5=1"), vec![(3, 3), (5, 1)]);
        for bad in ["", "1", "1=", "=1", "1=65536", "x=1", "1=0.5", "1=1;2=2"] {
            assert!(weight_list(bad).is_err(), "{bad:?}");
        }
    }
}
