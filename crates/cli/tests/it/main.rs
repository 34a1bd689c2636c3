//! End-to-end tests of the `alx` binary: a real node on loopback, driven through the CLI and the
//! HTTP client.

mod adversarial;
mod api;
mod audit;
mod bench;
mod competition;
mod crash;
mod datanet;
mod disputes;
mod emission;
mod evals;
mod explorer;
mod finetune;
mod flows;
mod gateway;
mod index;
mod influence;
mod join;
mod light;
mod models;
mod neuron;
mod staking;
mod subnet;
mod wallet;
mod yuma;

use alx_client::Client;
use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A base port with `n` free ports from it, away from `avoid` (an earlier range).
pub(crate) fn free_ports(n: u16, avoid: Option<(u16, u16)>) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        let Some(last) = base.checked_add(n) else { continue };
        if avoid.is_some_and(|(a, m)| base < a + m && a < last) {
            continue;
        }
        if (base..last).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports on loopback");
}

/// A node started with `alx up`, killed on drop.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) api: String,
}

impl Node {
    pub(crate) fn up(home: &Path, api_port: u16, p2p_port: u16) -> Self {
        let node = Self::spawn(
            home,
            api_port,
            &[
                "up",
                "--api-addr",
                &format!("127.0.0.1:{api_port}"),
                "--p2p-port",
                &p2p_port.to_string(),
                "--no-sample",
            ],
        );
        node.wait_height(1, Duration::from_secs(90));
        node
    }

    /// Runs `alx --home HOME ARGS…` whose API will listen on `api_port`.
    pub(crate) fn spawn(home: &Path, api_port: u16, args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_alx"))
            .arg("--home")
            .arg(home)
            .args(args)
            .env("ALX_LOG", std::env::var("ALX_TEST_NODE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("alx starts");
        Self { child, api: format!("http://127.0.0.1:{api_port}") }
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(&self.api)
    }

    pub(crate) fn wait_height(&self, height: u64, timeout: Duration) {
        let start = Instant::now();
        let client = self.client();
        while !client.status().is_ok_and(|s| s.height.0 >= height) {
            assert!(start.elapsed() < timeout, "node did not reach height {height} in {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown path runs.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `alx --home HOME --node API --json ARGS…`.
pub(crate) fn alx(home: &Path, api: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alx"))
        .arg("--home")
        .arg(home)
        .args(["--node", api, "--json"])
        .args(args)
        .env("ALX_LOG", "warn")
        .env_remove("ALX_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("alx runs")
}

pub(crate) fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "alx failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json on stdout")
}
