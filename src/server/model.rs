//! The model behind the server: starting it from the settings, reporting its loading with
//! `$/progress`, and replacing it when engine settings change.

use std::sync::Arc;

use anyhow::Result;
use tower_lsp_server::ls_types::{MessageType, ProgressToken};

use super::Server;
use super::settings::Settings;
use crate::engine::config::EngineConfig;
use crate::engine::{Engine, EngineState};
use crate::tokenizer::Counter;

/// A started engine and what goes with it.
pub struct Model {
    pub engine: Engine,
    pub counter: Counter,
    pub name: String,
}

/// Starts an engine for the given settings (it loads in the background).
pub type EngineFactory = Arc<dyn Fn(&Settings) -> Result<Model> + Send + Sync>;

/// The real factory: resolves the model setting and loads the GGUF with llama.cpp.
pub fn llama_factory() -> EngineFactory {
    Arc::new(|s: &Settings| {
        let mut cfg = EngineConfig::resolve(s.model.as_deref(), s.backend.clone())?;
        let counter = cfg.counter()?;
        cfg.threads = s.threads;
        cfg.gpu_layers = s.gpu_layers;
        cfg.context_size = s.context_size;
        cfg.flash_attention = s.flash_attention;
        let name = match &s.backend {
            Some(b) => b.model.clone().unwrap_or_else(|| b.url.clone()),
            None => cfg.model_name.clone(),
        };
        Ok(Model {
            engine: crate::engine::spawn(cfg),
            counter,
            name,
        })
    })
}

impl Server {
    /// (Re)starts the model from the current settings. Errors reach the user once, as a
    /// message; completions meanwhile return nothing.
    pub(super) fn start_model(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        // Boxed with `Send` spelled out: the supervisor it spawns may call it again.
        Box::pin(self.start_model_now())
    }

    async fn start_model_now(&self) {
        let settings = self.state.settings();
        let factory = self.options.factory.clone();
        let made = tokio::task::spawn_blocking(move || factory(&settings)).await;
        let model = match made {
            Ok(Ok(m)) => Arc::new(m),
            Ok(Err(e)) => {
                *self.state.model.write().unwrap_or_else(|e| e.into_inner()) = None;
                self.state.suggestions.clear();
                self.state.health.reset();
                tracing::error!("cannot start the model: {e:#}");
                self.client
                    .show_message(MessageType::ERROR, format!("quill: {e:#}"))
                    .await;
                return;
            }
            Err(e) => {
                tracing::error!("model start panicked: {e}");
                return;
            }
        };
        // The old engine (if any) stops when its last in-flight request lets go of it.
        *self.state.model.write().unwrap_or_else(|e| e.into_inner()) = Some(model.clone());
        // Requests that began before the swap may have cached the old model's answers since
        // the settings changed; the swap comes first, so none is kept after this
        // (`SuggestionCache::insert` checks the model under the cache's lock).
        self.state.suggestions.clear();
        // The old engine's outage says nothing about this one; its requests still in
        // flight no longer count (`State::record_health`).
        self.state.health.reset();
        let client = self.client.clone();
        let progress = self.state.caps().progress;
        let server = Server {
            client: self.client.clone(),
            state: self.state.clone(),
            options: self.options.clone(),
        };
        tokio::spawn(async move {
            // Only a weak handle and the state channel: an engine replaced by a settings
            // change must be free to stop and release its memory.
            let (watched, rx) = (Arc::downgrade(&model), model.engine.watch());
            if report_loading(client, model, progress).await {
                supervise(server, watched, rx).await;
            }
        });
    }
}

/// Watches a loaded engine: if it dies (a panic on the engine thread), the user is told
/// once and the model restarted, after 1, 2, 4, … 60 s while it keeps dying; requests
/// meanwhile get an empty answer (completions) or an error that says the model failed.
async fn supervise(
    server: Server,
    model: std::sync::Weak<Model>,
    mut rx: tokio::sync::watch::Receiver<EngineState>,
) {
    let ready_since = std::time::Instant::now();
    let is_current = |server: &Server| {
        server
            .state
            .model()
            .is_some_and(|m| Arc::as_ptr(&m) == model.as_ptr())
    };
    loop {
        if rx.changed().await.is_err() {
            return;
        }
        let EngineState::Failed(why) = rx.borrow_and_update().clone() else {
            continue;
        };
        if !is_current(&server) {
            return; // replaced by a settings change meanwhile
        }
        if ready_since.elapsed() > std::time::Duration::from_secs(300) {
            // It served a while: a new failure, not the same one again.
            server
                .state
                .restarts
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
        let restarts = server
            .state
            .restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let wait = std::time::Duration::from_secs((1u64 << restarts.min(6)).min(60));
        tracing::error!("the model stopped: {why}; restarting in {wait:?}");
        if restarts == 0 {
            server
                .client
                .show_message(
                    MessageType::ERROR,
                    format!("quill: the model stopped ({why}); restarting it"),
                )
                .await;
        }
        tokio::time::sleep(wait).await;
        if is_current(&server) {
            server.start_model().await;
        }
        return;
    }
}

/// Follows the engine's state: `$/progress` while it loads, a message if it fails.
/// Returns whether the model became ready.
async fn report_loading(
    client: tower_lsp_server::Client,
    model: Arc<Model>,
    progress: bool,
) -> bool {
    let mut rx = model.engine.watch();
    let token = ProgressToken::String(format!("quill/load/{}", model.name));
    let bar = if progress
        && client
            .create_work_done_progress(token.clone())
            .await
            .is_ok()
    {
        Some(
            client
                .progress(token, format!("quill: loading {}", model.name))
                .with_percentage(0)
                .begin()
                .await,
        )
    } else {
        None
    };
    loop {
        let state = rx.borrow_and_update().clone();
        match state {
            EngineState::Loading(p) => {
                if let Some(b) = &bar {
                    b.report((p * 100.0) as u32).await;
                }
            }
            EngineState::Ready(info) => {
                if let Some(b) = bar {
                    b.finish_with_message(format!("{} ready", info.name)).await;
                }
                tracing::info!(model = %info.name, "model ready");
                return true;
            }
            EngineState::Failed(msg) => {
                if let Some(b) = bar {
                    b.finish_with_message("failed").await;
                }
                client
                    .show_message(MessageType::ERROR, format!("quill: {msg}"))
                    .await;
                return false;
            }
            EngineState::Stopped => return false,
        }
        if rx.changed().await.is_err() {
            return false;
        }
    }
}
