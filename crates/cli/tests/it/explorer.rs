//! The explorer as `alx up` serves it: the page at `/` beside the API, its assets, and the
//! API's own answers unchanged (an unknown path is still the API's JSON 404); then every page
//! in headless Chromium (crates/explorer/e2e).

use crate::*;

#[test]
fn the_node_serves_the_explorer_beside_its_api_slow() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    let page = reqwest::blocking::get(format!("{}/", node.api)).unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().unwrap().contains("Alexandria explorer"));
    for asset in ["/assets/app.js", "/assets/style.css"] {
        let response = reqwest::blocking::get(format!("{}{asset}", node.api)).unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let status: serde_json::Value =
        reqwest::blocking::get(format!("{}/api/status", node.api)).unwrap().json().unwrap();
    assert_eq!(status["chain_id"], "alx-dev");
    let unknown = reqwest::blocking::get(format!("{}/nope", node.api)).unwrap();
    assert_eq!(unknown.status(), 404);
    let error: serde_json::Value = unknown.json().unwrap();
    assert_eq!(error["error"]["type"], "not_found");
}

/// `node crates/explorer/e2e/SCRIPT` driving Chromium (`ALX_CHROMIUM`, else Debian's); fails
/// loudly when either is missing (`.ci/run` installs both).
pub(crate) fn browser_script(script: &str) -> std::process::Command {
    let e2e = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../explorer/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix crates/explorer/e2e` (.ci/run does)"
    );
    let chromium = std::env::var("ALX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (.ci/run does)"
    );
    let mut command = std::process::Command::new("node");
    command.arg(e2e.join(script)).env("ALX_CHROMIUM", chromium);
    command
}

/// Where the browser tests keep their screenshots and timings.
pub(crate) fn shots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts/explorer")
}

/// Every page in headless Chromium (`crates/explorer/e2e/pages.mjs`, Playwright's
/// `playwright-core` driving Debian's `chromium`; `.ci/run` installs both): no console errors,
/// each page's title, "Not found" pages with a way back, the search box, a transfer made here
/// with the CLI appearing live, and the node stopped and restarted mid-session (the page says
/// it is disconnected and unavailable, then reconnects). Screenshots go to `target/artifacts/explorer/`.
#[test]
fn the_explorer_pages_work_in_chromium_slow() {
    let home = tempfile::tempdir().unwrap();
    let (api_port, p2p_port) = (free_port(), free_port());
    let mut node = Node::up(home.path(), api_port, p2p_port);
    let h = home.path();
    crate::finetune::planted_datanet(
        h,
        &node.api,
        0,
        "notes",
        "The quokka vault holds coins.",
        "bob",
    );
    let weights = h.join("tiny.gguf");
    alx_model::tiny::write(&weights, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    #[rustfmt::skip]
    crate::finetune::succeeds(h, &node.api, &["model", "register", "--from", "alice", "--name", "tiny",
        "--base-model", weights.to_str().unwrap(), "--datanet", "0@1"]);
    let shots = shots();
    let mut script = browser_script("pages.mjs")
        .arg(&node.api)
        .arg(&shots)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let stdout = script.stdout.take().unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut said = Vec::new();
    for line in lines {
        let line = line.unwrap();
        match line.as_str() {
            #[rustfmt::skip]
            "ready" => { crate::finetune::succeeds(h, &node.api, &["transfer", "--from", "alice", "--to", "bob", "--amount", "1"]); }
            "stop-node" => {
                let _ = node.child.kill();
                let _ = node.child.wait();
            }
            "start-node" => node = Node::up(h, api_port, p2p_port),
            _ => {}
        }
        said.push(line);
    }
    let status = script.wait().unwrap();
    assert!(status.success(), "the explorer in Chromium:\n{}", said.join("\n"));
    // First paint and content per page (docs/BENCHMARKS.md), kept with the screenshots.
    let timings = said.iter().find_map(|l| l.strip_prefix("timings ")).expect("the timings");
    std::fs::write(shots.join("timings.json"), timings).unwrap();
}

/// The "try it" box with the real model (`alx up`'s sample: SmolLM2 over the Move notes), in
/// headless Chromium (`crates/explorer/e2e/chat.mjs`): the answer comes back with the spans of
/// the datanet highlighted, its fee, and the contributions paid.
#[test]
fn the_explorer_chat_box_shows_an_attributed_answer_slow() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let api_port = free_port();
    #[rustfmt::skip]
    let node = Node::spawn(h, api_port, &["up", "--api-addr", &format!("127.0.0.1:{api_port}"),
        "--p2p-port", &free_port().to_string()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !h.join("sample.json").exists() {
        assert!(std::time::Instant::now() < deadline, "the sample was never set up");
        std::thread::sleep(Duration::from_millis(500));
    }
    let sample: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("sample.json")).unwrap()).unwrap();
    let key = sample["api_key"].as_str().expect("the sample's API key");
    let shots = shots();
    let out = browser_script("chat.mjs")
        .args([node.api.as_str(), key, "smollm2-move"])
        .arg(&shots)
        .output()
        .expect("node runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the chat box in Chromium:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
