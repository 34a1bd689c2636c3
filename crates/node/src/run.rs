//! Running a validator node: the runtime, the ledger, the p2p network, consensus and the API,
//! until Ctrl-C or a fatal error.

use crate::{
    config::{CONFIG_FILE, NodeConfig},
    error::{Listener, StartError},
    home::read_genesis,
    node_key,
};
use alx_consensus::{
    network::{self, NetworkConfig},
    validator,
};
use alx_types::Address;
use anyhow::Context as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{
    Metrics as _, Runner as _, Spawner as _, Supervisor as _, tokio as cw_tokio,
};
use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};
use tracing::{error, info, warn};

/// What a started node reports once it serves.
#[derive(Clone, Debug)]
pub struct Ready {
    /// The API's address.
    pub api_addr: SocketAddr,
    /// The validator's address.
    pub validator: Address,
}

/// Stops a node started with [`run`] when fired (or dropped).
pub type StopSignal = tokio::sync::oneshot::Receiver<()>;

/// Settings given on the command line for one run, instead of the config's (never saved).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Where the API listens instead of `api_addr`.
    pub api_addr: Option<SocketAddr>,
    /// Where the p2p endpoint listens instead of `p2p_addr`.
    pub p2p_addr: Option<SocketAddr>,
    /// Models served merged besides `[gateway] merge`.
    pub merge: Vec<String>,
}

/// Runs the node of `home` until Ctrl-C or `stop` (returns `Ok`), or a fatal error. `on_ready`
/// is called once the API listens.
pub fn run(
    home: &Path,
    api_addr: Option<SocketAddr>,
    on_ready: impl FnOnce(&Ready) + Send + 'static,
    stop: Option<StopSignal>,
) -> anyhow::Result<()> {
    run_with(home, Overrides { api_addr, ..Overrides::default() }, on_ready, stop)
}

/// Binds `addr` for `listener`, or says which address is taken and where it is configured.
///
/// # Errors
/// [`StartError::Listen`] if the address cannot be bound (another process holds it, or this
/// machine has no such address).
pub fn bind(
    listener: Listener,
    addr: SocketAddr,
    home: &Path,
) -> Result<std::net::TcpListener, StartError> {
    std::net::TcpListener::bind(addr).map_err(|source| StartError::Listen {
        listener,
        addr,
        config: home.join(CONFIG_FILE),
        source,
    })
}

/// Runs the node of `home` like [`run`], with the addresses of `overrides`.
///
/// Before it opens anything it takes the home's lock and checks both listeners' addresses, so
/// a second node on the same home or ports stops with a [`StartError`] (a clear message the
/// CLI turns into a hint) rather than a store's refusal or a panic deep in the p2p layer.
pub fn run_with(
    home: &Path,
    overrides: Overrides,
    on_ready: impl FnOnce(&Ready) + Send + 'static,
    stop: Option<StopSignal>,
) -> anyhow::Result<()> {
    let mut cfg = NodeConfig::load(home)?;
    cfg.api_addr = overrides.api_addr.unwrap_or(cfg.api_addr);
    cfg.p2p_addr = overrides.p2p_addr.unwrap_or(cfg.p2p_addr);
    cfg.gateway.merge.extend(overrides.merge);
    let _lock = crate::lock::lock(home)?;
    let api_std = bind(Listener::Api, cfg.api_addr, home)?;
    api_std.set_nonblocking(true).context("cannot configure the API listener")?;
    // Port 0 asks the system for one: report the port actually served.
    let api_addr_served = api_std.local_addr().unwrap_or(cfg.api_addr);
    // The p2p layer binds its own listener, and panics when it cannot: check the address
    // here. Another process could take it in between; that race is not worth an unsafe hand-off.
    drop(bind(Listener::P2p, cfg.p2p_addr, home)?);
    let genesis = read_genesis(&home.join(&cfg.genesis_file))?;
    let nofile = crate::descriptors::raise_limit();
    let api_limits = cfg.api.limits(nofile);
    let key = node_key::read(&home.join(&cfg.key_file))?;
    let me = Address::from_public_key(&key.public_key());
    let data = home.join(&cfg.data_dir);
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let ledger = crate::chain::open_ledger(&cfg, &data.join("chain.redb"), &genesis)
        .context("cannot open the ledger")?;
    {
        // Only candidates are dialed by the validators; anyone else waits for no one.
        let state = &ledger.committed().state;
        if state.validator(&me).context("cannot read the state")?.is_none() {
            warn!(
                validator = %me,
                "this node's key is not a registered validator: peers will not connect to it \
                 (register with `alx stake register`, then bond stake)"
            );
        }
    }
    let blobs = alx_blobs::BlobStore::open(
        &cfg.blobs,
        &data,
        &data.join("blob-staging"),
        alx_types::datanet::CONTRIBUTION_SIZE_MAX,
    )
    .context("cannot open the blob store (see [blobs] in config.toml)")?;
    let peers = alx_blobs::Peers::new(cfg.data.peers.clone(), std::time::Duration::from_secs(60))
        .context("cannot set up the data peers (see [data] in config.toml)")?;
    let indexes = Arc::new(
        alx_indexer::DatanetIndexes::new(&data.join("index"), blobs.clone()).with_peers(peers),
    );
    let validator_cfg = cfg.validator_config(key.clone(), "alx");
    let net_cfg = NetworkConfig { listen: cfg.p2p_addr };
    let runtime = cw_tokio::Config::new()
        .with_worker_threads(2)
        .with_catch_panics(false)
        .with_storage_directory(data.join("consensus"));
    info!(moniker = %cfg.moniker, validator = %me, height = %ledger.committed().block.height(), "starting node");
    cw_tokio::Runner::new(runtime).start(|context| async move {
        let api_listener = tokio::net::TcpListener::from_std(api_std)
            .context("cannot hand the API listener to the runtime")?;
        let started = network::start(context.child("p2p"), &key, &net_cfg);
        let mut running = validator::start(
            context.child("validator"),
            ledger.clone(),
            validator_cfg,
            started.oracle.clone(),
            started.oracle.clone(),
            started.channels,
        )
        .await
        .context("cannot start consensus")?;
        let metrics_ctx = Mutex::new(context.child("api_metrics"));
        let connections = Arc::new(alx_api::ConnectionStats::default());
        let started_gateway: Arc<std::sync::OnceLock<Arc<alx_gateway::Gateway>>> = Arc::default();
        let stats_source = started_gateway.clone();
        let receipt_source = started_gateway.clone();
        let batch_source = started_gateway.clone();
        let uploads = Arc::new(alx_api::UploadPolicy::new(
            me,
            cfg.uploads.min_balance()?,
            cfg.uploads.bytes_per_hour,
            cfg.uploads.bytes_per_hour_total,
        ));
        // The services below see the chain only through this view (see `alx_ledger::view`).
        let chain: Arc<dyn alx_ledger::ChainView> = ledger.clone();
        let history = Arc::new(
            alx_history::History::open(&data.join("history.redb"), &chain.genesis().digest())
                .context("cannot open the history index")?,
        );
        let state = alx_api::ApiState {
            history: history.clone(),
            uploads,
            audit: Arc::default(),
            connections: connections.clone(),
            chain: chain.clone(),
            metrics: Arc::new(move || {
                let mut text = metrics_ctx.lock().map(|c| c.encode()).unwrap_or_default();
                if let Some(g) = stats_source.get() {
                    text.push_str(&g.stats().render());
                }
                text
            }),
            receipts: Arc::new(move |id| receipt_source.get()?.receipts().by_id(id)),
            batches: Arc::new(move |provider, first| {
                batch_source.get()?.settled_batch(provider, first)
            }),
            finalizations: {
                let certificates = running.certificates.clone();
                Arc::new(move |height| {
                    let certificates = certificates.clone();
                    Box::pin(async move { certificates.finalization(height).await })
                })
            },
            version: env!("CARGO_PKG_VERSION"),
            light_genesis: Arc::new(alx_types::api::LightGenesis {
                chain_id: genesis.chain_id.as_str().to_owned(),
                epoch_length: genesis.params.epoch_length,
                validators: genesis.validators.iter().map(|v| v.address).collect(),
            }),
            blobs,
            indexes: indexes.clone(),
        };
        let indexer_chain = chain.clone();
        let indexer_indexes = indexes.clone();
        let _indexer = context
            .child("indexer")
            .spawn(move |_| crate::indexer::run(indexer_chain, indexer_indexes));
        let history_chain = chain.clone();
        let _history =
            context.child("history").spawn(move |_| crate::history::run(history_chain, history));
        let (reporter_chain, reporter_indexes, reporter_key) =
            (chain.clone(), indexes.clone(), key.clone());
        let _reporter = context.child("data_reports").spawn(move |_| {
            crate::availability::run(reporter_chain, reporter_indexes, reporter_key)
        });
        let (collector_chain, collector_blobs) = (chain.clone(), indexes.blobs().clone());
        let grace = std::time::Duration::from_secs(cfg.data.unreferenced_grace_secs);
        let every = std::time::Duration::from_secs(cfg.data.collect_interval_secs);
        let _collector = context
            .child("blob_collector")
            .spawn(move |_| crate::collect::run(collector_chain, collector_blobs, grace, every));
        if cfg.gateway.workers < cfg.gateway.batch_max {
            tracing::warn!(
                workers = cfg.gateway.workers,
                batch_max = cfg.gateway.batch_max,
                hint = "raise [gateway] workers in config.toml (homes made before batching have 1)",
                "the gateway serves at most `workers` requests at once, fewer than a batch holds"
            );
        }
        let load = alx_model::LoadConfig {
            threads: model_threads(cfg.gateway.threads),
            ..alx_model::LoadConfig::DEFAULT
        };
        let adapter_source =
            alx_gateway::BlobAdapters::new(indexes.blobs().clone(), indexes.peers().clone())
                .map_err(anyhow::Error::msg)?;
        let backend = alx_gateway::LocalBackend::new(
            alx_gateway::Catalog::new(&home.join(&cfg.gateway.models_dir), load),
            alx_gateway::BatchLimits {
                batch_max: cfg.gateway.batch_max,
                cache_budget_bytes: cfg.gateway.cache_budget_mib << 20,
            },
        )
        .with_adapters(alx_gateway::Adapters::new(
            Some(Arc::new(adapter_source)),
            cfg.gateway.adapter_memory_mib << 20,
        ))
        .with_merged(cfg.gateway.merge.clone());
        let gateway = alx_gateway::Gateway::new(
            chain.clone(),
            indexes.clone(),
            Arc::new(backend),
            &data.join("receipts"),
            key.clone(),
            alx_gateway::GatewayConfig {
                queue_max: cfg.gateway.queue_max,
                workers: cfg.gateway.workers,
                max_tokens_max: cfg.gateway.max_tokens_max,
                settle_interval: std::time::Duration::from_secs(cfg.gateway.settle_interval_secs),
                repetition_penalty: cfg.gateway.repetition_penalty,
                ..alx_gateway::GatewayConfig::default()
            },
        )
        .context("cannot start the gateway")?;
        let _ = started_gateway.set(gateway.clone());
        let (juror_chain, juror_gateway, juror_key) = (chain.clone(), gateway.clone(), key.clone());
        let juror_indexes = indexes.clone();
        let _juror = context.child("juror").spawn(move |_| {
            crate::disputes::run(juror_chain, juror_gateway, juror_indexes, juror_key)
        });
        // The explorer page at `/`, over the same API (issue 17).
        let api = alx_api::router(state).merge(gateway.router()).merge(alx_explorer::router());
        let _settler = context.child("settler").spawn(move |_| gateway.run_settler());
        info!(
            connections_max = api_limits.connections_max,
            per_ip = api_limits.connections_per_ip_max,
            nofile,
            "API listener limits"
        );
        let api_task = context.child("api").spawn(move |_| async move {
            alx_api::serve(api_listener, api, api_limits, connections)
                .await
                .context("API server failed")
        });
        on_ready(&Ready { api_addr: api_addr_served, validator: me });
        let result = tokio::select! {
            _ = tokio::signal::ctrl_c() => { info!("shutting down"); Ok(()) }
            _ = async move {
                match stop {
                    Some(rx) => { let _ = rx.await; }
                    None => std::future::pending::<()>().await,
                }
            } => { info!("stopped"); Ok(()) }
            r = running.finalizer => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("ledger failed")),
                Err(e) => Err(anyhow::anyhow!("finalizer task ended: {e:?}")),
            },
            r = &mut running.orchestrator => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("epoch transition failed")),
                Err(e) => Err(anyhow::anyhow!("consensus task ended: {e:?}")),
            },
            r = api_task => match r {
                Ok(r) => r,
                Err(e) => Err(anyhow::anyhow!("API task ended: {e:?}")),
            },
        };
        if let Err(e) = &result {
            error!(err = %format!("{e:#}"), "node stopped");
        }
        // Stop the consensus engine first, then signal every task to wind down, so that
        // shutdown does not read as a cascade of failures in the logs.
        running.orchestrator.abort();
        let _ = context.stop(0, Some(std::time::Duration::from_secs(3))).await;
        result
    })
}

/// The model's threads for `[gateway] threads`: the number given, or for 0 the process-wide
/// choice (`CANDLE_NUM_THREADS`, else `RAYON_NUM_THREADS`, which candle's kernels read too),
/// else every core the process may use. Parallel kernels collapse when other processes hold
/// the cores, so a machine running several nodes (or tests) sets the variable or the key.
fn model_threads(configured: usize) -> std::num::NonZeroUsize {
    let from_env = || {
        ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.trim().parse::<usize>().ok())
            .and_then(std::num::NonZeroUsize::new)
    };
    std::num::NonZeroUsize::new(configured)
        .or_else(from_env)
        .or_else(|| std::thread::available_parallelism().ok())
        .unwrap_or(std::num::NonZeroUsize::MIN)
}
