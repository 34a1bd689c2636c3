//! The networks the ledger benchmark measures: one validator in this process, or four as
//! `alx up` processes on loopback. Each is a guard that stops its nodes when dropped, so that
//! every path out of the benchmark (an error included) stops them before their home goes away.

use crate::BenchError;
use alx_client::Client;
use alx_node::home::{DevOptions, init_dev};
use alx_types::{Address, Height};
use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// How long a fresh one-validator network may take to finalize its first block.
const COLD_START_1V_MAX: Duration = Duration::from_secs(60);
/// The same for four validator processes.
const COLD_START_4V_MAX: Duration = Duration::from_secs(120);
/// How often the benchmark polls for a new block.
const POLL: Duration = Duration::from_millis(10);
/// How long the four-validator network's processes may take to be gone once killed.
const STOP_4V_MAX: Duration = Duration::from_secs(10);
/// Starts of the four-validator network tried: a port picked free may be taken by another
/// process before `alx up` binds it.
const START_4V_TRIES: usize = 3;
/// Validators of the network `alx up` runs: as many API ports and p2p ports from their bases.
const VALIDATORS_4V: u16 = 4;

/// A one-validator node running on a thread of this process.
pub(super) struct SingleNode {
    /// A client of its API.
    pub(super) client: Client,
    /// From laying out the home to the first finalized block, in milliseconds.
    pub(super) cold_start_ms: f64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl SingleNode {
    /// Lays out a one-validator home in `dir` funding `funded`, starts its node and waits for
    /// the first finalized block.
    pub(super) fn start(dir: &Path, funded: Vec<Address>) -> Result<Self, BenchError> {
        let api = loopback(free_port()?);
        let start = Instant::now();
        let home = init_dev(dir, &DevOptions { funded, ..DevOptions::new(1, api, free_port()?) })
            .map_err(BenchError::Home)?;
        let node_home = home.nodes[0].clone();
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let thread =
            std::thread::spawn(move || alx_node::run(&node_home, None, |_| {}, Some(stop_rx)));
        let mut node = Self {
            client: Client::new(&format!("http://{api}")),
            cold_start_ms: 0.0,
            stop: Some(stop),
            thread: Some(thread),
        };
        let Self { client, thread, .. } = &mut node;
        wait_height(client, Height(1), COLD_START_1V_MAX, || stopped(thread))?;
        node.cold_start_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(node)
    }
}

/// The node's error if its thread has ended: it was never asked to stop, so ending at all is a
/// failure.
fn stopped(thread: &mut Option<JoinHandle<anyhow::Result<()>>>) -> Option<BenchError> {
    if !thread.as_ref().is_some_and(JoinHandle::is_finished) {
        return None;
    }
    Some(match thread.take()?.join() {
        Ok(Err(e)) => BenchError::Node(e),
        Ok(Ok(())) => BenchError::Node(anyhow::anyhow!("it stopped before its first block")),
        Err(_) => BenchError::Panicked("benchmark node"),
    })
}

impl Drop for SingleNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The node may already have stopped; there is nothing left to tell it then.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Four validators run by `alx up` as a child process, in a temporary home. `alx up` and the
/// validator processes it starts share a process group of their own, killed whole when the
/// guard drops: killing `alx up` alone would leave its validators to notice on their own.
pub(super) struct FourNodes {
    /// A client of validator 0's API.
    pub(super) client: Client,
    /// From laying out the home to the first finalized block, in milliseconds.
    pub(super) cold_start_ms: f64,
    child: Child,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl FourNodes {
    /// Lays out a four-validator home funding `funded`, then runs `alx up` (the binary `alx`)
    /// on it and waits for the first finalized block; a start whose `alx up` exits (a port
    /// taken meanwhile) is tried again on other ports, [`START_4V_TRIES`] times in all.
    pub(super) fn start(alx: &Path, funded: &[Address]) -> Result<Self, BenchError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(alx, funded.to_vec()) {
                Err(BenchError::Node(_)) if tries < START_4V_TRIES => {}
                other => return other,
            }
        }
    }

    fn start_once(alx: &Path, funded: Vec<Address>) -> Result<Self, BenchError> {
        let dir = tempfile::tempdir().map_err(BenchError::io("create a temporary directory"))?;
        let api_base = free_ports(VALIDATORS_4V, None)?;
        let api = loopback(api_base);
        let p2p_port = free_ports(VALIDATORS_4V, Some(api_base))?;
        let start = Instant::now();
        // Lay out the home here so the keys are funded, then let `alx up` resume it.
        init_dev(dir.path(), &DevOptions { funded, ..DevOptions::new(4, api, p2p_port) })
            .map_err(BenchError::Home)?;
        // Its errors are kept for the report of a start that failed.
        let log = std::fs::File::create(dir.path().join(UP_LOG))
            .map_err(BenchError::io("create the log of `alx up`"))?;
        let child = Command::new(alx)
            .arg("--home")
            .arg(dir.path())
            .args(["up", "--api-addr", &api.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(BenchError::io("start `alx up`"))?;
        let mut nodes =
            Self { client: Client::new(&format!("http://{api}")), cold_start_ms: 0.0, child, dir };
        let Self { client, child, dir, .. } = &mut nodes;
        let log = dir.path().join(UP_LOG);
        wait_height(client, Height(1), COLD_START_4V_MAX, || exited(child, &log))?;
        nodes.cold_start_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(nodes)
    }
}

/// Where `alx up`'s errors go, in its home.
const UP_LOG: &str = "alx-up.log";
/// The end of that log quoted in an error, in bytes.
const UP_LOG_QUOTED: usize = 2048;

/// Why `alx up` is gone, if it is, with the end of what it said (`log`).
fn exited(child: &mut Child, log: &Path) -> Option<BenchError> {
    match child.try_wait() {
        Ok(None) => None,
        Ok(Some(status)) => {
            let said = std::fs::read(log).unwrap_or_default();
            let tail = String::from_utf8_lossy(&said[said.len().saturating_sub(UP_LOG_QUOTED)..]);
            let tail = tail.trim();
            Some(BenchError::Node(anyhow::anyhow!("`alx up` exited ({status}): {tail}")))
        }
        Err(source) => Some(BenchError::Io { what: "watch `alx up`", source }),
    }
}

impl Drop for FourNodes {
    fn drop(&mut self) {
        use nix::{
            sys::signal::{Signal, killpg},
            unistd::Pid,
        };
        // The group's id is its leader's pid: `alx up`, started with `process_group(0)`.
        let group = i32::try_from(self.child.id()).ok().map(Pid::from_raw);
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        // Already gone is fine: the point is that it is gone before its home is deleted.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The validators were `alx up`'s children: wait until the group is empty (bounded).
        let deadline = Instant::now() + STOP_4V_MAX;
        while group.is_some_and(|g| killpg(g, None).is_ok()) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
}

const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// A base port with `n` ports from it that nobody listens on now, clear of the `n` ports from
/// `avoid` (the system picks the base; the rest are checked by binding them).
fn free_ports(n: u16, avoid: Option<u16>) -> Result<u16, BenchError> {
    for _ in 0..100 {
        let base = free_port()?;
        let Some(end) = base.checked_add(n) else { continue };
        if avoid.is_some_and(|a| base < a.saturating_add(n) && a < end) {
            continue;
        }
        if (base..end).all(|p| TcpListener::bind(loopback(p)).is_ok()) {
            return Ok(base);
        }
    }
    Err(BenchError::Node(anyhow::anyhow!("no {n} consecutive free ports on loopback")))
}

/// A port nobody listens on now (the system's pick). Another process may take it before the
/// node binds it; the node then fails to start and says so.
fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind(loopback(0)).map_err(BenchError::io("bind a free port"))?;
    Ok(listener.local_addr().map_err(BenchError::io("read a bound port"))?.port())
}

/// Waits until the node behind `client` has finalized `height`, failing early with what
/// `failed` reports (the node is gone) and after `timeout`.
fn wait_height(
    client: &Client,
    height: Height,
    timeout: Duration,
    mut failed: impl FnMut() -> Option<BenchError>,
) -> Result<(), BenchError> {
    let start = Instant::now();
    loop {
        if client.status().is_ok_and(|s| s.height >= height) {
            return Ok(());
        }
        if let Some(e) = failed() {
            return Err(e);
        }
        if start.elapsed() > timeout {
            return Err(BenchError::Timeout {
                what: format!("no block {height}"),
                waited: timeout,
            });
        }
        std::thread::sleep(POLL);
    }
}
