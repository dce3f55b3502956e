//! `quill serve` as an editor runs it: the built binary over stdio, with the real model.

use std::time::Duration;

use serde_json::{Value, json};

use crate::lsp_client::{LspClient, inline_text};
use crate::support::{SMALL, real_model};

const GEO: &str = r#""""Geography helpers."""
import math


def haversine(lat1, lon1, lat2, lon2):
    """Great-circle distance between two points, in kilometres."""
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def bearing(lat1, lon1, lat2, lon2):
    """Initial bearing in degrees."""
    y = math.sin(math.radians(lon2 - lon1)) * math.cos(math.radians(lat2))
    x = math.cos(math.radians(lat1)) * math.sin(math.radians(lat2))
    return math.degrees(math.atan2(y, x))
"#;

const APP: &str = r#"from geo import haversine


def trip_length(stops):
    """Total distance in km along a list of (lat, lon) stops."""
    total = 0.0
    for a, b in zip(stops, stops[1:]):
        total += 
    return total
"#;

// The model lock is held for the whole test on purpose: real-model tests take turns.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_server_completes_with_a_helper_from_another_open_file() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("geo.py"), GEO).unwrap();
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let log = dir.path().join("server.log");
    let (mut child, mut c) = LspClient::serve(|cmd| {
        cmd.arg("--log-file")
            .arg(&log)
            .env("QUILL_LOG", "quill=debug");
    });
    let root = format!("file://{}", dir.path().display());
    let caps = c
        .handshake(
            json!({"textDocument": {"inlineCompletion": {}}}),
            json!({"model": SMALL, "warmup": false}),
            Some(&root),
        )
        .await;
    assert_eq!(caps["inlineCompletionProvider"], true);
    loop {
        let s = c.request("quill/status", Value::Null).await.unwrap();
        if s["state"] == "ready" {
            break;
        }
        assert!(!s["state"].as_str().unwrap().starts_with("failed"), "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.open(&format!("{root}/geo.py"), "python", GEO).await;
    c.open(&format!("{root}/app.py"), "python", APP).await;
    let r = c.inline(&format!("{root}/app.py"), 7, 17).await.unwrap();
    let text = inline_text(&r).expect("a completion");
    eprintln!("completion: {text:?}");
    assert!(!text.trim().is_empty());
    c.shutdown().await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the server exits after `exit`")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("<|file_sep|>geo.py\\n") || log.contains("<|file_sep|>geo.py\n"),
        "the other file's context is not in the prompt:\n{log}"
    );
    assert!(
        log.contains("def haversine(lat1, lon1, lat2, lon2):"),
        "the helper's signature is not in the prompt:\n{log}"
    );
}

/// The hostile rows of issue 19 against the built binary with the real model: after each,
/// the server answers the next request.
// The model lock is held for the whole test on purpose: real-model tests take turns.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_server_survives_hostile_input() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (_child, mut c) = LspClient::serve(|_| {});
    c.handshake(
        json!({"textDocument": {"inlineCompletion": {}}}),
        json!({"model": SMALL, "warmup": false}),
        Some("file:///tmp"),
    )
    .await;
    loop {
        let s = c.request("quill/status", Value::Null).await.unwrap();
        if s["state"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    async fn alive(c: &mut LspClient, what: &str) {
        let s = c.request("quill/status", Value::Null).await;
        assert!(s.is_ok(), "after {what}: {s:?}");
    }
    c.send_bytes(b"X-\xff\xfe: y\r\nContent-Length: 2\r\n\r\n{}")
        .await;
    alive(&mut c, "a header that is not UTF-8").await;
    c.send_bytes(b"Content-Type: x\r\n\r\n{}").await;
    alive(&mut c, "a frame without Content-Length").await;

    c.open("file:///tmp/s.py", "python", "s = '😀😀'\nx = 1\n")
        .await;
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///tmp/s.py", "version": 2},
               "contentChanges": [{"range": {"start": {"line": 0, "character": 6}, "end": {"line": 0, "character": 6}}, "text": "a"}]}),
    )
    .await;
    let r = c.inline("file:///tmp/s.py", 0, 6).await;
    assert!(!format!("{r:?}").contains("panicked"), "{r:?}");
    alive(&mut c, "a change inside a surrogate pair").await;

    c.open(
        "file:///tmp/cr.py",
        "python",
        "import os\rdef f():\r    \rprint(f())\r",
    )
    .await;
    let r = c.inline("file:///tmp/cr.py", 2, 4).await;
    assert!(r.is_ok(), "lone CR: {r:?}");

    let mut big = format!("Content-Length: {}\r\n\r\n", 65 << 20).into_bytes();
    big.resize(big.len() + (65 << 20), b' ');
    c.send_bytes(&big).await;
    alive(&mut c, "a message over 64 MiB").await;

    let deep = format!("x = {}\n", "[".repeat(100_000));
    c.open("file:///tmp/deep.py", "python", &deep).await;
    let _ = c.inline("file:///tmp/deep.py", 0, 4).await;
    alive(&mut c, "100,000 nested brackets").await;

    let slow = format!("def f():\n    x = 1\n{}", "# c\n".repeat(32_000));
    c.open("file:///tmp/slow.py", "python", &slow).await;
    alive(&mut c, "a file tree-sitter-python parses in quadratic time").await;

    let r = c.request("$/x", json!({})).await;
    assert!(r.is_err(), "{r:?}");
    c.shutdown().await;
}
