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
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let response = get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let content_type = headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!text(response).await.is_empty());
    }
    let page = text(get("/").await).await;
    assert!(page.contains("/assets/app.js") && page.contains("/assets/style.css"));
    assert!(page.contains("<label for=\"q\">"), "the search box is labelled");
    assert_eq!(get("/assets/other.js").await.status(), 404);
}

#[test]
fn the_script_never_parses_fetched_text_as_html_and_loads_nothing_remote() {
    let script = include_str!("../assets/app.js");
    for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
        assert!(!script.contains(forbidden), "app.js uses {forbidden}");
    }
    for asset in [script, include_str!("../assets/index.html"), include_str!("../assets/style.css")]
    {
        assert!(!asset.contains("http://") && !asset.contains("https://"), "a remote URL");
    }
    let sizes = alx_explorer::assets();
    assert!(sizes.iter().all(|(_, n)| *n > 0), "{sizes:?}");
}
