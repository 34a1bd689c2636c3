//! The adversarial suite: a real node on loopback, attacked the ways issue 13 found that broke
//! it, checked afterwards for being alive, exact supply, and no answer served unpaid. Run alone
//! with `cargo nextest run -p alx-cli --profile ci -E 'test(/adversarial/)'`.

use crate::*;
use std::{io::Write as _, net::TcpStream};

/// Runs `alx up` under a descriptor limit of `nofile` (soft and hard, so the node cannot raise
/// it), the way a default `ulimit -n` of 1024 would hold it, only tighter.
fn node_with_nofile(home: &std::path::Path, nofile: u32) -> Node {
    let (api_port, p2p_port) = (free_port(), free_port());
    let alx = env!("CARGO_BIN_EXE_alx");
    let script = format!(
        "ulimit -n {nofile} && exec {alx} --home {} up --api-addr 127.0.0.1:{api_port} --p2p-port {p2p_port} --no-sample",
        home.display()
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("ALX_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("sh starts");
    let node = Node { child, api: format!("http://127.0.0.1:{api_port}") };
    node.wait_height(1, Duration::from_secs(90));
    node
}

/// Before the listener had caps and deadlines, ~1,000 connections that sent half a request
/// header exhausted the node's descriptors, consensus failed to write its journal, and the
/// node exited. Here 600 such connections meet a limit of 256 descriptors: the node sheds what
/// it cannot hold, keeps finalizing, and serves again once the idle ones time out.
#[test]
fn adversarial_idle_connection_flood_slow() {
    let home = tempfile::tempdir().unwrap();
    let mut node = node_with_nofile(home.path(), 256);
    let addr = node.api.trim_start_matches("http://").to_owned();
    let start_height = node.client().status().unwrap().height.0;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..600 {
        match TcpStream::connect(&addr) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n");
                held.push(s);
            }
            Err(_) => refused += 1,
        }
    }
    // Consensus goes on while the flood is held open.
    std::thread::sleep(Duration::from_secs(3));
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited under the flood");
    drop(held);
    node.wait_height(start_height + 3, Duration::from_secs(30));
    let metrics = reqwest::blocking::get(format!("{}/metrics", node.api)).unwrap().text().unwrap();
    let shed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("alx_api_connections_shed_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("the shed counter is exported");
    assert!(shed + refused > 0, "600 connections fit under 256 descriptors?");
    assert!(node.child.try_wait().unwrap().is_none(), "the node exited");
}
