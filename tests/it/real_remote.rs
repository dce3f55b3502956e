//! quill with a real llama-server as its backend (issue 18): completions equal to the
//! in-process engine's, the LSP server through a server that dies and comes back,
//! explanations through the chat endpoint, batch with parallel slots, and a settled
//! answer stopping the server's generation.
//!
//! llama-server is built once by `scripts/llama-peer.sh` (the README's test command runs
//! it) into the quill cache; `QUILL_LLAMA_SERVER` may name another binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::lsp_client::{LspClient, inline_text};
use crate::support::{SMALL, quill_bin, real_model};

/// The llama-server binary, or a panic naming how to build it.
fn llama_server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("QUILL_LLAMA_SERVER") {
        return PathBuf::from(p);
    }
    let dir = std::env::var("QUILL_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| dirs::home_dir().unwrap().join(".cache"));
            cache.join("quill/llama-peer")
        });
    let bin = dir.join("bin/llama-server");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/llama-peer.sh (scripts/test does)",
        bin.display()
    );
    bin
}

/// A llama-server child process, killed on drop.
struct LlamaServer {
    child: Option<Child>,
    port: u16,
    slots: u32,
    model: PathBuf,
    log: PathBuf,
}

impl LlamaServer {
    fn start(model: &Path, slots: u32, log: &Path) -> LlamaServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = LlamaServer {
            child: None,
            port,
            slots,
            model: model.to_path_buf(),
            log: log.to_path_buf(),
        };
        s.restart();
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(llama_server_bin())
            .arg("-m")
            .arg(&self.model)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            // Each slot gets 4096 tokens, as quill's own context.
            .args(["-c", &(4096 * self.slots).to_string()])
            .args(["-np", &self.slots.to_string(), "-t", "2", "-tb", "2"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start llama-server");
        self.child = Some(child);
        // Ready when /health says so (a hang guard, not a timing check).
        for _ in 0..1200 {
            if ureq::get(&format!("{}/health", self.url()))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("llama-server did not come up; see {}", self.log.display());
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.stop();
    }
}

const CODE: &str = r#"import math


def mean(values):
    """Arithmetic mean of a non-empty list."""
    return sum(values) / len(values)


def variance(values):
    """Population variance."""
    m = mean(values)
    return sum((v - m) ** 2 for v in values) / len(values)


def stddev(values):
    """Population standard deviation."""
    
"#;

fn complete(file: &Path, extra: &[&str]) -> Value {
    complete_with(file, SMALL, extra)
}

fn complete_with(file: &Path, model: &str, extra: &[&str]) -> Value {
    let mut cmd = Command::new(quill_bin());
    cmd.arg("complete")
        .arg(format!("{}:17:5", file.display()))
        .args(["--json", "--model", model])
        .args(extra);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn completions_through_llama_server_equal_the_in_process_ones() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stats.py");
    std::fs::write(&file, CODE).unwrap();
    let server = LlamaServer::start(&path, 1, &dir.path().join("llama-server.log"));
    let local = complete(&file, &[]);
    let url = server.url();
    for api in ["llama-server", "openai"] {
        let remote = complete(&file, &["--backend", &url, "--api", api]);
        eprintln!("{api}: {}", remote["text"]);
        assert!(!local["text"].as_str().unwrap().trim().is_empty());
        assert_eq!(remote["text"], local["text"], "--api {api}");
        assert_eq!(remote["mode"], local["mode"]);
    }
    // Ranked candidates: the server's log-probabilities give the same branches, so the
    // same ranked answer and alternatives.
    let ranked = ["--candidates", "3"];
    let local3 = complete(&file, &ranked);
    let remote3 = complete(
        &file,
        &[&ranked[..], &["--backend", &url, "--api", "llama-server"]].concat(),
    );
    eprintln!("ranked: {} / {}", remote3["text"], remote3["alternatives"]);
    assert!(!local3["alternatives"].as_array().unwrap().is_empty());
    assert_eq!(remote3["text"], local3["text"]);
    assert_eq!(remote3["alternatives"], local3["alternatives"]);
    // A Hugging Face tokenizer.json instead of the GGUF (what a vLLM user has): the same
    // tokenizer rebuilt from the GGUF and saved with the model's special tokens.
    let header = quill::gguf::read_header(&path).unwrap();
    let mut hf = quill::tokenizer::GgufTokenizer::from_header(&header)
        .unwrap()
        .hf()
        .clone();
    let specials: Vec<tokenizers::AddedToken> = header
        .strings("tokenizer.ggml.tokens")
        .unwrap()
        .iter()
        .filter(|t| t.starts_with("<|") && t.ends_with("|>"))
        .map(|t| tokenizers::AddedToken::from(t.clone(), true))
        .collect();
    hf.add_special_tokens(specials).unwrap();
    let json = dir.path().join("tokenizer.json");
    hf.save(&json, false).unwrap();
    let remote = complete_with(
        &file,
        &json.display().to_string(),
        &["--backend", &url, "--api", "llama-server"],
    );
    assert_eq!(remote["text"], local["text"], "with a tokenizer.json");
    // Explanations go through the server's chat endpoint.
    let o = Command::new(quill_bin())
        .arg("explain")
        .arg(format!("{}:11", file.display()))
        .args(["--model", SMALL, "--backend", &url, "--api", "llama-server"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    eprintln!("explanation: {text}");
    assert!(text.split_whitespace().count() >= 5, "{text}");
}

#[test]
fn a_settled_answer_stops_the_servers_generation() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("llama-server.log");
    let server = LlamaServer::start(&path, 1, &log);
    let mut cfg = quill::engine::config::EngineConfig::new(path.clone(), SMALL.into());
    cfg.remote = Some(quill::engine::remote::RemoteConfig::new(
        &server.url(),
        quill::engine::remote::wire::Api::LlamaServer,
    ));
    let engine = quill::engine::spawn(cfg);
    engine.ready_blocking().unwrap();
    let mut g = quill::engine::Generate::new(400);
    g.ignore_eog = true;
    g.stop = Some(Box::new(|t: &str| t.lines().count() >= 3));
    let req = quill::engine::Request::new(
        vec![quill::engine::Piece::Text(
            "# The numbers from 1 to 1000, one per line:\n1\n2\n3\n".into(),
        )],
        quill::engine::Work::Generate(g),
    );
    let out = engine.generate_blocking(req).unwrap();
    assert_eq!(out.stop, quill::engine::StopReason::StopRule);
    // The slot's release line says how many tokens it held: the prompt and what was
    // generated before the stream closed, far from the 400 asked for.
    let mut released = None;
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log).unwrap();
        released = text
            .lines()
            .rev()
            .filter(|l| l.contains("stop processing"))
            .filter_map(|l| l.split("n_tokens = ").nth(1))
            .find_map(|n| n.split([',', ' ']).next()?.parse::<u32>().ok());
        if released.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let n = released.expect("llama-server logged the slot's release");
    eprintln!("the slot held {n} tokens when it stopped");
    assert!(
        n < 100,
        "llama-server generated on after the stream closed: {n} tokens"
    );
}

#[test]
fn batch_keeps_the_servers_slots_busy() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = LlamaServer::start(&path, 4, &dir.path().join("llama-server.log"));
    let out = dir.path().join("out.jsonl");
    let o = Command::new(quill_bin())
        .args([
            "batch",
            "--input",
            "benches/data/batch_tasks.jsonl",
            "--output",
        ])
        .arg(&out)
        .args([
            "--model",
            SMALL,
            "--parallel",
            "4",
            "--backend",
            &server.url(),
        ])
        .args(["--api", "llama-server"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tasks = std::fs::read_to_string("benches/data/batch_tasks.jsonl")
        .unwrap()
        .lines()
        .count();
    assert_eq!(records.len(), tasks);
    for r in &records {
        assert!(r["error"].is_null(), "{r}");
    }
    assert!(
        records
            .iter()
            .any(|r| !r["text"].as_str().unwrap().trim().is_empty())
    );
}

const APP: &str = "def greet(name):\n    \"\"\"Say hello to name.\"\"\"\n    \n";

// The model lock is held for the whole test on purpose: real-model tests take turns.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_server_survives_the_inference_server_going_away() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = LlamaServer::start(&path, 1, &dir.path().join("llama-server.log"));
    let (_child, mut c) = LspClient::serve(|_| {});
    let root = format!("file://{}", dir.path().display());
    c.handshake(
        json!({"textDocument": {"inlineCompletion": {}}}),
        // Whole answers (no time budget): the test reads the text after the restart.
        json!({"model": SMALL, "warmup": false, "prefetch": false, "timeBudgetMs": 0,
               "backend": {"url": server.url(), "api": "llama-server"}}),
        Some(&root),
    )
    .await;
    let status = |s: &Value| s["state"].as_str().unwrap_or_default().to_string();
    loop {
        let s = c.request("quill/status", Value::Null).await.unwrap();
        if status(&s) == "ready" {
            assert_eq!(s["model"]["info"]["server"], server.url());
            break;
        }
        assert!(!status(&s).starts_with("failed"), "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let uri = format!("{root}/app.py");
    c.open(&uri, "python", APP).await;
    let r = c.inline(&uri, 2, 4).await.unwrap();
    let first = inline_text(&r).expect("a completion through the server");
    eprintln!("through llama-server: {first:?}");
    assert!(!first.trim().is_empty());

    // The server goes away: the request fails, the user is told once, the status says so.
    server.stop();
    let edit = |v: i32, text: &str| {
        json!({"textDocument": {"uri": uri, "version": v},
               "contentChanges": [{"text": text}]})
    };
    for (v, text) in [
        (2, APP.replace("name", "who")),
        (3, APP.replace("name", "person")),
    ] {
        c.notify("textDocument/didChange", edit(v, &text)).await;
        let r = c.inline(&uri, 2, 4).await;
        assert!(r.is_err() || inline_text(&r.unwrap()).is_none_or(|t| t.is_empty()));
    }
    let shown = c
        .wait_notification("window/showMessage", |p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.contains("unreachable"))
        })
        .await;
    eprintln!("shown: {}", shown["params"]["message"]);
    let s = c.request("quill/status", Value::Null).await.unwrap();
    assert!(status(&s).starts_with("failed"), "{s}");
    let more = c
        .notifications
        .iter()
        .filter(|n| n["method"] == "window/showMessage")
        .count();
    assert_eq!(more, 0, "one message per outage, not one per request");

    // Back again: completions and the status recover by themselves.
    server.restart();
    // (A text the suggestion cache has not seen, so that the server is asked.)
    c.notify(
        "textDocument/didChange",
        edit(4, &APP.replace("name", "guest")),
    )
    .await;
    let r = c.inline(&uri, 2, 4).await.unwrap();
    let back = inline_text(&r).expect("a completion once the server is back");
    eprintln!("back: {back:?}");
    assert!(back.contains("guest"), "{back}");
    let s = c.request("quill/status", Value::Null).await.unwrap();
    assert_eq!(status(&s), "ready", "{s}");

    // Ranked candidates through the server: one inline item per distinct answer.
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"candidates": 3}}),
    )
    .await;
    c.notify(
        "textDocument/didChange",
        edit(5, &APP.replace("name", "visitor")),
    )
    .await;
    let r = c.inline(&uri, 2, 4).await.unwrap();
    let items: Vec<&str> = r["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["insertText"].as_str())
        .collect();
    eprintln!("ranked through llama-server: {items:?}");
    assert!(items.len() >= 2, "{r}");
    c.shutdown().await;
}

/// Leaving an inference server that is down (`backend` set back to none) clears its
/// outage: once the in-process model is loaded, `quill/status` says ready, not the old
/// server's failure (VS Code's status bar kept "backend down" until a completion
/// succeeded).
// The model lock is held for the whole test on purpose: real-model tests take turns.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_server_that_is_down_clears_its_outage() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_child, mut c) = LspClient::serve(|_| {});
    let root = format!("file://{}", dir.path().display());
    c.handshake(
        json!({"textDocument": {"inlineCompletion": {}}}),
        // Port 9 (discard) refuses connections here.
        json!({"model": SMALL, "warmup": false, "prefetch": false, "timeBudgetMs": 0,
               "backend": {"url": "http://127.0.0.1:9", "api": "llama-server"}}),
        Some(&root),
    )
    .await;
    let state = |s: &Value| s["state"].as_str().unwrap_or_default().to_string();
    let uri = format!("{root}/app.py");
    c.open(&uri, "python", APP).await;
    loop {
        let s = c.request("quill/status", Value::Null).await.unwrap();
        if state(&s).starts_with("failed") {
            break;
        }
        // The request fails; the status then reports the outage.
        let _ = c.inline(&uri, 2, 4).await;
    }
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"backend": null}}),
    )
    .await;
    let s = loop {
        let s = c.request("quill/status", Value::Null).await.unwrap();
        if s["model"]["name"] == SMALL && !state(&s).starts_with("loading") {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(state(&s), "ready", "{s}");
    c.shutdown().await;
}
