//! `quill bench --lsp`: a scripted editing session through `quill serve` over stdio, as an
//! editor drives it: open three files, retype lines of one, and ask for an inline
//! completion at every word, measuring what the editor waits for.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bench::{Step, mean, percentile, typing_steps};
use crate::text::{Encoding, LineIndex};

/// What the session measured.
#[derive(Debug, serde::Serialize)]
pub struct LspReport {
    pub requests: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mean_evaluated_tokens: f64,
    pub mean_prompt_tokens: f64,
    /// Reused prompt tokens over all prompt tokens.
    pub cache_reuse: f64,
    pub empty: usize,
}

pub struct StdioClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    /// quill's own notifications (`quill/…`) read while waiting for an answer.
    notes: Vec<Value>,
}

impl StdioClient {
    /// Starts `quill serve` and initializes it with `options` (the server's settings; a
    /// warm-up is always asked for). `QUILL_BENCH_SERVER` names another build's binary to
    /// serve (an earlier commit, to compare side by side with the same replay).
    pub fn start(options: &Value) -> Result<Self> {
        let exe = match std::env::var_os("QUILL_BENCH_SERVER") {
            Some(p) => std::path::PathBuf::from(p),
            None => std::env::current_exe().context("find the quill binary")?,
        };
        let mut child = Command::new(exe)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start quill serve")?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut c = StdioClient {
            child,
            stdin,
            stdout,
            next_id: 1,
            notes: Vec::new(),
        };
        let mut options = options.clone();
        options["warmup"] = json!(true);
        let root = std::env::current_dir()?;
        c.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": format!("file://{}", root.display()),
                "capabilities": {"textDocument": {"inlineCompletion": {}}},
                "initializationOptions": options,
            }),
        )?;
        c.notify("initialized", json!({}))?;
        Ok(c)
    }

    fn send(&mut self, msg: &Value) -> Result<()> {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len())?;
        self.stdin.flush()?;
        Ok(())
    }

    pub fn notify(&mut self, method: &str, params: Value) -> Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    pub fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        loop {
            let Some(msg) = self.next_answer()? else {
                continue;
            };
            if msg["id"] == id {
                if let Some(e) = msg.get("error") {
                    bail!("{method} failed: {e}");
                }
                return Ok(msg["result"].clone());
            }
        }
    }

    /// Reads the next message: `None` for one the server sent on its own (its requests
    /// are answered yes, quill's notifications kept for [`Self::wait_note`]).
    fn next_answer(&mut self) -> Result<Option<Value>> {
        let msg = self.read()?;
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            return Ok(Some(msg));
        };
        if msg.get("id").is_some() {
            // The server asks something (a progress token): say yes.
            self.send(&json!({"jsonrpc": "2.0", "id": msg["id"], "result": null}))?;
        } else if method.starts_with("quill/") {
            self.notes.push(msg);
        }
        Ok(None)
    }

    /// Waits for the server's notification `method` (one already read counts) and
    /// returns its parameters.
    pub fn wait_note(&mut self, method: &str) -> Result<Value> {
        loop {
            if let Some(i) = self.notes.iter().position(|n| n["method"] == method) {
                return Ok(self.notes.remove(i)["params"].clone());
            }
            self.next_answer()?;
        }
    }

    fn read(&mut self) -> Result<Value> {
        let mut len = None;
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line)? == 0 {
                bail!("quill serve closed its output");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                len = Some(v.trim().parse::<usize>()?);
            }
        }
        let mut body = vec![0u8; len.context("a message without Content-Length")?];
        self.stdout.read_exact(&mut body)?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// Opens `path` holding `text` and returns its URI. The language id is the one an
    /// editor sends for the file's extension.
    pub fn open(&mut self, path: &Path, text: &str) -> Result<String> {
        let u = uri(path)?;
        let language = crate::lang::Language::from_path(path).map_or("plaintext", |l| l.name());
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": u, "languageId": language, "version": 1, "text": text}}),
        )?;
        Ok(u)
    }

    /// Waits until the server's model has loaded.
    pub fn wait_ready(&mut self) -> Result<()> {
        loop {
            let s = self.request("quill/status", Value::Null)?;
            match s["state"].as_str() {
                Some("ready") => return Ok(()),
                Some(st) if st.starts_with("failed") => bail!("the server's model failed: {st}"),
                _ => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
    }

    pub fn finish(mut self) -> Result<()> {
        self.request("shutdown", Value::Null)?;
        self.notify("exit", Value::Null)?;
        self.child.wait()?;
        Ok(())
    }
}

fn uri(path: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
    Ok(format!("file://{}", abs.display()))
}

/// The single-range change that turns `old` into `new` (UTF-16 positions).
pub fn change(old: &str, new: &str) -> Value {
    let prefix = old
        .char_indices()
        .zip(new.chars())
        .take_while(|((_, a), b)| a == b)
        .last()
        .map_or(0, |((i, a), _)| i + a.len_utf8());
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let mut end_old = old.len() - suffix;
    while !old.is_char_boundary(end_old) {
        end_old += 1;
    }
    let end_new = new.len() - (old.len() - end_old);
    let idx = LineIndex::new(old);
    let (l0, c0) = idx.position(old, prefix, Encoding::Utf16);
    let (l1, c1) = idx.position(old, end_old, Encoding::Utf16);
    json!({
        "range": {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}},
        "text": &new[prefix..end_new],
    })
}

/// Runs the session: `others` are opened first, then `file` is retyped from `start_line`.
pub fn run_session(
    file: &Path,
    others: &[PathBuf],
    start_line: usize,
    lines: usize,
    server_options: &Value,
) -> Result<LspReport> {
    let text = crate::bench::read_source(file)?;
    let steps: Vec<Step> = typing_steps(&text, start_line, lines);
    let mut c = StdioClient::start(server_options)?;
    c.wait_ready()?;
    for other in others {
        c.open(other, &crate::bench::read_source(other)?)?;
    }
    let mut current = steps[0].text.clone();
    let u = c.open(file, &current)?;
    let mut latencies = Vec::new();
    let mut evaluated = Vec::new();
    let mut prompt = Vec::new();
    let (mut reused_sum, mut prompt_sum) = (0.0, 0.0);
    let mut empty = 0;
    for (version, step) in steps.iter().enumerate() {
        if step.text != current {
            c.notify(
                "textDocument/didChange",
                json!({
                    "textDocument": {"uri": u, "version": version + 2},
                    "contentChanges": [change(&current, &step.text)],
                }),
            )?;
            current = step.text.clone();
        }
        let idx = LineIndex::new(&current);
        let (line, character) = idx.position(&current, step.offset, Encoding::Utf16);
        let started = Instant::now();
        let r = c.request(
            "textDocument/inlineCompletion",
            json!({
                "textDocument": {"uri": u},
                "position": {"line": line, "character": character},
                "context": {"triggerKind": 2},
            }),
        )?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if r.is_null() {
            empty += 1;
        }
        let s = c.request("quill/status", Value::Null)?;
        let t = &s["lastCompletion"];
        let f = |k: &str| t[k].as_f64().unwrap_or(0.0);
        evaluated.push(f("evaluated_tokens"));
        prompt.push(f("prompt_tokens"));
        reused_sum += f("reused_tokens");
        prompt_sum += f("prompt_tokens");
    }
    c.finish()?;
    Ok(LspReport {
        requests: latencies.len(),
        p50_ms: percentile(&latencies, 50.0),
        p95_ms: percentile(&latencies, 95.0),
        mean_evaluated_tokens: mean(&evaluated),
        mean_prompt_tokens: mean(&prompt),
        cache_reuse: if prompt_sum > 0.0 {
            reused_sum / prompt_sum
        } else {
            0.0
        },
        empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_the_minimal_range() {
        let c = change("ab\ncd\n", "ab\ncXd\n");
        assert_eq!(c["range"]["start"], json!({"line": 1, "character": 1}));
        assert_eq!(c["range"]["end"], json!({"line": 1, "character": 1}));
        assert_eq!(c["text"], "X");
        let c = change("a😀b", "a😀xb");
        assert_eq!(c["range"]["start"]["character"], 3);
    }
}
