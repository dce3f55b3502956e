//! Warm-up: after a file is opened or the user pauses typing, evaluate the prompt the next
//! completion will most likely use, in the background, so that completion only decodes the
//! last few tokens. Any interactive request preempts it; a newer edit or request makes it
//! moot before it starts.

use std::time::Duration;

use tower_lsp_server::ls_types::Uri;

use super::Server;
use super::job::{At, job, prepare_job};
use crate::complete::Shape;
use crate::engine::{Priority, Request, Work};

/// How long typing must pause before the warm-up runs.
const PAUSE: Duration = Duration::from_millis(400);

impl Server {
    /// Schedules a warm-up of `uri` at byte `offset` after a pause.
    pub(super) fn schedule_warmup(&self, uri: Uri, offset: usize) {
        let state = self.state.clone();
        if !state.settings().warmup {
            return;
        }
        let turn = state.bump(&uri);
        tokio::spawn(async move {
            tokio::time::sleep(PAUSE).await;
            // Moot once the document changed again, or the user moved to another one.
            let moot =
                |state: &super::State| state.current_turn(&uri) != turn || !state.has_focus(&uri);
            if moot(&state) {
                return;
            }
            let Ok(Some(job)) = job(&state, &uri, At::Offset(offset)) else {
                return;
            };
            if state.settings().suggestion_cache {
                let cfg = state.settings().completion();
                let shape = Shape::at(&job.snap.text, job.offset, job.snap.language, &cfg);
                if state
                    .suggestions
                    .lookup(uri.as_str(), &job.snap.text, job.offset, &shape)
                    .is_some()
                {
                    // The next completion comes from the cache; a warm-up would supersede
                    // the generation feeding it.
                    return;
                }
            }
            let prepared = {
                let state = state.clone();
                tokio::task::spawn_blocking(move || {
                    prepare_job(&state, &job).map(|(p, _)| (job, p))
                })
                .await
            };
            let Ok(Ok((job, prepared))) = prepared else {
                return;
            };
            if moot(&state) {
                return;
            }
            // A pause is the time to decode again what typing only moved.
            let work = Work::Prefill {
                refresh_stale: true,
            };
            let mut req = Request::new(prepared.prompt, work);
            req.priority = Priority::Background;
            req.key = Some(uri.as_str().to_string());
            // Moved like a completion's suffix, not decoded again: a warm-up that typing
            // interrupts half-way would otherwise have dropped the suffix's cells, and the
            // next completion would decode the whole suffix in front of the user.
            req.shift_suffix = Some(state.settings().completion().fresh_suffix_tokens);
            match job.model.engine.generate(req).await {
                Ok(out) => tracing::debug!(
                    uri = uri.as_str(),
                    evaluated = out.timings.evaluated_tokens,
                    reused = out.timings.reused_tokens,
                    refreshed = out.timings.refreshed_tokens,
                    ms = out.timings.prompt_ms as u64,
                    "warm-up"
                ),
                Err(e) => tracing::debug!(uri = uri.as_str(), "warm-up skipped: {e}"),
            }
        });
    }
}
