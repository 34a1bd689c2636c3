//! Streamed answers: server-sent events in OpenAI's chunk format, ending with a chunk that
//! carries the finish reason, usage and the `alexandria` object, then `[DONE]`.
//!
//! The response starts only once the worker produced its first piece (or finished): a request
//! refused before any output (no allowance, unknown weights, a prompt over the context) gets a
//! proper HTTP error, not a `200` with an error event. A client that stops reading or leaves
//! ends the generation; it is charged for the prompt and the tokens generated until then (see
//! `infer`). The request itself runs in the gateway core (`core`); this only renders it.

use crate::{
    GatewayError,
    core::{CancelOnDrop, Done, Running, received},
    infer::Served,
    serve::{now_secs, summary, usage},
};
use axum::response::{IntoResponse, Response, Sse, sse::Event};
use futures::StreamExt as _;
use std::convert::Infallible;
use tokio::sync::mpsc;

/// Answers a streamed request (its `pieces` taken from `running`) with its event stream.
pub(crate) async fn respond(
    running: Running,
    mut rx: mpsc::Receiver<String>,
    chat: bool,
) -> Result<Response, GatewayError> {
    let model = running.model.clone();
    let (mut done, guard) = running.into_parts();
    let mut first = None;
    let mut early = tokio::select! {
        biased;
        piece = rx.recv() => {
            first = piece;
            None
        }
        result = &mut done => Some(received(result)),
    };
    if first.is_none() && early.is_none() {
        // The channel closed without a piece: the job ended (its sender went with it) before
        // producing anything. Its result says whether that is an answer or an error.
        early = Some(received((&mut done).await));
    }
    if let Some(Err(e)) = early {
        match rx.try_recv() {
            Ok(piece) => first = Some(piece),
            // Refused before producing anything: a plain HTTP error.
            Err(_) => return Err(e),
        }
        return Ok(
            events(first, rx, Tail::Ready(Box::new(Err(e))), model, chat, guard).into_response()
        );
    }
    let tail = match early {
        Some(result) => Tail::Ready(Box::new(result)),
        None => Tail::Waiting(done),
    };
    Ok(events(first, rx, tail, model, chat, guard).into_response())
}

/// A stream id unique on this node: a process-wide counter and the start time, hashed (an
/// id, not a secret).
fn stream_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = blake3::Hasher::new();
    hasher.update(&n.to_le_bytes());
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.finalize().as_bytes()[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// How the stream ends: a result already in hand, or one still to come.
enum Tail {
    Ready(Box<Result<Served, GatewayError>>),
    Waiting(Done),
}

fn events(
    first: Option<String>,
    rx: mpsc::Receiver<String>,
    tail: Tail,
    model: String,
    chat: bool,
    guard: CancelOnDrop,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let created = now_secs();
    let (object, prefix) =
        if chat { ("chat.completion.chunk", "chatcmpl") } else { ("text_completion", "cmpl") };
    // One id for every chunk of the stream (clients group chunks by it); the receipt id is
    // known only at the end, and travels in the last chunk's `alexandria` object.
    let id = format!("{prefix}-{}", stream_id());
    let chunk = move |content: serde_json::Value, finish: Option<&str>| {
        if chat {
            serde_json::json!({"id": id, "object": object, "created": created, "model": model,
                "choices": [{"index": 0, "delta": content, "finish_reason": finish}]})
        } else {
            let text = content.get("content").cloned().unwrap_or_else(|| serde_json::json!(""));
            serde_json::json!({"id": id, "object": object, "created": created, "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": null}]})
        }
    };
    let role = chat.then(|| chunk(serde_json::json!({"role": "assistant", "content": ""}), None));
    let piece_chunk = chunk.clone();
    let pieces = futures::stream::iter(first)
        .chain(tokio_stream::wrappers::ReceiverStream::new(rx))
        .map(move |piece| piece_chunk(serde_json::json!({"content": piece}), None));
    let body =
        futures::stream::iter(role).chain(pieces).map(|v| Ok(Event::default().data(v.to_string())));
    let end = futures::stream::once(async move {
        // The guard lives as long as the stream: dropping the stream (the client left)
        // cancels the generation.
        let _guard = guard;
        let result = match tail {
            Tail::Ready(result) => *result,
            Tail::Waiting(done) => received(done.await),
        };
        match result {
            Ok(served) => {
                let mut last = chunk(serde_json::json!({}), Some(served.finish));
                last["usage"] = serde_json::to_value(usage(&served)).unwrap_or_default();
                last["alexandria"] =
                    serde_json::to_value(summary(&served.receipt)).unwrap_or_default();
                vec![
                    Ok(Event::default().data(last.to_string())),
                    Ok(Event::default().data("[DONE]")),
                ]
            }
            Err(e) => {
                if let GatewayError::Internal(detail) = &e {
                    tracing::error!(%detail, "streamed request failed");
                }
                let body = serde_json::json!({"error": {"message": e.public_message(), "type": "server_error"}});
                vec![Ok(Event::default().data(body.to_string()))]
            }
        }
    })
    .flat_map(futures::stream::iter);
    Sse::new(body.chain(end))
}
