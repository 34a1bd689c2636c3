//! `POST /api/evaluate` with the scripted backend of `core`: items are scored on the prompt a
//! user's request gets, one that cannot fit is reported and the others still scored, a model
//! whose datanets this node has not indexed is refused rather than scored without retrieval,
//! and only the node's own machine may ask.

use crate::{
    core::{Script, UNIT_PRICE, block_on, served},
    *,
};
use alx_gateway::{GatewayConfig, GatewayError};
use alx_types::{
    eval_api::{EvalItem, EvalKind, EvalRequest},
    model::{FeeSplit, ModelOp, ModelSpec},
};
use axum::{body::Body, extract::ConnectInfo, http::Request};
use tower::ServiceExt as _;

/// Registers model 1, "bare": the served base, no datanets (nothing to index).
fn register_bare(chain: &Chain) {
    let spec = ModelSpec {
        name: "bare".into(),
        base_model: base_model(),
        adapter: None,
        datanets: vec![],
        price_input_per_1k: UNIT_PRICE,
        price_output_per_1k: UNIT_PRICE,
        split: FeeSplit::DEFAULT,
    };
    chain.ok(1, Payload::Model(ModelOp::Register(Box::new(spec))));
}

fn item(kind: EvalKind, prompt: &str, expected: &str, generate: bool) -> EvalItem {
    EvalItem { kind, prompt: prompt.into(), expected: expected.into(), generate }
}

fn request(model: &str, items: Vec<EvalItem>) -> EvalRequest {
    EvalRequest { model: model.into(), items }
}

#[test]
fn items_are_scored_on_the_served_prompt_and_one_that_cannot_fit_is_reported() {
    let (chain, _fake, g) = served(UNIT_PRICE, Script::Tokens(40), GatewayConfig::default());
    register_bare(&chain);
    let items = vec![
        // The fake chat prompt: a role token and the text's tokens (4 bytes each): 3 tokens.
        item(EvalKind::Chat, "abcdefgh", "abcdefghijkl", true),
        // A completion prompt is the text alone: 2 tokens; no answer asked.
        item(EvalKind::Completion, "abcdefgh", "abcd", false),
        // 300 bytes: 76 tokens, past the fake's 64-token context.
        item(EvalKind::Chat, &"x".repeat(300), "abcd", true),
    ];
    let got = g.evaluate(&request("bare", items)).unwrap();
    assert_eq!(got.model.0, 1);
    let [chat, completion, long] = &got.items[..] else { panic!("{got:?}") };
    assert_eq!((chat.prompt_tokens, chat.expected_tokens), (3, 3), "{chat:?}");
    assert!((chat.nll - 3.0 / 4f64.ln()).abs() < 1e-9, "the fake's likelihood: {chat:?}");
    // Three expected tokens plus the margin of 24: the fake's 40 are cut to 27 tokens.
    let answer = chat.answer.as_deref().unwrap();
    assert_eq!(answer.split_whitespace().count(), 27, "{answer}");
    assert!(chat.passages.is_empty() && chat.error.is_none());
    assert_eq!((completion.prompt_tokens, completion.expected_tokens), (2, 1));
    assert!(completion.answer.is_none() && completion.error.is_none(), "{completion:?}");
    assert_eq!(long.expected_tokens, 1, "its tokens are counted, scored or not");
    assert!(long.error.as_deref().unwrap().contains("do not fit"), "{long:?}");
    assert!(long.answer.is_none());
}

#[test]
fn unknown_retired_and_unindexed_models_are_refused() {
    let (chain, _fake, g) = served(UNIT_PRICE, Script::Tokens(4), GatewayConfig::default());
    let one = || vec![item(EvalKind::Chat, "abcd", "abcd", false)];
    let missing = g.evaluate(&request("nope", one())).unwrap_err();
    assert!(matches!(missing, GatewayError::ModelNotFound(_)), "{missing:?}");
    // A retired model is served to no one, so it is scored as no one's.
    register_bare(&chain);
    g.evaluate(&request("bare", one())).unwrap();
    chain.ok(1, Payload::Model(ModelOp::Retire { model: alx_types::model::ModelId(1) }));
    let retired = g.evaluate(&request("bare", one())).unwrap_err();
    assert!(matches!(retired, GatewayError::ModelNotFound(_)), "{retired:?}");
    // Model "m" draws on datanet 0 version 1, which this gateway's empty index lacks: scoring it
    // without its passages would not be what users are served.
    match g.evaluate(&request("m", one())).unwrap_err() {
        GatewayError::Unavailable { code, message } => {
            assert_eq!(code, "index_behind");
            assert!(message.contains("datanet 0 version 1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// `POST /api/evaluate` from `peer` (none: a request without a connection, as in-process).
fn post(g: &Arc<alx_gateway::Gateway>, peer: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let mut http = Request::post("/api/evaluate")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    if let Some(peer) = peer {
        http.extensions_mut().insert(ConnectInfo(peer.parse::<std::net::SocketAddr>().unwrap()));
    }
    block_on(async {
        let response = g.router().oneshot(http).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    })
}

#[test]
fn only_the_nodes_own_machine_may_ask_and_bad_bodies_are_refused() {
    let (chain, _fake, g) = served(UNIT_PRICE, Script::Tokens(4), GatewayConfig::default());
    register_bare(&chain);
    let body = r#"{"model":"bare","items":[{"kind":"chat","prompt":"abcd","expected":"abcd","generate":true}]}"#;
    for peer in [Some("203.0.113.9:5000"), Some("[2001:db8::1]:80"), None] {
        let (status, error) = post(&g, peer, body);
        assert_eq!(status, 403, "{peer:?}: {error}");
        assert_eq!(error["error"]["code"], "forbidden", "{error}");
    }
    let (status, ok) = post(&g, Some("127.0.0.1:5000"), body);
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["items"][0]["expected_tokens"], 1, "{ok}");
    assert!(ok["items"][0]["answer"].is_string(), "{ok}");
    // IPv6 loopback, and IPv4 loopback as a listener on `[::]` sees it.
    for peer in ["[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
        assert_eq!(post(&g, Some(peer), body).0, 200, "{peer}");
    }
    let too_many = format!(
        r#"{{"model":"bare","items":[{}]}}"#,
        [r#"{"kind":"chat","prompt":"a","expected":"b"}"#; 9].join(",")
    );
    for bad in [too_many.as_str(), r#"{"model":"bare","items":[]}"#, "{", r#"{"model":1}"#] {
        let (status, error) = post(&g, Some("127.0.0.1:1"), bad);
        assert_eq!(status, 400, "{bad}: {error}");
    }
}
