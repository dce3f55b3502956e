//! Code actions, commands and `quill/explain`: explanations, fixes, refactors and reviews
//! over LSP. The menu is built without the model (it opens at once); the model runs when
//! an action is resolved (`codeAction/resolve`) or a command executes, under a progress
//! bar with a cancel button.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;

use super::documents::Snapshot;
use super::job::{At, gather_context, invalid_params, job};
use super::progress::Interrupted;
use super::{Server, position};
use crate::assist::{self, Action, Outcome, Problem, Query, Target};
use crate::engine::EngineState;

/// Commands the server executes.
pub const COMMANDS: [&str; 4] = [
    "quill.explain",
    "quill.review",
    "quill.refactor",
    "quill.showMarkdown",
];

/// What a code action or command is about; travels in `data` and command arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionData {
    pub action: String,
    pub uri: Uri,
    /// The document version the menu was built for (edits must match it).
    #[serde(default)]
    pub version: Option<i32>,
    /// The range the user asked about, in the client's positions.
    pub range: Range,
    #[serde(default)]
    pub instruction: Option<String>,
    #[serde(default)]
    pub problems: Vec<ProblemData>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProblemData {
    /// 1-based line.
    pub line: usize,
    pub message: String,
}

fn failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(-32803),
        message: message.into().into(),
        data: None,
    }
}

impl Server {
    /// The menu for `params`: no model involved.
    pub(super) fn code_actions(&self, params: &CodeActionParams) -> Option<CodeActionResponse> {
        let uri = &params.text_document.uri;
        let snap = self.state.docs.snapshot(uri)?;
        let lang = snap.language;
        let mut out: Vec<CodeActionOrCommand> = Vec::new();
        let work = |action: &Action, problems: Vec<ProblemData>| ActionData {
            action: action.id().to_string(),
            uri: uri.clone(),
            version: Some(snap.version),
            range: params.range,
            instruction: None,
            problems,
        };
        let command = |title: String, name: &str, w: ActionData| Command {
            title,
            command: name.to_string(),
            arguments: Some(vec![serde_json::to_value(w).unwrap_or_default()]),
        };
        let lazy =
            |title: String, kind: CodeActionKind, w: ActionData, diags: Option<Vec<Diagnostic>>| {
                CodeActionOrCommand::CodeAction(CodeAction {
                    title,
                    kind: Some(kind),
                    diagnostics: diags,
                    data: Some(serde_json::to_value(w).unwrap_or_default()),
                    ..CodeAction::default()
                })
            };
        // Problems other tools (and quill's reviews) reported in the range.
        for d in &params.context.diagnostics {
            let problem = ProblemData {
                line: d.range.start.line as usize + 1,
                message: d.message.clone(),
            };
            let short: String = d
                .message
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect();
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("quill: Explain and fix: {short}"),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                command: Some(command(
                    format!("quill: Explain and fix: {short}"),
                    "quill.explain",
                    work(&Action::Explain, vec![problem.clone()]),
                )),
                ..CodeAction::default()
            }));
            out.push(lazy(
                format!("quill: Fix: {short}"),
                CodeActionKind::QUICKFIX,
                work(&Action::Fix, vec![problem]),
                Some(vec![d.clone()]),
            ));
        }
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: Action::Explain.title(lang),
            kind: Some(CodeActionKind::QUICKFIX),
            command: Some(command(
                Action::Explain.title(lang),
                "quill.explain",
                work(&Action::Explain, vec![]),
            )),
            ..CodeAction::default()
        }));
        out.push(lazy(
            Action::Fix.title(lang),
            CodeActionKind::QUICKFIX,
            work(&Action::Fix, vec![]),
            None,
        ));
        for action in [Action::Simplify, Action::DocComment, Action::TypeHints] {
            if action.applies_to(lang) {
                out.push(lazy(
                    action.title(lang),
                    CodeActionKind::REFACTOR_REWRITE,
                    work(&action, vec![]),
                    None,
                ));
            }
        }
        if params.range.start != params.range.end {
            out.push(lazy(
                Action::Extract.title(lang),
                CodeActionKind::REFACTOR_EXTRACT,
                work(&Action::Extract, vec![]),
                None,
            ));
        }
        // The instruction comes from the client (an input box), then `quill.refactor`.
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: "quill: Refactor with instruction…".into(),
            kind: Some(CodeActionKind::REFACTOR_REWRITE),
            command: Some(command(
                "quill: Refactor with instruction…".into(),
                "quill.refactor",
                work(&Action::Instruction(String::new()), vec![]),
            )),
            ..CodeAction::default()
        }));
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: Action::Review.title(lang),
            kind: Some(CodeActionKind::SOURCE),
            command: Some(command(
                Action::Review.title(lang),
                "quill.review",
                work(&Action::Review, vec![]),
            )),
            ..CodeAction::default()
        }));
        // `only` filters by kind prefix.
        if let Some(only) = &params.context.only {
            out.retain(|a| match a {
                CodeActionOrCommand::CodeAction(ca) => ca.kind.as_ref().is_some_and(|k| {
                    only.iter().any(|o| {
                        k.as_str() == o.as_str()
                            || k.as_str().starts_with(&format!("{}.", o.as_str()))
                    })
                }),
                CodeActionOrCommand::Command(_) => false,
            });
        }
        Some(out)
    }

    /// Runs the model for `work`: the document as it is now, the action's target, its
    /// answer.
    pub(super) async fn run_work(
        &self,
        work: &ActionData,
        action: &Action,
    ) -> Result<(Snapshot, Target, Outcome)> {
        let state = self.state.clone();
        let snap = state
            .docs
            .snapshot(&work.uri)
            .ok_or_else(|| invalid_params(format!("{} is not open", work.uri.as_str())))?;
        if let Some(v) = work.version
            && action.edits()
            && v != snap.version
        {
            return Err(failed(
                "the document changed since the menu opened: ask again",
            ));
        }
        let enc = state.encoding();
        let start = position::offset(&snap.text, &snap.index, work.range.start, enc)
            .map_err(|e| invalid_params(format!("bad range: {e}")))?;
        let end = position::offset(&snap.text, &snap.index, work.range.end, enc)
            .map_err(|e| invalid_params(format!("bad range: {e}")))?;
        let Some(job) = job(&state, &work.uri, At::Offset(start))? else {
            let why = match state.model().map(|m| m.engine.state()) {
                Some(EngineState::Loading(_)) => "the model is still loading",
                Some(EngineState::Failed(_)) => "the model failed to load",
                _ => "completions are off for this language",
            };
            return Err(failed(format!("quill cannot answer yet: {why}")));
        };
        let info = job
            .model
            .engine
            .info()
            .ok_or_else(|| failed("the model is not ready"))?;
        if info.chat_template.is_none() {
            return Err(failed(
                crate::engine::EngineError::NoChatTemplate(info.name.clone()).to_string(),
            ));
        }
        let (target, context) = {
            let state = state.clone();
            let action = action.clone();
            let (s, e) = (start.min(end), start.max(end));
            tokio::task::spawn_blocking(move || {
                let target = assist::target(
                    &job.snap.text,
                    job.snap.language,
                    job.snap.tree.as_ref(),
                    s,
                    e,
                    &action,
                );
                (target, gather_context(&state, &job))
            })
            .await
            .map_err(|e| failed(e.to_string()))?
        };
        let problems: Vec<Problem> = work
            .problems
            .iter()
            .map(|p| Problem {
                line: p.line,
                message: p.message.clone(),
            })
            .collect();
        let path = state.display_path(&work.uri);
        let query = Query {
            action,
            text: &snap.text,
            language: snap.language,
            path: &path,
            target: &target,
            problems: &problems,
            context: &context,
        };
        let messages = assist::messages(&query);
        let model = state.model().ok_or_else(|| failed("the model stopped"))?;
        let title = format!(
            "quill: {}",
            action.title(snap.language).trim_start_matches("quill: ")
        );
        let answer = self
            .with_progress(&title, |counter| {
                assist::ask(&model.engine, messages, action.max_tokens(), move |n| {
                    counter.store(n, std::sync::atomic::Ordering::Relaxed)
                })
            })
            .await;
        let answer = match answer {
            Ok(Ok(a)) => {
                state.record_health(&model, Ok(()));
                a
            }
            Ok(Err(e)) if e.is_cancelled() => return Err(Error::request_cancelled()),
            Ok(Err(e)) => {
                state.record_health(&model, Err(&e));
                return Err(failed(e.to_string()));
            }
            Err(Interrupted::Cancelled) => return Err(Error::request_cancelled()),
        };
        tracing::debug!(action = action.id(), "model answer:\n{answer}");
        let outcome = assist::conclude(&query, &answer);
        Ok((snap, target, outcome))
    }

    /// `codeAction/resolve`: the edit, or the explanation when the model's code is unusable.
    pub(super) async fn resolve_action(&self, mut ca: CodeAction) -> Result<CodeAction> {
        let Some(data) = ca.data.clone() else {
            return Ok(ca);
        };
        let work: ActionData = serde_json::from_value(data)
            .map_err(|e| invalid_params(format!("bad action data: {e}")))?;
        let action = Action::from_id(&work.action, work.instruction.as_deref())
            .ok_or_else(|| invalid_params(format!("unknown action {}", work.action)))?;
        let (snap, _, outcome) = self.run_work(&work, &action).await?;
        match outcome {
            Outcome::Edit { replacement, .. } => {
                ca.edit = Some(self.workspace_edit(&work.uri, &snap, replacement)?);
            }
            Outcome::Rejected { explanation, .. } | Outcome::Explanation(explanation) => {
                ca.command = Some(Command {
                    title: "quill: show the answer".into(),
                    command: "quill.showMarkdown".into(),
                    arguments: Some(vec![json!({"title": ca.title, "markdown": explanation})]),
                });
            }
            Outcome::Findings(_) => {}
        }
        Ok(ca)
    }

    /// The edit replacing a range of `snap` (the text the model saw), for the document
    /// as it is now: versioned `documentChanges` where the client takes them (it refuses
    /// the edit if it moved on), and `ContentModified` when the server already knows the
    /// document moved on (the user typed while the model worked): an edit computed on old
    /// text must never land on new text.
    fn workspace_edit(
        &self,
        uri: &Uri,
        snap: &Snapshot,
        replacement: assist::Replacement,
    ) -> Result<WorkspaceEdit> {
        let now = self.state.docs.snapshot(uri).map(|s| s.version);
        if now != Some(snap.version) {
            let mut e = Error::content_modified();
            e.message = format!(
                "{} changed while quill worked on it: ask again",
                self.state.display_path(uri)
            )
            .into();
            return Err(e);
        }
        let range = position::range(
            &snap.text,
            &snap.index,
            replacement.start,
            replacement.end,
            self.state.encoding(),
        );
        let edit = TextEdit {
            range,
            new_text: replacement.new_text,
        };
        let versioned = self.state.caps().versioned_edits;
        Ok(if versioned {
            WorkspaceEdit {
                document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier {
                        uri: uri.clone(),
                        version: Some(snap.version),
                    },
                    edits: vec![OneOf::Left(edit)],
                }])),
                ..WorkspaceEdit::default()
            }
        } else {
            WorkspaceEdit {
                changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                ..WorkspaceEdit::default()
            }
        })
    }

    /// `workspace/executeCommand`.
    pub(super) async fn execute(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let arg = params.arguments.into_iter().next().unwrap_or(Value::Null);
        match params.command.as_str() {
            "quill.showMarkdown" => {
                let title = arg["title"].as_str().unwrap_or("quill").to_string();
                let md = arg["markdown"].as_str().unwrap_or("").to_string();
                self.show_markdown(&title, &md).await;
                Ok(None)
            }
            "quill.explain" => {
                let work: ActionData = serde_json::from_value(arg)
                    .map_err(|e| invalid_params(format!("quill.explain: {e}")))?;
                let md = self.explain(&work).await?;
                self.show_markdown("quill: explanation", &md).await;
                Ok(Some(json!({"markdown": md})))
            }
            "quill.review" => {
                let work: ActionData = serde_json::from_value(arg)
                    .map_err(|e| invalid_params(format!("quill.review: {e}")))?;
                let n = self.review(&work).await?;
                Ok(Some(json!({"findings": n})))
            }
            "quill.refactor" => {
                let work: ActionData = serde_json::from_value(arg)
                    .map_err(|e| invalid_params(format!("quill.refactor: {e}")))?;
                let instruction = work
                    .instruction
                    .clone()
                    .filter(|i| !i.trim().is_empty())
                    .ok_or_else(|| {
                        invalid_params("quill.refactor needs an instruction (the editor extension asks for it; or run `quill refactor FILE:LINE --instruction …`)")
                    })?;
                let action = Action::Instruction(instruction);
                let (snap, _, outcome) = self.run_work(&work, &action).await?;
                match outcome {
                    Outcome::Edit {
                        replacement,
                        summary,
                    } => {
                        let edit = self.workspace_edit(&work.uri, &snap, replacement)?;
                        let applied = self
                            .client
                            .apply_edit(edit)
                            .await
                            .map(|r| r.applied)
                            .unwrap_or(false);
                        Ok(Some(json!({"applied": applied, "summary": summary})))
                    }
                    Outcome::Rejected {
                        explanation,
                        reason,
                    } => {
                        self.show_markdown("quill: refactor not applied", &explanation)
                            .await;
                        Ok(Some(json!({"applied": false, "reason": reason})))
                    }
                    _ => Ok(None),
                }
            }
            other => Err(invalid_params(format!("unknown command {other}"))),
        }
    }

    /// Markdown explaining `work`'s code.
    pub(super) async fn explain(&self, work: &ActionData) -> Result<String> {
        let (_, _, outcome) = self.run_work(work, &Action::Explain).await?;
        match outcome {
            Outcome::Explanation(md) if !md.trim().is_empty() => Ok(md),
            _ => Err(failed("the model gave no explanation")),
        }
    }

    /// Reviews the function at `work`'s range and publishes the findings. Returns how many.
    pub(super) async fn review(&self, work: &ActionData) -> Result<usize> {
        let snap = self
            .state
            .docs
            .snapshot(&work.uri)
            .ok_or_else(|| invalid_params("not open"))?;
        let enc = self.state.encoding();
        let at = position::offset(&snap.text, &snap.index, work.range.start, enc)
            .map_err(|e| invalid_params(format!("bad range: {e}")))?;
        let target = assist::target(
            &snap.text,
            snap.language,
            snap.tree.as_ref(),
            at,
            at,
            &Action::Review,
        );
        let code = snap.text[target.start..target.end].to_string();
        let findings = match self.state.reviews.cached(&work.uri, &code) {
            Some(cached) => cached.len(),
            None => {
                let (reviewed, target, outcome) = self.run_work(work, &Action::Review).await?;
                let Outcome::Findings(f) = outcome else {
                    return Err(failed("unexpected answer"));
                };
                // The findings count lines of the text the model saw: they are placed in
                // that text's code, never in the document as it is by now.
                let code = reviewed.text.get(target.start..target.end).unwrap_or("");
                self.state
                    .reviews
                    .store(&work.uri, code, target.first_line, &f)
            }
        };
        self.publish_reviews(&work.uri).await;
        if findings == 0 {
            self.client
                .show_message(MessageType::INFO, "quill: no bugs found in this function")
                .await;
        }
        Ok(findings)
    }

    pub(super) async fn publish_reviews(&self, uri: &Uri) {
        let Some(snap) = self.state.docs.snapshot(uri) else {
            return;
        };
        let diags = self.state.reviews.diagnostics(&snap, self.state.encoding());
        self.client
            .publish_diagnostics(uri.clone(), diags, Some(snap.version))
            .await;
    }

    /// Shows Markdown to the user: short answers as a message, long ones as a document.
    pub(super) async fn show_markdown(&self, title: &str, md: &str) {
        if md.len() <= 300 && !md.trim().contains('\n') {
            self.client
                .show_message(MessageType::INFO, format!("{title}: {md}"))
                .await;
            return;
        }
        let dir = crate::models::quill_home().join("explanations");
        let name = format!("{}.md", chrono_free_stamp());
        let path = dir.join(name);
        let body = format!("# {title}\n\n{md}\n");
        let written = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, body));
        let shown = match (written, Uri::from_file_path(&path)) {
            (Ok(()), Some(uri)) => self
                .client
                .show_document(ShowDocumentParams {
                    uri,
                    external: Some(false),
                    take_focus: Some(true),
                    selection: None,
                })
                .await
                .unwrap_or(false),
            _ => false,
        };
        if !shown {
            self.client
                .show_message(MessageType::INFO, format!("{title}\n\n{md}"))
                .await;
        }
    }
}

/// The one-edit `WorkspaceEdit` that makes `replacement` in the document `snap`.
/// A file-name-safe, increasing stamp (seconds and a counter) without a date crate.
fn chrono_free_stamp() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("explanation-{secs}-{}", N.fetch_add(1, Ordering::Relaxed))
}
