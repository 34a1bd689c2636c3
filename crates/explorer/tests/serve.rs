//! The explorer's files as a browser gets them: each with its type and the headers that keep
//! the page to its own origin; anything else is not the explorer's (the node's fallback
//! answers it). The script builds the DOM from text only, never from HTML.

use axum::{body::Body, http::Request};
use tower::ServiceExt as _;

async fn get(path: &str) -> axum::response::Response {
    alx_explorer::router::<()>()
        .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
        .await
        .expect("an answer")
}

async fn text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_their_types_and_policy() {
    for (path, size) in alx_explorer::assets() {
        let kind = match path.rsplit('.').next() {
            Some("js" | "mjs") => "text/javascript",
            Some("css") => "text/css",
            _ if path.ends_with("LICENSE") => "text/plain",
            _ => "text/html",
        };
        let response = get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let content_type = headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(text(response).await.len(), size, "{path}");
    }
    let page = text(get("/").await).await;
    assert!(page.contains("/assets/app.js") && page.contains("/assets/style.css"));
    assert!(page.contains("<label for=\"q\">"), "the search box is labelled");
    assert_eq!(get("/assets/other.js").await.status(), 404);
}

/// No asset names another origin (a vendored file's opening `/*! … */` credit line aside),
/// and the explorer's own scripts never parse text as HTML.
#[tokio::test]
async fn the_scripts_never_parse_fetched_text_as_html_and_load_nothing_remote() {
    for (path, _) in alx_explorer::assets() {
        let body = text(get(path).await).await;
        let vendored = path.contains("/vendor/");
        let code = match body.split_once('\n') {
            Some((first, rest)) if vendored && first.starts_with("/*!") => rest,
            _ if path.ends_with("LICENSE") => "",
            _ => &body,
        };
        assert!(!code.contains("http://") && !code.contains("https://"), "{path}: a remote URL");
        if vendored || !path.ends_with("js") {
            continue;
        }
        for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]
        {
            assert!(!body.contains(forbidden), "{path} uses {forbidden}");
        }
    }
}

#[test]
fn every_script_is_valid_javascript() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (path, _) in alx_explorer::assets().into_iter().filter(|(p, _)| p.ends_with("js")) {
        let file = dir.join(path.trim_start_matches("/assets/"));
        let checked = std::process::Command::new("node")
            .arg("--check")
            .arg(&file)
            .output()
            .expect("Node.js runs (CI installs it: .ci/run)");
        assert!(checked.status.success(), "{path}: {}", String::from_utf8_lossy(&checked.stderr));
    }
}

#[test]
fn the_vendored_charting_library_carries_its_licence() {
    let sizes = alx_explorer::assets();
    let served = |p: &str| sizes.iter().any(|(path, _)| *path == p);
    assert!(
        served("/assets/vendor/uplot/LICENSE") && served("/assets/vendor/uplot/uPlot.iife.min.js")
    );
    let licence = include_str!("../assets/vendor/uplot/LICENSE");
    assert!(licence.starts_with("The MIT License") && licence.contains("Leon Sorokin"));
    let page = include_str!("../assets/index.html");
    assert!(page.contains("/assets/vendor/uplot/uPlot.iife.min.js"));
}
