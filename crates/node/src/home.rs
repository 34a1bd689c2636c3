//! The home directory of a local network, as `alx up` creates it:
//!
//! ```text
//! ~/.alexandria/
//!   genesis.json                the chain's genesis (shared by every validator)
//!   keys/                       the wallet keystore (dev keys alice, bob, carol)
//!   config.toml node_key.json data/        one validator (the default)
//!   validators/<i>/{config.toml,node_key.json,data/}   or N validators (--validators N)
//! ```
//!
//! Running `alx up` again on an existing home resumes it.

use crate::{config::NodeConfig, node_key};
use alx_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use alx_types::{Address, Amount};
use anyhow::{Context as _, bail};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use commonware_math::algebra::Random as _;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// Genesis file name.
pub const GENESIS_FILE: &str = "genesis.json";
/// Keystore directory name.
pub const KEYS_DIR: &str = "keys";
/// Names of the funded dev accounts `alx up` creates.
pub const DEV_ACCOUNTS: [&str; 3] = ["alice", "bob", "carol"];
/// Chain id of local dev networks.
pub const DEV_CHAIN_ID: &str = "alx-dev";

/// Creates the home of a node that joins an existing chain: its config (fetching contribution
/// data from `data_peers`), a fresh node key and a copy of the chain's genesis. Returns the
/// node's address (fund it, then register it).
///
/// # Errors
/// If `root` already holds a node, the genesis is invalid, or a file cannot be written.
pub fn init_node(
    root: &Path,
    genesis: &Path,
    api_addr: SocketAddr,
    p2p_addr: SocketAddr,
    data_peers: Vec<String>,
) -> anyhow::Result<Address> {
    let config = root.join(crate::config::CONFIG_FILE);
    if config.exists() {
        bail!("{} already holds a node ({} exists)", root.display(), config.display());
    }
    let parsed = read_genesis(genesis)?;
    std::fs::create_dir_all(root.join("data"))
        .with_context(|| format!("cannot create {}", root.display()))?;
    let mut cfg = NodeConfig::local("node", api_addr, p2p_addr);
    cfg.data.peers = data_peers;
    cfg.validate().context("the new node's configuration")?;
    std::fs::write(root.join(&cfg.genesis_file), serde_json::to_string_pretty(&parsed)?)
        .with_context(|| format!("cannot write the genesis into {}", root.display()))?;
    let key = PrivateKey::random(commonware_utils::rng::sys_rng());
    node_key::write(&root.join(&cfg.key_file), &key)?;
    // The config last: its presence marks a complete home.
    cfg.save(root)?;
    Ok(Address::from_public_key(&key.public_key()))
}

/// How to lay out a new local network.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Number of validators.
    pub validators: usize,
    /// API address of validator 0; validator i listens on the next ports.
    pub api_addr: SocketAddr,
    /// p2p port of validator 0; validator i listens on `p2p_port + i`.
    pub p2p_port: u16,
    /// More accounts to fund with 1,000,000 ALX each (benchmarks, tests).
    pub funded: Vec<Address>,
    /// Blocks per epoch (the validator set may change between epochs).
    pub epoch_length: u64,
    /// What the chain mints and who gets it (see [`emission_params`]).
    pub emission: alx_emission::EmissionParams,
}

impl DevOptions {
    /// One validator on the default ports, epochs of [`DEV_EPOCH_LENGTH`] blocks.
    #[must_use]
    pub fn new(validators: usize, api_addr: SocketAddr, p2p_port: u16) -> Self {
        Self {
            validators,
            api_addr,
            p2p_port,
            funded: vec![],
            epoch_length: DEV_EPOCH_LENGTH,
            emission: alx_emission::presets::Preset::Alexandria
                .params(alx_types::datanet::BLOCKS_PER_DAY)
                .expect("the preset is valid at the chain's pace"),
        }
    }
}

/// The emission of a new chain from `--emission`: a preset's name (`alexandria`, `morpheus`,
/// `bittensor`), or a TOML file of [`alx_emission::EmissionParams`] (`[schedule]` with its
/// `cap` and `[schedule.curve]`, `[split]`, `[subnet_split]`), validated: splits summing to
/// exactly 10,000 basis points, a cap within bounds.
///
/// # Errors
/// Neither a preset nor a readable, valid file.
pub fn emission_params(spec: &str) -> anyhow::Result<alx_emission::EmissionParams> {
    use alx_emission::presets::Preset;
    if let Some(preset) = Preset::named(spec) {
        return preset
            .params(alx_types::datanet::BLOCKS_PER_DAY)
            .with_context(|| format!("the {spec} preset"));
    }
    let path = Path::new(spec);
    if !path.exists() {
        anyhow::bail!(
            "{spec:?} is neither a preset ({}) nor a file",
            Preset::ALL.map(Preset::name).join(", ")
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not valid emission parameters", path.display()))
}

/// Blocks per epoch of a local network unless told otherwise (about 100 s when idle).
pub const DEV_EPOCH_LENGTH: u64 = 100;

/// A local network's layout.
#[derive(Clone, Debug)]
pub struct DevHome {
    /// The home directory.
    pub root: PathBuf,
    /// Each validator's node home.
    pub nodes: Vec<PathBuf>,
    /// True if this call created it.
    pub created: bool,
}

/// Reads a genesis file.
pub fn read_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid genesis file", path.display()))?;
    genesis.validate().with_context(|| format!("invalid genesis {}", path.display()))?;
    Ok(genesis)
}

/// The node homes of an existing local network, or `None` if `root` has none.
pub fn existing(root: &Path) -> anyhow::Result<Option<DevHome>> {
    if !root.join(GENESIS_FILE).exists() {
        return Ok(None);
    }
    let multi = root.join("validators");
    let nodes = if multi.is_dir() {
        let mut nodes: Vec<(usize, PathBuf)> = std::fs::read_dir(&multi)?
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
            .collect();
        nodes.sort();
        nodes.into_iter().map(|(_, p)| p).collect()
    } else {
        vec![root.to_path_buf()]
    };
    Ok(Some(DevHome { root: root.to_path_buf(), nodes, created: false }))
}

/// Creates a local network in `root` (which must not hold one yet): validator keys, the dev
/// accounts in the keystore, a genesis funding them, and one config per validator.
pub fn init_dev(root: &Path, opts: &DevOptions) -> anyhow::Result<DevHome> {
    if opts.validators == 0 || opts.validators > 16 {
        bail!("--validators must be between 1 and 16 for a local network");
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let keystore = alx_keys::Keystore::open(root.join(KEYS_DIR))?;
    let mut accounts = Vec::new();
    for name in DEV_ACCOUNTS {
        let info = match keystore.info(name) {
            Ok(info) => info,
            Err(_) => keystore.create(name, None)?.0,
        };
        accounts.push(GenesisAccount { address: info.address, balance: alx(1_000_000) });
    }
    for address in &opts.funded {
        accounts.push(GenesisAccount { address: *address, balance: alx(1_000_000) });
    }
    let mut rng = commonware_utils::rng::sys_rng();
    let mut validators = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..opts.validators {
        let node_home = if opts.validators == 1 {
            root.to_path_buf()
        } else {
            root.join("validators").join(i.to_string())
        };
        std::fs::create_dir_all(node_home.join("data"))?;
        let key = PrivateKey::random(&mut rng);
        let address = Address::from_public_key(&key.public_key());
        let api_addr = SocketAddr::new(opts.api_addr.ip(), opts.api_addr.port() + i as u16);
        let p2p_addr = SocketAddr::new(opts.api_addr.ip(), opts.p2p_port + i as u16);
        // Listening on every interface is fine; peers still need one address they can dial.
        let dial_ip = if p2p_addr.ip().is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            p2p_addr.ip()
        };
        let mut cfg = NodeConfig::local(&format!("validator-{i}"), api_addr, p2p_addr);
        if opts.validators > 1 {
            cfg.genesis_file = PathBuf::from("../..").join(GENESIS_FILE);
            // Each validator fetches contribution data uploaded to another from its API.
            let api_ip = if api_addr.ip().is_unspecified() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                api_addr.ip()
            };
            cfg.data.peers = (0..opts.validators)
                .filter(|j| *j != i)
                .map(|j| {
                    format!("http://{}", SocketAddr::new(api_ip, opts.api_addr.port() + j as u16))
                })
                .collect();
        }
        node_key::write(&node_home.join(&cfg.key_file), &key)?;
        cfg.save(&node_home)?;
        validators.push(GenesisValidator {
            address,
            stake: alx(1_000_000),
            p2p_addr: SocketAddr::new(dial_ip, p2p_addr.port()),
        });
        // Validators pay fees for their own operations.
        accounts.push(GenesisAccount { address, balance: alx(1_000) });
        nodes.push(node_home);
    }
    let validator_addresses: Vec<_> = validators.iter().map(|v| v.address).collect();
    let genesis = Genesis {
        chain_id: DEV_CHAIN_ID.parse().expect("valid chain id"),
        params: Params {
            min_fee: Amount(1_000),
            epoch_length: opts.epoch_length,
            validators_max: 100,
        },
        accounts,
        validators,
        // A preset or a file (`alx up --emission`); by default DESIGN.md's split on Morpheus's
        // published schedule (14,400 ALX a day at one block a second, falling by 2.468994701 a
        // day).
        emission: Some(opts.emission),
        // Each node serves models as a bonded provider, so API keys can name it at once; the
        // bond caps what it settles per epoch (10,000 ALX).
        providers: validator_addresses
            .iter()
            .map(|&address| alx_state::GenesisProvider { address, bond: alx(10_000) })
            .collect(),
    };
    genesis.validate()?;
    let path = root.join(GENESIS_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&genesis)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(DevHome { root: root.to_path_buf(), nodes, created: true })
}

fn alx(n: u128) -> Amount {
    Amount::from_alx(n).expect("small constant")
}
