//! The inference server's health as requests find it (with a `backend` set): the first
//! failure of an outage is shown to the user once, not once per keystroke; `quill/status`
//! reports it until a request succeeds again, and completions come back by themselves.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tower_lsp_server::Client;
use tower_lsp_server::ls_types::MessageType;

use crate::engine::EngineError;

/// Shortest time between two messages about server failures (a server that fails every
/// other request must not flood the editor).
const QUIET: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Health {
    client: OnceLock<Client>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The error of the outage under way.
    outage: Option<String>,
    shown: Option<Instant>,
}

impl Health {
    pub fn set_client(&self, client: Client) {
        let _ = self.client.set(client);
    }

    /// Records a request's outcome; only the server's errors count.
    pub fn record(&self, result: Result<(), &EngineError>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => {
                if let Some(was) = inner.outage.take() {
                    tracing::info!("the inference server answers again (after: {was})");
                }
            }
            Err(e @ (EngineError::Unreachable(_) | EngineError::Refused(_))) => {
                let message = e.to_string();
                tracing::warn!("{message}");
                let first = inner.outage.is_none();
                inner.outage = Some(message.clone());
                if first && inner.shown.is_none_or(|t| t.elapsed() >= QUIET) {
                    inner.shown = Some(Instant::now());
                    self.show(format!(
                        "quill: {message}. Completions come back when the server answers."
                    ));
                }
            }
            Err(_) => {}
        }
    }

    /// Forgets the outage under way: another engine (or inference server) takes over, and
    /// the old one's failure says nothing about it.
    pub fn reset(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.outage.take().is_some() {
            tracing::info!("another engine takes over: the inference server's outage is forgotten");
        }
    }

    /// The error of the outage under way, if any.
    pub fn outage(&self) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .outage
            .clone()
    }

    fn show(&self, message: String) {
        let (Some(client), Ok(rt)) = (self.client.get(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let client = client.clone();
        rt.spawn(async move {
            client.show_message(MessageType::ERROR, message).await;
        });
    }
}
