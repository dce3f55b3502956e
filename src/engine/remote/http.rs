//! HTTP to the inference server: one thread per streamed answer, parsing lines into
//! [`Chunk`]s and handing them to the engine thread through a channel.
//!
//! Why a thread per stream: the engine thread must notice a cancellation within a token,
//! and a blocking read cannot be interrupted. The engine thread waits on the channel with
//! a short timeout and checks its cancel token; when it gives up it drops its end and
//! marks the stream closed, and the reader thread returns at its next line, dropping the
//! connection, which tells the server to stop generating.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use serde_json::Value;

use super::wire::{self, Api, Call, Chunk};
use crate::engine::EngineError;

/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A configured connection to one server.
pub struct Client {
    agent: ureq::Agent,
    /// The base URL, without a trailing slash.
    pub base: String,
    /// The API key's value (never logged; `Debug` is not implemented for this reason).
    key: Option<String>,
}

impl Client {
    pub fn new(base: &str, key: Option<String>, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(5).min(timeout)))
            // Waiting for the answer's head covers the server's prompt processing.
            .timeout_recv_response(Some(timeout))
            // Between two streamed tokens.
            .timeout_per_read(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(32)
            .user_agent(concat!("quill/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    /// GETs `path` and parses the JSON answer.
    pub fn get_json(&self, path: &str) -> Result<Value, EngineError> {
        let mut req = self.agent.get(&format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let resp = req.call().map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .read_to_string()
            .map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(self.refused(path, status, &body));
        }
        serde_json::from_str(&body).map_err(|_| {
            EngineError::Refused(format!(
                "{}{path} did not answer with JSON (is `api` right for this server?): {}",
                self.base,
                wire::clip(&body)
            ))
        })
    }

    fn unreachable(&self, e: &ureq::Error) -> EngineError {
        EngineError::Unreachable(format!("cannot reach {}: {e}", self.base))
    }

    fn refused(&self, path: &str, status: u16, body: &str) -> EngineError {
        let message = wire::error_message(body).unwrap_or_else(|| wire::clip(body));
        let hint = match status {
            401 | 403 => " (check the API key: `apiKeyEnv` names the variable that holds it)",
            404 => " (wrong URL, `api` or model name?)",
            _ => "",
        };
        EngineError::Refused(format!(
            "{}{path} answered HTTP {status}: {message}{hint}",
            self.base
        ))
    }
}

/// A message from a reader thread: one parsed line, or the reason the stream failed.
pub type Msg = (u64, Result<Chunk, EngineError>);

/// The engine thread's end of a stream; dropping it closes the stream.
pub struct Stream {
    pub id: u64,
    closed: Arc<AtomicBool>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// Starts streaming `call`'s answer on its own thread; its chunks arrive on `tx` tagged
/// with `id`, ending with a chunk marked `end` or an error. Connection errors, HTTP 429
/// and 5xx are retried `retries` times with a growing pause (the server's `Retry-After`
/// where it gives one), as long as nothing was streamed yet.
pub fn start(
    client: &Arc<Client>,
    api: Api,
    call: Call,
    id: u64,
    retries: u32,
    tx: Sender<Msg>,
) -> Stream {
    let closed = Arc::new(AtomicBool::new(false));
    let stream = Stream {
        id,
        closed: closed.clone(),
    };
    let client = client.clone();
    let spawned = std::thread::Builder::new()
        .name("quill-http".into())
        .spawn(move || {
            let result = run(&client, api, &call, retries, &closed, &mut |c| {
                tx.send((id, Ok(c))).is_ok()
            });
            if let Err(e) = result
                && !closed.load(Ordering::SeqCst)
            {
                let _ = tx.send((id, Err(e)));
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start an HTTP thread: {e}");
    }
    stream
}

/// The body of a reader thread. `emit` returns false when nobody listens any more.
fn run(
    client: &Client,
    api: Api,
    call: &Call,
    retries: u32,
    closed: &AtomicBool,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<(), EngineError> {
    let url = format!("{}{}", client.base, call.path);
    let body = call.body.to_string();
    let mut attempt = 0;
    loop {
        let mut req = client
            .agent
            .post(&url)
            .header("Content-Type", "application/json");
        if let Some(k) = &client.key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let (err, retry_after) = match req.send(&body) {
            Err(e) => (client.unreachable(&e), None),
            Ok(resp) if resp.status().is_success() => {
                let reader = BufReader::new(resp.into_body().into_reader());
                return read_stream(client, api, call.chat, reader, closed, emit);
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp
                    .into_body()
                    .with_config()
                    .limit(64 * 1024)
                    .read_to_string()
                    .unwrap_or_default();
                let err = client.refused(call.path, status, &text);
                if status != 429 && status < 500 {
                    return Err(err);
                }
                (err, retry_after)
            }
        };
        if attempt >= retries || closed.load(Ordering::SeqCst) {
            return Err(err);
        }
        let pause = retry_after
            .unwrap_or(Duration::from_millis(500 << attempt.min(6)))
            .min(MAX_BACKOFF);
        tracing::warn!(attempt, ?pause, "{err}; retrying");
        attempt += 1;
        let until = std::time::Instant::now() + pause;
        while std::time::Instant::now() < until {
            if closed.load(Ordering::SeqCst) {
                return Err(err);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read_stream(
    client: &Client,
    api: Api,
    chat: bool,
    mut reader: impl BufRead,
    closed: &AtomicBool,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<(), EngineError> {
    let mut line = String::new();
    loop {
        if closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| {
            EngineError::Unreachable(format!("the answer from {} broke off: {e}", client.base))
        })?;
        if n == 0 {
            // The server closed the stream without a final line: take it as the end.
            emit(Chunk {
                end: true,
                ..Chunk::default()
            });
            return Ok(());
        }
        if let Some(chunk) = wire::parse_line(api, chat, &line) {
            if let Some(e) = chunk.error {
                return Err(EngineError::Refused(format!(
                    "{} stopped with an error: {e}",
                    client.base
                )));
            }
            let end = chunk.end;
            if !emit(chunk) || end {
                return Ok(());
            }
        }
    }
}
