//! The real backend: a GGUF model and one long-lived llama.cpp context on the engine thread.
//!
//! The context keeps the tokens now in its KV cache. A new prompt keeps the longest common
//! prefix and decodes only the rest, which is what makes completion while typing cheap.
//! Prompt evaluation runs in chunks and generation token by token, checking the request's
//! [`CancelToken`] in between, so a cancelled request stops within one chunk.
//!
//! Here: the runner and how it reads a prompt (executing `cache_plan`'s plans). Beside
//! it: `load` (llama.cpp, the model, the context), `generate` (one request's answers
//! after its prompt), `batch` (many requests in slots), both decoding answers through
//! `answer` (one answer's step and its lane in the batch: the one place tokens are
//! picked and stop rules applied), `ranked` (how a candidate picks its tokens), `score`
//! (reading texts in the prompt's place).

mod answer;
mod batch;
mod cache_plan;
mod generate;
mod load;
mod ranked;
mod score;

pub use load::{spawn, tokenize_with_llama};

use cache_plan::{Cache, Op, Plan};

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::draft::Recent;
use super::{
    Backend, CancelToken, EngineError, Output, Piece, Request, Sampling, Special, Timings, Work,
    ms_since,
};

/// Prompt tokens decoded per llama.cpp call, at least. Smaller chunks let a cancelled
/// request stop sooner (a chunk is the longest a cancellation waits) at little cost in
/// throughput on a CPU.
const PROMPT_CHUNK: usize = 64;
/// Chunks grow to take about this long at the measured prompt speed, up to the context's
/// batch size: a GPU evaluates 512 tokens in a few milliseconds, and 64-token calls left
/// it mostly idle (BENCHMARKS.md, "On a GPU").
const CHUNK_TARGET_S: f64 = 0.05;

/// A refresh decodes steps of about this long at the measured prompt speed (at least
/// [`REFRESH_MIN_CHUNK`] tokens): a request that preempts it waits for one step.
const REFRESH_STEP_S: f64 = 0.1;
const REFRESH_MIN_CHUNK: usize = 8;

/// Answers kept for draft lookup.
const RECENT_ANSWERS: usize = 8;

struct LlamaRunner<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// Sequences the context holds (batch slots).
    n_seq_max: usize,
    /// What sequence 0 of the KV cache holds; changed only by executing a
    /// `cache_plan` plan, by generation (which appends) and by clearing.
    cache: Cache<LlamaToken>,
    /// The model's memory can move keys and values to new positions.
    can_shift: bool,
    batch: LlamaBatch<'static>,
    /// Prompt tokens per second, as last measured (sizes prompt chunks).
    prompt_tps: Option<f64>,
    /// Recent answers, searched for draft tokens.
    recent: Recent<LlamaToken>,
}

impl<'m> LlamaRunner<'m> {
    fn new(model: &'m LlamaModel, ctx: LlamaContext<'m>, n_seq_max: usize) -> Self {
        let batch = LlamaBatch::new(PROMPT_CHUNK.max(ctx.n_batch() as usize), n_seq_max as i32);
        LlamaRunner {
            model,
            ctx,
            n_seq_max,
            cache: Cache::default(),
            can_shift: !model.is_recurrent() && !model.is_hybrid(),
            batch,
            prompt_tps: None,
            recent: Recent::new(RECENT_ANSWERS),
        }
    }

    /// Prompt tokens per llama.cpp call: what takes about [`CHUNK_TARGET_S`] at the last
    /// measured speed, between [`PROMPT_CHUNK`] and the batch size.
    fn prompt_chunk(&self) -> usize {
        let max = (self.ctx.n_batch() as usize).max(PROMPT_CHUNK);
        self.prompt_tps
            .map_or(PROMPT_CHUNK, |tps| (tps * CHUNK_TARGET_S) as usize)
            .clamp(PROMPT_CHUNK, max)
    }

    fn special(&self, s: Special) -> Option<LlamaToken> {
        let vocab = self.model.vocab();
        let t = match s {
            Special::FimPrefix => vocab.fim_pre(),
            Special::FimSuffix => vocab.fim_suf(),
            Special::FimMiddle => vocab.fim_mid(),
            Special::RepoName => vocab.fim_rep(),
            Special::FileSep => vocab.fim_sep(),
        };
        (t.0 >= 0).then_some(t)
    }

    fn tokenize(&self, prompt: &[Piece]) -> Result<Vec<LlamaToken>, EngineError> {
        let vocab = self.model.vocab();
        let mut out = Vec::new();
        if vocab.should_add_bos() {
            out.push(vocab.bos());
        }
        for piece in prompt {
            match piece {
                Piece::Text(t) => out.extend(vocab.tokenize(t.as_bytes(), false, false)),
                Piece::Markup(t) => {
                    let toks = vocab.tokenize(t.as_bytes(), false, true);
                    // Templates often begin with the BOS text themselves.
                    let skip = usize::from(
                        out.len() == 1 && vocab.should_add_bos() && toks.first() == out.first(),
                    );
                    out.extend_from_slice(&toks[skip..]);
                }
                Piece::Chat(messages) => {
                    let text = self.apply_template(messages)?;
                    let toks = vocab.tokenize(text.as_bytes(), false, true);
                    let skip = usize::from(
                        out.len() == 1 && vocab.should_add_bos() && toks.first() == out.first(),
                    );
                    out.extend_from_slice(&toks[skip..]);
                }
                Piece::Special(s) => {
                    let t = self.special(*s).ok_or(match s {
                        Special::FimPrefix | Special::FimSuffix | Special::FimMiddle => {
                            EngineError::NoFim(
                                "no fim_pre/fim_suf/fim_mid in its vocabulary".into(),
                            )
                        }
                        other => EngineError::MissingSpecial(*other),
                    })?;
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    /// The conversation laid out with the model's chat template, ending with the
    /// assistant's turn.
    fn apply_template(&self, messages: &[super::ChatMessage]) -> Result<String, EngineError> {
        let name = || {
            self.model
                .meta_val_str("general.name")
                .unwrap_or_else(|_| "in use".into())
        };
        let template = self
            .model
            .chat_template(None)
            .map_err(|_| EngineError::NoChatTemplate(name()))?;
        let chat: Vec<LlamaChatMessage> = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::Backend(format!("chat message: {e}")))?;
        self.model
            .apply_chat_template(&template, &chat, true)
            .map_err(|e| EngineError::Backend(format!("applying the chat template: {e}")))
    }

    /// Brings sequence 0 to `tokens` as `cache_plan` plans it (the common prefix kept;
    /// with `shift`, `Some(fresh)`, the code after an edit moved), the last token with
    /// its logits in the batch. Returns how many tokens were reused.
    fn evaluate(
        &mut self,
        tokens: &[LlamaToken],
        cancel: &CancelToken,
        shift: Option<usize>,
    ) -> Result<usize, EngineError> {
        cancel.check()?;
        let plan = self.cache.plan(tokens, shift, self.can_shift);
        if self.execute(&plan, cancel)? {
            self.cache = plan.after;
            return Ok(plan.reused);
        }
        // The memory could not drop part of a sequence (a recurrent model): read afresh.
        self.ctx.clear_kv_cache();
        self.cache = Cache::default();
        let plan = Cache::fresh_read(tokens);
        self.execute(&plan, cancel)?;
        self.cache = plan.after;
        Ok(0)
    }

    /// Runs `plan`'s operations; `false` when the memory refused to remove cells. A
    /// cancellation between two chunks of the prompt read into sequence 0 (the plan's
    /// last operation) keeps what was decoded; any other failure clears the cache.
    fn execute(
        &mut self,
        plan: &Plan<LlamaToken>,
        cancel: &CancelToken,
    ) -> Result<bool, EngineError> {
        for op in &plan.ops {
            let result = match op {
                Op::Decode {
                    seq: 0,
                    at,
                    tokens,
                    logits,
                } => {
                    let mut done = 0;
                    let r = self.decode_into(0, *at, tokens, *logits, Some(cancel), &mut done);
                    if r.as_ref().is_err_and(|e| e.is_cancelled()) {
                        let mut kept = plan.after.clone();
                        kept.cached.truncate(at + done);
                        kept.prompt_len = at + done;
                        self.cache = kept;
                        return r.map(|_| false);
                    }
                    r.map(|_| true)
                }
                _ => self.run_op(op),
            };
            match result {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => {
                    // Part of the plan ran: nothing is known of the cells.
                    self.ctx.clear_kv_cache();
                    self.cache = Cache::default();
                    return Err(e);
                }
            }
        }
        Ok(true)
    }

    /// Runs one operation on the cell store; `false` when the memory refused a removal.
    fn run_op(&mut self, op: &Op<LlamaToken>) -> Result<bool, EngineError> {
        let pos = |p: usize| p as u32;
        let backend = |e: llama_cpp_2::context::kv_cache::KvCacheConversionError| {
            EngineError::Backend(e.to_string())
        };
        match op {
            Op::Remove { seq, from, to } => self
                .ctx
                .clear_kv_cache_seq(Some(*seq as u32), Some(pos(*from)), to.map(pos))
                .map_err(backend),
            Op::Shift {
                seq,
                from,
                to,
                delta,
            } => {
                self.ctx
                    .kv_cache_seq_add(*seq, Some(pos(*from)), Some(pos(*to)), *delta as i32)
                    .map_err(backend)?;
                Ok(true)
            }
            Op::Copy { src, dst, from, to } => {
                self.ctx
                    .kv_cache_seq_cp(*src, *dst, Some(pos(*from)), to.map(pos))
                    .map_err(backend)?;
                Ok(true)
            }
            Op::Decode {
                seq,
                at,
                tokens,
                logits,
            } => {
                self.decode_into(*seq, *at, tokens, *logits, None, &mut 0)?;
                Ok(true)
            }
        }
    }

    /// Decodes `tokens` into sequence `seq` at positions `at..`, in chunks of about
    /// [`CHUNK_TARGET_S`] (checking `cancel` between them, when given); the last token
    /// with logits when `logits`. `done`: how many were decoded.
    fn decode_into(
        &mut self,
        seq: i32,
        at: usize,
        tokens: &[LlamaToken],
        logits: bool,
        cancel: Option<&CancelToken>,
        done: &mut usize,
    ) -> Result<(), EngineError> {
        let mut rest = tokens;
        while !rest.is_empty() {
            if let Some(c) = cancel {
                c.check()?;
            }
            let (chunk, after) = rest.split_at(self.prompt_chunk().min(rest.len()));
            self.batch.clear();
            for (j, tok) in chunk.iter().enumerate() {
                let last = logits && after.is_empty() && j + 1 == chunk.len();
                self.batch
                    .add(*tok, (at + *done + j) as i32, &[seq], last)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            let started = Instant::now();
            self.decode()?;
            // Small chunks say more about per-call overhead than about speed.
            if chunk.len() >= PROMPT_CHUNK / 2 {
                let tps = chunk.len() as f64 / started.elapsed().as_secs_f64().max(1e-6);
                self.prompt_tps = Some(self.prompt_tps.map_or(tps, |old| 0.5 * (old + tps)));
            }
            *done += chunk.len();
            rest = after;
        }
        Ok(())
    }

    /// Decodes the cached prompt again from where its moved (stale) part starts, when
    /// enough changed in front of it ([`Cache::refresh`]): into the scratch sequence,
    /// which shares the cells in front, in steps of about [`REFRESH_STEP_S`]; then the
    /// scratch sequence becomes sequence 0. Preempted between two steps, it keeps what it
    /// decoded and the old cells after it, whose staleness stays counted. Returns the
    /// tokens decoded.
    fn refresh_stale(&mut self, cancel: &CancelToken) -> Result<usize, EngineError> {
        if !self.can_shift {
            return Ok(0);
        }
        let Some(r) = self.cache.refresh(self.ctx.n_ctx() as usize) else {
            return Ok(0);
        };
        let step = self
            .prompt_tps
            .map_or(REFRESH_MIN_CHUNK, |tps| (tps * REFRESH_STEP_S) as usize)
            .clamp(
                REFRESH_MIN_CHUNK,
                (self.ctx.n_batch() as usize).max(REFRESH_MIN_CHUNK),
            );
        let mut ok = true;
        for op in r.start() {
            ok &= self.run_op(&op)?;
        }
        let mut pos = r.from;
        while ok && pos < r.end && !cancel.is_cancelled() {
            let n = step.min(r.end - pos);
            self.run_op(&r.step(&self.cache.cached, pos, n))?;
            pos += n;
        }
        for op in r.finish(pos) {
            ok &= self.run_op(&op)?;
        }
        if !ok {
            self.ctx.clear_kv_cache();
            self.cache = Cache::default();
            return Ok(0);
        }
        self.cache = r.after(&self.cache, pos);
        tracing::debug!(
            from = r.from,
            to = pos,
            of = r.end,
            stale = self.cache.stale.tokens,
            head_stale = self.cache.head_stale.tokens,
            "decoded the moved part again"
        );
        Ok(pos - r.from)
    }

    fn decode(&mut self) -> Result<(), EngineError> {
        self.ctx.decode(&mut self.batch).map_err(|e| {
            // The cache may hold part of the failed batch: start clean next time.
            self.ctx.clear_kv_cache();
            self.cache = Cache::default();
            EngineError::Backend(e.to_string())
        })
    }
}

/// Appends a token's bytes to `text`, handing over only whole UTF-8 characters: a
/// multi-byte character may span tokens, its start waits in `bytes`.
pub(super) fn push_piece(bytes: &mut Vec<u8>, text: &mut String, piece: &[u8]) {
    bytes.extend_from_slice(piece);
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s.len(),
        Err(e) => e.valid_up_to(),
    };
    if valid > 0 {
        text.push_str(std::str::from_utf8(&bytes[..valid]).expect("checked above"));
        bytes.drain(..valid);
    }
}

/// ln Σ exp(x), computed stably.
pub(super) fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    max + sum.ln()
}

/// Picks each generated token. Greedy decoding takes the largest logit directly:
/// llama.cpp's sampler first copies every logit into a candidate array (~150k entries a
/// token), a tenth of a token's time on a GPU (BENCHMARKS.md, "On a GPU").
enum Picker {
    Greedy,
    Sample(LlamaSampler),
}

impl Picker {
    fn pick(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        match self {
            Picker::Greedy => argmax(ctx.get_logits_ith(idx)),
            Picker::Sample(s) => s.sample(ctx, idx),
        }
    }
}

/// The token with the largest logit (the first of equals, as llama.cpp's greedy sampler).
fn argmax(logits: &[f32]) -> LlamaToken {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    LlamaToken(best as i32)
}

fn sampler(s: &Sampling) -> Picker {
    if s.temperature <= 0.0 {
        return Picker::Greedy;
    }
    Picker::Sample(LlamaSampler::chain_simple([
        LlamaSampler::top_k(s.top_k.max(1)),
        LlamaSampler::top_p(s.top_p.clamp(0.01, 1.0), 1),
        LlamaSampler::temp(s.temperature),
        LlamaSampler::dist(s.seed),
    ]))
}

impl Backend for LlamaRunner<'_> {
    fn run_batch(
        &mut self,
        source: &mut dyn crate::engine::BatchSource,
        parallel: usize,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        self.batch(source, parallel, cancel)
    }

    fn generate(&mut self, req: &mut Request, cancel: &CancelToken) -> Result<Output, EngineError> {
        let start = Instant::now();
        let mut tokens = self.tokenize(&req.prompt)?;
        let n_ctx = self.ctx.n_ctx();
        if let Some(alternative) = &req.alternative {
            let other = self.tokenize(alternative)?;
            let cost = |t: &[LlamaToken]| match t.len() >= n_ctx as usize {
                true => usize::MAX,
                false if !req.reuse_cache => t.len(),
                false => self.cache.cost(t, req.shift_suffix, self.can_shift),
            };
            let (this, that) = (cost(&tokens), cost(&other));
            tracing::debug!(
                prompt = this,
                alternative = that,
                "tokens to decode for each prompt"
            );
            if that < this {
                tokens = other;
            }
        }
        if tokens.len() >= n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                tokens: tokens.len(),
                n_ctx,
            });
        }
        let room = n_ctx as usize - tokens.len();
        if !req.reuse_cache {
            self.ctx.clear_kv_cache();
            self.cache = Cache::default();
        }
        let reused = self.evaluate(&tokens, cancel, req.shift_suffix)?;
        let mut timings = Timings {
            prompt_tokens: tokens.len() as u32,
            reused_tokens: reused as u32,
            evaluated_tokens: (tokens.len() - reused) as u32,
            prompt_ms: ms_since(start),
            ..Timings::default()
        };
        let g = match &mut req.work {
            Work::Score(score) => return self.score(score, cancel, timings),
            Work::Prefill { refresh_stale } => {
                if *refresh_stale {
                    timings.refreshed_tokens = self.refresh_stale(cancel)? as u32;
                }
                return Ok(Output::prefilled(timings));
            }
            Work::Generate(g) => g,
        };
        let max_tokens = (g.max_tokens as usize).min(room);
        if max_tokens == 0 {
            return Ok(Output::prefilled(timings));
        }
        self.answer(g, req.deadline, cancel, max_tokens, timings)
    }
}
