//! One answer while it is generated, and the step every generation loop takes with it.
//!
//! Two loops decode answers: [`LlamaRunner::answer`](super::LlamaRunner) (one request:
//! its answer in sequence 0, ranked candidates side by side in 1..) and the batch
//! (`batch`: many requests in slots, prompts read in the same decodes). They differ in
//! what they put in a `llama_decode`; what happens to an answer does not, and lives here:
//! a [`Lane`] puts its next token and draft in the batch and, after the decode, reads its
//! rows, where [`Answer::step`] picks each token and applies the stop rules.
//!
//! Invariants:
//! - A lane's sequence holds exactly the tokens its owner recorded from [`Lane::add`]
//!   less what [`Lane::read`] returned: draft tokens the model did not confirm leave the
//!   sequence in the same read that found them wrong.
//! - The stop rules apply in one order everywhere: deadline, end of generation, the
//!   caller's stop rule, the token limit. A token that ends the answer by end of
//!   generation is not in its text; one that stops it by rule or limit is, but is not
//!   decoded.

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::vocab::LlamaVocab;

use super::ranked::Ranked;
use super::{Picker, log_sum_exp, push_piece};
use crate::engine::{Candidate, Confidence, EngineError, StopFn, StopReason};

/// How an answer picks its tokens.
pub(super) enum Picks {
    /// As the request's sampling says.
    One(Picker),
    /// A ranked candidate's way, its tokens' log-probabilities kept.
    Ranked(Ranked, Confidence),
}

/// An answer as it is generated: how it picks tokens, its text so far, and its limits.
pub(super) struct Answer {
    picks: Picks,
    ignore_eog: bool,
    max_tokens: usize,
    deadline: Option<Instant>,
    /// The start of a character split across tokens.
    bytes: Vec<u8>,
    text: String,
    /// Tokens taken into the text.
    generated: usize,
}

impl Answer {
    pub(super) fn new(
        picks: Picks,
        ignore_eog: bool,
        max_tokens: usize,
        deadline: Option<Instant>,
    ) -> Self {
        Answer {
            picks,
            ignore_eog,
            max_tokens,
            deadline,
            bytes: Vec::new(),
            text: String::new(),
            generated: 0,
        }
    }

    /// Picks the next token from the logits of batch row `row` and applies the stop
    /// rules (see the module's invariants): the token to decode next, or why the answer
    /// ends.
    pub(super) fn step(
        &mut self,
        ctx: &LlamaContext<'_>,
        row: i32,
        vocab: &LlamaVocab<'_>,
        stop: Option<&mut StopFn>,
    ) -> Result<LlamaToken, StopReason> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(StopReason::Deadline);
        }
        let token = match &mut self.picks {
            Picks::One(picker) => picker.pick(ctx, row),
            Picks::Ranked(ranked, confidence) => {
                let logits = ctx.get_logits_ith(row);
                let token = ranked.pick(logits, &self.text, self.ignore_eog, vocab);
                // Counted also when it ends the answer: the model chose to end there.
                confidence.add(logits[token.0 as usize] - log_sum_exp(logits));
                token
            }
        };
        if !self.ignore_eog && vocab.is_eog(token) {
            return Err(StopReason::EndOfGeneration);
        }
        self.generated += 1;
        push_piece(
            &mut self.bytes,
            &mut self.text,
            &vocab.token_to_piece(token, false, None),
        );
        if let Some(f) = stop
            && f(&self.text)
        {
            return Err(StopReason::StopRule);
        }
        if self.generated >= self.max_tokens {
            return Err(StopReason::MaxTokens);
        }
        Ok(token)
    }

    /// Tokens taken into the text.
    pub(super) fn generated(&self) -> usize {
        self.generated
    }

    /// Tokens the model picked: with a ranked candidate the one that ended it too.
    pub(super) fn picked(&self) -> u32 {
        match &self.picks {
            Picks::One(_) => self.generated as u32,
            Picks::Ranked(_, confidence) => confidence.count(),
        }
    }

    /// How many more tokens it may take after the ones it has.
    pub(super) fn room(&self) -> usize {
        self.max_tokens.saturating_sub(self.generated)
    }

    pub(super) fn is_greedy(&self) -> bool {
        matches!(self.picks, Picks::One(Picker::Greedy))
    }

    /// Its text with its log-probabilities, for a ranked candidate.
    pub(super) fn into_parts(self, stop: StopReason) -> (String, Option<Candidate>) {
        match self.picks {
            Picks::One(_) => (self.text, None),
            Picks::Ranked(_, confidence) => {
                let candidate = confidence.candidate(self.text.clone(), stop);
                (self.text, Some(candidate))
            }
        }
    }
}

/// An answer decoded in a sequence of the context: its next token (picked, not decoded
/// yet) and the draft tokens decoded after it until the model confirms them.
pub(super) struct Lane {
    pub seq: i32,
    pub answer: Answer,
    /// The token picked last, decoded next; `None` before the first pick and once stopped.
    next: Option<LlamaToken>,
    stop: Option<StopReason>,
    /// While decoded: the batch row of `next`, and the draft after it.
    rows: Option<(i32, Vec<LlamaToken>)>,
    /// Draft tokens decoded, and confirmed (speculative decoding).
    pub drafted: u32,
    pub kept: u32,
}

impl Lane {
    pub(super) fn new(seq: i32, answer: Answer) -> Self {
        Lane {
            seq,
            answer,
            next: None,
            stop: None,
            rows: None,
            drafted: 0,
            kept: 0,
        }
    }

    /// The token it decodes next, if it goes on.
    pub(super) fn next(&self) -> Option<LlamaToken> {
        self.next
    }

    /// Why it ended, once it has.
    pub(super) fn stopped(&self) -> Option<StopReason> {
        self.stop
    }

    /// Picks the first token from the logits of the prompt's last token (batch row `row`).
    pub(super) fn start(
        &mut self,
        ctx: &LlamaContext<'_>,
        row: i32,
        vocab: &LlamaVocab<'_>,
        stop: Option<&mut StopFn>,
    ) {
        let step = self.answer.step(ctx, row, vocab, stop);
        self.take(step);
    }

    fn take(&mut self, step: Result<LlamaToken, StopReason>) {
        match step {
            Ok(token) => self.next = Some(token),
            Err(stop) => {
                self.next = None;
                self.stop = Some(stop);
            }
        }
    }

    /// Adds the next token at position `pos` of the lane's sequence, and `draft` after
    /// it, to `batch`, each with its logits. Returns the tokens added (the owner records
    /// them as the sequence's); none once the lane has stopped.
    pub(super) fn add(
        &mut self,
        batch: &mut LlamaBatch<'_>,
        pos: usize,
        draft: Vec<LlamaToken>,
    ) -> Result<Vec<LlamaToken>, EngineError> {
        let Some(next) = self.next.take() else {
            return Ok(Vec::new());
        };
        let first = batch.n_tokens();
        let mut added = Vec::with_capacity(1 + draft.len());
        added.push(next);
        added.extend_from_slice(&draft);
        for (j, t) in added.iter().enumerate() {
            batch
                .add(*t, (pos + j) as i32, &[self.seq], true)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
        }
        self.drafted += draft.len() as u32;
        self.rows = Some((first, draft));
        Ok(added)
    }

    /// After the decode: picks from the lane's rows, keeping each draft token while it is
    /// what the model picks at its place, and removes the rest of the draft from the
    /// sequence, which held `end` tokens. Returns how many it removed (the owner drops
    /// them from its record).
    pub(super) fn read(
        &mut self,
        ctx: &mut LlamaContext<'_>,
        vocab: &LlamaVocab<'_>,
        mut stop: Option<&mut StopFn>,
        end: usize,
    ) -> Result<usize, EngineError> {
        let Some((first, draft)) = self.rows.take() else {
            return Ok(0);
        };
        let mut kept = 0;
        loop {
            let step = self
                .answer
                .step(ctx, first + kept as i32, vocab, stop.as_deref_mut());
            match step {
                // Already decoded: its logits are the next row.
                Ok(token) if kept < draft.len() && token == draft[kept] => kept += 1,
                step => {
                    self.take(step);
                    break;
                }
            }
        }
        self.kept += kept as u32;
        let unconfirmed = draft.len() - kept;
        if unconfirmed > 0 {
            ctx.kv_cache_seq_rm(self.seq, Some((end - unconfirmed) as u32), None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
        }
        Ok(unconfirmed)
    }
}
