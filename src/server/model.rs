//! The model behind the server: starting it from the settings, reporting its loading with
//! `$/progress`, and replacing it when engine settings change.

use std::sync::Arc;

use anyhow::Result;
use tower_lsp_server::ls_types::{MessageType, ProgressToken};

use super::Server;
use super::settings::Settings;
use crate::config::EngineConfig;
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
    pub(super) async fn start_model(&self) {
        let settings = self.state.settings();
        let factory = self.options.factory.clone();
        let made = tokio::task::spawn_blocking(move || factory(&settings)).await;
        let model = match made {
            Ok(Ok(m)) => Arc::new(m),
            Ok(Err(e)) => {
                *self.state.model.write().unwrap_or_else(|e| e.into_inner()) = None;
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
        let client = self.client.clone();
        let progress = *self
            .state
            .progress_supported
            .read()
            .unwrap_or_else(|e| e.into_inner());
        tokio::spawn(report_loading(client, model, progress));
    }
}

/// Follows the engine's state: `$/progress` while it loads, a message if it fails.
async fn report_loading(client: tower_lsp_server::Client, model: Arc<Model>, progress: bool) {
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
                return;
            }
            EngineState::Failed(msg) => {
                if let Some(b) = bar {
                    b.finish_with_message("failed").await;
                }
                client
                    .show_message(MessageType::ERROR, format!("quill: {msg}"))
                    .await;
                return;
            }
            EngineState::Stopped => return,
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
