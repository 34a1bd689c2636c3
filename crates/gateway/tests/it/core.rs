//! The gateway core with a scripted backend, against a real chain: on every path a request
//! takes, what stays held on its key is exactly what it was charged, and it is charged for the
//! prompt it ran and the tokens it produced — nothing when it failed on this side or its client
//! left before its prompt ran.
//!
//! The backend's model tokenizes four bytes to a token and generates one piece per token. A
//! test can gate it: the prefill and each token then wait for a permit, so a test can stop a
//! client at an exact token.

use crate::*;
use alx_gateway::{
    Backend, Ending, Gateway, GatewayConfig, GatewayError, Generated, GenerationRequest, Input,
    Request, Sampling, ServedModel,
};
use alx_model::{Message, Role, TokenId};
use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
    mpsc,
};
use std::time::{Duration, Instant};

/// Tokens the fake model's context holds.
const CONTEXT: usize = 64;
/// 1,000 base units per 1,000 tokens: every token costs one base unit.
pub(crate) const UNIT_PRICE: Amount = Amount(1_000);

/// What the fake model does when asked to generate.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Script {
    /// Generates this many tokens (fewer if `max_tokens` is lower), then stops.
    Tokens(usize),
    /// Fails without running anything.
    Fail,
}

pub(crate) struct Fake {
    script: Mutex<Script>,
    /// Permits for the next generation: one for the prefill, then one per token. Taken by the
    /// generation that starts next; a dropped sender lets it run freely.
    gate: Mutex<Option<mpsc::Receiver<()>>>,
    load_fails: AtomicBool,
    entered: AtomicUsize,
    finished: AtomicUsize,
}

impl Fake {
    fn new(script: Script) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script),
            gate: Mutex::new(None),
            load_fails: AtomicBool::new(false),
            entered: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        })
    }

    /// Gates the next generation; send `()` to let it take a step.
    fn gate(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        *self.gate.lock().unwrap() = Some(rx);
        tx
    }
}

struct Backed(Arc<Fake>);

impl Backend for Backed {
    fn serves(&self, base: &alx_types::Hash) -> bool {
        *base == base_model()
    }

    fn model(
        &self,
        spec: &alx_types::model::ModelSpec,
    ) -> Result<Option<Arc<dyn ServedModel>>, GatewayError> {
        let base = &spec.base_model;
        if self.0.load_fails.load(Ordering::Relaxed) {
            return Err(GatewayError::Internal("the weights are corrupt".into()));
        }
        Ok(self.serves(base).then(|| Arc::new(FakeModel(self.0.clone())) as Arc<dyn ServedModel>))
    }
}

struct FakeModel(Arc<Fake>);

fn tokens(text: &str) -> Vec<TokenId> {
    (0..text.len().div_ceil(4)).map(|i| u32::try_from(i).unwrap()).collect()
}

impl ServedModel for FakeModel {
    fn context_length(&self) -> usize {
        CONTEXT
    }

    fn tokens_at_least(&self, bytes: usize) -> usize {
        bytes.div_ceil(64)
    }

    fn encode(&self, text: &str) -> Result<Vec<TokenId>, alx_model::Error> {
        Ok(tokens(text))
    }

    fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<TokenId>, alx_model::Error> {
        // One token per message for its role, then its text.
        Ok(messages.iter().flat_map(|m| std::iter::once(0).chain(tokens(&m.content))).collect())
    }

    fn embed(&self, tokens: &[TokenId]) -> Result<Vec<f32>, alx_model::Error> {
        Ok(vec![tokens.len() as f32; 4])
    }

    fn generate(&self, request: GenerationRequest) -> Result<Generated, GatewayError> {
        let fake = &self.0;
        fake.entered.fetch_add(1, Ordering::SeqCst);
        let result = run(fake, request);
        fake.finished.fetch_add(1, Ordering::SeqCst);
        result
    }

    fn decode(&self, tokens: &[TokenId]) -> Result<String, alx_model::Error> {
        Ok(tokens.iter().map(|t| format!("t{t} ")).collect())
    }

    fn replay_greedy(
        &self,
        _: &[TokenId],
        output: &[TokenId],
        _: &alx_model::Penalties,
        _: f32,
    ) -> Result<alx_model::Replay, alx_model::Error> {
        // The fake generates t0, t1, … whatever the prompt: that is its greedy answer.
        let departure = output.iter().zip(0..).find(|(t, i)| *t != i).map(|(&token, i)| {
            alx_model::Departure { position: i as usize, token, best: i, gap: 1e9 }
        });
        Ok(alx_model::Replay { tokens: output.len(), max_gap: 0.0, departure })
    }

    fn continuation(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
    ) -> Result<alx_model::Continuation, alx_model::Error> {
        // One nat per output token, less the more prompt it follows: a longer prompt (one with
        // passages) predicts better.
        let nll = output.len() as f64 / (1.0 + prompt.len() as f64).ln();
        Ok(alx_model::Continuation { tokens: output.len(), nll_sum: nll })
    }
}

fn run(fake: &Fake, request: GenerationRequest) -> Result<Generated, GatewayError> {
    let limit = match *fake.script.lock().unwrap() {
        Script::Fail => return Err(GatewayError::Internal("scripted failure".into())),
        Script::Tokens(n) => n.min(request.config.max_tokens),
    };
    let gate = fake.gate.lock().unwrap().take();
    let step = || {
        if let Some(gate) = &gate {
            let _ = gate.recv();
        }
        request.cancel.load(Ordering::SeqCst)
    };
    let gone = |tokens: usize, prompt_fed: usize, text: String| Generated {
        text,
        tokens,
        token_ids: (0..u32::try_from(tokens).unwrap()).collect(),
        prompt_fed,
        ending: Ending::ClientGone,
        first_token: None,
    };
    if step() {
        return Ok(gone(0, 0, String::new()));
    }
    let mut text = String::new();
    for i in 0..limit {
        if step() {
            return Ok(gone(i, request.prompt.len(), text));
        }
        let piece = format!("t{i} ");
        if let Some(pieces) = &request.pieces
            && pieces.blocking_send(piece.clone()).is_err()
        {
            return Ok(gone(i, request.prompt.len(), text));
        }
        text.push_str(&piece);
    }
    let reason = if limit == request.config.max_tokens {
        Some(alx_model::FinishReason::Length)
    } else {
        Some(alx_model::FinishReason::Stop)
    };
    Ok(Generated {
        text,
        tokens: limit,
        token_ids: (0..u32::try_from(limit).unwrap()).collect(),
        prompt_fed: request.prompt.len(),
        ending: Ending::Finished(reason),
        first_token: None,
    })
}

pub(crate) fn served(
    price: Amount,
    script: Script,
    config: GatewayConfig,
) -> (Chain, Arc<Fake>, Arc<Gateway>) {
    let chain = served_chain(price);
    let fake = Fake::new(script);
    let gateway = gateway_over(&chain, Arc::new(Backed(fake.clone())), config);
    (chain, fake, gateway)
}

fn chat(text: &str, max_tokens: i64, stream: bool) -> Request {
    Request {
        model: "m".into(),
        input: Input::Chat(vec![Message::new(Role::User, text)]),
        sampling: Sampling { max_tokens: Some(max_tokens), stream, ..Sampling::default() },
    }
}

const KEY: Option<&str> = Some("alx-sk-3");

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Waits (bounded) until `done` holds.
fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The prompt of `chat("abcdefgh", ..)`: one role token and two text tokens.
const CHAT_PROMPT_TOKENS: u32 = 3;

#[test]
fn a_finished_request_holds_exactly_its_fee_and_streams_every_token_it_charges() {
    let (_chain, _fake, g) = served(UNIT_PRICE, Script::Tokens(5), GatewayConfig::default());
    let mut running = g.start(KEY, chat("abcdefgh", 16, true)).unwrap();
    let mut pieces = running.take_pieces().expect("a streamed request has pieces");
    let served = block_on(running.finish()).unwrap();
    let mut sent = 0;
    while pieces.blocking_recv().is_some() {
        sent += 1;
    }
    assert_eq!(sent, 5);
    assert_eq!((served.prompt_tokens, served.completion_tokens), (CHAT_PROMPT_TOKENS, 5));
    assert_eq!(served.finish, "stop");
    let fee = Amount(u128::from(CHAT_PROMPT_TOKENS) + 5);
    assert_eq!(served.receipt.body.fee, fee);
    assert_eq!(g.held(&key_of(3)), fee, "what stays held is the fee, until settlement");
    assert_eq!(g.receipts().by_id(&served.receipt.id).unwrap().body.fee, fee);
}

#[test]
fn a_request_cut_at_max_tokens_is_charged_for_max_tokens() {
    let (_chain, _fake, g) = served(UNIT_PRICE, Script::Tokens(50), GatewayConfig::default());
    let served = block_on(g.start(KEY, chat("abcdefgh", 7, false)).unwrap().finish()).unwrap();
    assert_eq!((served.completion_tokens, served.finish), (7, "length"));
    assert_eq!(g.held(&key_of(3)), Amount(u128::from(CHAT_PROMPT_TOKENS) + 7));
}

#[test]
fn a_client_gone_mid_stream_pays_for_the_tokens_it_was_sent() {
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Tokens(20), GatewayConfig::default());
    let gate = fake.gate();
    let mut running = g.start(KEY, chat("abcdefgh", 16, true)).unwrap();
    let mut pieces = running.take_pieces().unwrap();
    for _ in 0..4 {
        gate.send(()).unwrap(); // the prefill, then three tokens
    }
    for _ in 0..3 {
        assert!(pieces.blocking_recv().is_some());
    }
    let most = Amount(u128::from(CHAT_PROMPT_TOKENS) + 16);
    assert_eq!(g.held(&key_of(3)), most, "the most it may cost is reserved while it runs");
    drop(running); // the client leaves
    drop(pieces);
    drop(gate);
    until("the generation ended", || fake.finished.load(Ordering::SeqCst) == 1);
    until("the receipt is issued", || g.receipts().next_number() == 1);
    let receipt = g.receipts().by_number(0).unwrap();
    assert_eq!(
        (receipt.body.prompt_tokens, receipt.body.completion_tokens),
        (CHAT_PROMPT_TOKENS, 3)
    );
    let fee = Amount(u128::from(CHAT_PROMPT_TOKENS) + 3);
    assert_eq!(receipt.body.fee, fee);
    until("the reservation became the fee", || g.held(&key_of(3)) == fee);
}

#[test]
fn a_client_gone_before_its_prompt_ran_is_charged_nothing() {
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Tokens(20), GatewayConfig::default());
    let gate = fake.gate();
    let running = g.start(KEY, chat("abcdefgh", 16, true)).unwrap();
    until("the generation started", || fake.entered.load(Ordering::SeqCst) == 1);
    assert!(g.held(&key_of(3)) > Amount::ZERO, "reserved before it runs");
    drop(running);
    drop(gate);
    until("the generation ended", || fake.finished.load(Ordering::SeqCst) == 1);
    until("the reservation is released", || g.held(&key_of(3)) == Amount::ZERO);
    assert_eq!(g.receipts().next_number(), 0, "no receipt for a request that ran nothing");
}

#[test]
fn a_backend_failure_releases_the_reservation_whole() {
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Fail, GatewayConfig::default());
    let err = block_on(g.start(KEY, chat("abcdefgh", 16, false)).unwrap().finish()).unwrap_err();
    assert!(matches!(err, GatewayError::Internal(_)), "{err:?}");
    assert_eq!(g.held(&key_of(3)), Amount::ZERO);
    assert_eq!(g.receipts().next_number(), 0);
    // Weights that fail to load: refused before anything is reserved.
    fake.load_fails.store(true, Ordering::Relaxed);
    let err = block_on(g.start(KEY, chat("abcdefgh", 16, false)).unwrap().finish()).unwrap_err();
    assert!(matches!(err, GatewayError::Internal(_)), "{err:?}");
    assert_eq!(g.held(&key_of(3)), Amount::ZERO);
}

#[test]
fn a_prompt_over_the_context_is_refused_and_holds_nothing() {
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Tokens(5), GatewayConfig::default());
    // 50 tokens of text plus 16 to generate do not fit 64.
    let err =
        block_on(g.start(KEY, chat(&"x".repeat(200), 16, false)).unwrap().finish()).unwrap_err();
    assert!(
        matches!(err, GatewayError::BadRequest { code: "context_length_exceeded", .. }),
        "{err:?}"
    );
    assert_eq!(g.held(&key_of(3)), Amount::ZERO);
    assert_eq!(fake.entered.load(Ordering::SeqCst), 0, "the model never ran");
}

#[test]
fn a_key_that_cannot_cover_the_most_a_request_may_cost_is_refused_and_holds_nothing() {
    // 10^8 base units a token: 1 ALX of allowance covers 10 tokens, not 3 + 16.
    let price = Amount(100 * ALX);
    let (_chain, fake, g) = served(price, Script::Tokens(5), GatewayConfig::default());
    let err = block_on(g.start(KEY, chat("abcdefgh", 16, false)).unwrap().finish()).unwrap_err();
    assert!(matches!(err, GatewayError::InsufficientQuota(_)), "{err:?}");
    assert_eq!(g.held(&key_of(3)), Amount::ZERO);
    assert_eq!(fake.entered.load(Ordering::SeqCst), 0);
    // Within the allowance, it runs.
    let served = block_on(g.start(KEY, chat("abcdefgh", 5, false)).unwrap().finish()).unwrap();
    assert_eq!(g.held(&key_of(3)), served.receipt.body.fee);
}

#[test]
fn refused_requests_never_reach_a_worker() {
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Tokens(5), GatewayConfig::default());
    let cases: Vec<(Option<&str>, Request)> = vec![
        (None, chat("abcdefgh", 16, false)),
        (Some("alx-sk-unknown"), chat("abcdefgh", 16, false)),
        (KEY, Request { model: "nope".into(), ..chat("abcdefgh", 16, false) }),
        (KEY, Request { input: Input::Chat(vec![]), ..chat("", 16, false) }),
        (KEY, chat("abcdefgh", 0, false)),
        (
            KEY,
            Request {
                input: Input::Completion { prompt: String::new(), retrieval: false },
                ..chat("", 16, false)
            },
        ),
        (KEY, Request { input: Input::Embeddings(vec![String::new()]), ..chat("", 16, false) }),
    ];
    for (key, request) in cases {
        let shown = format!("{key:?} {request:?}");
        assert!(g.start(key, request).is_err(), "accepted: {shown}");
    }
    assert_eq!(g.held(&key_of(3)), Amount::ZERO);
    assert_eq!(fake.entered.load(Ordering::SeqCst), 0);
}

#[test]
fn a_full_queue_is_busy_and_holds_nothing_for_the_refused_request() {
    let config = GatewayConfig { workers: 1, queue_max: 1, ..GatewayConfig::default() };
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Tokens(2), config);
    let gate = fake.gate();
    let first = g.start(KEY, chat("abcdefgh", 16, false)).unwrap();
    until("the first request runs", || fake.entered.load(Ordering::SeqCst) == 1);
    let second = g.start(KEY, chat("abcdefgh", 16, false)).unwrap();
    let err = g.start(KEY, chat("abcdefgh", 16, false)).unwrap_err();
    assert!(matches!(err, GatewayError::Busy(1)), "{err:?}");
    drop(gate);
    let (a, b) = block_on(async { (first.finish().await, second.finish().await) });
    let fees = a.unwrap().receipt.body.fee.0 + b.unwrap().receipt.body.fee.0;
    assert_eq!(g.held(&key_of(3)), Amount(fees));
}

#[test]
fn embeddings_are_charged_their_tokens_at_the_input_price() {
    let (_chain, _fake, g) = served(UNIT_PRICE, Script::Tokens(5), GatewayConfig::default());
    let request = Request {
        model: "m".into(),
        input: Input::Embeddings(vec!["abcdefgh".into(), "abcd".into()]),
        sampling: Sampling::default(),
    };
    let served = block_on(g.start(KEY, request).unwrap().finish()).unwrap();
    assert_eq!(served.embeddings.len(), 2);
    assert_eq!((served.prompt_tokens, served.completion_tokens), (3, 0));
    assert_eq!(served.receipt.body.fee, Amount(3));
    assert_eq!(g.held(&key_of(3)), Amount(3));
}

/// A request whose receipt could not be carried on chain (where a provider must be able to
/// open any receipt it settled) is refused before it runs, and holds nothing.
#[test]
fn a_request_whose_receipt_could_not_go_on_chain_is_refused_and_holds_nothing() {
    let (_chain, fake, g) = served(UNIT_PRICE, Script::Tokens(5), GatewayConfig::default());
    // Thousands of empty messages: nothing for the context, kilobytes for the receipt.
    let mut messages = vec![Message::new(Role::User, ""); 3_000];
    messages.push(Message::new(Role::User, "hi"));
    let request = Request {
        model: "m".into(),
        input: Input::Chat(messages),
        sampling: Sampling { max_tokens: Some(4), ..Sampling::default() },
    };
    let err = block_on(g.start(KEY, request).unwrap().finish()).unwrap_err();
    assert!(matches!(err, GatewayError::BadRequest { code: "receipt_too_large", .. }), "{err:?}");
    assert_eq!(g.held(&key_of(3)), Amount::ZERO);
    assert_eq!(fake.entered.load(Ordering::SeqCst), 0, "the model never ran");
}
