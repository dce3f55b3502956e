//! A scripted LSP client speaking real JSON-RPC (Content-Length framing) over any byte
//! stream: an in-memory duplex to an in-process server, or the pipes of `quill serve`.
//! It answers the server's own requests (progress tokens, …) and keeps every
//! notification for assertions.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

pub struct LspClient {
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    reader: BufReader<Box<dyn AsyncRead + Unpin + Send>>,
    next_id: i64,
    /// Responses that arrived while waiting for another one.
    responses: Vec<Value>,
    /// Notifications from the server, in order.
    pub notifications: VecDeque<Value>,
}

/// How long any single wait may take before the test fails (a hang, not a timing check).
const HANG: Duration = Duration::from_secs(600);

impl LspClient {
    /// Starts the built `quill serve` (`setup` adds arguments and environment) and speaks
    /// to it over its stdin and stdout; its stderr is dropped, the child killed on drop.
    pub fn serve(
        setup: impl FnOnce(&mut tokio::process::Command),
    ) -> (tokio::process::Child, LspClient) {
        let mut cmd = tokio::process::Command::new(crate::support::quill_bin());
        cmd.arg("serve");
        setup(&mut cmd);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start quill serve");
        let c = LspClient::new(child.stdin.take().unwrap(), child.stdout.take().unwrap());
        (child, c)
    }

    /// `quill serve` with inline completion on and `settings`, once its model is ready.
    pub async fn serve_ready(settings: Value) -> (tokio::process::Child, LspClient) {
        let (child, mut c) = LspClient::serve(|_| {});
        c.handshake(
            json!({"textDocument": {"inlineCompletion": {}}}),
            settings,
            None,
        )
        .await;
        loop {
            let s = c.request("quill/status", Value::Null).await.unwrap();
            match s["state"].as_str() {
                Some("ready") => break,
                Some(f) if f.starts_with("failed") => panic!("{s}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        (child, c)
    }

    pub fn new(
        writer: impl AsyncWrite + Unpin + Send + 'static,
        reader: impl AsyncRead + Unpin + Send + 'static,
    ) -> Self {
        LspClient {
            writer: Box::new(writer),
            reader: BufReader::new(Box::new(reader)),
            next_id: 1,
            responses: Vec::new(),
            notifications: VecDeque::new(),
        }
    }

    pub async fn send_raw(&mut self, body: &str) {
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.writer.write_all(frame.as_bytes()).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// Writes bytes as they are: for frames a well-behaved client would never send.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    async fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string()).await;
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// Sends a request and returns its id without waiting.
    pub async fn start(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        id
    }

    /// Waits for the response to `id`: `Ok(result)` or `Err(error)`.
    pub async fn response(&mut self, id: i64) -> Result<Value, Value> {
        loop {
            if let Some(i) = self.responses.iter().position(|r| r["id"] == id) {
                let r = self.responses.remove(i);
                return match r.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(r["result"].clone()),
                };
            }
            self.read_one().await;
        }
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.start(method, params).await;
        self.response(id).await
    }

    /// Waits for a notification of `method` matching `pred`, consuming it.
    pub async fn wait_notification(
        &mut self,
        method: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        loop {
            if let Some(i) = self
                .notifications
                .iter()
                .position(|n| n["method"] == method && pred(&n["params"]))
            {
                return self.notifications.remove(i).unwrap();
            }
            self.read_one().await;
        }
    }

    /// Reads one message and files it.
    async fn read_one(&mut self) {
        let msg = tokio::time::timeout(HANG, self.read_message())
            .await
            .expect("the server did not answer")
            .expect("the server closed the stream");
        if msg.get("method").is_some() && msg.get("id").is_some() {
            // A request from the server: accept it.
            let id = msg["id"].clone();
            self.send(json!({"jsonrpc": "2.0", "id": id, "result": null}))
                .await;
            self.notifications.push_back(msg);
        } else if msg.get("method").is_some() {
            self.notifications.push_back(msg);
        } else {
            self.responses.push(msg);
        }
    }

    async fn read_message(&mut self) -> Option<Value> {
        let mut len = None;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0u8; len?];
        self.reader.read_exact(&mut body).await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// `initialize` + `initialized`; returns the server's capabilities.
    pub async fn handshake(
        &mut self,
        capabilities: Value,
        options: Value,
        root: Option<&str>,
    ) -> Value {
        let result = self
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": root,
                    "capabilities": capabilities,
                    "initializationOptions": options,
                }),
            )
            .await
            .expect("initialize succeeds");
        self.notify("initialized", json!({})).await;
        result["capabilities"].clone()
    }

    pub async fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
        )
        .await;
    }

    /// An inline completion as typing asks for it (`triggerKind` automatic).
    pub async fn inline(&mut self, uri: &str, line: u32, character: u32) -> Result<Value, Value> {
        self.inline_as(uri, line, character, 2).await
    }

    /// An inline completion with `trigger_kind` (1: the user's "ask now" key).
    pub async fn inline_as(
        &mut self,
        uri: &str,
        line: u32,
        character: u32,
        trigger_kind: u32,
    ) -> Result<Value, Value> {
        self.request(
            "textDocument/inlineCompletion",
            json!({
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": character},
                "context": {"triggerKind": trigger_kind},
            }),
        )
        .await
    }

    /// `shutdown` then `exit`.
    pub async fn shutdown(&mut self) {
        self.request("shutdown", Value::Null)
            .await
            .expect("shutdown");
        self.notify("exit", Value::Null).await;
    }
}

/// The inline completion text from a response, if any.
pub fn inline_text(result: &Value) -> Option<String> {
    let items = result.get("items").or(Some(result))?;
    items.as_array()?.first()?["insertText"]
        .as_str()
        .map(str::to_string)
}
