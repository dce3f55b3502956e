//! Input no well-behaved client sends, over real JSON-RPC with the fake engine: after each,
//! the server answers the next request and its copy of the document matches the client's.

use serde_json::{Value, json};

use crate::lsp::{Fake, inline_caps, ready, start};
use crate::lsp_client::{LspClient, inline_text};

async fn alive(c: &mut LspClient) {
    let s = c.request("quill/status", Value::Null).await.unwrap();
    assert!(s["state"].is_string(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_is_not_utf8_is_skipped() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("x", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.send_bytes(b"X-\xff\xfe: y\r\nContent-Length: 2\r\n\r\n{}")
        .await;
    alive(&mut c).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_without_content_length_does_not_swallow_the_next() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("x", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.send_bytes(b"Content-Type: x\r\n\r\n{}").await;
    alive(&mut c).await;
    c.send_bytes(b"Content-Length: 7\r\n\r\n{\"a\":1").await; // one byte short
    c.send_bytes(b"}").await;
    alive(&mut c).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_inside_a_surrogate_pair_neither_panics_nor_diverges() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("pass\n", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "s = '😀😀'\nx = 1\n")
        .await;
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": "file:///w/a.py", "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 8}}, "text": "a"}],
        }),
    )
    .await;
    for (line, ch) in [(0, 6), (0, 7), (1, 0), (0, 100)] {
        let r = c.inline("file:///w/a.py", line, ch).await;
        assert!(
            r.is_ok() || r.as_ref().unwrap_err()["code"].is_i64(),
            "{r:?}"
        );
    }
    alive(&mut c).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_carriage_return_is_a_line_break() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("return 1\n", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.open(
        "file:///w/a.py",
        "python",
        "import os\rdef f():\r    \rprint(f())\r",
    )
    .await;
    let r = c.inline("file:///w/a.py", 2, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return 1"), "{r}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_past_the_end_is_clamped_and_the_document_keeps_serving() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("return 1\n", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    let uri = "file:///w/a.py";
    c.open(uri, "python", "def f():\n    \n").await;
    let change = |version: i32, range: Value, text: &str| {
        json!({
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [json!({"range": range, "text": text})],
        })
    };
    // An editor's race sends a range 40 lines past the end: clamped to the end of the
    // text, as VS Code's own text model does, not a document refusing every request.
    let far = json!({"start": {"line": 40, "character": 0}, "end": {"line": 40, "character": 0}});
    c.notify("textDocument/didChange", change(2, far, "# end\n"))
        .await;
    let r = c.inline(uri, 1, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return 1"), "{r}");
    assert!(
        fake.last_prompt().contains("# end"),
        "{}",
        fake.last_prompt()
    );
    // Later ranged changes still apply where the editor says.
    let at = json!({"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 5}});
    c.notify("textDocument/didChange", change(3, at, "g")).await;
    let r = c.inline(uri, 1, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return 1"));
    assert!(fake.last_prompt().contains("def g():"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_engine_is_reported_and_restarted() {
    let fake = Fake::default();
    let respond = std::sync::Arc::new(|p: &str| {
        if p.contains("boom") {
            panic!("the model thread died");
        }
        "return 1\n".to_string()
    });
    let (mut c, _) = start(fake.responder(respond, 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "boom = 1\ndef f():\n    \n")
        .await;
    let r = c.inline("file:///w/a.py", 2, 4).await;
    assert!(
        r.as_ref().map_or(true, |v| inline_text(v).is_none()),
        "{r:?}"
    );
    let msg = c
        .wait_notification("window/showMessage", |p| {
            p["message"].as_str().unwrap().contains("restarting")
        })
        .await;
    assert!(
        msg["params"]["message"].as_str().unwrap().contains("died"),
        "{msg}"
    );
    // Restarted (after a second's backoff): the next completion is served.
    ready(&mut c).await;
    assert_eq!(fake.starts.load(std::sync::atomic::Ordering::SeqCst), 2);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///w/a.py", "version": 2},
               "contentChanges": [{"text": "b = 1\ndef f():\n    \n"}]}),
    )
    .await;
    let r = c.inline("file:///w/a.py", 2, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return 1"));
    c.shutdown().await;
}
