//! One request's answers after its prompt is read: the answer in sequence 0, or ranked
//! candidates ([`Answers::Ranked`]) side by side, the greedy one in sequence 0 and the
//! others in sequences 1.., which share the prompt's cells. One `llama_decode` a step for
//! every answer that still runs ([`Lane`]); the single answer of a greedy request also
//! decodes draft tokens (speculative decoding). Only sequence 0's answer stays in the
//! cache afterwards.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::answer::{Answer, Lane, Picks};
use super::cache_plan::Cache;
use super::ranked::Ranked;
use super::{LlamaRunner, sampler};
use crate::engine::{
    Answers, CancelToken, Confidence, EngineError, Generate, Output, StopFn, StopReason, Timings,
    ms_since,
};

impl LlamaRunner<'_> {
    /// Generates `g`'s answers after the prompt just read (its last token's logits are
    /// the batch's last row), at most `max_tokens` tokens each.
    pub(super) fn answer(
        &mut self,
        g: &mut Generate,
        deadline: Option<Instant>,
        cancel: &CancelToken,
        max_tokens: usize,
        mut timings: Timings,
    ) -> Result<Output, EngineError> {
        let gen_start = Instant::now();
        // Ranked candidates need greedy decoding and a sequence each.
        let mut others_stop: Option<StopFn> = None;
        let mut ranks = None;
        if let Answers::Ranked {
            n,
            temperature,
            others_stop: stop,
        } = &mut g.answers
        {
            let n = (*n as usize).min(self.n_seq_max);
            if n > 1 && g.sampling.temperature <= 0.0 {
                ranks = Some((n, *temperature));
                others_stop = stop.take();
            }
        }
        let mut lanes: Vec<Lane> = match ranks {
            Some((n, temperature)) => (0..n)
                .map(|rank| {
                    let ranked = Ranked::new(rank, temperature, u64::from(g.sampling.seed));
                    let picks = Picks::Ranked(ranked, Confidence::default());
                    let answer = Answer::new(picks, g.ignore_eog, max_tokens, deadline);
                    Lane::new(rank as i32, answer)
                })
                .collect(),
            None => {
                let picks = Picks::One(sampler(&g.sampling));
                let answer = Answer::new(picks, g.ignore_eog, max_tokens, deadline);
                vec![Lane::new(0, answer)]
            }
        };
        // Drafts are checked against greedy picks, for the single answer.
        let speculate = lanes.len() == 1 && lanes[0].answer.is_greedy() && g.draft.max > 0;
        for lane in &lanes[1..] {
            self.ctx
                .kv_cache_seq_rm(lane.seq, None, None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
            self.ctx
                .kv_cache_seq_cp(0, lane.seq, None, None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
        }
        // What each lane decoded after the prompt (sequence 0's goes into the cache).
        let mut records: Vec<Vec<LlamaToken>> = vec![Vec::new(); lanes.len()];
        let result = self.decode_lanes(
            g,
            others_stop.as_mut(),
            speculate,
            &mut lanes,
            &mut records,
            cancel,
        );
        // Only sequence 0's answer stays, whatever happened.
        for lane in &lanes[1..] {
            let _ = self.ctx.kv_cache_seq_rm(lane.seq, None, None);
        }
        if let Err(e) = result {
            if e.is_cancelled() {
                // Sequence 0 holds what its answer decoded so far.
                self.cache.cached.extend_from_slice(&records[0]);
            } else {
                // A failed decode or removal: nothing is known of the cells.
                self.ctx.clear_kv_cache();
                self.cache = Cache::default();
            }
            return Err(e);
        }
        self.cache.cached.extend_from_slice(&records[0]);
        let answer = &self.cache.cached[self.cache.prompt_len.min(self.cache.cached.len())..];
        if !answer.is_empty() {
            self.recent.push(answer);
        }
        timings.generated_tokens = lanes.iter().map(|l| l.answer.picked()).sum();
        timings.drafted_tokens = lanes.iter().map(|l| l.drafted).sum();
        timings.accepted_tokens = lanes.iter().map(|l| l.kept).sum();
        timings.generate_ms = ms_since(gen_start);
        let mut texts = Vec::with_capacity(lanes.len());
        let mut candidates = Vec::new();
        let mut stops = Vec::with_capacity(lanes.len());
        for lane in lanes {
            let stop = lane.stopped().unwrap_or(StopReason::MaxTokens);
            let (text, candidate) = lane.answer.into_parts(stop);
            texts.push(text);
            stops.push(stop);
            candidates.extend(candidate);
        }
        Ok(Output {
            text: texts.swap_remove(0),
            stop: stops[0],
            timings,
            candidates,
            fits: Vec::new(),
        })
    }

    /// Decodes `lanes` side by side until each has stopped, recording in `records` what
    /// each decoded after the cached prompt. Sequence 0's answer stops by `g.stop`, the
    /// others by `others_stop`.
    fn decode_lanes(
        &mut self,
        g: &mut Generate,
        mut others_stop: Option<&mut StopFn>,
        speculate: bool,
        lanes: &mut [Lane],
        records: &mut [Vec<LlamaToken>],
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        let model = self.model;
        let vocab = model.vocab();
        let at = self.cache.cached.len();
        let prompt_row = self.batch.n_tokens() - 1;
        for lane in lanes.iter_mut() {
            let stop = if lane.seq == 0 {
                g.stop.as_mut()
            } else {
                others_stop.as_deref_mut()
            };
            lane.start(&self.ctx, prompt_row, &vocab, stop);
        }
        loop {
            cancel.check()?;
            self.batch.clear();
            for (lane, record) in lanes.iter_mut().zip(records.iter_mut()) {
                let draft = match lane.next() {
                    Some(next) if speculate => {
                        let mut tail = self.cache.cached.clone();
                        tail.extend_from_slice(record);
                        tail.push(next);
                        let room = lane.answer.room().saturating_sub(1);
                        let recent = self.recent.slices();
                        super::super::draft::propose(&tail, &recent, &g.draft, room)
                    }
                    _ => Vec::new(),
                };
                let added = lane.add(&mut self.batch, at + record.len(), draft)?;
                record.extend(added);
            }
            if self.batch.n_tokens() == 0 {
                return Ok(());
            }
            self.decode()?;
            for (lane, record) in lanes.iter_mut().zip(records.iter_mut()) {
                let stop = if lane.seq == 0 {
                    g.stop.as_mut()
                } else {
                    others_stop.as_deref_mut()
                };
                let gone = lane.read(&mut self.ctx, &vocab, stop, at + record.len())?;
                record.truncate(record.len() - gone);
            }
        }
    }
}
