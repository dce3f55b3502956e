//! The language server: LSP over stdio with tower-lsp-server on tokio.
//!
//! Only `server/` knows LSP types. Positions become byte offsets here (`position.rs`),
//! documents live in `documents.rs`, and completions go through the same pipeline as the
//! CLI (`crate::complete`). `handlers.rs` is the one place that lists every method the
//! server answers.

mod assist;
mod completion;
pub mod documents;
mod handlers;
mod health;
mod imported;
mod isolate;
mod job;
mod likelihood;
mod model;
mod nearby;
mod next_edit;
mod partial;
pub mod position;
mod progress;
mod review;
pub mod settings;
mod suggest;
mod suggestions;
#[cfg(test)]
mod sync_fuzz;
mod tracked;
mod transport;
mod warmup;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp_server::ls_types::Uri;
use tower_lsp_server::{Client, ClientSocket, LspService};

use crate::text::Encoding;
pub use model::{EngineFactory, Model, llama_factory};
use settings::Settings;

/// How the server is started.
#[derive(Clone)]
pub struct Options {
    /// Makes the engine for given settings; the real one loads a GGUF with llama.cpp,
    /// tests pass a fake.
    pub factory: EngineFactory,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            factory: llama_factory(),
        }
    }
}

/// State shared by every handler. Locks here are held only for short, synchronous work.
pub struct State {
    pub docs: documents::DocumentStore,
    /// What the client said it can do, at `initialize`.
    pub caps: RwLock<ClientCaps>,
    pub settings: RwLock<Settings>,
    pub model: RwLock<Option<Arc<Model>>>,
    pub root: RwLock<Option<PathBuf>>,
    /// Per document: turns, the last edit, the suggestion shown, the kept context.
    pub(crate) tracked: DashMap<Uri, tracked::Tracked>,
    /// The document the user last opened, edited or asked about: the one a warm-up may
    /// fill the model's cache for (there is one cache; warming another file would evict
    /// this one's prompt).
    pub focus: std::sync::Mutex<Option<Uri>>,
    pub disk: nearby::DiskCache,
    /// What the last completion cost, for `quill/status` (clients' status lines, benchmarks).
    pub last: std::sync::Mutex<Option<crate::engine::Timings>>,
    /// Cancel switches of the progress bars shown for long work.
    pub cancels: progress::Cancels,
    /// Review findings published as diagnostics.
    pub reviews: review::Reviews,
    /// Recent generations per document, reused while the user types on.
    pub suggestions: suggestions::SuggestionCache,
    /// Counts for `quill/status`.
    pub totals: std::sync::Mutex<suggest::Totals>,
    /// The inference server's health, with a `backend` set.
    pub health: health::Health,
    /// How many times a dead engine was restarted in a row (the supervisor's backoff).
    pub restarts: std::sync::atomic::AtomicU32,
    /// The client, for notifications sent outside a handler (`quill/suggestionReady`).
    pub(crate) client: std::sync::OnceLock<tower_lsp_server::Client>,
}

/// What the client can do, from its `initialize` request.
#[derive(Debug, Clone, Copy)]
pub struct ClientCaps {
    /// How positions count characters (negotiated).
    pub encoding: Encoding,
    /// It takes `window/workDoneProgress/create`.
    pub progress: bool,
    /// It takes versioned `documentChanges` in a workspace edit (it then refuses an edit
    /// made for a version it has moved past).
    pub versioned_edits: bool,
}

impl Default for ClientCaps {
    fn default() -> Self {
        ClientCaps {
            encoding: Encoding::Utf16,
            progress: false,
            versioned_edits: false,
        }
    }
}

impl State {
    fn new() -> Self {
        State {
            docs: documents::DocumentStore::default(),
            caps: RwLock::new(ClientCaps::default()),
            settings: RwLock::new(Settings::default()),
            model: RwLock::new(None),
            root: RwLock::new(None),
            tracked: DashMap::new(),
            focus: Default::default(),
            disk: nearby::DiskCache::default(),
            last: std::sync::Mutex::new(None),
            cancels: progress::Cancels::default(),
            reviews: review::Reviews::default(),
            suggestions: Default::default(),
            totals: Default::default(),
            health: Default::default(),
            restarts: Default::default(),
            client: std::sync::OnceLock::new(),
        }
    }

    pub fn caps(&self) -> ClientCaps {
        *self.caps.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn encoding(&self) -> Encoding {
        self.caps().encoding
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn model(&self) -> Option<Arc<Model>> {
        self.model.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records in [`health::Health`] how a request to `model` went, when `model` is still
    /// the one in use: a request to an engine that another has replaced (the user removed
    /// the backend while it was in flight) says nothing about the new one.
    pub fn record_health(
        &self,
        model: &Arc<Model>,
        result: Result<(), &crate::engine::EngineError>,
    ) {
        if self.model().is_some_and(|m| Arc::ptr_eq(&m, model)) {
            self.health.record(result);
        }
    }

    /// Bumps and returns the document's turn.
    pub fn bump(&self, uri: &Uri) -> u64 {
        let mut t = self.tracked.entry(uri.clone()).or_default();
        t.turn += 1;
        t.turn
    }

    /// Marks `uri` as the document the user works in.
    pub fn focus(&self, uri: &Uri) {
        *self.focus.lock().unwrap_or_else(|e| e.into_inner()) = Some(uri.clone());
    }

    pub fn has_focus(&self, uri: &Uri) -> bool {
        self.focus
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            == Some(uri)
    }

    pub fn current_turn(&self, uri: &Uri) -> u64 {
        self.tracked.get(uri).map_or(0, |t| t.turn)
    }

    /// The path the model sees for `uri`: relative to the workspace root when inside it.
    pub fn display_path(&self, uri: &Uri) -> String {
        let Some(path) = uri.to_file_path() else {
            return uri.as_str().to_string();
        };
        let root = self.root.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(root) = root
            && let Ok(rel) = path.strip_prefix(&root)
        {
            return rel.display().to_string();
        }
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string())
    }
}

/// The language server.
pub struct Server {
    pub(crate) client: Client,
    pub(crate) state: Arc<State>,
    pub(crate) options: Options,
}

/// Builds the LSP service (handlers and custom methods) for any transport.
pub fn service(options: Options) -> (LspService<Server>, ClientSocket) {
    handlers::build(options)
}

/// Serves LSP on `input`/`output` until the client sends `exit` or closes the stream.
pub async fn serve<I, O>(input: I, output: O, options: Options)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite,
{
    let input = transport::sanitize(input);
    let (service, socket) = service(options);
    // Completion requests wait on the model; a high limit keeps edits and cancellations
    // flowing while some do.
    tower_lsp_server::Server::new(input, output, socket)
        .concurrency_level(64)
        .serve(isolate::Isolated(service))
        .await;
}
