//! Reading texts in the prompt's place ([`Work::Score`]): how likely the model finds each
//! candidate and the code after it, rows decoded in a scratch sequence that shares the
//! prompt's cells.
//!
//! [`Work::Score`]: crate::engine::Work::Score

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::token::LlamaToken;

use super::cache_plan::SCRATCH_SEQ;
use super::{LlamaRunner, log_sum_exp};
use crate::engine::{
    CancelToken, EngineError, Fit, Output, Score, StopReason, Timings, common_prefix, ms_since,
};

/// Tokens of [`Score`] rows read per `llama_decode`: each one's logits are kept (a row of
/// the vocabulary's size), so this bounds that memory (~80 MB for a 150k vocabulary).
const SCORE_CHUNK: usize = 128;

impl LlamaRunner<'_> {
    /// Reads each of `score.texts` followed by `score.tail` after `score.before`, as far
    /// as the cache holds it (sequence 0): each row in the scratch sequence, sharing
    /// those cells. Sequence 0 is left as it was, so the next completion still finds its
    /// prompt cached.
    pub(super) fn score(
        &mut self,
        score: &Score,
        cancel: &CancelToken,
        timings: Timings,
    ) -> Result<Output, EngineError> {
        let before = self.tokenize(&score.before)?;
        let shared = common_prefix(&self.cache.cached, &before);
        let rows = RowsIn {
            from: 0,
            into: SCRATCH_SEQ,
            room: self.ctx.n_ctx() as usize,
        };
        self.read_rows(score, &before, shared, rows, cancel, timings)
    }

    /// Reads [`Score`]'s rows after `before` (`score.before`, tokenized), whose first
    /// `shared` tokens sequence `rows.from` holds: each row from the last of those on
    /// (its logits predict the row's first token), in sequence `rows.into`. When that
    /// is `rows.from` itself, it is cut back before each row and after the last.
    pub(super) fn read_rows(
        &mut self,
        score: &Score,
        before: &[LlamaToken],
        shared: usize,
        rows_in: RowsIn,
        cancel: &CancelToken,
        mut timings: Timings,
    ) -> Result<Output, EngineError> {
        let started = Instant::now();
        let vocab = self.model.vocab();
        let cached = &before[..shared];
        let Some(at) = cached.len().checked_sub(1) else {
            return Err(EngineError::Backend(
                "texts to read after nothing cached".into(),
            ));
        };
        let rows: Vec<(Vec<LlamaToken>, usize)> = score
            .texts
            .iter()
            .map(|t| {
                let mut row = vec![cached[at]];
                row.extend_from_slice(&before[(at + 1).min(before.len())..]);
                let head = row.len();
                let joined = format!("{t}{}", score.tail);
                let toks = vocab.tokenize(joined.as_bytes(), false, false);
                // Tokens that end inside the text count as the text's.
                let mut end = 0;
                let in_text = toks
                    .iter()
                    .take_while(|tok| {
                        end += vocab.token_to_piece(**tok, false, None).len();
                        end <= t.len()
                    })
                    .count();
                row.extend(toks);
                (row, head - 1 + in_text)
            })
            .collect();
        let RowsIn { from, into, room } = rows_in;
        // Leaves `into` with what it should hold before a row, and after the last.
        let reset = |ctx: &mut LlamaContext<'_>| -> Result<(), EngineError> {
            let backend = |e: llama_cpp_2::context::kv_cache::KvCacheConversionError| {
                EngineError::Backend(e.to_string())
            };
            if into == from {
                ctx.kv_cache_seq_rm(into, Some(at as u32), None)
                    .map_err(backend)?;
            } else {
                ctx.kv_cache_seq_rm(into, None, None).map_err(backend)?;
                ctx.kv_cache_seq_cp(from, into, Some(0), Some(at as u32))
                    .map_err(backend)?;
            }
            Ok(())
        };
        let mut fits = Vec::with_capacity(rows.len());
        let result = (|| {
            for (row, n_text) in &rows {
                reset(&mut self.ctx)?;
                // A row too long for the context is cut (its tail reads shorter).
                let row = &row[..row.len().min(room.saturating_sub(at + 1))];
                let mut logprobs = Vec::with_capacity(row.len());
                for chunk in row.chunks(SCORE_CHUNK) {
                    cancel.check()?;
                    let from = logprobs.len();
                    self.batch.clear();
                    for (j, tok) in chunk.iter().enumerate() {
                        self.batch
                            .add(*tok, (at + from + j) as i32, &[into], true)
                            .map_err(|e| EngineError::Backend(e.to_string()))?;
                    }
                    // Not `decode`: other sequences (batch slots) keep their cells on an error;
                    // this one's go below.
                    self.ctx
                        .decode(&mut self.batch)
                        .map_err(|e| EngineError::Backend(e.to_string()))?;
                    for j in 0..chunk.len() {
                        let Some(&next) = row.get(from + j + 1) else {
                            break;
                        };
                        let logits = self.ctx.get_logits_ith(j as i32);
                        logprobs.push(logits[next.0 as usize] - log_sum_exp(logits));
                    }
                }
                timings.evaluated_tokens += row.len() as u32;
                let tail = logprobs.split_off((*n_text).min(logprobs.len()));
                fits.push(Fit {
                    text: logprobs,
                    tail,
                });
            }
            Ok(())
        })();
        if into == from {
            let _ = self.ctx.kv_cache_seq_rm(into, Some(at as u32), None);
        } else {
            let _ = self.ctx.kv_cache_seq_rm(into, None, None);
        }
        result?;
        timings.generate_ms = ms_since(started);
        Ok(Output {
            text: String::new(),
            stop: StopReason::PrefillOnly,
            timings,
            candidates: Vec::new(),
            fits,
        })
    }
}

/// Where [`LlamaRunner::read_rows`] reads: the sequence holding what comes before the
/// rows, the one the rows are decoded in, and the positions a row may reach.
pub(super) struct RowsIn {
    pub from: i32,
    pub into: i32,
    pub room: usize,
}
