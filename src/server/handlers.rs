//! Every LSP method the server answers, in one place. Each handler is short and delegates.
//!
//! | method | handler |
//! |---|---|
//! | `initialize`, `initialized`, `shutdown` | lifecycle below |
//! | `textDocument/didOpen`, `didChange`, `didClose` | [`super::documents`] |
//! | `workspace/didChangeConfiguration` | [`super::settings`] |
//! | `textDocument/inlineCompletion` (3.18) | [`super::completion`] |
//! | `textDocument/completion` | [`super::completion`] (clients without inline completion) |
//! | `textDocument/codeAction`, `codeAction/resolve` | [`super::assist`] (menu now, model on resolve) |
//! | `workspace/executeCommand` | [`super::assist`]: `quill.explain`, `quill.review`, `quill.refactor`, `quill.showMarkdown` |
//! | `textDocument/didSave` | a review when `reviewOnSave` is on |
//! | `quill/explain` | Markdown explaining a range, for clients that render it |
//! | `window/workDoneProgress/cancel` | [`super::progress`]: stops long work |
//! | `quill/status` | the model, its state, the open documents |
//! | `quill/nextEdit` | [`super::next_edit`]: the edit the recent edits imply (also pushed as a notification) |
//! | `quill/malformedMessage` | sent by [`super::transport`] in place of a malformed message |

use std::sync::Arc;

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{LanguageServer, LspService};

use super::completion::{complete, completion_response, inline_response};
use super::{Options, Server, State, position};
use crate::engine::EngineState;

pub(super) fn build(options: Options) -> (LspService<Server>, tower_lsp_server::ClientSocket) {
    LspService::build(|client| {
        let state = Arc::new(State::new());
        state.health.set_client(client.clone());
        let _ = state.client.set(client.clone());
        Server {
            client,
            state,
            options,
        }
    })
    .custom_method("textDocument/inlineCompletion", Server::inline_completion)
    .custom_method("quill/status", Server::status)
    .custom_method("quill/explain", Server::explain_request)
    .custom_method("quill/nextEdit", Server::next_edit)
    .custom_method("window/workDoneProgress/cancel", Server::progress_cancel)
    .custom_method("quill/malformedMessage", Server::malformed)
    .finish()
}

impl Server {
    async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> Result<Option<InlineCompletionResponse>> {
        let tdp = params.text_document_position;
        // The user's "ask now" key (not typing): no debounce.
        let asked = params.context.trigger_kind == InlineCompletionTriggerKind::INVOKED;
        Ok(complete(self, &tdp.text_document.uri, tdp.position, asked)
            .await?
            .map(|(job, c)| inline_response(&self.state, &job, &c)))
    }

    async fn explain_request(&self, params: Value) -> Result<Value> {
        let work = super::assist::ActionData {
            action: "explain".into(),
            uri: serde_json::from_value(params["textDocument"]["uri"].clone())
                .map_err(|e| super::job::invalid_params(format!("textDocument.uri: {e}")))?,
            version: None,
            range: match (params.get("range"), params.get("position")) {
                (Some(r), _) => serde_json::from_value(r.clone())
                    .map_err(|e| super::job::invalid_params(format!("range: {e}")))?,
                (None, Some(p)) => {
                    let p: Position = serde_json::from_value(p.clone())
                        .map_err(|e| super::job::invalid_params(format!("position: {e}")))?;
                    Range::new(p, p)
                }
                _ => {
                    return Err(super::job::invalid_params(
                        "quill/explain needs a range or a position",
                    ));
                }
            },
            instruction: None,
            problems: serde_json::from_value(params["problems"].clone()).unwrap_or_default(),
        };
        let md = self.explain(&work).await?;
        Ok(json!({"markdown": md}))
    }

    async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        self.state.cancels.cancel(&params.token);
    }

    async fn malformed(&self, params: Value) {
        tracing::warn!("ignored a malformed message: {}", params["error"]);
    }

    async fn status(&self, _: Value) -> Result<Value> {
        let state = &self.state;
        let (model, engine) = match state.model() {
            None => (Value::Null, "none".to_string()),
            Some(m) => {
                let engine = match m.engine.state() {
                    EngineState::Loading(p) => format!("loading {:.0}%", p * 100.0),
                    EngineState::Ready(_) => match state.health.outage() {
                        // Clients show a state starting with "failed" as a failure.
                        Some(e) => format!("failed: {e}"),
                        None => "ready".into(),
                    },
                    EngineState::Failed(e) => format!("failed: {e}"),
                    EngineState::Stopped => "stopped".into(),
                };
                let info = m
                    .engine
                    .info()
                    .map(|i| serde_json::to_value(&*i).unwrap_or_default());
                (json!({"name": m.name, "info": info}), engine)
            }
        };
        Ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "model": model,
            "state": engine,
            "documents": state.docs.len(),
            "positionEncoding": position::kind(state.encoding()),
            "lastCompletion": *state.last.lock().unwrap_or_else(|e| e.into_inner()),
            "totals": *state.totals.lock().unwrap_or_else(|e| e.into_inner()),
            "settingKeys": super::settings::KEYS,
            "commands": super::assist::COMMANDS,
        }))
    }

    async fn apply_settings(&self, value: &Value) {
        let before = self.state.settings();
        let mut next = before.clone();
        let problems = next.apply(value);
        for p in &problems {
            tracing::warn!("setting rejected: {p}");
            self.client
                .show_message(MessageType::WARNING, format!("quill: {p}"))
                .await;
        }
        *self
            .state
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = next.clone();
        // Answers generated under the old settings (another model or backend, another
        // number of candidates or token limit) must not be served from the cache.
        if before.needs_reload(&next) || before.completion() != next.completion() {
            self.state.suggestions.clear();
        }
        if before.needs_reload(&next) && self.state.model().is_some() {
            tracing::info!("engine settings changed: restarting the model");
            self.start_model().await;
        }
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = &params.capabilities;
        let client = super::ClientCaps {
            encoding: position::negotiate(&params),
            progress: caps
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false),
            versioned_edits: caps
                .workspace
                .as_ref()
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|e| e.document_changes)
                .unwrap_or(false),
        };
        *self.state.caps.write().unwrap_or_else(|e| e.into_inner()) = client;
        let enc = client.encoding;
        let inline = caps
            .text_document
            .as_ref()
            .is_some_and(|t| t.inline_completion.is_some());
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|f| f.first())
            .and_then(|f| f.uri.to_file_path().map(|p| p.into_owned()));
        #[allow(deprecated)]
        let root = root.or_else(|| {
            params
                .root_uri
                .as_ref()
                .and_then(|u| u.to_file_path().map(|p| p.into_owned()))
        });
        *self.state.root.write().unwrap_or_else(|e| e.into_inner()) = root;
        if let Some(opts) = &params.initialization_options {
            self.apply_settings(opts).await;
        }
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(position::kind(enc)),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                inline_completion_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::QUICKFIX,
                            CodeActionKind::REFACTOR_REWRITE,
                            CodeActionKind::REFACTOR_EXTRACT,
                            CodeActionKind::SOURCE,
                        ]),
                        resolve_provider: Some(true),
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: super::assist::COMMANDS
                        .iter()
                        .map(|c| c.to_string())
                        .collect(),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                // Classic completion only for clients that cannot show ghost text: offering
                // both would run the model twice per keystroke.
                completion_provider: (!inline).then(CompletionOptions::default),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "quill".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.start_model().await;
    }

    async fn shutdown(&self) -> Result<()> {
        tracing::info!("shutdown");
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        let uri = d.uri.clone();
        self.state
            .docs
            .open(d.uri, d.language_id, d.version, d.text);
        self.state.focus(&uri);
        self.schedule_warmup(uri, 0);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let enc = self.state.encoding();
        let before = self.state.docs.snapshot(&uri).map(|s| s.text);
        match self.state.docs.change(
            &uri,
            params.text_document.version,
            params.content_changes,
            enc,
        ) {
            Ok(changed) => {
                let at = changed.at;
                self.state.tracked.entry(uri.clone()).or_default().last_edit = Some(at);
                if let Some(before) = before {
                    self.edited(&uri, &before, &changed.steps);
                }
                self.state.focus(&uri);
                if self.state.reviews.has(&uri) {
                    // Findings move with their function, and vanish when it changes.
                    self.publish_reviews(&uri).await;
                }
                // A cursor the suggestion cache covers needs no warm-up (which would also
                // supersede the generation feeding it).
                if !super::suggest::edited(&self.state, &uri, at) {
                    self.schedule_warmup(uri, at);
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state.docs.close(&uri);
        self.state.suggestions.forget(uri.as_str());
        self.state.tracked.remove(&uri);
        if self.state.reviews.has(&uri) {
            self.state.reviews.forget(&uri);
            self.client.publish_diagnostics(uri, Vec::new(), None).await;
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let uri = params.text_document.uri;
        if !self.state.settings().review_on_save {
            return;
        }
        let (Some(snap), Some(at)) = (
            self.state.docs.snapshot(&uri),
            self.state.tracked.get(&uri).and_then(|t| t.last_edit),
        ) else {
            return;
        };
        let pos = position::position(
            &snap.text,
            &snap.index,
            at.min(snap.text.len()),
            self.state.encoding(),
        );
        let work = super::assist::ActionData {
            action: "review".into(),
            uri,
            version: None,
            range: Range::new(pos, pos),
            instruction: None,
            problems: Vec::new(),
        };
        if let Err(e) = self.review(&work).await {
            tracing::warn!("review on save: {}", e.message);
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        Ok(self.code_actions(&params))
    }

    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        self.resolve_action(action).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        self.execute(params).await
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.apply_settings(&params.settings).await;
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let tdp = params.text_document_position;
        let asked = params
            .context
            .is_some_and(|c| c.trigger_kind == CompletionTriggerKind::INVOKED);
        Ok(complete(self, &tdp.text_document.uri, tdp.position, asked)
            .await?
            .map(|(job, c)| completion_response(&self.state, &job, &c)))
    }
}
