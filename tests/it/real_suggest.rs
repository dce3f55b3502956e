//! Growing ghost text with the real model (issue 16): with `timeBudgetMs` the first answer
//! is the words ready so far, `quill/suggestionReady` follows, and asking again gives the
//! whole line from the cache: exactly what a server without a budget answers.

use serde_json::{Value, json};

use crate::lsp_client::{LspClient, inline_text};
use crate::support::{SMALL, real_model};

/// A line the model writes in many tokens, with nothing after the cursor.
const DOC: &str = "def greet(name, place):\n    \"\"\"Print a greeting naming the person and the place.\"\"\"\n    print(\n";

// The model lock is held for the whole test on purpose: real-model tests take turns.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_ghost_text_ends_as_the_models_whole_line() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let uri = "file:///w/greet.py";
    let (line, character) = (2, 10);

    let base = json!({"model": SMALL, "warmup": false, "prefetch": false, "timeBudgetMs": 0});
    let (_whole_child, mut whole) = LspClient::serve_ready(base.clone()).await;
    whole.open(uri, "python", DOC).await;
    let expected = inline_text(&whole.inline(uri, line, character).await.unwrap())
        .expect("the model completes the call");
    whole.shutdown().await;

    let mut budget = base;
    budget["timeBudgetMs"] = json!(1);
    let (_child, mut c) = LspClient::serve_ready(budget).await;
    c.open(uri, "python", DOC).await;
    let first =
        inline_text(&c.inline(uri, line, character).await.unwrap()).expect("the words ready");
    let totals = c.request("quill/status", Value::Null).await.unwrap()["totals"].clone();
    eprintln!("first {first:?}, whole {expected:?}, totals {totals}");
    assert_eq!(totals["partial"], 1, "answered in part: {totals}");
    assert!(
        expected.starts_with(&first) && first.len() < expected.len(),
        "{first:?} starts {expected:?}"
    );
    let note = c
        .wait_notification("quill/suggestionReady", |p| p["uri"] == uri)
        .await;
    assert_eq!(
        note["params"]["position"],
        json!({"line": line, "character": character})
    );
    let r = c.inline(uri, line, character).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some(expected.as_str()));
    let totals = c.request("quill/status", Value::Null).await.unwrap()["totals"].clone();
    assert_eq!(
        totals["cacheHits"], 1,
        "the second answer is the cache's: {totals}"
    );
    c.shutdown().await;
}
