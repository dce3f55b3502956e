//! Many requests decoded together in one context: each runs in its own sequence (a slot),
//! and every step is one `llama_decode` over all of them, so the CPU's matrix units work
//! on several rows at once.
//!
//! A new request in a slot keeps the longest prefix it shares with what that slot held,
//! or copies the longer one another slot has (`seq_cp` shares the cells in a unified KV
//! cache), and decodes only the rest.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::answer::{Answer, Lane, Picks};
use super::ranked::Ranked;
use super::score::RowsIn;
use super::{LlamaRunner, sampler};
use crate::engine::{
    Answers, BatchSource, CancelToken, Confidence, EngineError, Generate, Output, Request,
    StopReason, Timings, Work, common_prefix, ms_since,
};

/// Prefixes shorter than this are not worth a copy from another sequence.
const MIN_SHARED: usize = 16;

struct Active {
    tag: u64,
    /// How it generates (a prefill: nothing, `max_tokens` 0): its stop rule and drafts.
    generation: Generate,
    /// The prompt, all of it.
    prompt: Vec<LlamaToken>,
    reused: usize,
    /// Its answer, in the slot's sequence.
    lane: Lane,
    started: Instant,
    prompt_done: Option<Instant>,
}

#[derive(Default)]
struct Slot {
    /// Tokens whose keys and values are in this slot's sequence.
    tokens: Vec<LlamaToken>,
    active: Option<Active>,
}

impl Slot {
    fn phase_prompt(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| self.tokens.len() < a.prompt.len())
    }
}

impl LlamaRunner<'_> {
    pub(super) fn batch(
        &mut self,
        source: &mut dyn BatchSource,
        parallel: usize,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        let n_slots = parallel.clamp(1, self.n_seq_max.max(1));
        // The interactive cache (sequence 0) is about to be overwritten.
        self.ctx.clear_kv_cache();
        self.cache = super::Cache::default();
        let mut slots: Vec<Slot> = (0..n_slots).map(|_| Slot::default()).collect();
        let n_batch = self.ctx.n_batch() as usize;
        let per_seq = self.ctx.n_ctx() as usize / n_slots;
        let result = 'run: loop {
            if let Err(e) = cancel.check() {
                break Err(e);
            }
            // Fill idle slots.
            for s in 0..n_slots {
                while slots[s].active.is_none() {
                    let Some((tag, req)) = source.next() else {
                        break;
                    };
                    if let Work::Score(score) = &req.work {
                        // Read at once, in this idle slot: the rows are short.
                        let read = self.read_in_slot(&mut slots, s, score, per_seq, cancel);
                        source.done(tag, read);
                        continue;
                    }
                    match self.start(&mut slots, s, tag, req, per_seq) {
                        Ok(()) => {}
                        Err((tag, e)) => source.done(tag, Err(e)),
                    }
                }
            }
            if slots.iter().all(|s| s.active.is_none()) {
                if source.finished() {
                    break Ok(());
                }
                break Err(EngineError::Backend("batch source stalled".into()));
            }
            let waiting = self.share_prompts(&mut slots);
            // One decode over every active slot: generating slots add their last token
            // and its draft (speculative decoding, greedy slots), slots still reading
            // their prompt share what is left of the batch.
            self.batch.clear();
            let drafts: Vec<Vec<LlamaToken>> = slots
                .iter()
                .map(|slot| draft_for(slot, per_seq, n_batch / (2 * n_slots)))
                .collect();
            let generating: usize = slots
                .iter()
                .zip(&drafts)
                .filter(|(s, _)| s.active.is_some() && !s.phase_prompt())
                .map(|(_, d)| 1 + d.len())
                .sum();
            let prompting = slots
                .iter()
                .zip(&waiting)
                .filter(|(s, w)| s.phase_prompt() && !**w)
                .count();
            let share = n_batch
                .saturating_sub(generating)
                .checked_div(prompting)
                .map_or(0, |s| s.max(1));
            // The slots with rows to read after the decode, in slot order: a prompt's
            // last token (its row), or a generating answer (its lane knows its rows).
            let mut reads: Vec<(usize, Option<i32>)> = Vec::new();
            for (s, (slot, draft)) in slots.iter_mut().zip(drafts).enumerate() {
                let Some(a) = slot.active.as_mut() else {
                    continue;
                };
                let seq = s as i32;
                if waiting[s] {
                    continue;
                }
                if slot.tokens.len() < a.prompt.len() {
                    let from = slot.tokens.len();
                    let to = (from + share).min(a.prompt.len());
                    for (i, tok) in a.prompt[from..to].iter().enumerate() {
                        let pos = (from + i) as i32;
                        let last = from + i + 1 == a.prompt.len();
                        self.batch
                            .add(*tok, pos, &[seq], last)
                            .map_err(|e| EngineError::Backend(e.to_string()))?;
                        if last {
                            reads.push((s, Some(self.batch.n_tokens() - 1)));
                        }
                    }
                    slot.tokens.extend_from_slice(&a.prompt[from..to]);
                } else {
                    let added = a.lane.add(&mut self.batch, slot.tokens.len(), draft)?;
                    if !added.is_empty() {
                        slot.tokens.extend(added);
                        reads.push((s, None));
                    }
                }
            }
            if self.batch.n_tokens() > 0
                && let Err(e) = self.ctx.decode(&mut self.batch)
            {
                break Err(EngineError::Backend(e.to_string()));
            }
            let model = self.model;
            let vocab = model.vocab();
            for (s, prompt_end) in reads {
                let slot = &mut slots[s];
                let a = slot.active.as_mut().expect("active slot");
                if let Some(row) = prompt_end {
                    a.prompt_done = Some(Instant::now());
                    if a.generation.max_tokens == 0 {
                        let a = slot.active.take().expect("active slot");
                        source.done(a.tag, Ok(finish(a, StopReason::PrefillOnly)));
                        continue;
                    }
                    a.lane
                        .start(&self.ctx, row, &vocab, a.generation.stop.as_mut());
                } else {
                    let end = slot.tokens.len();
                    match a
                        .lane
                        .read(&mut self.ctx, &vocab, a.generation.stop.as_mut(), end)
                    {
                        Ok(gone) => slot.tokens.truncate(end - gone),
                        Err(e) => break 'run Err(e),
                    }
                }
                if let Some(stop) = a.lane.stopped() {
                    let a = slot.active.take().expect("active slot");
                    source.done(a.tag, Ok(finish(a, stop)));
                }
            }
        };
        // Leave a clean cache for the interactive path.
        self.ctx.clear_kv_cache();
        self.cache = super::Cache::default();
        result
    }

    /// Slots reading prompts that share a prefix read it once: a slot copies what
    /// another already holds of its prompt (`seq_cp`), and waits while a slot that
    /// started before it is still reading more of what they share (ranked candidates
    /// of one task start together with one prompt). Which slots wait this step.
    fn share_prompts(&mut self, slots: &mut [Slot]) -> Vec<bool> {
        let mut waiting = vec![false; slots.len()];
        for s in 0..slots.len() {
            if !slots[s].phase_prompt() {
                continue;
            }
            let active = slots[s].active.as_ref().expect("active slot");
            let (prompt, started) = (&active.prompt, active.started);
            let mine = slots[s].tokens.len();
            // Its last token is decoded here, for its logits.
            let most = prompt.len() - 1;
            let mut donor = None;
            let mut best = mine + MIN_SHARED - 1;
            for (t, other) in slots.iter().enumerate() {
                if t == s {
                    continue;
                }
                let held = common_prefix(&other.tokens, prompt).min(most);
                if held > best {
                    (donor, best) = (Some(t), held);
                }
                if other.phase_prompt()
                    && let Some(theirs) = other.active.as_ref()
                    && (theirs.started, t) < (started, s)
                {
                    let theirs = &theirs.prompt;
                    let ahead = common_prefix(theirs, prompt).min(most);
                    waiting[s] |= ahead > held.max(mine) + MIN_SHARED;
                }
            }
            if let Some(t) = donor {
                let seq = s as i32;
                let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                let _ = self
                    .ctx
                    .kv_cache_seq_cp(t as i32, seq, Some(0), Some(best as u32));
                slots[s].tokens = prompt[..best].to_vec();
            }
        }
        waiting
    }

    /// Reads `score`'s rows ([`LlamaRunner::read_rows`]) in idle slot `s`, after the
    /// longest part of `score.before` a slot holds (the slot that just generated the
    /// candidates, as a rule). Slot `s` keeps that part.
    fn read_in_slot(
        &mut self,
        slots: &mut [Slot],
        s: usize,
        score: &crate::engine::Score,
        per_seq: usize,
        cancel: &CancelToken,
    ) -> Result<Output, EngineError> {
        let before = self.tokenize(&score.before)?;
        let (donor, shared) = slots
            .iter()
            .enumerate()
            .map(|(t, slot)| (t, common_prefix(&slot.tokens, &before)))
            .max_by_key(|&(t, n)| (n, t == s))
            .unwrap_or((s, 0));
        let backend = |e: llama_cpp_2::context::kv_cache::KvCacheConversionError| {
            EngineError::Backend(e.to_string())
        };
        if donor != s {
            slots[s].tokens.clear();
            self.ctx
                .kv_cache_seq_rm(s as i32, None, None)
                .map_err(backend)?;
            self.ctx
                .kv_cache_seq_cp(donor as i32, s as i32, Some(0), Some(shared as u32))
                .map_err(backend)?;
        }
        slots[s].tokens = before[..shared].to_vec();
        // Cells past `shared` go; each row is read from the last shared token on.
        self.ctx
            .kv_cache_seq_rm(s as i32, Some(shared as u32), None)
            .map_err(backend)?;
        tracing::debug!(
            slot = s,
            donor,
            shared,
            before = before.len(),
            "reading candidates"
        );
        let seq = s as i32;
        let rows = RowsIn {
            from: seq,
            into: seq,
            room: per_seq,
        };
        let read = self.read_rows(score, &before, shared, rows, cancel, Timings::default());
        // The last shared token's cell went with the rows.
        slots[s].tokens.truncate(shared.saturating_sub(1));
        read
    }

    /// Puts a request in slot `s`, reusing the longest cached prefix.
    fn start(
        &mut self,
        slots: &mut [Slot],
        s: usize,
        tag: u64,
        req: Request,
        per_seq: usize,
    ) -> Result<(), (u64, EngineError)> {
        let prompt = self.tokenize(&req.prompt).map_err(|e| (tag, e))?;
        if prompt.is_empty() || prompt.len() + 1 >= per_seq {
            return Err((
                tag,
                EngineError::PromptTooLong {
                    tokens: prompt.len(),
                    n_ctx: per_seq as u32,
                },
            ));
        }
        let own = common_prefix(&slots[s].tokens, &prompt);
        let (donor, shared) = slots
            .iter()
            .enumerate()
            .filter(|(t, _)| *t != s)
            .map(|(t, slot)| (t, common_prefix(&slot.tokens, &prompt)))
            .max_by_key(|(_, n)| *n)
            .unwrap_or((s, 0));
        let seq = s as i32;
        let mut keep;
        if shared >= own + MIN_SHARED {
            let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
            let _ = self
                .ctx
                .kv_cache_seq_cp(donor as i32, seq, Some(0), Some(shared as u32));
            slots[s].tokens = prompt[..shared].to_vec();
            keep = shared;
        } else {
            keep = own;
        }
        // The last prompt token is decoded again for its logits.
        if keep == prompt.len() {
            keep -= 1;
        }
        let _ = self.ctx.kv_cache_seq_rm(seq, Some(keep as u32), None);
        slots[s].tokens.truncate(keep);
        let room = per_seq - prompt.len();
        let generation = match req.work {
            Work::Generate(g) => g,
            // Scores are read before a slot starts.
            Work::Prefill { .. } | Work::Score(_) => Generate::new(0),
        };
        let max_tokens = (generation.max_tokens as usize).min(room);
        let picks = match generation.answers {
            Answers::Rank { rank, temperature } => Picks::Ranked(
                Ranked::new(
                    rank as usize,
                    temperature,
                    u64::from(generation.sampling.seed),
                ),
                Confidence::default(),
            ),
            // Ranked side by side is the interactive path's; a slot gives one answer.
            Answers::One | Answers::Ranked { .. } => Picks::One(sampler(&generation.sampling)),
        };
        let answer = Answer::new(picks, generation.ignore_eog, max_tokens, req.deadline);
        slots[s].active = Some(Active {
            tag,
            generation,
            prompt,
            reused: keep,
            lane: Lane::new(s as i32, answer),
            started: Instant::now(),
            prompt_done: None,
        });
        Ok(())
    }
}

/// Draft tokens to decode after a generating slot's next token: prompt lookup over what
/// the slot holds (with greedy sampling only), within the request's limits and `most`.
fn draft_for(slot: &Slot, per_seq: usize, most: usize) -> Vec<LlamaToken> {
    let Some(a) = slot.active.as_ref() else {
        return Vec::new();
    };
    let Some(next) = a.lane.next() else {
        return Vec::new();
    };
    let g = &a.generation;
    if g.draft.max == 0 || slot.phase_prompt() || g.sampling.temperature > 0.0 {
        return Vec::new();
    }
    let room = (a.lane.answer.room().saturating_sub(1))
        .min(per_seq.saturating_sub(slot.tokens.len() + 3))
        .min(most);
    let mut tail = slot.tokens.clone();
    tail.push(next);
    crate::engine::draft::propose(&tail, &[], &g.draft, room)
}

fn finish(a: Active, stop: StopReason) -> Output {
    let prompt_done = a.prompt_done.unwrap_or_else(Instant::now);
    let prompt_ms = prompt_done.duration_since(a.started).as_secs_f64() * 1000.0;
    let (drafted, kept) = (a.lane.drafted, a.lane.kept);
    let generated = a.lane.answer.generated();
    let (text, candidate) = a.lane.answer.into_parts(stop);
    Output {
        text,
        stop,
        timings: Timings {
            prompt_tokens: a.prompt.len() as u32,
            reused_tokens: a.reused as u32,
            evaluated_tokens: (a.prompt.len() - a.reused) as u32,
            generated_tokens: generated as u32,
            queue_ms: 0.0,
            prompt_ms,
            generate_ms: ms_since(prompt_done),
            drafted_tokens: drafted,
            accepted_tokens: kept,
            refreshed_tokens: 0,
        },
        candidates: candidate.into_iter().collect(),
        fits: Vec::new(),
    }
}
