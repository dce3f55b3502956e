//! Completions over LSP: `textDocument/inlineCompletion` (ghost text) and
//! `textDocument/completion` (one labelled item, for clients without inline completion).
//! Both run the shared pipeline; this module only translates.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionResponse, CompletionTextEdit, Documentation,
    InlineCompletionItem, InlineCompletionList, InlineCompletionResponse, InsertTextFormat,
    MarkupContent, MarkupKind, Position, TextEdit, Uri,
};

use super::documents::Snapshot;
use super::{Model, Server, State, position};
use crate::complete::{Completion, Input, Prepared, prepare};
use crate::context::ContextFile;
use crate::context::{Options as ContextOptions, Source};
use crate::engine::EngineState;

/// Everything a completion needs, gathered before any waiting.
#[derive(Clone)]
pub(super) struct Job {
    pub snap: Snapshot,
    pub offset: usize,
    pub path: String,
    pub model: Arc<Model>,
}

impl Job {
    /// The document at the cursor, as completion's post-processing reads it.
    pub fn input(&self) -> Input<'_> {
        let mut input = Input::new(&self.snap.text, self.offset);
        input.language = self.snap.language;
        input.tree = self.snap.tree.as_ref();
        input.unparsable = self.snap.unparsable;
        input.path = Some(&self.path);
        input
    }
}

pub(super) fn invalid_params(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into().into(),
        data: None,
    }
}

pub(super) fn request_failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(-32803),
        message: message.into().into(),
        data: None,
    }
}

/// Where in a document to complete.
pub(super) enum At {
    Position(Position),
    Offset(usize),
}

/// Checks the request and returns the job, `Ok(None)` when there is nothing to do (model
/// loading or failed, language disabled), or an error the user should see.
pub(super) fn job(state: &State, uri: &Uri, at: At) -> Result<Option<Job>> {
    let snap = state.docs.snapshot(uri).ok_or_else(|| {
        invalid_params(format!(
            "{} is not open: send textDocument/didOpen first",
            uri.as_str()
        ))
    })?;
    crate::text::check_source(snap.text.as_bytes())
        .map_err(|e| request_failed(format!("{} cannot be completed: {e}", uri.as_str())))?;
    let snap = snap.with_lf_breaks();
    let offset = match at {
        At::Position(pos) => position::offset(&snap.text, &snap.index, pos, state.encoding())
            .map_err(|e| invalid_params(format!("bad position in {}: {e}", uri.as_str())))?,
        At::Offset(o) => (0..=o.min(snap.text.len()))
            .rev()
            .find(|i| snap.text.is_char_boundary(*i))
            .unwrap_or(0),
    };
    if !state.settings().enabled(&snap.language_id) {
        return Ok(None);
    }
    let Some(model) = state.model() else {
        return Ok(None);
    };
    // While the model loads (or after it failed), answer at once with nothing: the editor
    // asks again on the next keystroke, and the failure was shown once already.
    if !matches!(model.engine.state(), EngineState::Ready(_)) {
        return Ok(None);
    }
    let path = state.display_path(uri);
    Ok(Some(Job {
        snap,
        offset,
        path,
        model,
    }))
}

/// Context from the other open documents and nearby files. Runs on a blocking thread.
pub(super) fn gather_context(state: &State, job: &Job) -> Vec<ContextFile> {
    let settings = state.settings();
    if settings.context_tokens == 0 {
        return Vec::new();
    }
    let others = state.docs.others(&job.snap.uri);
    let open: HashSet<PathBuf> = others
        .iter()
        .filter_map(|s| s.uri.to_file_path().map(|p| p.into_owned()))
        .chain(job.snap.uri.to_file_path().map(|p| p.into_owned()))
        .collect();
    let disk = match (job.snap.uri.to_file_path(), job.snap.language) {
        (Some(path), Some(lang)) => state.disk.near(&path, &job.snap.text, lang, &open),
        _ => Vec::new(),
    };
    let paths: Vec<String> = others.iter().map(|s| state.display_path(&s.uri)).collect();
    let disk_paths: Vec<String> = disk
        .iter()
        .map(|f| match Uri::from_file_path(&f.path) {
            Some(u) => state.display_path(&u),
            None => f.path.display().to_string(),
        })
        .collect();
    let mut sources: Vec<Source<'_>> = others
        .iter()
        .zip(&paths)
        .map(|(s, p)| Source {
            path: p,
            text: &s.text,
            language: s.language,
            tree: s.tree.as_ref(),
            recency: s.touched.max(1),
        })
        .collect();
    sources.extend(disk.iter().zip(&disk_paths).map(|(f, p)| Source {
        path: p,
        text: &f.text,
        language: Some(f.language),
        tree: f.tree.as_ref(),
        recency: 0,
    }));
    let current = Source {
        path: &job.path,
        text: &job.snap.text,
        language: job.snap.language,
        tree: job.snap.tree.as_ref(),
        recency: job.snap.touched,
    };
    let opts = ContextOptions {
        budget: settings.context_tokens,
        ..ContextOptions::default()
    };
    let counter = &*job.model.counter;
    // The context sits at the head of the prompt: when it changes, the whole file after
    // it is evaluated again (seconds on a CPU). So it is built when the cursor enters a
    // top-level scope and kept while the cursor stays there; a name from another file
    // first used in the middle of a function gets its definition at the next scope
    // (BENCHMARKS.md, "Defaults decided by a measurement").
    let scope = scope_start(&job.snap.text, job.offset);
    if let Some(kept) = state.contexts.get(&job.snap.uri)
        && kept.scope == scope
    {
        return kept.context.clone();
    }
    let context = crate::context::build(&current, job.offset, &sources, &opts, counter);
    state.contexts.insert(
        job.snap.uri.clone(),
        KeptContext {
            scope,
            context: context.clone(),
        },
    );
    context
}

/// The context a document's completions use while the cursor stays in one scope.
pub struct KeptContext {
    /// Where the top-level statement it was built in starts.
    scope: usize,
    context: Vec<ContextFile>,
}

/// Where the top-level statement around `offset` starts: the last line at or before the
/// cursor's that is not blank and not indented.
fn scope_start(text: &str, offset: usize) -> usize {
    let mut end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    loop {
        let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[start..end];
        if start == 0 || (!line.trim().is_empty() && !line.starts_with([' ', '\t'])) {
            return start;
        }
        end = start - 1;
    }
}

/// The prompt for `job`, with context. Runs on a blocking thread.
pub(super) fn prepare_job(
    state: &State,
    job: &Job,
) -> std::result::Result<(Prepared, Vec<ContextFile>), String> {
    let context = gather_context(state, job);
    let info = job
        .model
        .engine
        .info()
        .ok_or_else(|| "the model is not ready".to_string())?;
    let cfg = state.settings().completion();
    let mut input = job.input();
    input.context = &context;
    // Any stable name will do; the folder's would change the prompt's first tokens
    // between projects for no gain.
    input.repo_name = Some("workspace");
    let prepared = prepare(&input, &cfg, &*job.model.counter, &info).map_err(|e| e.to_string())?;
    Ok((prepared, context))
}

/// Runs a completion at `pos` of `uri`; `asked`: the user asked for it with a key (no
/// debounce), not by typing. `Ok(None)`: nothing to show.
pub(super) async fn complete(
    server: &Server,
    uri: &Uri,
    pos: Position,
    asked: bool,
) -> Result<Option<(Job, Completion)>> {
    let state = server.state.clone();
    let turn = state.bump(uri);
    state.focus(uri);
    let Some(job) = job(&state, uri, At::Position(pos))? else {
        return Ok(None);
    };
    state.docs.touch(uri);
    let Some((job, completion)) = super::suggest::answer(&state, job, turn, asked).await? else {
        return Ok(None);
    };
    // (`state.last`, the status lines' latency, is set where the generation ends.)
    let t = completion.timings;
    state.add_answered(completion.served);
    tracing::info!(
        uri = uri.as_str(),
        mode = ?completion.mode,
        served = ?completion.served,
        prompt_tokens = t.prompt_tokens,
        reused = t.reused_tokens,
        evaluated = t.evaluated_tokens,
        generated = t.generated_tokens,
        ms = t.total_ms() as u64,
        "completion"
    );
    super::suggest::shown(&state, &job, &completion);
    if completion.text.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some((job, completion)))
}

pub(super) fn inline_response(
    state: &State,
    job: &Job,
    c: &Completion,
) -> InlineCompletionResponse {
    let enc = state.encoding();
    let range = position::range(&job.snap.text, &job.snap.index, job.offset, job.offset, enc);
    // The best first, then the other ranked candidates (editors cycle through them).
    let items = std::iter::once(&c.text)
        .chain(&c.alternatives)
        .map(|text| InlineCompletionItem {
            insert_text: text.clone(),
            filter_text: None,
            range: Some(range),
            command: None,
            insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        })
        .collect();
    InlineCompletionResponse::List(InlineCompletionList { items })
}

/// One item that inserts the completion. Its edit starts at the word before the cursor so
/// that clients filtering by the typed word keep it.
pub(super) fn completion_response(state: &State, job: &Job, c: &Completion) -> CompletionResponse {
    let enc = state.encoding();
    let text = &job.snap.text;
    let word_start = text[..job.offset]
        .char_indices()
        .rev()
        .take_while(|(_, ch)| ch.is_alphanumeric() || *ch == '_')
        .last()
        .map_or(job.offset, |(i, _)| i);
    let word = &text[word_start..job.offset];
    let new_text = format!("{word}{}", c.text);
    let first_line = new_text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut label: String = first_line.chars().take(60).collect();
    if label.len() < first_line.len() || new_text.trim().lines().count() > 1 {
        label.push('…');
    }
    let range = position::range(text, &job.snap.index, word_start, job.offset, enc);
    CompletionResponse::Array(vec![CompletionItem {
        label,
        kind: Some(CompletionItemKind::SNIPPET),
        detail: Some(format!("quill · {}", job.model.name)),
        documentation: Some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: format!("```\n{new_text}\n```"),
        })),
        filter_text: Some(new_text.clone()),
        sort_text: Some("0".into()),
        insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit { range, new_text })),
        ..CompletionItem::default()
    }])
}
