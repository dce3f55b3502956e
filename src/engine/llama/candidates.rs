//! Ranked candidates in one context ([`Answers::Ranked`](crate::engine::Answers::Ranked)): the greedy answer in sequence
//! 0 and the others in sequences 1.., which share the prompt's cells; one `llama_decode`
//! a step for all that still run.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::ranked::Ranked;
use super::{LlamaRunner, log_sum_exp, push_piece};
use crate::engine::{
    CancelToken, Candidate, Confidence, EngineError, Generate, Output, StopFn, StopReason, Timings,
    ms_since,
};

/// [`Answers::Ranked`] as the runner runs it: at most as many as it has sequences.
pub(super) struct Ranks {
    pub n: usize,
    pub temperature: f32,
    pub others_stop: Option<StopFn>,
}

/// When the candidates of [`LlamaRunner::grow`] stop.
struct Rules<'a> {
    deadline: Option<Instant>,
    ignore_eog: bool,
    /// The greedy candidate's stop rule, and the others'.
    first: Option<&'a mut StopFn>,
    others: Option<&'a mut StopFn>,
    max_tokens: usize,
}

/// One candidate of [`LlamaRunner::generate_candidates`] while it is generated.
struct Growing {
    /// The sequence it is decoded in, and its rank (0 for the greedy one).
    seq: i32,
    picks: Ranked,
    /// The token picked next, not decoded yet, with its log-probability.
    next: Option<(LlamaToken, f32)>,
    decoded: Vec<LlamaToken>,
    bytes: Vec<u8>,
    text: String,
    confidence: Confidence,
    stop: Option<StopReason>,
}

impl LlamaRunner<'_> {
    /// Ranked candidates ([`Answers::Ranked`]): the greedy answer in sequence 0 and
    /// greedy continuations of the next most likely first tokens in sequences 1.., which
    /// share the prompt's cells; one `llama_decode` a step for all that still run. Only
    /// the greedy answer stays in the cache afterwards, as a single request leaves it.
    pub(super) fn generate_candidates(
        &mut self,
        g: &mut Generate,
        deadline: Option<Instant>,
        mut ranks: Ranks,
        cancel: &CancelToken,
        max_tokens: usize,
        mut timings: Timings,
    ) -> Result<Output, EngineError> {
        let gen_start = Instant::now();
        let vocab = self.model.vocab();
        let logits = self.ctx.get_logits_ith(self.batch.n_tokens() - 1);
        let lse = log_sum_exp(logits);
        let mut growing: Vec<Growing> = (0..ranks.n)
            .map(|rank| {
                let mut picks = Ranked::new(rank, ranks.temperature, u64::from(g.sampling.seed));
                let first = picks.pick(logits, "", g.ignore_eog, &vocab);
                Growing {
                    seq: rank as i32,
                    picks,
                    next: Some((first, logits[first.0 as usize] - lse)),
                    decoded: Vec::new(),
                    bytes: Vec::new(),
                    text: String::new(),
                    confidence: Confidence::default(),
                    stop: None,
                }
            })
            .collect();
        let at = self.cache.cached.len();
        for g in &growing[1..] {
            self.ctx
                .kv_cache_seq_rm(g.seq, None, None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
            self.ctx
                .kv_cache_seq_cp(0, g.seq, None, None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
        }
        let mut rules = Rules {
            deadline,
            ignore_eog: g.ignore_eog,
            first: g.stop.as_mut(),
            others: ranks.others_stop.as_mut(),
            max_tokens,
        };
        let result = self.grow(&mut rules, cancel, &mut growing, at);
        // Only the greedy answer's cells stay (sequence 0), whatever happened.
        for g in &growing[1..] {
            let _ = self.ctx.kv_cache_seq_rm(g.seq, None, None);
        }
        match result {
            Ok(()) => {}
            Err(e) => {
                // Cancelled: sequence 0 holds what the greedy candidate decoded so far. A
                // failed decode has cleared the cache already.
                if e.is_cancelled() {
                    self.cache.cached.extend_from_slice(&growing[0].decoded);
                }
                return Err(e);
            }
        }
        self.cache.cached.extend_from_slice(&growing[0].decoded);
        let answer = &self.cache.cached[self.cache.prompt_len.min(self.cache.cached.len())..];
        if !answer.is_empty() {
            self.recent.push(answer);
        }
        timings.generated_tokens = growing.iter().map(|g| g.confidence.count()).sum();
        timings.generate_ms = ms_since(gen_start);
        let candidates: Vec<Candidate> = growing
            .into_iter()
            .map(|g| {
                g.confidence
                    .candidate(g.text, g.stop.unwrap_or(StopReason::MaxTokens))
            })
            .collect();
        Ok(Output {
            text: candidates[0].text.clone(),
            stop: candidates[0].stop,
            timings,
            candidates,
            fits: Vec::new(),
        })
    }

    /// Decodes `growing` side by side until each has stopped.
    fn grow(
        &mut self,
        rules: &mut Rules<'_>,
        cancel: &CancelToken,
        growing: &mut [Growing],
        at: usize,
    ) -> Result<(), EngineError> {
        let vocab = self.model.vocab();
        loop {
            cancel.check()?;
            let late = rules.deadline.is_some_and(|d| Instant::now() >= d);
            self.batch.clear();
            // Which candidate each batch row belongs to.
            let mut rows = Vec::new();
            for (i, g) in growing.iter_mut().enumerate() {
                let Some((token, logprob)) = g.next.take() else {
                    continue;
                };
                if late {
                    g.stop = Some(StopReason::Deadline);
                    continue;
                }
                g.confidence.add(logprob);
                if !rules.ignore_eog && vocab.is_eog(token) {
                    g.stop = Some(StopReason::EndOfGeneration);
                    continue;
                }
                push_piece(
                    &mut g.bytes,
                    &mut g.text,
                    &vocab.token_to_piece(token, false, None),
                );
                let rule = if g.seq == 0 {
                    rules.first.as_mut()
                } else {
                    rules.others.as_mut()
                };
                if let Some(f) = rule
                    && f(&g.text)
                {
                    g.stop = Some(StopReason::StopRule);
                    continue;
                }
                if g.confidence.count() as usize >= rules.max_tokens {
                    g.stop = Some(StopReason::MaxTokens);
                    continue;
                }
                self.batch
                    .add(token, (at + g.decoded.len()) as i32, &[g.seq], true)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
                g.decoded.push(token);
                rows.push(i);
            }
            if rows.is_empty() {
                return Ok(());
            }
            self.decode()?;
            for (row, &i) in rows.iter().enumerate() {
                let logits = self.ctx.get_logits_ith(row as i32);
                let g = &mut growing[i];
                let token = g.picks.pick(logits, &g.text, rules.ignore_eog, &vocab);
                let logprob = logits[token.0 as usize] - log_sum_exp(logits);
                g.next = Some((token, logprob));
            }
        }
    }
}
