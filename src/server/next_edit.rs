//! Next-edit suggestions over LSP: each `didChange` goes into the document's edit history
//! ([`crate::next_edit::History`], in [`super::tracked::Tracked`]); `quill/nextEdit` answers
//! with the edit that history implies, and a `quill/nextEdit` notification carries the same
//! answer once typing pauses (setting `nextEdits`, on by default).
//!
//! The proposal is an edit of the document at the version it names: a client applies it
//! only while the document is still at that version.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{TextDocumentIdentifier, Uri};

use super::documents::Applied;
use super::job::{At, REPO_NAME, gather_context, job};
use super::{Server, State, position};
use crate::complete::{Pipeline, RunOptions, Step};
use crate::engine::Priority;
use crate::next_edit::arguments::{self, Ask};

/// Content changes of one `didChange` beyond which it is recorded as one edit.
const MAX_STEPS: usize = 64;

/// How long typing must pause before a proposal is pushed (a name half typed is not one).
const PAUSE: Duration = Duration::from_millis(300);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NextEditParams {
    text_document: TextDocumentIdentifier,
}

impl Server {
    /// `quill/nextEdit`: the next edit the document's recent edits imply, or `null`.
    pub(super) async fn next_edit(&self, params: NextEditParams) -> Result<Option<Value>> {
        Ok(proposal(&self.state, &params.text_document.uri).await)
    }

    /// Records the changes `steps` made to `uri` from `before` and, after a pause in
    /// typing, pushes the proposal they lead to (if any) as a `quill/nextEdit` notification.
    pub(super) fn edited(&self, uri: &Uri, before: &str, steps: &[Applied]) {
        let Some(after) = self.state.docs.snapshot(uri) else {
            return;
        };
        {
            let mut tracked = self.state.tracked.entry(uri.clone()).or_default();
            // One step at a time: a `didChange` that carries two places (a line typed at the
            // top, then a word further down, within the editor's batching) is two hunks, not
            // one that spans everything between them.
            if steps.len() > MAX_STEPS {
                // A formatter's or a refactoring's many edits: no rule reads those one by
                // one, and replaying them would copy the text once each.
                tracked.edits.record(before, &after.text);
            } else {
                let mut cur = before.to_string();
                for step in steps {
                    let r = step.range.clone();
                    if r.end > cur.len()
                        || !cur.is_char_boundary(r.start)
                        || !cur.is_char_boundary(r.end)
                    {
                        break;
                    }
                    let mut next = cur.clone();
                    next.replace_range(r, &step.text);
                    tracked.edits.record(&cur, &next);
                    cur = next;
                }
                // Not the text the steps were made on (another change came between): the
                // rest as one change, so the history ends at the document's text.
                if cur != after.text.as_str() {
                    tracked.edits.record(&cur, &after.text);
                }
            }
        }
        if !self.state.settings().next_edits {
            return;
        }
        let (state, client, uri, version) = (
            self.state.clone(),
            self.client.clone(),
            uri.clone(),
            after.version,
        );
        tokio::spawn(async move {
            tokio::time::sleep(PAUSE).await;
            if state
                .docs
                .snapshot(&uri)
                .is_none_or(|s| s.version != version)
            {
                return;
            }
            if let Some(p) = proposal(&state, &uri).await {
                // Typing on while the model answered makes the proposal moot.
                if state
                    .docs
                    .snapshot(&uri)
                    .is_none_or(|s| s.version != version)
                {
                    return;
                }
                client.send_notification::<NextEditReady>(p).await;
            }
        });
    }
}

enum NextEditReady {}

impl tower_lsp_server::ls_types::notification::Notification for NextEditReady {
    type Params = Value;
    const METHOD: &'static str = "quill/nextEdit";
}

/// The proposal for `uri` now, as the protocol sends it (computed off the async runtime:
/// a rule may ask the model, at background priority).
async fn proposal(state: &Arc<State>, uri: &Uri) -> Option<Value> {
    let (state, uri) = (state.clone(), uri.clone());
    tokio::task::spawn_blocking(move || propose(&state, &uri))
        .await
        .ok()
        .flatten()
}

fn propose(state: &Arc<State>, uri: &Uri) -> Option<Value> {
    let snap = state.docs.snapshot(uri)?;
    let (lang, tree) = (snap.language?, snap.tree.as_ref()?);
    let history = state.tracked.get(uri)?.edits.clone();
    let started = std::time::Instant::now();
    // Where the user's last edit ends: the cursor, where the editor asked for ghost text.
    let cursor = history.last().map_or(0, |h| h.range().end);
    let mut complete = |ask: &Ask| complete_at(state, uri, snap.version, ask, cursor);
    let edit = crate::next_edit::suggest(lang, &snap.text, tree, &history, &mut complete)?;
    let enc = state.encoding();
    let range = position::range(
        &snap.text,
        &snap.index,
        edit.range.start,
        edit.range.end,
        enc,
    );
    tracing::info!(
        uri = uri.as_str(),
        label = edit.label,
        ms = started.elapsed().as_millis() as u64,
        "next edit"
    );
    Some(json!({
        "uri": uri,
        "version": snap.version,
        "range": range,
        "newText": edit.text,
        "kind": edit.kind,
        "label": edit.label,
        "remaining": edit.remaining,
    }))
}

/// The completion the editor's pipeline gives at `ask.offset` of `uri` (still at
/// `version`), at background priority (ghost text the user is waiting for goes first),
/// from the argument's prompt ([`arguments::prepare`]): laid out as the prompt ghost text
/// read at `cursor`, where the user's last edit ends, so that it decodes only what is
/// new around the call.
fn complete_at(state: &State, uri: &Uri, version: i32, ask: &Ask, cursor: usize) -> Option<String> {
    let at_cursor = job(state, uri, At::Offset(cursor)).ok()??;
    if at_cursor.snap.version != version {
        return None;
    }
    let context = gather_context(state, &at_cursor);
    let info = at_cursor.model.engine.info()?;
    let mut input = at_cursor.input();
    input.context = &context;
    input.repo_name = Some(REPO_NAME);
    let (prepared, cfg) = arguments::prepare(
        ask,
        &input,
        &state.settings().completion(),
        &*at_cursor.model.counter,
        &info,
    )
    .ok()?;
    let opts = RunOptions {
        shift_suffix: true,
        ..RunOptions::default()
    };
    let (mut pipeline, mut step) = Pipeline::with_prepared(prepared, &cfg, opts);
    let mut input = at_cursor.input();
    input.offset = ask.offset;
    loop {
        let requests = match step {
            Step::Done(c) => return Some(c.text),
            Step::Generate(requests) => requests,
            Step::Read(request) => vec![request],
        };
        let answers = requests
            .into_iter()
            .map(|mut r| {
                r.priority = Priority::Background;
                at_cursor.model.engine.generate_blocking(r)
            })
            .collect();
        step = pipeline.advance(&input, answers).ok()?;
        // Typing on makes the answer moot.
        if state
            .docs
            .snapshot(uri)
            .is_none_or(|s| s.version != version)
        {
            return None;
        }
    }
}
