//! A guard in front of tower-lsp-server's reader: it re-frames the client's messages and
//! turns a malformed one (bad JSON, not a JSON-RPC message) into a `quill/malformedMessage`
//! notification that the server logs.
//!
//! Why: tower-lsp-server's decoder reports such a message as a stream error, and the
//! tokio-util framing it uses ends the stream after an error, so one bad message would
//! stop the server. Malformed input must get a log line, not an exit.
//!
//! The framer survives any byte stream: header bytes that are not UTF-8, a header block
//! without `Content-Length` (skipped), junk in front of the next header (the header is
//! found anywhere in its line), a body over [`MAX_MESSAGE`] (read and discarded, never
//! held), a `Content-Length` too small (the malformed rest is skipped up to the next
//! header) or too large (when the client goes quiet with a complete frame inside the
//! waiting body, the framer resynchronises on it).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Messages larger than this are refused as malformed (read and discarded).
const MAX_MESSAGE: usize = 64 << 20;
/// A header block longer than this is junk: only its tail is kept while looking for one.
const MAX_HEADER: usize = 64 << 10;
/// How long a body may stall before the framer looks inside it for the next frame.
const STALL: Duration = Duration::from_secs(2);

/// Returns a reader that yields only well-formed messages read from `input`.
pub fn sanitize<R>(input: R) -> impl AsyncRead + Unpin + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (mut tx, rx) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut framer = Framer::new(input);
        while let Some(next) = framer.next().await {
            let body = match next.and_then(check) {
                Ok(body) => body,
                Err(why) => malformed(&why),
            };
            let frame = format!("Content-Length: {}\r\n\r\n", body.len());
            if tx.write_all(frame.as_bytes()).await.is_err() || tx.write_all(&body).await.is_err() {
                return;
            }
        }
        let _ = tx.shutdown().await;
    });
    rx
}

fn malformed(why: &str) -> Vec<u8> {
    tracing::warn!("malformed message from the client: {why}");
    json!({"jsonrpc": "2.0", "method": "quill/malformedMessage", "params": {"error": why}})
        .to_string()
        .into_bytes()
}

/// Splits a byte stream into message bodies.
struct Framer<R> {
    input: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Framer<R> {
    fn new(input: R) -> Self {
        Framer {
            input,
            buf: Vec::with_capacity(8 << 10),
        }
    }

    /// Reads more input into the buffer; `false` at the end of input or on a read error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 << 10];
        match self.input.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next message body (well-formed or not, [`check`] decides) or why there is
    /// none; `None` at the end of input.
    async fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            let Some((header_end, body_start)) = header_end(&self.buf) else {
                if self.buf.len() > MAX_HEADER {
                    let keep = self.buf.len() - 64;
                    self.buf.drain(..keep);
                }
                if !self.fill().await {
                    return None;
                }
                continue;
            };
            let len = content_length(&self.buf[..header_end]);
            self.buf.drain(..body_start);
            match len {
                None => tracing::warn!("message without a usable Content-Length header: skipped"),
                Some(n) if n > MAX_MESSAGE => {
                    tracing::warn!("message of {n} bytes is over {MAX_MESSAGE}: discarded");
                    if !self.discard(n).await {
                        return None;
                    }
                    return Some(Err(format!("message of {n} bytes is too large")));
                }
                Some(n) => return self.body(n).await.map(Ok),
            }
        }
    }

    /// Reads `n` bytes of body; when the client stalls with a complete frame inside the
    /// awaited bytes (a `Content-Length` too large), returns what came before it and
    /// keeps the frame for the next call.
    async fn body(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            match tokio::time::timeout(STALL, self.fill()).await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(_) => {
                    if let Some(at) = embedded_frame(&self.buf) {
                        tracing::warn!("Content-Length {n} too large: resynchronised");
                        return Some(self.buf.drain(..at).collect());
                    }
                }
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    async fn discard(&mut self, mut n: usize) -> bool {
        loop {
            let take = n.min(self.buf.len());
            self.buf.drain(..take);
            n -= take;
            if n == 0 {
                return true;
            }
            if !self.fill().await {
                return false;
            }
        }
    }
}

/// Where the header block in `buf` ends and its body starts (`\r\n\r\n`, or `\n\n` from
/// a sloppy client).
fn header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = find(buf, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = find(buf, b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The last `Content-Length` in a header block, found anywhere in its line (junk left
/// by a bad frame can precede it); bytes that are not UTF-8 are ignored.
fn content_length(header: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(header).to_ascii_lowercase();
    let at = text.rfind("content-length:")?;
    let value = &text[at + "content-length:".len()..];
    let digits: &str = value
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?;
    digits.parse().ok()
}

/// The start of a complete, well-formed frame inside `buf`, if there is one.
fn embedded_frame(buf: &[u8]) -> Option<usize> {
    let lower = buf.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = find(&lower[from..], b"content-length:") {
        let at = from + i;
        if let Some((h, b)) = header_end(&buf[at..])
            && let Some(n) = content_length(&buf[at..at + h])
            && buf.len() >= at + b + n
            && check(buf[at + b..at + b + n].to_vec()).is_ok()
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `body` if it is a JSON-RPC 2.0 request, notification or response, else why not. A
/// request (with an id) for a `$/` method, which tower-lsp-server would drop without an
/// answer, is renamed so that it gets "method not found" as the protocol requires.
fn check(body: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut v: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(obj) = v.as_object_mut() else {
        return Err("not a JSON object".into());
    };
    let is_request = obj.get("method").is_some_and(Value::is_string);
    let is_response =
        obj.contains_key("id") && (obj.contains_key("result") || obj.contains_key("error"));
    if !is_request && !is_response {
        return Err("neither a request, a notification nor a response".into());
    }
    // tower-lsp-server expects the version field; a missing one is the client's bug, but
    // not worth dying for.
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("missing \"jsonrpc\": \"2.0\"".into());
    }
    match obj.get("id") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() => {}
        Some(other) => return Err(format!("an id must be a string or an integer, not {other}")),
    }
    let method = obj.get("method").and_then(Value::as_str).unwrap_or("");
    if obj.contains_key("id") && method.starts_with("$/") {
        let renamed = format!("quill/unsupported{method}");
        obj.insert("method".into(), Value::String(renamed));
        return Ok(v.to_string().into_bytes());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn malformed_messages_become_notifications_and_the_rest_flows() {
        let good = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = format!(
            "Content-Length: 5\r\n\r\n{{bad}}Content-Length: {}\r\n\r\n{good}\
             X-Junk: yes\r\n\r\nContent-Length: 7\r\n\r\n[1,2,3]",
            good.len()
        )
        .into_bytes();
        let mut out = String::new();
        sanitize(std::io::Cursor::new(input))
            .read_to_string(&mut out)
            .await
            .unwrap();
        let bodies: Vec<&str> = out
            .split("Content-Length: ")
            .skip(1)
            .map(|f| f.split_once("\r\n\r\n").unwrap().1)
            .collect();
        assert_eq!(bodies.len(), 3, "{out}");
        assert!(bodies[0].contains("quill/malformedMessage"));
        assert_eq!(bodies[1], good);
        assert!(bodies[2].contains("not a JSON object"));
    }

    async fn frames(input: Vec<u8>) -> Vec<String> {
        let mut out = String::new();
        sanitize(std::io::Cursor::new(input))
            .read_to_string(&mut out)
            .await
            .unwrap();
        out.split("Content-Length: ")
            .skip(1)
            .map(|f| f.split_once("\r\n\r\n").unwrap().1.to_string())
            .collect()
    }

    const GOOD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;

    #[tokio::test]
    async fn survives_bad_header_bytes_missing_lengths_and_short_lengths() {
        let mut input = b"X-\xff\xfe: y\r\nContent-Length: 2\r\n\r\n{}".to_vec();
        input.extend(b"Content-Type: x\r\n\r\n{}");
        input.extend(format!("Content-Length: {}\r\n\r\n{GOOD}", GOOD.len()).bytes());
        input.extend(b"Content-Length: 3\r\n\r\n{\"jsonrpc\":1}");
        input.extend(format!("content-length:{}\n\n{GOOD}", GOOD.len()).bytes());
        let bodies = frames(input).await;
        let good: Vec<_> = bodies.iter().filter(|b| *b == GOOD).collect();
        assert_eq!(good.len(), 2, "{bodies:?}");
        assert!(bodies[0].contains("malformedMessage"), "{bodies:?}");
        assert_eq!(bodies.last().unwrap(), GOOD);
    }

    #[tokio::test]
    async fn an_oversized_body_is_discarded_and_the_next_frame_read() {
        let mut input = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE + 1).into_bytes();
        input.resize(input.len() + MAX_MESSAGE + 1, b'x');
        input.extend(format!("Content-Length: {}\r\n\r\n{GOOD}", GOOD.len()).bytes());
        let bodies = frames(input).await;
        assert_eq!(bodies.len(), 2);
        assert!(bodies[0].contains("too large"), "{}", bodies[0]);
        assert_eq!(bodies[1], GOOD);
    }

    #[tokio::test]
    async fn a_length_too_large_resynchronises_when_the_client_waits() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut out = sanitize(server);
        let frame = format!("Content-Length: {}\r\n\r\n{GOOD}", GOOD.len());
        client
            .write_all(format!("Content-Length: 500\r\n\r\n{{}}{frame}").as_bytes())
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(GOOD) {
            let n = out.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        let got = String::from_utf8(got).unwrap();
        assert!(got.contains("malformedMessage"), "{got}");
    }

    #[test]
    fn a_dollar_request_is_renamed_so_it_gets_an_answer() {
        // Found by the fuzzer: tower-lsp-server dropped it, the client waited forever.
        let body = br#"{"jsonrpc":"2.0","id":4,"method":"$/x"}"#.to_vec();
        let out: Value = serde_json::from_slice(&check(body).unwrap()).unwrap();
        assert_eq!(out["method"], "quill/unsupported$/x");
        let note = br#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#;
        assert_eq!(check(note.to_vec()).unwrap(), note.to_vec());
        let bad_id = br#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#.to_vec();
        assert!(check(bad_id).unwrap_err().contains("an id must be"));
    }

    #[test]
    fn content_length_is_found_behind_junk_and_in_any_case() {
        assert_eq!(content_length(b"}junkContent-Length: 12"), Some(12));
        assert_eq!(content_length(b"CONTENT-LENGTH:7\r\nX: y"), Some(7));
        assert_eq!(content_length(b"Content-Type: x"), None);
        assert_eq!(content_length(b"Content-Length: -1"), None);
    }
}
