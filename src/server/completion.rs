//! Completions over LSP: `textDocument/inlineCompletion` (ghost text) and
//! `textDocument/completion` (one labelled item, for clients without inline completion).
//! Both run the shared pipeline (`suggest`); this module only translates.

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionResponse, CompletionTextEdit, Documentation,
    InlineCompletionItem, InlineCompletionList, InlineCompletionResponse, InsertTextFormat,
    MarkupContent, MarkupKind, Position, TextEdit, Uri,
};

use super::job::{At, Job, job};
use super::{Server, State, position};
use crate::complete::Completion;

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
