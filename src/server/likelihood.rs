//! Ranking an inline completion's candidates by reading them in the file
//! ([`Ranking::Likelihood`], `complete::verify`) on the server's async path: after the
//! candidates are generated and before the suggestion cache hears of them, one more
//! request reads each where the cursor puts them. Typing on supersedes the reading like
//! any request with the document's key; candidates that were not read rank by
//! confidence.

use crate::complete::{Prepared, verify};
use crate::config::{CompletionConfig, Ranking};
use crate::engine::{EngineError, Output, Priority, Waiting};

use super::job::Job;

/// What reading needs besides the engine's answer, taken when the generation starts:
/// `None` unless `ranking` is likelihood and several candidates were asked for.
pub(super) struct Reader {
    job: Job,
    prepared: Prepared,
    syntax_check: bool,
    key: String,
    waiting: Waiting,
}

impl Reader {
    pub fn new(
        cfg: &CompletionConfig,
        candidates: u32,
        job: &Job,
        prepared: &Prepared,
        key: &str,
        waiting: &Waiting,
    ) -> Option<Reader> {
        (cfg.candidate_ranking == Ranking::Likelihood && candidates > 1).then(|| Reader {
            job: job.clone(),
            prepared: prepared.clone(),
            syntax_check: cfg.syntax_check,
            key: key.to_string(),
            waiting: waiting.clone(),
        })
    }

    /// Gives `out`'s candidates how each read (`Candidate::fit`); the reading's time
    /// counts as prompt time. On any failure the candidates stay as they were.
    pub async fn read(self, out: &mut Output) {
        if out.candidates.len() < 2 {
            return;
        }
        let Reader {
            job,
            prepared,
            syntax_check,
            key,
            waiting,
        } = self;
        let model = job.model.clone();
        let candidates = out.candidates.clone();
        let found = tokio::task::spawn_blocking(move || {
            verify::for_candidates(&job.input(), &prepared, &candidates, syntax_check)
        })
        .await;
        if let Ok(Some((mut req, reading))) = found {
            req.key = Some(key);
            req.priority = Priority::Interactive;
            req.waiting = Some(waiting);
            match model.engine.submit(req).wait().await {
                Ok(read) => reading.apply(out, read),
                Err(EngineError::Unsupported(why)) => {
                    tracing::warn!(%why, "candidates ranked by confidence instead of likelihood");
                }
                Err(e) => tracing::debug!(error = %e, "candidates not read; ranked by confidence"),
            }
        }
    }
}
