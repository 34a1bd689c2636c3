//! The explorer: a web page the node serves at `/`, built on its JSON API (`/api/…`) and its
//! block stream (`/api/stream/blocks`). The assets are compiled into the binary (no separate
//! server, no CDN: the page works offline on loopback) and the page is one document with
//! hash routes (`#/block/12`, `#/account/alx1…`), so the node serves a few files and nothing
//! else.
//!
//! | path | what |
//! |---|---|
//! | `/` | `index.html` |
//! | `/assets/app.js` | the pages and their routes (ES modules, no framework, no build step) |
//! | `/assets/ui.mjs` | what pages are built with: elements from text, tables, amounts |
//! | `/assets/light.mjs` | the light client's checks (alx-light's, reimplemented on WebCrypto) |
//! | `/assets/verify.mjs` | the "verify" buttons: proofs checked in the browser |
//! | `/assets/charts.mjs` | line charts (with their data as tables) and the weights heatmap |
//! | `/assets/history.mjs` | an account's history; a contribution's earnings and credited answers |
//! | `/assets/rewards.mjs` | an account's rewards by source, delegations and per epoch; a validator's stake and commission |
//! | `/assets/style.css` | the styles |
//! | `/assets/vendor/uplot/…` | uPlot 1.6.32 (MIT), unmodified, with its `LICENSE` |
//!
//! Every response forbids what the page does not need: scripts, styles and connections from
//! this origin only (`Content-Security-Policy`), no sniffing, no framing. The script builds
//! the DOM from text nodes only (never HTML from data), so nothing the chain holds (a datanet's
//! description, a model's name) can run in a visitor's browser.

#![forbid(unsafe_code)]

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the explorer serves: path, body, type. Each script is an ES module of the page
/// (`app.js` imports the others); `vendor/` holds third-party code with its licence.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/", include_str!("../assets/index.html"), "text/html; charset=utf-8"),
    ("/assets/app.js", include_str!("../assets/app.js"), JS),
    ("/assets/ui.mjs", include_str!("../assets/ui.mjs"), JS),
    ("/assets/light.mjs", include_str!("../assets/light.mjs"), JS),
    ("/assets/verify.mjs", include_str!("../assets/verify.mjs"), JS),
    ("/assets/charts.mjs", include_str!("../assets/charts.mjs"), JS),
    ("/assets/history.mjs", include_str!("../assets/history.mjs"), JS),
    ("/assets/rewards.mjs", include_str!("../assets/rewards.mjs"), JS),
    ("/assets/style.css", include_str!("../assets/style.css"), CSS),
    // uPlot 1.6.32 (MIT, from npm's `uplot` package, unmodified): the charts.
    (
        "/assets/vendor/uplot/uPlot.iife.min.js",
        include_str!("../assets/vendor/uplot/uPlot.iife.min.js"),
        JS,
    ),
    (
        "/assets/vendor/uplot/uPlot.min.css",
        include_str!("../assets/vendor/uplot/uPlot.min.css"),
        CSS,
    ),
    (
        "/assets/vendor/uplot/LICENSE",
        include_str!("../assets/vendor/uplot/LICENSE"),
        "text/plain; charset=utf-8",
    ),
];

/// What the page may load: its own script, styles and API, images inline; nothing framed.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                      img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                      base-uri 'none'; form-action 'self'";

/// The assets' paths and sizes in bytes (for the benchmark and the README).
#[must_use]
pub fn assets() -> Vec<(&'static str, usize)> {
    ASSETS.iter().map(|(path, body, _)| (*path, body.len())).collect()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The assets change only with the binary: a visitor revalidates, a reload is cheap.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The explorer's routes, to merge into the node's router (they take no state).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, &(path, body, content_type)| {
        router.route(path, get(move || async move { asset(body, content_type) }))
    })
}
