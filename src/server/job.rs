//! A request's job: the document snapshot at the cursor, the model, and the prompt built
//! for it with context from other files. Shared by completions (`completion`, `suggest`),
//! warm-up, likelihood reading and assists; it knows nothing of how answers are shown.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::{Position, Uri};

use super::documents::Snapshot;
use super::{Model, State, position};
use crate::complete::{Input, Prepared, prepare};
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

/// The repository name prompts show: any stable name will do; the folder's would change
/// the prompt's first tokens between projects for no gain.
pub(super) const REPO_NAME: &str = "workspace";

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

/// Context from the other open documents and nearby files, kept for the document's next
/// completions in the same scope. Runs on a blocking thread. (A next edit's argument asks
/// for it at the cursor too: its prompt is laid out as the cursor's, head included.)
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
    if let Some(t) = state.tracked.get(&job.snap.uri)
        && let Some(kept) = t.context.as_ref().filter(|k| k.scope == scope)
    {
        return kept.context.clone();
    }
    let context = crate::context::build(&current, job.offset, &sources, &opts, counter);
    state
        .tracked
        .entry(job.snap.uri.clone())
        .or_default()
        .context = Some(KeptContext {
        scope,
        context: context.clone(),
    });
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
    prepare_with(state, job, gather_context(state, job))
}

fn prepare_with(
    state: &State,
    job: &Job,
    context: Vec<ContextFile>,
) -> std::result::Result<(Prepared, Vec<ContextFile>), String> {
    prepare_as(job, &state.settings().completion(), context)
}

/// `job`'s prompt with `cfg` and `context` (what a next edit's argument reads).
pub(super) fn prepare_as(
    job: &Job,
    cfg: &crate::config::CompletionConfig,
    context: Vec<ContextFile>,
) -> std::result::Result<(Prepared, Vec<ContextFile>), String> {
    let info = job
        .model
        .engine
        .info()
        .ok_or_else(|| "the model is not ready".to_string())?;
    let mut input = job.input();
    input.context = &context;
    input.repo_name = Some(REPO_NAME);
    let prepared = prepare(&input, cfg, &*job.model.counter, &info).map_err(|e| e.to_string())?;
    Ok((prepared, context))
}
