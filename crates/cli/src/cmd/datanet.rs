//! `alx datanet …`: create datanets, contribute files, review, publish versions.

use crate::{
    Globals,
    cmd::wallet::{TxOptions, amount, failure, report},
    output::{emit, hinted},
    wallet,
};
use alx_client::Client;
use alx_types::{
    Address, Amount, Height,
    datanet::{ContributionId, DatanetId, DatanetOp, DatanetSpec, Policy},
    datanet_api::{ContributionJson, DatanetJson},
    tx::Payload,
};
use clap::{Args, Subcommand, ValueEnum};

/// `alx datanet …`.
#[derive(Subcommand)]
pub(crate) enum DatanetCommand {
    /// Create a datanet owned by --from.
    Create(CreateArgs),
    /// List datanets.
    List {
        /// First datanet id.
        #[arg(long, default_value_t = DatanetId(0))]
        from_id: DatanetId,
        /// Most datanets.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// A datanet, its versions and its contributions.
    Show {
        /// Datanet id.
        id: DatanetId,
        /// Only contributions with this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
    },
    /// Contribute files: each is checked, uploaded (signed by --from; the node verifies its
    /// hash), and offered in a signed transaction; then the command waits for the validators
    /// to confirm the data held (approved, pending review, or refused with the evidence:
    /// a wrong size, not text, a copy). Nothing is offered unless every upload succeeded.
    Contribute(super::datanet_data::ContributeArgs),
    /// How much of a contribution earlier versions already hold (check before approving; 80%
    /// or more suggests a near-duplicate).
    Coverage {
        /// Datanet id.
        id: DatanetId,
        /// Contribution id.
        contribution: ContributionId,
    },
    /// Attribute a text (e.g. a model's answer) to a datanet version: spans and shares.
    Attribute(super::datanet_data::AttributeArgs),
    /// Approve a pending contribution (owner or curator); its stake returns to its contributor.
    /// A contribution is pending once the validators confirmed its data held.
    Approve(ReviewArgs),
    /// Reject a pending contribution (owner or curator); its stake goes to the owner.
    Reject(ReviewArgs),
    /// Take back your own pending (or still awaiting-data) contribution; its stake returns to
    /// you.
    Withdraw(ReviewArgs),
    /// Drop a contribution still awaiting its data (owner); its stake returns to its
    /// contributor. Without this it is dropped anyway when its deadline passes.
    Remove(ReviewArgs),
    /// Flag a contribution as a near-duplicate of an earlier one (owner or curator): it stays,
    /// and its data share goes to the protection fund.
    ///
    /// Example: alx datanet flag 0 7 --copies 2 --from alice
    Flag(FlagArgs),
    /// Dispute a near-duplicate flag (anyone, usually its contributor): the validators
    /// measure how much of the contribution the named original covers; under half, the flag
    /// is lifted and your 100 ALX challenge bond returns; otherwise the bond goes to the
    /// protection fund. Watch it with `alx audit disputes`.
    ///
    /// Example: alx datanet dispute-flag 0 7 --from carol
    DisputeFlag(ReviewArgs),
    /// Publish a new version: a Merkle root over every approved contribution (owner).
    Version {
        /// Datanet id.
        id: DatanetId,
        /// The owner's key.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        opts: TxOptions,
    },
}

/// A contribution status, as a filter.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Status {
    /// Waiting for the validators to confirm its data held.
    AwaitingData,
    /// Its data is held; waiting for review.
    Pending,
    /// Part of the datanet.
    Approved,
    /// Refused by a reviewer.
    Rejected,
    /// Taken back.
    Withdrawn,
    /// Its data never arrived.
    Unavailable,
    /// Refused by the validators' verdict (misdeclared size, not text, a copy).
    Refused,
    /// Dropped by the owner while awaiting its data.
    Removed,
}

impl Status {
    const fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingData => "awaiting_data",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Unavailable => "unavailable",
            Self::Refused => "refused",
            Self::Removed => "removed",
        }
    }
}

/// A refusal's evidence, for people.
pub(crate) fn refusal_text(r: &alx_types::availability::Refusal) -> String {
    use alx_types::availability::Refusal;
    match r {
        Refusal::WrongSize { declared, actual } => {
            format!("declared {declared} bytes, the data is {actual}")
        }
        Refusal::Unreadable => "not text of its declared media type".into(),
        Refusal::Duplicate { of } => format!("the same text as contribution #{of}"),
        Refusal::NearDuplicate { coverage_bps, covered_by, against_version } => format!(
            "{:.2}% already in version {against_version}{}",
            f64::from(*coverage_bps) / 100.0,
            covered_by.map(|c| format!(", mostly from #{c}")).unwrap_or_default()
        ),
    }
}

/// `alx datanet create`.
#[derive(Args)]
pub(crate) struct CreateArgs {
    /// Short name: lowercase letters, digits and '-'.
    #[arg(long)]
    name: String,
    /// What data belongs here.
    #[arg(long, default_value = "")]
    description: String,
    /// A topic tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// SPDX license expression of the data, e.g. Apache-2.0 or CC-BY-4.0.
    #[arg(long)]
    license: String,
    /// Who may add data: open (approved on arrival) or approval (by owner or curators).
    #[arg(long, value_enum, default_value_t = PolicyArg::Approval)]
    policy: PolicyArg,
    /// Paid to the owner with every contribution, in ALX.
    #[arg(long, default_value = "0", value_parser = amount)]
    contribution_fee: Amount,
    /// Locked with every contribution until reviewed, in ALX.
    #[arg(long, default_value = "0", value_parser = amount)]
    contribution_stake: Amount,
    /// Most bytes one account may contribute per day (0: no cap).
    #[arg(long, default_value_t = 0)]
    daily_byte_cap: u64,
    /// Refuse a contribution when this share of its text (in basis points: 8000 = 80%) is
    /// already in the datanet, as measured by the validators; 0 turns it off.
    #[arg(long, default_value_t = alx_types::availability::DUPLICATE_THRESHOLD_BPS_DEFAULT, value_parser = clap::value_parser!(u16).range(0..=10_000))]
    duplicate_threshold_bps: u16,
    /// An account that may approve and reject (repeatable): an address or a key name.
    #[arg(long = "curator")]
    curators: Vec<String>,
    /// The owner's key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

/// The contribution policy.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PolicyArg {
    /// Approved on arrival.
    Open,
    /// Reviewed by the owner or a curator.
    Approval,
}

/// Review and withdrawal.
#[derive(Args)]
pub(crate) struct ReviewArgs {
    /// Datanet id.
    id: DatanetId,
    /// Contribution id.
    contribution: ContributionId,
    /// The reviewing (or withdrawing) key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

/// `alx datanet flag`.
#[derive(clap::Args)]
pub(crate) struct FlagArgs {
    /// Datanet id.
    id: DatanetId,
    /// The contribution found to copy another.
    contribution: ContributionId,
    /// The earlier approved contribution it copies: the flag's evidence (check the overlap
    /// first with `alx datanet coverage ID CONTRIBUTION`).
    #[arg(long)]
    copies: ContributionId,
    /// The owner's or a curator's key.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    opts: TxOptions,
}

pub(crate) fn run(g: &Globals, cmd: DatanetCommand) -> anyhow::Result<()> {
    let client = Client::new(&g.node);
    match cmd {
        DatanetCommand::Create(a) => create(g, a),
        DatanetCommand::List { from_id, limit } => {
            let list = client.datanets(from_id, limit)?;
            emit(g.json, &list, || {
                if list.is_empty() {
                    return "no datanets yet (hint: alx datanet create --help)".into();
                }
                list.iter().map(line).collect::<Vec<_>>().join("\n")
            })
        }
        DatanetCommand::Show { id, status } => {
            let shown = client.datanet(id).map_err(|e| not_found(e, id))?;
            let contributions = client.contributions(id, status.map(Status::as_str))?;
            let value = serde_json::json!({
                "datanet": shown.datanet, "versions": shown.versions,
                "indexed_version": shown.indexed_version, "contributions": contributions,
            });
            emit(g.json, &value, || {
                let mut out = vec![line(&shown.datanet)];
                out.push(format!("  {}", shown.datanet.spec.description));
                for v in &shown.versions {
                    out.push(format!(
                        "  version {:>3}  {} contributions, {} bytes, root {}",
                        v.version,
                        v.contributions,
                        v.bytes,
                        alx_types::hash::to_hex(&v.root)
                    ));
                }
                out.extend(contributions.iter().map(contribution_line));
                out.join("\n")
            })
        }
        DatanetCommand::Contribute(a) => super::datanet_data::contribute(g, &client, a),
        DatanetCommand::Coverage { id, contribution } => {
            super::datanet_data::coverage(g, &client, id, contribution)
        }
        DatanetCommand::Attribute(a) => super::datanet_data::attribute(g, &client, &a),
        DatanetCommand::Approve(a) => review(g, a, Some(true)),
        DatanetCommand::Reject(a) => review(g, a, Some(false)),
        DatanetCommand::Withdraw(a) => review(g, a, None),
        DatanetCommand::Remove(a) => {
            let op = DatanetOp::Remove { datanet: a.id, contribution: a.contribution };
            let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Datanet(op), !a.opts.no_wait)?;
            report(g, "removal", &sent)
        }
        DatanetCommand::DisputeFlag(a) => {
            let op = DatanetOp::DisputeFlag { datanet: a.id, contribution: a.contribution };
            let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Datanet(op), !a.opts.no_wait)?;
            report(g, "flag dispute", &sent)
        }
        DatanetCommand::Flag(a) => {
            let op = DatanetOp::FlagNearDuplicate {
                datanet: a.id,
                contribution: a.contribution,
                copies: a.copies,
            };
            let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Datanet(op), !a.opts.no_wait)?;
            report(g, "flag", &sent)
        }
        DatanetCommand::Version { id, from, opts } => {
            let op = DatanetOp::PublishVersion { datanet: id };
            let sent = wallet::send(g, &from, opts.fee, Payload::Datanet(op), !opts.no_wait)?;
            if let Some(err) = failure("version", &sent) {
                return Err(err);
            }
            let version = match &sent.committed {
                Some(c) => published_at(&client, id, c.height)?,
                None => None,
            };
            let value = Created { datanet: Some(id), version, sent: &sent };
            emit(g.json, &value, || match (version, &sent.committed) {
                (Some(v), Some(c)) => format!(
                    "datanet {id} version {v} published: {} committed at height {} (fee {})",
                    sent.hash, c.height, c.receipt.fee_paid
                ),
                _ => format!("version of datanet {id}: {}", sent_line(&sent)),
            })
        }
    }
}

pub(crate) fn not_found(e: alx_client::ClientError, id: DatanetId) -> anyhow::Error {
    if e.is_not_found() {
        hinted(format!("no datanet {id}"), "list them with `alx datanet list`")
    } else {
        e.into()
    }
}

fn line(d: &DatanetJson) -> String {
    let policy = match d.spec.policy {
        Policy::Open => "open",
        Policy::Approval => "approval",
    };
    format!(
        "{:>4}  {:<24} {:<10} {} approved of {} ({} bytes), version {}, owner {}",
        d.id,
        d.spec.name,
        policy,
        d.approved,
        d.contributions,
        d.approved_bytes,
        d.version,
        d.owner
    )
}

fn contribution_line(c: &ContributionJson) -> String {
    let status = if c.near_duplicate { format!("{} (dup)", c.status) } else { c.status.clone() };
    let why = c.refusal.map(|r| format!("  — {}", refusal_text(&r))).unwrap_or_default();
    let due = c.data_due_at.map(|h| format!("  (data due by height {h})")).unwrap_or_default();
    format!(
        "  #{:<5} {:<15} {:>10} bytes  {}  by {}{why}{due}",
        c.id,
        status,
        c.content.size,
        alx_types::hash::to_hex(&c.content.hash),
        c.contributor
    )
}

fn create(g: &Globals, a: CreateArgs) -> anyhow::Result<()> {
    let curators = a
        .curators
        .iter()
        .map(|c| wallet::resolve_address(g, c))
        .collect::<anyhow::Result<Vec<Address>>>()?;
    let spec = DatanetSpec {
        name: a.name,
        description: a.description,
        tags: a.tags,
        license: a.license,
        policy: match a.policy {
            PolicyArg::Open => Policy::Open,
            PolicyArg::Approval => Policy::Approval,
        },
        contribution_fee: a.contribution_fee,
        contribution_stake: a.contribution_stake,
        daily_byte_cap: a.daily_byte_cap,
        curators,
        duplicate_threshold_bps: a.duplicate_threshold_bps,
    };
    let client = Client::new(&g.node);
    let owner = wallet::resolve_address(g, &a.from)?;
    let name = spec.name.clone();
    // Ids are handed out in order: every id below the count now is someone else's.
    let ids_before = datanet_count(&client)?;
    let op = DatanetOp::Create(Box::new(spec));
    let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Datanet(op), !a.opts.no_wait)?;
    if let Some(err) = failure("datanet create", &sent) {
        return Err(err);
    }
    let datanet = match &sent.committed {
        Some(c) => created_id(&client, ids_before, &owner, &name, c.height)?,
        None => None,
    };
    let value = Created { datanet, version: None, sent: &sent };
    emit(g.json, &value, || match (datanet, &sent.committed) {
        (Some(id), Some(c)) => format!(
            "datanet {id} ({name}) created: {} committed at height {} (fee {})\n\
             next: alx datanet contribute {id} FILE --from KEY",
            sent.hash, c.height, c.receipt.fee_paid
        ),
        _ => format!("datanet create: {}", sent_line(&sent)),
    })
}

/// What a create command made, beside its transaction.
#[derive(serde::Serialize)]
struct Created<'a> {
    /// The datanet's id (`null` when not known: not waited for).
    datanet: Option<DatanetId>,
    /// The version published, for `datanet version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(flatten)]
    sent: &'a wallet::Sent,
}

fn sent_line(sent: &wallet::Sent) -> String {
    match &sent.committed {
        Some(c) => format!("{} committed at height {}", sent.hash, c.height),
        None => format!("{} accepted; not waiting for it to be committed", sent.hash),
    }
}

/// Most probes of [`datanet_count`] (2⁶⁴ ids need 64 doublings and 64 halvings).
const COUNT_PROBES_MAX: u32 = 130;
/// Most pages [`created_id`] reads looking for a new datanet.
const CREATED_PAGES_MAX: u64 = 20;
/// Datanets per page read.
const PAGE: u64 = 100;

/// How many datanets exist: ids are dense from 0, so a doubling then a binary search over
/// `GET /api/datanets/{id}` finds the count in O(log n) requests.
fn datanet_count(client: &Client) -> anyhow::Result<u64> {
    let mut probes = 0;
    let mut exists = |id: u64| -> anyhow::Result<bool> {
        probes += 1;
        anyhow::ensure!(probes <= COUNT_PROBES_MAX, "the node's datanet ids are not dense");
        match client.datanet(DatanetId(id)) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    if !exists(0)? {
        return Ok(0);
    }
    // Invariant: id `low` exists, id `high` does not.
    let (mut low, mut high) = (0u64, 1u64);
    while exists(high)? {
        low = high;
        high = high.checked_mul(2).ok_or_else(|| anyhow::anyhow!("too many datanets"))?;
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if exists(mid)? { low = mid } else { high = mid }
    }
    Ok(high)
}

/// The id of the datanet `owner` created under `name` at `height`, looked for from
/// `ids_before` on; `None` if it is not (uniquely) there.
fn created_id(
    client: &Client,
    ids_before: u64,
    owner: &Address,
    name: &str,
    height: Height,
) -> anyhow::Result<Option<DatanetId>> {
    let mut found = Vec::new();
    let mut from = ids_before;
    for _ in 0..CREATED_PAGES_MAX {
        let page = client.datanets(DatanetId(from), PAGE)?;
        found.extend(
            page.iter()
                .filter(|d| d.created_at == height && d.owner == *owner && d.spec.name == name)
                .map(|d| d.id),
        );
        // Creation heights only grow with ids: past `height`, nothing more can match.
        let done = page.len() < PAGE as usize || page.iter().any(|d| d.created_at > height);
        if done {
            break;
        }
        from += PAGE;
    }
    Ok(match found.as_slice() {
        [id] => Some(*id),
        _ => None,
    })
}

/// The latest version of `datanet` published at `height`.
fn published_at(
    client: &Client,
    datanet: DatanetId,
    height: Height,
) -> anyhow::Result<Option<u32>> {
    let shown = client.datanet(datanet)?;
    Ok(shown.versions.iter().filter(|v| v.published_at == height).map(|v| v.version).max())
}

fn review(g: &Globals, a: ReviewArgs, approve: Option<bool>) -> anyhow::Result<()> {
    let (what, op) = match approve {
        Some(approve) => (
            if approve { "approval" } else { "rejection" },
            DatanetOp::Review { datanet: a.id, contribution: a.contribution, approve },
        ),
        None => ("withdrawal", DatanetOp::Withdraw { datanet: a.id, contribution: a.contribution }),
    };
    let sent = wallet::send(g, &a.from, a.opts.fee, Payload::Datanet(op), !a.opts.no_wait)?;
    report(g, what, &sent)
}
