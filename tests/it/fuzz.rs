//! The fuzzer over the server, in CI with a fixed budget (`PROPTEST_CASES` raises it for a
//! long run): random sequences of well-formed, malformed and hostile messages (framing
//! junk, multi-byte text, positions inside characters and past the end, stale versions,
//! cancellations, unknown methods) against the in-process server with the fake engine.
//! After every sequence each request has its answer and the server still serves.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::lsp::{Fake, inline_caps, ready, start};

const PIECES: &[&str] = &[
    "a", "x = 1", " ", "    ", "\t", "\n", "\r\n", "\r", "😀", "中", "é", "(", ")", "{", "}",
    "def f():", "return ", "\"", "#", ":", "\u{3000}",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..30).prop_map(|v| v.concat())
}

fn pos() -> impl Strategy<Value = Value> {
    (0u32..6, 0u32..20).prop_map(|(l, c)| json!({"line": l, "character": c}))
}

#[derive(Debug, Clone)]
enum Msg {
    Open(u8, String),
    Change(u8, i32, Value, Value, String),
    FullChange(u8, i32, String),
    Close(u8),
    Inline(u8, Value),
    Completion(u8, Value),
    Actions(u8, Value, Value),
    Resolve(u8, Value),
    Command(String, Value),
    Cancel(i64),
    Unknown(String),
    Raw(Vec<u8>),
}

fn uri(n: u8) -> String {
    ["file:///w/a.py", "file:///w/b.rs", "file:///w/c.txt"][n as usize % 3].to_string()
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        1 => (0u8..3, text()).prop_map(|(d, t)| Msg::Open(d, t)),
        4 => (0u8..3, 0i32..40, pos(), pos(), text()).prop_map(|(d, v, a, b, t)| Msg::Change(d, v, a, b, t)),
        1 => (0u8..3, 0i32..40, text()).prop_map(|(d, v, t)| Msg::FullChange(d, v, t)),
        1 => (0u8..3).prop_map(Msg::Close),
        3 => (0u8..3, pos()).prop_map(|(d, p)| Msg::Inline(d, p)),
        1 => (0u8..3, pos()).prop_map(|(d, p)| Msg::Completion(d, p)),
        1 => (0u8..3, pos(), pos()).prop_map(|(d, a, b)| Msg::Actions(d, a, b)),
        1 => (0u8..3, pos()).prop_map(|(d, p)| Msg::Resolve(d, p)),
        1 => (prop::sample::select(vec!["quill.explain", "quill.review", "quill.refactor", "quill.showMarkdown", "nope"]), pos())
            .prop_map(|(c, p)| Msg::Command(c.to_string(), p)),
        1 => (0i64..30).prop_map(Msg::Cancel),
        1 => "[a-z/$]{0,12}"
            .prop_filter("not the lifecycle", |m| !["exit", "shutdown", "initialize"].contains(&m.as_str()))
            .prop_map(Msg::Unknown),
        1 => prop::sample::select(vec![
            b"Content-Length: 3\r\n\r\n{}}".to_vec(),
            b"Content-Type: x\r\n\r\n{}".to_vec(),
            b"X-\xff\xfe: y\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
            b"Content-Length: 6\r\n\r\n[1, 2]".to_vec(),
            b"Content-Length: 4\r\n\r\nnull".to_vec(),
            b"junk without a frame".to_vec(),
            b"Content-Length: 22\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":".to_vec(),
        ]).prop_map(Msg::Raw),
    ]
}

async fn run(messages: Vec<Msg>) {
    let fake = Fake::default();
    let respond = Arc::new(|p: &str| {
        if p.contains("LINE <number>") {
            "LINE 1: a bug\n".to_string()
        } else if p.contains("```") || p.contains("Explain") {
            "```python\ndef f():\n    return 1\n```\nDone.".to_string()
        } else {
            "return 1\n\nx = 2\n".to_string()
        }
    });
    let (mut c, _) = start(
        fake.responder(respond, 0, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    let mut pending = Vec::new();
    for m in messages {
        match m {
            Msg::Open(d, t) => c.open(&uri(d), if d == 1 { "rust" } else { "python" }, &t).await,
            Msg::Change(d, v, a, b, t) => {
                c.notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": uri(d), "version": v},
                           "contentChanges": [{"range": {"start": a, "end": b}, "text": t}]}),
                )
                .await
            }
            Msg::FullChange(d, v, t) => {
                c.notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": uri(d), "version": v}, "contentChanges": [{"text": t}]}),
                )
                .await
            }
            Msg::Close(d) => {
                c.notify("textDocument/didClose", json!({"textDocument": {"uri": uri(d)}}))
                    .await
            }
            Msg::Inline(d, p) => pending.push(
                c.start(
                    "textDocument/inlineCompletion",
                    json!({"textDocument": {"uri": uri(d)}, "position": p, "context": {"triggerKind": 2}}),
                )
                .await,
            ),
            Msg::Completion(d, p) => pending.push(
                c.start("textDocument/completion", json!({"textDocument": {"uri": uri(d)}, "position": p}))
                    .await,
            ),
            Msg::Actions(d, a, b) => pending.push(
                c.start(
                    "textDocument/codeAction",
                    json!({"textDocument": {"uri": uri(d)}, "range": {"start": a, "end": b}, "context": {"diagnostics": []}}),
                )
                .await,
            ),
            Msg::Resolve(d, p) => pending.push(
                c.start(
                    "codeAction/resolve",
                    json!({"title": "quill: Fix this code", "data": {"uri": uri(d), "range": {"start": p, "end": p}, "action": "fix"}}),
                )
                .await,
            ),
            Msg::Command(cmd, p) => pending.push(
                c.start(
                    "workspace/executeCommand",
                    json!({"command": cmd, "arguments": [{"uri": uri(0), "range": {"start": p, "end": p}, "instruction": "rename"}]}),
                )
                .await,
            ),
            // A client cancels only what it sent (an id it has not used yet could hit the
            // next request it sends).
            Msg::Cancel(k) => {
                if let Some(id) = pending.get(k as usize % pending.len().max(1)) {
                    c.notify("$/cancelRequest", json!({"id": id})).await
                }
            }
            Msg::Unknown(m) => pending.push(c.start(&m, json!({})).await),
            Msg::Raw(bytes) => c.send_bytes(&bytes).await,
        }
    }
    // A frame left open by the junk above is closed by padding that is no message.
    c.send_bytes(b"\r\n\r\n                                   ")
        .await;
    // A hang detector, not a speed limit: every request is answered at once or after the
    // fake model's few tokens.
    let patience = std::time::Duration::from_secs(60);
    for id in pending {
        // An answer, result or error.
        let answered = tokio::time::timeout(patience, c.response(id)).await;
        assert!(answered.is_ok(), "request {id} was never answered");
    }
    let s = tokio::time::timeout(patience, c.request("quill/status", Value::Null))
        .await
        .expect("the server stopped serving")
        .unwrap();
    assert!(s["state"].is_string(), "{s}");
    c.shutdown().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_message_sequence_gets_answers_and_leaves_the_server_serving(
        messages in prop::collection::vec(msg(), 1..30)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(messages));
    }
}
