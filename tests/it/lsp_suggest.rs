//! Ghost text at typing speed, with the fake engine: the suggestion cache answers typing
//! that follows a suggestion without a model call, a block is answered at its first line
//! while the rest goes on into the cache, an accept prefetches the next line, and an edit
//! that leaves a running generation behind stops it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::lsp::{Fake, inline_caps, ready, start};
use crate::lsp_client::{LspClient, inline_text};

/// The texts of an inline completion answer's items, in order.
fn items(r: &Value) -> Vec<&str> {
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["insertText"].as_str().unwrap())
        .collect()
}

async fn totals(c: &mut LspClient) -> Value {
    c.request("quill/status", Value::Null).await.unwrap()["totals"].clone()
}

async fn set_text(c: &mut LspClient, uri: &str, version: i32, text: &str) {
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
    )
    .await;
}

const URI: &str = "file:///w/a.py";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_what_was_suggested_is_answered_from_the_cache() {
    let fake = Fake::default();
    let factory = fake.factory("max(a, b)\nprint(1)\n", 0, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("max(a, b)"));
    let prompts = fake.prompts.lock().unwrap().len();
    // The user types the start of the suggestion: the rest, with no model call.
    set_text(&mut c, URI, 2, "x = ma\n").await;
    let r = c.inline(URI, 0, 6).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("x(a, b)"));
    // Backspace to the first state: the same answer again.
    set_text(&mut c, URI, 3, "x = \n").await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("max(a, b)"));
    assert_eq!(
        fake.prompts.lock().unwrap().len(),
        prompts,
        "no new model call"
    );
    let t = totals(&mut c).await;
    assert_eq!(t["cacheHits"], 2, "{t}");
    assert_eq!(t["answered"], 3, "{t}");
    // Something else typed: the model is asked.
    set_text(&mut c, URI, 4, "x = y\n").await;
    let _ = c.inline(URI, 0, 5).await.unwrap();
    assert_eq!(fake.prompts.lock().unwrap().len(), prompts + 1);
    c.shutdown().await;
}

/// With `candidates`, one inline completion item per distinct answer, the best first; a
/// later answer from the cache has the one it continues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranked_candidates_are_items_of_one_answer() {
    let fake = Fake::default();
    let factory = fake.factory("max(a, b)\n", 0, 0);
    let (mut c, _) = start(
        factory,
        inline_caps(),
        json!({"warmup": false, "candidates": 3}),
    )
    .await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(items(&r), ["max(a, b)", "max(a, b) or 1", "max(a, b) or 2"]);
    set_text(&mut c, URI, 2, "x = ma\n").await;
    let r = c.inline(URI, 0, 6).await.unwrap();
    assert_eq!(r["items"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(inline_text(&r).as_deref(), Some("x(a, b)"));
    // Asked for the others there (VS Code's next suggestion is an explicit request): each
    // candidate that goes on from the typed text, continued from the cursor.
    let r = c.inline_as(URI, 0, 6, 1).await.unwrap();
    assert_eq!(items(&r), ["x(a, b)", "x(a, b) or 1", "x(a, b) or 2"]);
    c.shutdown().await;
}

/// A settings change that shapes answers (here the number of candidates) empties the
/// suggestion cache: the next request at the same state asks the model again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_cached_under_other_settings_are_not_served() {
    let fake = Fake::default();
    let factory = fake.factory("max(a, b)\n", 0, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(items(&r), ["max(a, b)"]);
    // A setting that does not shape answers keeps the cache.
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"debounceMs": 10}}),
    )
    .await;
    let _ = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(fake.prompts.lock().unwrap().len(), 1);
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"candidates": 3}}),
    )
    .await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(items(&r), ["max(a, b)", "max(a, b) or 1", "max(a, b) or 2"]);
    assert_eq!(fake.prompts.lock().unwrap().len(), 2);
    c.shutdown().await;
}

/// `rankBy: likelihood`: the server reads each candidate where the cursor puts it, before
/// the code after the cursor, and shows first the one that code reads best after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_ranked_by_likelihood_in_the_editor() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut fake = Fake::default();
    fake.read = Some(Arc::new(move |text: &str, tail: &str| {
        log.lock()
            .unwrap()
            .push((text.to_string(), tail.to_string()));
        (-0.5, if text.ends_with("or 2") { -0.1 } else { -3.0 })
    }));
    let factory = fake.factory("y = x + 1\n", 0, 0);
    let (mut c, _) = start(
        factory,
        inline_caps(),
        json!({"warmup": false, "candidates": 3, "rankBy": "likelihood"}),
    )
    .await;
    ready(&mut c).await;
    c.open(URI, "python", "def f(x):\n    \n    return y\n")
        .await;
    let r = c.inline(URI, 1, 4).await.unwrap();
    assert_eq!(items(&r), ["y = x + 1 or 2", "y = x + 1", "y = x + 1 or 1"]);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], ("    y = x + 1".into(), "\n    return y\n".into()));
    // A bad value is refused and the ranking kept.
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"rankBy": "loudest"}}),
    )
    .await;
    c.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap_or("").contains("rankBy")
    })
    .await;
    c.shutdown().await;
}

/// A request answered by the old model while a settings change loads the new one (the
/// user switched to a backend and typed at once) is not served from the cache once the
/// new model is in: asking again there asks the new model. (VS Code kept showing the old
/// model's suggestion for minutes, and never the backend's failure.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_a_replaced_model_are_not_served() {
    let old = Fake::default();
    let new = Fake::default();
    let (old_factory, new_factory) = (old.factory("old()\n", 0, 0), new.factory("new()\n", 0, 0));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let factory: quill::server::EngineFactory = Arc::new(move |s| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            old_factory(s)
        } else {
            // The new engine takes a while to start: the request below meets the old one.
            std::thread::sleep(Duration::from_millis(300));
            new_factory(s)
        }
    });
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"threads": 3}}),
    )
    .await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(items(&r), ["old()"]);
    // The old engine stops once the new one has replaced it and its request is done.
    while old.stopped.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(items(&r), ["new()"]);
    assert_eq!(new.prompts.lock().unwrap().len(), 1);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_can_be_switched_off() {
    let fake = Fake::default();
    let factory = fake.factory("max(a, b)\n", 0, 0);
    let (mut c, _) = start(
        factory,
        inline_caps(),
        json!({"warmup": false, "experiments": {"suggestionCache": false}}),
    )
    .await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let _ = c.inline(URI, 0, 4).await.unwrap();
    set_text(&mut c, URI, 2, "x = ma\n").await;
    let _ = c.inline(URI, 0, 6).await.unwrap();
    assert_eq!(fake.prompts.lock().unwrap().len(), 2);
    assert_eq!(totals(&mut c).await["cacheHits"], 0);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_is_answered_at_its_first_line_and_the_rest_comes_from_the_cache() {
    let fake = Fake::default();
    // 40 ms a token, 3 characters a token: the whole block takes over a second.
    let block =
        "total = 0\n    for x in xs:\n        total += x\n    return total\n\nprint(f([1]))\n";
    let factory = fake.factory(block, 40, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    let doc = "def f(xs):\n    \n";
    c.open(URI, "python", doc).await;
    let r = c.inline(URI, 1, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("total = 0"));
    let t = totals(&mut c).await;
    assert_eq!(t["firstLine"], 1, "{t}");
    assert_eq!(
        t["generatedTokens"], 0,
        "answered before the generation ended: {t}"
    );
    // The user reads it, accepts the line (no prefetch: the generation that goes on
    // covers the next line) and presses Enter (the editor indents): the next lines, from
    // the generation that went on meanwhile.
    set_text(&mut c, URI, 2, "def f(xs):\n    total = 0\n").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    set_text(&mut c, URI, 3, "def f(xs):\n    total = 0\n    \n").await;
    let r = c.inline(URI, 2, 4).await.unwrap();
    assert_eq!(
        inline_text(&r).as_deref(),
        Some("for x in xs:\n        total += x\n    return total")
    );
    let t = totals(&mut c).await;
    assert_eq!(t["generations"], 1, "{t}");
    assert_eq!(t["prefetches"], 0, "{t}");
    assert_eq!(t["cacheHits"], 1, "{t}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_line_off_waits_for_the_block() {
    let fake = Fake::default();
    let block = "total = 0\n    return total\n\nprint(f([1]))\n";
    let factory = fake.factory(block, 5, 0);
    let (mut c, _) = start(
        factory,
        inline_caps(),
        json!({"warmup": false, "firstLine": false}),
    )
    .await;
    ready(&mut c).await;
    c.open(URI, "python", "def f(xs):\n    \n").await;
    let r = c.inline(URI, 1, 4).await.unwrap();
    assert_eq!(
        inline_text(&r).as_deref(),
        Some("total = 0\n    return total")
    );
    assert_eq!(totals(&mut c).await["firstLine"], 0);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_suggestion_prefetches_the_next_line() {
    let fake = Fake::default();
    // The first prompt ends at `x = `; the prefetch's at the next line's indentation.
    let respond = Arc::new(|prompt: &str| {
        if prompt.contains("x = <|fim_suffix|>") {
            "compute()\n".to_string()
        } else {
            "return x\n".to_string()
        }
    });
    let factory = fake.responder(respond, 0, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "def f():\n    x = \n").await;
    let r = c.inline(URI, 1, 8).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("compute()"));
    // Accept it whole: the next line is generated in the background.
    set_text(&mut c, URI, 2, "def f():\n    x = compute()\n").await;
    let mut waited = 0;
    while totals(&mut c).await["prefetches"] != 1 || fake.prompts.lock().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
        assert!(waited < 500, "no prefetch");
    }
    // Enter: the prefetched line, with no model call of its own.
    set_text(&mut c, URI, 3, "def f():\n    x = compute()\n    \n").await;
    let r = c.inline(URI, 2, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return x"));
    assert_eq!(fake.prompts.lock().unwrap().len(), 2);
    assert_eq!(totals(&mut c).await["cacheHits"], 1);
    c.shutdown().await;
}

/// A line answered at its end: the answer comes as soon as the line is ready, and the
/// same generation goes on into the next line, so accepting it and pressing Enter is
/// answered with no model call of its own (and no prefetch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_answered_at_its_end_goes_on_into_the_next_line() {
    let fake = Fake::default();
    // 20 ms a token of 3 characters: the next line takes most of a second after the
    // first (and fits in the tokens a line and its next line may take).
    let next: &'static str =
        Box::leak(format!("    return {}\n", "x".repeat(120)).into_boxed_str());
    let answer: &'static str = Box::leak(format!("compute()\n{next}print(1)\n").into_boxed_str());
    let factory = fake.factory(answer, 20, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "def f():\n    x = \n").await;
    let r = c.inline(URI, 1, 8).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("compute()"));
    let t = totals(&mut c).await;
    assert_eq!(
        t["firstLine"], 1,
        "answered while the generation went on: {t}"
    );
    // Accept, Enter: the next line, from the same generation.
    set_text(&mut c, URI, 2, "def f():\n    x = compute()\n").await;
    set_text(&mut c, URI, 3, "def f():\n    x = compute()\n    \n").await;
    let r = c.inline(URI, 2, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some(next.trim()));
    assert_eq!(fake.prompts.lock().unwrap().len(), 1, "one model call");
    let t = totals(&mut c).await;
    assert_eq!(t["prefetches"], 0, "{t}");
    assert_eq!(t["cacheHits"], 1, "{t}");
    // It stopped at that line's end: `print(1)` was not generated (3 characters a token).
    let generated = fake.generated();
    assert!(generated < answer.len().div_ceil(3), "{generated} tokens");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_leaves_a_generation_behind_stops_it() {
    let fake = Fake::default();
    let answer: &'static str = Box::leak("abc".repeat(100).into_boxed_str());
    let factory = fake.factory(answer, 20, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let id = c
        .start(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": URI}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Typing along the suggestion keeps it going; typing something else stops it.
    set_text(&mut c, URI, 2, "x = ab\n").await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    set_text(&mut c, URI, 3, "x = zz\n").await;
    assert_eq!(c.response(id).await.unwrap(), Value::Null);
    c.shutdown().await;
}

/// With `timeBudgetMs`, a line still being generated when the budget passes is answered
/// with its words ready so far; `quill/suggestionReady` says when the rest is there, and
/// asking again gets the whole line from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_line_shows_its_ready_words_and_says_when_the_rest_is_there() {
    let fake = Fake::default();
    // 60 ms a token, 3 characters a token: the line takes about 0.7 s.
    let line = "max(alpha, beta) + min(gamma, delta)";
    let factory = fake.factory("max(alpha, beta) + min(gamma, delta)\n", 60, 0);
    let (mut c, _) = start(
        factory,
        inline_caps(),
        json!({"warmup": false, "timeBudgetMs": 100}),
    )
    .await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    let first = inline_text(&r).expect("the ready words");
    assert!(
        line.starts_with(&first) && first.len() < line.len(),
        "{first:?} is a start of the line"
    );
    assert!(
        !first.ends_with(char::is_alphanumeric),
        "whole words: {first:?}"
    );
    assert_eq!(totals(&mut c).await["partial"], 1);
    let note = c
        .wait_notification("quill/suggestionReady", |p| p["uri"] == URI)
        .await;
    assert_eq!(
        note["params"],
        json!({"uri": URI, "version": 1, "position": {"line": 0, "character": 4}})
    );
    let prompts = fake.prompts.lock().unwrap().len();
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some(line));
    assert_eq!(
        fake.prompts.lock().unwrap().len(),
        prompts,
        "from the cache"
    );
    c.shutdown().await;
}

/// Without a budget (the default) the line is answered whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_budget_a_slow_line_is_answered_whole() {
    let fake = Fake::default();
    let factory = fake.factory("max(alpha, beta)\n", 20, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"warmup": false})).await;
    ready(&mut c).await;
    c.open(URI, "python", "x = \n").await;
    let r = c.inline(URI, 0, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("max(alpha, beta)"));
    assert_eq!(totals(&mut c).await["partial"], 0);
    c.shutdown().await;
}

/// A block answered in part: `quill/suggestionReady` comes when its first line is whole
/// (not when the whole block is), and asking again gets that line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_block_is_ready_at_its_first_whole_line() {
    let fake = Fake::default();
    // 80 ms a token, 3 characters a token: the first line after ~0.3 s, the block ~1.6 s.
    let block =
        "total = 0\n    for x in xs:\n        total += x\n    return total\n\nprint(f([1]))\n";
    let factory = fake.factory(block, 80, 0);
    let (mut c, _) = start(
        factory,
        inline_caps(),
        json!({"warmup": false, "timeBudgetMs": 50}),
    )
    .await;
    ready(&mut c).await;
    c.open(URI, "python", "def f(xs):\n    \n").await;
    let r = c.inline(URI, 1, 4).await.unwrap();
    let first = inline_text(&r).unwrap_or_default();
    assert!("total = 0".starts_with(&first), "{first:?}");
    c.wait_notification("quill/suggestionReady", |p| p["uri"] == URI)
        .await;
    let r = c.inline(URI, 1, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("total = 0"));
    let t = totals(&mut c).await;
    assert_eq!(t["partial"], 1, "{t}");
    assert_eq!(t["generatedTokens"], 0, "the block still runs: {t}");
    c.shutdown().await;
}
