//! Running a validator node: the runtime, the ledger, the p2p network, consensus and the API,
//! until Ctrl-C or a fatal error.

use crate::{config::NodeConfig, home::read_genesis, node_key};
use alx_consensus::{
    AppConfig, Ledger, MempoolConfig, Timeouts, ValidatorConfig,
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

/// Runs the node of `home` until Ctrl-C or `stop` (returns `Ok`), or a fatal error. `on_ready`
/// is called once the API listens.
pub fn run(
    home: &Path,
    api_addr: Option<SocketAddr>,
    on_ready: impl FnOnce(&Ready) + Send + 'static,
    stop: Option<StopSignal>,
) -> anyhow::Result<()> {
    let mut cfg = NodeConfig::load(home)?;
    if let Some(addr) = api_addr {
        cfg.api_addr = addr;
    }
    let genesis = read_genesis(&home.join(&cfg.genesis_file))?;
    let nofile = crate::descriptors::raise_limit();
    let api_limits = cfg.api.limits(nofile);
    let key = node_key::read(&home.join(&cfg.key_file))?;
    let me = Address::from_public_key(&key.public_key());
    let data = home.join(&cfg.data_dir);
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let mempool = MempoolConfig {
        capacity: cfg.mempool.capacity,
        per_sender_max: cfg.mempool.per_sender_max,
    };
    let ledger = Arc::new(
        Ledger::open(&data.join("chain.redb"), &genesis, mempool)
            .context("cannot open the ledger")?,
    );
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
    let (leader, certification, empty_block_interval) = cfg.timeouts();
    let validator_cfg = ValidatorConfig {
        signer: key.clone(),
        partition_prefix: "alx".into(),
        app: AppConfig { empty_block_interval, block_txs_max: cfg.consensus.block_txs_max },
        timeouts: Timeouts { leader, certification },
    };
    let net_cfg = NetworkConfig { listen: cfg.p2p_addr };
    let runtime = cw_tokio::Config::new()
        .with_worker_threads(2)
        .with_catch_panics(false)
        .with_storage_directory(data.join("consensus"));
    info!(moniker = %cfg.moniker, validator = %me, height = %ledger.committed().block.height(), "starting node");
    cw_tokio::Runner::new(runtime).start(|context| async move {
        let api_listener =
            tokio::net::TcpListener::bind(cfg.api_addr).await.with_context(|| {
                format!("cannot listen on {} for the API (in use? pass --api-addr)", cfg.api_addr)
            })?;
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
        let gateway_stats: Arc<std::sync::OnceLock<Arc<alx_gateway::Gateway>>> = Arc::default();
        let stats_source = gateway_stats.clone();
        let uploads = Arc::new(alx_api::UploadPolicy::new(
            me,
            cfg.uploads.min_balance()?,
            cfg.uploads.bytes_per_hour,
            cfg.uploads.bytes_per_hour_total,
        ));
        let state = alx_api::ApiState {
            uploads,
            audit: Arc::default(),
            connections: connections.clone(),
            ledger: ledger.clone(),
            metrics: Arc::new(move || {
                let mut text = metrics_ctx.lock().map(|c| c.encode()).unwrap_or_default();
                if let Some(g) = stats_source.get() {
                    text.push_str(&g.stats().render());
                }
                text
            }),
            version: env!("CARGO_PKG_VERSION"),
            blobs,
            indexes: indexes.clone(),
        };
        let indexer_ledger = ledger.clone();
        let indexer_indexes = indexes.clone();
        let _indexer = context
            .child("indexer")
            .spawn(move |_| crate::indexer::run(indexer_ledger, indexer_indexes));
        let (reporter_ledger, reporter_indexes, reporter_key) =
            (ledger.clone(), indexes.clone(), key.clone());
        let _reporter = context.child("data_reports").spawn(move |_| {
            crate::availability::run(reporter_ledger, reporter_indexes, reporter_key)
        });
        let (collector_ledger, collector_blobs) = (ledger.clone(), indexes.blobs().clone());
        let grace = std::time::Duration::from_secs(cfg.data.unreferenced_grace_secs);
        let every = std::time::Duration::from_secs(cfg.data.collect_interval_secs);
        let _collector = context
            .child("blob_collector")
            .spawn(move |_| crate::collect::run(collector_ledger, collector_blobs, grace, every));
        let load = alx_model::LoadConfig {
            threads: std::num::NonZeroUsize::new(cfg.gateway.threads)
                .unwrap_or(std::num::NonZeroUsize::MIN),
            ..alx_model::LoadConfig::DEFAULT
        };
        let gateway = alx_gateway::Gateway::new(
            ledger.clone(),
            indexes.clone(),
            alx_gateway::Catalog::new(&home.join(&cfg.gateway.models_dir), load),
            &data.join("receipts"),
            key.clone(),
            alx_gateway::GatewayConfig {
                queue_max: cfg.gateway.queue_max,
                workers: cfg.gateway.workers,
                max_tokens_max: cfg.gateway.max_tokens_max,
                settle_interval: std::time::Duration::from_secs(cfg.gateway.settle_interval_secs),
                ..alx_gateway::GatewayConfig::default()
            },
        )
        .context("cannot start the gateway")?;
        let _ = gateway_stats.set(gateway.clone());
        let api = alx_api::router(state).merge(gateway.router());
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
        on_ready(&Ready { api_addr: cfg.api_addr, validator: me });
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
