//! A guard in front of tower-lsp-server's reader: it re-frames the client's messages and
//! turns a malformed one (bad JSON, not a JSON-RPC message) into a `quill/malformedMessage`
//! notification that the server logs.
//!
//! Why: tower-lsp-server's decoder reports such a message as a stream error, and the
//! tokio-util framing it uses ends the stream after an error, so one bad message would
//! stop the server. Malformed input must get a log line, not an exit.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

/// Messages larger than this are refused as malformed (and skipped).
const MAX_MESSAGE: usize = 64 << 20;

/// Returns a reader that yields only well-formed messages read from `input`.
pub fn sanitize<R>(input: R) -> impl AsyncRead + Unpin + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (mut tx, rx) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        while let Some(body) = next_frame(&mut input).await {
            let body = match check(&body) {
                Ok(()) => body,
                Err(why) => {
                    tracing::warn!("malformed message from the client: {why}");
                    json!({"jsonrpc": "2.0", "method": "quill/malformedMessage", "params": {"error": why}})
                        .to_string()
                        .into_bytes()
                }
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

/// The next message body, skipping header blocks without a usable `Content-Length`;
/// `None` at the end of input.
async fn next_frame<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> Option<Vec<u8>> {
    loop {
        let mut len: Option<usize> = None;
        let mut saw_header = false;
        loop {
            let mut line = String::new();
            if input.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if saw_header {
                    break;
                }
                continue;
            }
            saw_header = true;
            if let Some((name, value)) = line.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                len = value.trim().parse().ok();
            }
        }
        match len {
            Some(n) if n <= MAX_MESSAGE => {
                let mut body = vec![0u8; n];
                input.read_exact(&mut body).await.ok()?;
                return Some(body);
            }
            _ => tracing::warn!("message without a usable Content-Length header: skipped"),
        }
    }
}

/// Whether `body` is a JSON-RPC 2.0 request, notification or response.
fn check(body: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(obj) = v.as_object() else {
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
    Ok(())
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
}
