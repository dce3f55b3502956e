//! The remote engine against a scripted HTTP server on a local port: streaming, stop rules
//! and cancellation closing the connection, retries, errors, model discovery, the API key.
//! (Tests against a real llama-server are in `tests/it/real_remote.rs`.)
//! Longer than ~700 lines because one scripted server serves every dialect's tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::*;
use crate::engine::{ChatMessage, Piece, StopFn};

/// A request as the mock server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// How a streamed answer went from the server's side.
#[derive(Debug)]
struct Served {
    /// Chunks written before the client went away (or all of them).
    written: usize,
    total: usize,
}

type Handler = dyn Fn(&Seen, &mut TcpStream) -> Option<Served> + Send + Sync;

struct Mock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    served: mpsc::Receiver<Served>,
}

fn mock(handler: impl Fn(&Seen, &mut TcpStream) -> Option<Served> + Send + Sync + 'static) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, served) = mpsc::channel();
    let handler: Arc<Handler> = Arc::new(handler);
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (handler, log, tx) = (handler.clone(), log.clone(), tx.clone());
            std::thread::spawn(move || {
                // Keep-alive: several requests may come on one connection.
                while let Some(req) = read_request(&mut conn) {
                    log.lock().unwrap().push(req.clone());
                    if let Some(s) = handler(&req, &mut conn) {
                        let _ = tx.send(s);
                        return;
                    }
                }
            });
        }
    });
    Mock { url, seen, served }
}

fn read_request(conn: &mut TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(conn: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

/// Streams `lines` (chunked), one every `pause`; counts what got through.
fn stream(conn: &mut TcpStream, lines: &[String], pause: Duration) -> Served {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return Served {
            written: 0,
            total: lines.len(),
        };
    }
    let mut written = 0;
    for l in lines {
        let data = format!("{l}\n\n");
        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
        if conn
            .write_all(chunk.as_bytes())
            .and_then(|()| conn.flush())
            .is_err()
        {
            break;
        }
        written += 1;
        std::thread::sleep(pause);
    }
    let _ = conn.write_all(b"0\r\n\r\n");
    Served {
        written,
        total: lines.len(),
    }
}

fn openai_lines(pieces: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..pieces)
        .map(|i| {
            format!(r#"data: {{"choices":[{{"index":0,"text":"t{i} ","finish_reason":null}}]}}"#)
        })
        .collect();
    v.push(r#"data: {"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#.into());
    v.push("data: [DONE]".into());
    v
}

/// A handler for `/v1/models` listing `models`, and `/v1/completions` streaming `pieces`.
fn openai(models: &'static [&'static str], pieces: usize, pause: Duration) -> Mock {
    mock(move |req, conn| match req.path.as_str() {
        "/v1/models" => {
            let data: Vec<_> = models
                .iter()
                .map(|m| serde_json::json!({"id": m}))
                .collect();
            respond(
                conn,
                "200 OK",
                &serde_json::json!({"data": data}).to_string(),
            );
            None
        }
        _ => Some(stream(conn, &openai_lines(pieces), pause)),
    })
}

fn engine(url: &str, api: Api) -> Engine {
    let e = spawn(RemoteConfig::new(url, api), None, 4096);
    e.ready_blocking().expect("ready");
    e
}

fn text_request(max_tokens: u32) -> Request {
    Request::generate(vec![Piece::Text("def f(".into())], max_tokens)
}

fn ranked_request(g: Generate) -> Request {
    Request::new(vec![Piece::Text("def f(".into())], Work::Generate(g))
}

/// One ranked candidate of 16 tokens at most, greedy after its first token.
fn rank(rank: u32) -> Generate {
    let mut g = Generate::new(16);
    g.answers = Answers::Rank {
        rank,
        temperature: 0.0,
    };
    g
}

#[test]
fn streams_an_answer_and_discovers_the_model() {
    let m = openai(&["served-model"], 3, Duration::ZERO);
    let e = engine(&m.url, Api::OpenAi);
    assert_eq!(e.info().unwrap().name, "served-model");
    let out = e.generate_blocking(text_request(16)).unwrap();
    assert_eq!(out.text, "t0 t1 t2 ");
    assert_eq!(out.stop, StopReason::MaxTokens, "finish_reason length");
    let seen = m.seen.lock().unwrap().clone();
    let post = seen.iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(post.path, "/v1/completions");
    let body = post.json();
    assert_eq!(body["model"], "served-model");
    assert_eq!(body["prompt"], "def f(");
    assert_eq!(body["max_tokens"], 16);
    assert_eq!(body["stream"], true);
}

#[test]
fn a_settled_answer_closes_the_stream() {
    let m = openai(&["m"], 400, Duration::from_millis(5));
    let e = engine(&m.url, Api::OpenAi);
    let mut req = text_request(1000);
    req.generation_mut().stop = Some(Box::new(|t: &str| t.len() >= 9));
    let out = e.generate_blocking(req).unwrap();
    assert_eq!(out.stop, StopReason::StopRule);
    assert_eq!(out.text, "t0 t1 t2 ");
    let served = m.served.recv().unwrap();
    assert!(
        served.written < served.total,
        "the server streamed all {} pieces to a client that had stopped",
        served.total
    );
}

#[test]
fn a_dropped_request_closes_the_stream() {
    let m = openai(&["m"], 400, Duration::from_millis(5));
    let e = engine(&m.url, Api::OpenAi);
    let seen_text = Arc::new(AtomicUsize::new(0));
    let counter = seen_text.clone();
    let mut req = text_request(1000);
    req.generation_mut().stop = Some(Box::new(move |t: &str| {
        counter.store(t.len(), Ordering::SeqCst);
        false
    }));
    let ticket = e.submit(req);
    while seen_text.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(ticket);
    let served = m.served.recv().unwrap();
    assert!(served.written < served.total, "{served:?}");
}

#[test]
fn batch_retries_a_busy_server_and_interactive_requests_do_not() {
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let m = mock(move |req, conn| {
        if req.path == "/v1/models" {
            respond(conn, "200 OK", r#"{"data":[{"id":"m"}]}"#);
            return None;
        }
        if n.fetch_add(1, Ordering::SeqCst) < 2 {
            let body = r#"{"error":{"message":"the server is busy"}}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            return None;
        }
        Some(stream(conn, &openai_lines(2), Duration::ZERO))
    });
    let e = engine(&m.url, Api::OpenAi);
    // Interactive: the first 503 is the answer.
    let err = e.generate_blocking(text_request(8)).unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(m) if m.contains("503") && m.contains("the server is busy")),
        "{err}"
    );
    // Batch: one more 503, then the answer.
    let results = Arc::new(Mutex::new(Vec::new()));
    let source = Scripted {
        requests: vec![text_request(8)],
        results: results.clone(),
        running: 0,
    };
    e.run_batch_blocking(Box::new(source), 4).unwrap();
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap().text, "t0 t1 ");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

struct Scripted {
    requests: Vec<Request>,
    results: Arc<Mutex<Vec<Result<Output, EngineError>>>>,
    running: usize,
}

impl BatchSource for Scripted {
    fn next(&mut self) -> Option<(u64, Request)> {
        let r = self.requests.pop()?;
        self.running += 1;
        Some((self.requests.len() as u64, r))
    }
    fn done(&mut self, _tag: u64, result: Result<Output, EngineError>) {
        self.running -= 1;
        self.results.lock().unwrap().push(result);
    }
    fn finished(&self) -> bool {
        self.requests.is_empty() && self.running == 0
    }
}

#[test]
fn batch_keeps_parallel_requests_in_flight() {
    let m = openai(&["m"], 4, Duration::from_millis(20));
    let e = engine(&m.url, Api::OpenAi);
    let results = Arc::new(Mutex::new(Vec::new()));
    let source = Scripted {
        requests: (0..8).map(|_| text_request(8)).collect(),
        results: results.clone(),
        running: 0,
    };
    e.run_batch_blocking(Box::new(source), 4).unwrap();
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 8);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap().text == "t0 t1 t2 t3 ")
    );
}

#[test]
fn errors_name_their_cause() {
    let m = mock(|req, conn| {
        if req.path == "/v1/models" {
            respond(conn, "200 OK", r#"{"data":[]}"#);
        } else {
            respond(
                conn,
                "401 Unauthorized",
                r#"{"error":{"message":"Invalid API Key","type":"authentication_error"}}"#,
            );
        }
        None
    });
    let e = engine(&m.url, Api::OpenAi);
    let err = e
        .generate_blocking(text_request(8))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("401") && err.contains("Invalid API Key") && err.contains("API key"),
        "{err}"
    );

    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = engine(&format!("http://127.0.0.1:{port}"), Api::OpenAi);
    let err = e.generate_blocking(text_request(8)).unwrap_err();
    assert!(matches!(err, EngineError::Unreachable(_)), "{err}");
}

#[test]
fn a_model_the_server_lacks_fails_the_start() {
    let m = openai(&["qwen2.5-coder-7b", "llama-3"], 1, Duration::ZERO);
    let mut cfg = RemoteConfig::new(&m.url, Api::OpenAi);
    cfg.model = Some("qwen-typo".into());
    let err = spawn(cfg, None, 4096)
        .ready_blocking()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("qwen-typo") && err.contains("qwen2.5-coder-7b, llama-3"),
        "{err}"
    );
}

#[test]
fn the_api_key_comes_from_the_named_variable() {
    let m = openai(&["m"], 1, Duration::ZERO);
    let mut cfg = RemoteConfig::new(&m.url, Api::OpenAi);
    cfg.api_key_env = Some("QUILL_TEST_REMOTE_KEY_MISSING".into());
    let err = spawn(cfg.clone(), None, 4096).ready_blocking().unwrap_err();
    assert!(
        err.to_string().contains("QUILL_TEST_REMOTE_KEY_MISSING"),
        "{err}"
    );
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("QUILL_TEST_REMOTE_KEY", "sekret") };
    cfg.api_key_env = Some("QUILL_TEST_REMOTE_KEY".into());
    let e = spawn(cfg, None, 4096);
    e.ready_blocking().unwrap();
    e.generate_blocking(text_request(4)).unwrap();
    let seen = m.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|s| s.header("authorization") == Some("Bearer sekret"))
    );
}

#[test]
fn ollama_and_llama_server_shapes() {
    let m = mock(|req, conn| match req.path.as_str() {
        "/api/tags" => {
            respond(
                conn,
                "200 OK",
                r#"{"models":[{"name":"qwen2.5-coder:1.5b"}]}"#,
            );
            None
        }
        "/api/generate" | "/api/chat" => {
            let key = if req.path == "/api/chat" {
                r#""message":{"role":"assistant","content":"Hi"}"#
            } else {
                r#""response":"Hi""#
            };
            let lines = vec![
                format!(r#"{{"model":"q",{key},"done":false}}"#),
                r#"{"model":"q","response":"","done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":1}"#.to_string(),
            ];
            Some(stream(conn, &lines, Duration::ZERO))
        }
        "/props" => {
            respond(
                conn,
                "200 OK",
                r#"{"default_generation_settings":{"n_ctx":2048},"total_slots":1}"#,
            );
            None
        }
        _ => {
            let lines = vec![
                r#"data: {"content":"Hi","stop":false}"#.to_string(),
                r#"data: {"content":"","stop":true,"stop_type":"eos","tokens_evaluated":7,"timings":{"cache_n":3,"predicted_n":1}}"#.to_string(),
            ];
            Some(stream(conn, &lines, Duration::ZERO))
        }
    });
    let e = engine(&m.url, Api::Ollama);
    assert_eq!(e.info().unwrap().name, "qwen2.5-coder:1.5b");
    let out = e.generate_blocking(text_request(8)).unwrap();
    assert_eq!(
        (out.text.as_str(), out.stop),
        ("Hi", StopReason::EndOfGeneration)
    );
    assert_eq!(out.timings.prompt_tokens, 5);
    let chat = Request::generate(vec![Piece::Chat(vec![ChatMessage::new("user", "hi")])], 8);
    assert_eq!(e.generate_blocking(chat).unwrap().text, "Hi");

    let e = engine(&m.url, Api::LlamaServer);
    assert_eq!(e.info().unwrap().n_ctx, 2048, "from /props");
    let out = e.generate_blocking(text_request(8)).unwrap();
    assert_eq!(out.text, "Hi");
    assert_eq!(
        (out.timings.prompt_tokens, out.timings.reused_tokens),
        (7, 3)
    );
    let seen = m.seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/tags",
            "/api/generate",
            "/api/chat",
            "/props",
            "/completion"
        ]
    );
    assert_eq!(seen[1].json()["raw"], true);
    assert_eq!(seen[4].json()["cache_prompt"], true);
}

#[test]
fn warm_ups_are_not_sent() {
    let m = openai(&["m"], 1, Duration::ZERO);
    let e = engine(&m.url, Api::OpenAi);
    let prefill = Request::prefill(vec![Piece::Text("def f(".into())]);
    let out = e.generate_blocking(prefill).unwrap();
    assert_eq!(out.stop, StopReason::PrefillOnly);
    assert!(m.seen.lock().unwrap().iter().all(|s| s.method == "GET"));
}

/// A scripted model behind `/v1/completions` (llama-server's token objects): after
/// `def f(` the likely first tokens are `a`, `x`, the end of generation and `b`; each
/// continues its own way.
fn branching_model() -> Mock {
    fn token(text: &str, lp: f32, top: &[(&str, f32)]) -> serde_json::Value {
        let top: Vec<_> = top
            .iter()
            .map(|(t, l)| serde_json::json!({"token": t, "bytes": t.as_bytes(), "logprob": l}))
            .collect();
        serde_json::json!({"token": text, "bytes": text.as_bytes(), "logprob": lp, "top_logprobs": top})
    }
    mock(|req, conn| {
        if req.path == "/v1/models" {
            respond(conn, "200 OK", r#"{"data":[{"id":"m"}]}"#);
            return None;
        }
        let body = req.json();
        let prompt = body["prompt"].as_str().unwrap_or_default();
        let max = body["max_tokens"].as_u64().unwrap_or(16) as usize;
        let firsts = [("a", -0.1), ("x", -1.0), ("", -2.0), ("b", -3.0)];
        let indent = [("   ", -0.2), ("\t", -1.6)];
        let code = [
            (" return", -0.3),
            (" pass", -1.0),
            ("", -1.5),
            (" raise", -2.0),
        ];
        let tokens: Vec<(&str, f32)> = match prompt {
            "def f(" => vec![("a", -0.1), (", b", -0.1), (")", -0.1)],
            "def f(x" => vec![(", y", -0.05), (")", -0.05)],
            "def f(b" => vec![(")", -0.5)],
            "if x:\n" => vec![("   ", -0.2), (" return", -0.3), (" y", -0.1)],
            "if x:\n    pass" => vec![("\n", -0.2)],
            "if x:\n    raise" => vec![(" E", -0.4)],
            _ => vec![("?", -9.0)],
        };
        let mut lines: Vec<String> = tokens
            .iter()
            .take(max)
            .enumerate()
            .map(|(i, (t, lp))| {
                let top: &[(&str, f32)] = match (prompt, i) {
                    ("def f(", 0) => &firsts,
                    ("if x:\n", 0) => &indent,
                    ("if x:\n", 1) => &code,
                    _ => &[],
                };
                let chunk = serde_json::json!({"choices": [{"index": 0, "text": t,
                    "logprobs": {"content": [token(t, *lp, top)]}, "finish_reason": null}]});
                format!("data: {chunk}")
            })
            .collect();
        lines.push(r#"data: {"choices":[{"index":0,"text":"","finish_reason":"stop"}]}"#.into());
        lines.push("data: [DONE]".into());
        Some(stream(conn, &lines, Duration::ZERO))
    })
}

#[test]
fn ranked_candidates_branch_at_the_servers_likely_first_tokens() {
    let m = branching_model();
    let e = engine(&m.url, Api::OpenAi);
    let req = ranked_request(Generate::new(16).ranked(3, 0.0, None));
    let out = e.generate_blocking(req).unwrap();
    let got: Vec<(&str, f32)> = out
        .candidates
        .iter()
        .map(|c| (c.text.as_str(), c.mean_logprob))
        .collect();
    // The greedy answer first; the end of generation is no alternative.
    let close = |a: f32, b: f32| (a - b).abs() < 1e-4;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(out.text, "a, b)");
    assert_eq!((got[0].0, got[1].0, got[2].0), ("a, b)", "x, y)", "b)"));
    assert!(close(got[0].1, -0.1) && close(got[1].1, -1.1 / 3.0) && close(got[2].1, -1.75));
    // The alternatives were asked for after their first token, with log-probabilities.
    let seen = m.seen.lock().unwrap().clone();
    let prompts: Vec<String> = seen
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.json()["prompt"].as_str().unwrap().to_string())
        .collect();
    assert!(prompts.contains(&"def f(x".to_string()) && prompts.contains(&"def f(b".to_string()));
    assert!(
        seen.iter()
            .filter(|s| s.method == "POST")
            .all(|s| s.json()["logprobs"].as_u64().is_some())
    );

    // The others' stop rule ends them; one ranked candidate alone (a batch slot's
    // request) is the same branch.
    let others: StopFn = Box::new(|t: &str| t.contains(','));
    let req = ranked_request(Generate::new(16).ranked(2, 0.0, Some(others)));
    let out = e.generate_blocking(req).unwrap();
    assert_eq!(out.candidates[1].text, "x, y");
    let req = ranked_request(rank(2));
    let out = e.generate_blocking(req).unwrap();
    assert_eq!(out.text, "b)");
    assert_eq!(out.candidates.len(), 1);
    let req = ranked_request(rank(9));
    let out = e.generate_blocking(req).unwrap();
    assert!(
        out.candidates.is_empty(),
        "no ninth first token: no candidate"
    );
}

#[test]
fn ranked_candidates_branch_where_the_code_starts() {
    // At a line start the greedy answer's indentation comes first; the alternatives are
    // those of its first token of code, after that indentation.
    let m = branching_model();
    let e = engine(&m.url, Api::OpenAi);
    let ask = |r: u32| {
        let req = Request::new(vec![Piece::Text("if x:\n".into())], Work::Generate(rank(r)));
        e.generate_blocking(req).unwrap()
    };
    let out = ask(1);
    assert_eq!(out.text, "    pass\n");
    let mean = out.candidates[0].mean_logprob;
    assert!((mean - (-0.2 - 1.0 - 0.2) / 3.0).abs() < 1e-4, "{mean}");
    // The end of generation is no alternative.
    assert_eq!(ask(2).text, "    raise E");
    assert_eq!(ask(0).text, "    return y");
}

#[test]
fn sampled_candidates_ask_the_server_to_sample_each_from_its_own_seed() {
    let m = branching_model();
    let e = engine(&m.url, Api::OpenAi);
    let req = ranked_request(Generate::new(16).ranked(3, 0.7, None));
    let out = e.generate_blocking(req).unwrap();
    // (The mock answers by prompt alone: every candidate is the same text.)
    let texts: Vec<&str> = out.candidates.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["a, b)"; 3]);
    let seen = m.seen.lock().unwrap().clone();
    let asked: Vec<(String, f64, u64, u64)> = seen
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| {
            let b = s.json();
            let f = |k: &str| b[k].as_f64().unwrap_or(-1.0);
            (
                b["prompt"].as_str().unwrap().to_string(),
                f("temperature"),
                b["seed"].as_u64().unwrap(),
                b["max_tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    // No probe for a first token: three whole answers from the same prompt, the greedy
    // one and two sampled, each with its own seed.
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(
        asked.iter().all(|a| a.0 == "def f(" && a.3 == 16),
        "{asked:?}"
    );
    let mut temps: Vec<f64> = asked.iter().map(|a| (a.1 * 10.0).round() / 10.0).collect();
    temps.sort_by(f64::total_cmp);
    assert_eq!(temps, [0.0, 0.7, 0.7]);
    let mut seeds: Vec<u64> = asked.iter().map(|a| a.2).collect();
    seeds.sort();
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "{asked:?}");
}

#[test]
fn ranked_candidates_without_log_probabilities_are_the_greedy_answer() {
    let m = openai(&["m"], 2, Duration::ZERO);
    let e = engine(&m.url, Api::OpenAi);
    let req = ranked_request(Generate::new(16).ranked(3, 0.0, None));
    let out = e.generate_blocking(req).unwrap();
    assert_eq!(out.text, "t0 t1 ");
    let texts: Vec<&str> = out.candidates.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["t0 t1 "]);
}

#[test]
fn a_server_down_at_start_is_asked_for_its_model_later() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}");
    let e = spawn(RemoteConfig::new(&url, Api::OpenAi), None, 4096);
    e.ready_blocking()
        .expect("ready although the server is down");
    assert!(matches!(
        e.generate_blocking(text_request(4)),
        Err(EngineError::Unreachable(_))
    ));
    // The server comes up on the same port.
    let listener = TcpListener::bind(addr).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            while let Some(req) = read_request(&mut conn) {
                log.lock().unwrap().push(req.clone());
                if req.path == "/v1/models" {
                    respond(&mut conn, "200 OK", r#"{"data":[{"id":"late"}]}"#);
                } else {
                    stream(&mut conn, &openai_lines(1), Duration::ZERO);
                    break;
                }
            }
        }
    });
    assert_eq!(e.generate_blocking(text_request(4)).unwrap().text, "t0 ");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().json()["model"], "late");
}
