//! The language server in-process, over real JSON-RPC on an in-memory duplex, with the
//! deterministic fake engine: handshake, sync, edits out of order, cancellation,
//! superseding, loading, settings and every error path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use quill::engine::Engine;
use quill::engine::fake::FakeBackend;
use quill::server::{EngineFactory, Model, Options};
use quill::tokenizer::ApproxCounter;

use crate::lsp_client::{LspClient, inline_text};

/// What the fake model answers and what it saw.
#[derive(Clone, Default)]
pub(crate) struct Fake {
    pub(crate) prompts: Arc<Mutex<Vec<String>>>,
    generated: Arc<AtomicUsize>,
    pub(crate) starts: Arc<AtomicUsize>,
    /// Engines whose thread has ended (dropped, or shut down).
    pub(crate) stopped: Arc<AtomicUsize>,
    /// How the fake model reads candidates (likelihood ranking); its default otherwise.
    pub(crate) read: Option<quill::engine::fake::Reader>,
}

impl Fake {
    /// Tokens the fake model has generated, in all.
    pub(crate) fn generated(&self) -> usize {
        self.generated.load(Ordering::SeqCst)
    }

    pub(crate) fn factory(
        &self,
        answer: &'static str,
        token_delay_ms: u64,
        load_steps: u32,
    ) -> EngineFactory {
        self.responder(
            Arc::new(move |_: &str| answer.to_string()),
            token_delay_ms,
            load_steps,
        )
    }

    pub(crate) fn responder(
        &self,
        respond: Arc<dyn Fn(&str) -> String + Send + Sync>,
        token_delay_ms: u64,
        load_steps: u32,
    ) -> EngineFactory {
        let me = self.clone();
        Arc::new(move |_settings| {
            me.starts.fetch_add(1, Ordering::SeqCst);
            let respond = respond.clone();
            let mut fake = FakeBackend::new(move |p: &str| respond(p));
            fake.log = me.prompts.clone();
            fake.generated = me.generated.clone();
            fake.token_delay = Duration::from_millis(token_delay_ms);
            if let Some(read) = &me.read {
                fake.read = read.clone();
            }
            let stopped = me.stopped.clone();
            let engine = Engine::spawn(move |starter| {
                let mut progress = starter.progress_fn();
                for i in 0..load_steps {
                    progress(i as f32 / load_steps as f32);
                    std::thread::sleep(Duration::from_millis(100));
                }
                starter.serve(FakeBackend::info(), &mut fake);
                stopped.fetch_add(1, Ordering::SeqCst);
            });
            Ok(Model {
                engine,
                counter: Arc::new(ApproxCounter),
                name: "fake".into(),
            })
        })
    }

    pub(crate) fn last_prompt(&self) -> String {
        self.prompts
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

pub(crate) async fn start(
    factory: EngineFactory,
    capabilities: Value,
    options: Value,
) -> (LspClient, Value) {
    let (client_w, server_r) = tokio::io::duplex(1 << 22);
    let (server_w, client_r) = tokio::io::duplex(1 << 22);
    tokio::spawn(quill::server::serve(
        server_r,
        server_w,
        Options { factory },
    ));
    let mut client = LspClient::new(client_w, client_r);
    // Whole answers unless a test asks for growing ghost text: with the default time
    // budget a slow machine would turn some into their first words.
    let mut options = options;
    if let Some(o) = options.as_object_mut() {
        o.entry("timeBudgetMs").or_insert(json!(0));
    }
    let caps = client
        .handshake(capabilities, options, Some("file:///w"))
        .await;
    (client, caps)
}

pub(crate) fn inline_caps() -> Value {
    json!({"textDocument": {"inlineCompletion": {}}, "window": {"workDoneProgress": true}})
}

/// Waits until the fake engine has loaded (status says ready).
pub(crate) async fn ready(client: &mut LspClient) {
    loop {
        let s = client.request("quill/status", Value::Null).await.unwrap();
        if s["state"] == "ready" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const PY: &str = "def add(x, y):\n    \n\nprint(add(1, 2))\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_advertises_what_is_implemented() {
    let fake = Fake::default();
    let (mut c, caps) = start(fake.factory("x", 0, 0), inline_caps(), Value::Null).await;
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["inlineCompletionProvider"], true);
    assert_eq!(caps["textDocumentSync"]["change"], 2);
    // A client with inline completion gets no classic completion (no double model runs).
    assert!(caps.get("completionProvider").is_none(), "{caps}");
    assert!(caps.get("hoverProvider").is_none());
    c.shutdown().await;

    let caps2 = json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}});
    let (mut c, caps) = start(fake.factory("x", 0, 0), caps2, Value::Null).await;
    assert_eq!(caps["positionEncoding"], "utf-8");
    assert!(caps.get("completionProvider").is_some());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_completion_returns_ghost_text_at_the_cursor() {
    let fake = Fake::default();
    let factory = fake.factory("return x + y\n\nprint(add(1, 2))\n", 0, 0);
    let (mut c, _) = start(factory, inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", PY).await;
    let r = c.inline("file:///w/a.py", 1, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return x + y"));
    let range = &r["items"][0]["range"];
    assert_eq!(range["start"], json!({"line": 1, "character": 4}));
    assert_eq!(range["end"], json!({"line": 1, "character": 4}));
    assert!(
        fake.last_prompt()
            .contains("<|fim_prefix|>def add(x, y):\n    <|fim_suffix|>")
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ask_now_key_is_answered_without_the_debounce() {
    let fake = Fake::default();
    let factory = fake.factory("return x + y\n", 0, 0);
    let (mut c, _) = start(factory, inline_caps(), json!({"debounceMs": 1000})).await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", PY).await;
    // triggerKind 1: invoked by the user (the "ask now" key; manual-trigger clients).
    let r = c.inline_as("file:///w/a.py", 1, 4, 1).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("return x + y"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_answer_to_the_ask_now_key_is_rescued() {
    // The model ends at once. Typing gets nothing; the user's key gets the ranked
    // candidates, which do not end before writing code (the fake's rank 1 of an empty
    // answer is the line `# 1`).
    let fake = Fake::default();
    let (mut c, _) = start(
        fake.factory("", 0, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", PY).await;
    let r = c.inline("file:///w/a.py", 1, 4).await.unwrap();
    assert_eq!(inline_text(&r).unwrap_or_default(), "", "{r}");
    let before = fake.prompts.lock().unwrap().len();
    let r = c.inline_as("file:///w/a.py", 1, 4, 1).await.unwrap();
    assert!(inline_text(&r).is_some_and(|t| t.contains("# 1")), "{r}");
    assert_eq!(
        fake.prompts.lock().unwrap().len(),
        before + 1,
        "one more generation"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_completion_for_clients_without_inline() {
    let fake = Fake::default();
    let (mut c, caps) = start(fake.factory("turn x + y\n", 0, 0), json!({}), Value::Null).await;
    assert!(caps.get("completionProvider").is_some());
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "def add(x, y):\n    re\n")
        .await;
    let r = c
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": "file:///w/a.py"}, "position": {"line": 1, "character": 6}}),
        )
        .await
        .unwrap();
    let item = &r[0];
    // The edit covers the typed word so clients filtering on it keep the item.
    assert_eq!(item["textEdit"]["newText"], "return x + y");
    assert_eq!(
        item["textEdit"]["range"]["start"],
        json!({"line": 1, "character": 4})
    );
    assert!(item["detail"].as_str().unwrap().starts_with("quill"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_apply_in_order_and_old_versions_are_refused() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("pass\n", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "x = 1\n").await;
    let change = |version: i32, text: &str| {
        json!({
            "textDocument": {"uri": "file:///w/a.py", "version": version},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 5}}, "text": text}],
        })
    };
    c.notify("textDocument/didChange", change(3, "3")).await;
    c.notify("textDocument/didChange", change(2, "2")).await; // late: refused
    let r = c.inline("file:///w/a.py", 1, 0).await.unwrap();
    assert!(inline_text(&r).is_some());
    assert!(
        fake.last_prompt().contains("x = 3\n"),
        "{}",
        fake.last_prompt()
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_decoding_on_the_model_thread() {
    let fake = Fake::default();
    // 100 tokens of 3 characters, 30 ms each: three seconds if nobody stops it.
    let answer: &'static str = Box::leak("abc".repeat(100).into_boxed_str());
    let (mut c, _) = start(
        fake.factory(answer, 30, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "x = \n").await;
    let id = c
        .start(
            "textDocument/inlineCompletion",
            json!({"textDocument": {"uri": "file:///w/a.py"}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}}),
        )
        .await;
    while fake.generated.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.notify("$/cancelRequest", json!({"id": id})).await;
    let err = c.response(id).await.unwrap_err();
    assert_eq!(err["code"], -32800, "{err}");
    // The engine runs one request at a time: a second one completes only after the first
    // stopped decoding. Had the first run on, 200 tokens would have been generated.
    c.open("file:///w/b.py", "python", "y = \n").await;
    let r = c.inline("file:///w/b.py", 0, 4).await.unwrap();
    // A line completion stops at 48 tokens (144 characters).
    assert_eq!(inline_text(&r).unwrap().len(), 144);
    let total = fake.generated.load(Ordering::SeqCst);
    assert!(
        total < 48 + 20,
        "the cancelled request went on: {total} tokens in all"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_request_for_the_same_document_supersedes() {
    let fake = Fake::default();
    let answer: &'static str = Box::leak("abc".repeat(30).into_boxed_str());
    let (mut c, _) = start(
        fake.factory(answer, 20, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "x = \n").await;
    let params = json!({"textDocument": {"uri": "file:///w/a.py"}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}});
    let first = c
        .start("textDocument/inlineCompletion", params.clone())
        .await;
    while fake.generated.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second request for the same state shares the running generation.
    let same = c
        .start("textDocument/inlineCompletion", params.clone())
        .await;
    // The text changes to something the generation does not write: it is superseded.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///w/a.py", "version": 2}, "contentChanges": [{"text": "y = \n"}]}),
    )
    .await;
    let second = c.start("textDocument/inlineCompletion", params).await;
    assert_eq!(
        c.response(first).await.unwrap(),
        Value::Null,
        "superseded: empty"
    );
    assert_eq!(c.response(same).await.unwrap(), Value::Null);
    let r = c.response(second).await.unwrap();
    assert_eq!(inline_text(&r).unwrap().len(), 90);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_different_documents_all_get_answers() {
    let fake = Fake::default();
    let (mut c, _) = start(
        fake.factory("1\n", 5, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let uri = format!("file:///w/{name}.py");
        c.open(&uri, "python", "x = \n").await;
        ids.push(
            c.start(
                "textDocument/inlineCompletion",
                json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}}),
            )
            .await,
        );
    }
    for id in ids {
        let r = c.response(id).await.unwrap();
        assert_eq!(inline_text(&r).as_deref(), Some("1"));
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_loading_completions_are_empty_and_progress_is_reported() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("1\n", 0, 5), inline_caps(), Value::Null).await;
    c.open("file:///w/a.py", "python", "x = \n").await;
    // Loading: an empty answer at once, no error.
    let r = c.inline("file:///w/a.py", 0, 4).await.unwrap();
    assert_eq!(r, Value::Null);
    let begin = c
        .wait_notification("$/progress", |p| p["value"]["kind"] == "begin")
        .await;
    assert!(
        begin["params"]["value"]["title"]
            .as_str()
            .unwrap()
            .contains("loading")
    );
    c.wait_notification("$/progress", |p| p["value"]["kind"] == "end")
        .await;
    let r = c.inline("file:///w/a.py", 0, 4).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("1"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("1\n", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    // Unknown document.
    let e = c.inline("file:///w/nope.py", 0, 0).await.unwrap_err();
    assert_eq!(e["code"], -32602);
    assert!(e["message"].as_str().unwrap().contains("not open"), "{e}");
    // Position past the end.
    c.open("file:///w/a.py", "python", "x = 1\n").await;
    let e = c.inline("file:///w/a.py", 7, 0).await.unwrap_err();
    assert!(
        e["message"].as_str().unwrap().contains("past the end"),
        "{e}"
    );
    // A column past the end of its line means the line's end (the LSP's rule): answered.
    c.inline("file:///w/a.py", 0, 40).await.unwrap();
    // Binary and huge files.
    c.open("file:///w/blob.py", "python", "x\u{0}y").await;
    let e = c.inline("file:///w/blob.py", 0, 1).await.unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("binary"), "{e}");
    let big = "x = 1\n".repeat(900_000);
    c.open("file:///w/big.py", "python", &big).await;
    let e = c.inline("file:///w/big.py", 0, 0).await.unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("bytes"), "{e}");
    // A malformed message.
    c.send_raw("{this is not json").await;
    // Unsupported language: plain FIM still works.
    c.open("file:///w/notes.txt", "plaintext", "Dear \n").await;
    let r = c.inline("file:///w/notes.txt", 0, 5).await.unwrap();
    assert_eq!(inline_text(&r).as_deref(), Some("1"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_reported_and_the_old_value_kept() {
    let fake = Fake::default();
    let (mut c, _) = start(
        fake.factory("1\n", 0, 0),
        inline_caps(),
        json!({"maxTokens": -4, "languages": ["python"]}),
    )
    .await;
    let msg = c
        .wait_notification("window/showMessage", |p| {
            p["message"].as_str().unwrap_or("").contains("maxTokens")
        })
        .await;
    assert_eq!(msg["params"]["type"], 2, "a warning");
    ready(&mut c).await;
    // `languages` applied: Rust is off.
    c.open("file:///w/a.rs", "rust", "fn main() {\n    \n}\n")
        .await;
    assert_eq!(c.inline("file:///w/a.rs", 1, 4).await.unwrap(), Value::Null);
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"quill": {"maxToken": 5}}}),
    )
    .await;
    let msg = c
        .wait_notification("window/showMessage", |p| {
            p["message"]
                .as_str()
                .unwrap_or("")
                .contains("did you mean maxTokens")
        })
        .await;
    assert!(
        msg["params"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown setting")
    );
    // Engine settings restart the model.
    let starts = fake.starts.load(Ordering::SeqCst);
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"threads": 1}}),
    )
    .await;
    c.request("quill/status", Value::Null).await.unwrap();
    while fake.starts.load(Ordering::SeqCst) == starts {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The replaced engine is let go (nothing, the supervisor included, holds on to it).
    while fake.stopped.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_from_another_open_file_reaches_the_prompt_first() {
    let fake = Fake::default();
    let (mut c, _) = start(
        fake.factory("1\n", 0, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    c.open(
        "file:///w/pkg/geo.py",
        "python",
        "def haversine(lat1, lon1, lat2, lon2):\n    \"\"\"Distance in km.\"\"\"\n    return 0.0\n\ndef unrelated():\n    pass\n",
    )
    .await;
    c.open(
        "file:///w/pkg/app.py",
        "python",
        "from geo import haversine\n\ndef trip(a, b):\n    return haversine(\n",
    )
    .await;
    let r = c.inline("file:///w/pkg/app.py", 3, 21).await.unwrap();
    assert!(inline_text(&r).is_some());
    let prompt = fake.last_prompt();
    let ctx = prompt.find("<|file_sep|>pkg/geo.py\ndef haversine(lat1, lon1, lat2, lon2):");
    let cur = prompt.find("<|file_sep|>pkg/app.py\n<|fim_prefix|>");
    assert!(ctx.is_some() && cur.is_some() && ctx < cur, "{prompt}");
    assert!(!prompt.contains("unrelated"), "{prompt}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_prefills_after_a_pause() {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory("1\n", 0, 0), inline_caps(), Value::Null).await;
    ready(&mut c).await;
    c.open("file:///w/a.py", "python", "x = 1\n").await;
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": "file:///w/a.py", "version": 2},
            "contentChanges": [{"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "text": "y = "}],
        }),
    )
    .await;
    // The warm-up evaluates the prompt at the edit (no generation).
    while !fake.last_prompt().contains("x = 1\ny = <|fim_suffix|>") {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.generated.load(Ordering::SeqCst), 0);
    c.shutdown().await;
}
