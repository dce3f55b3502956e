//! The real backend: a GGUF model and one long-lived llama.cpp context on the engine thread.
//!
//! The context keeps the tokens now in its KV cache. A new prompt keeps the longest common
//! prefix and decodes only the rest, which is what makes completion while typing cheap.
//! Prompt evaluation runs in chunks and generation token by token, checking the request's
//! [`CancelToken`] in between, so a cancelled request stops within one chunk.

mod batch;
mod cache_plan;
mod ranked;

use cache_plan::{Cache, Op, Plan, SCRATCH_SEQ};
use ranked::Ranked;

use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::draft::{DraftStats, Recent};
use super::{
    Backend, CancelToken, Candidate, Confidence, Engine, EngineError, Fit, ModelInfo, Output,
    Piece, Request, Sampling, Score, Special, StopReason, Timings, common_prefix, ms_since,
};
use crate::engine::config::{EngineConfig, GPU_BUILD};

use crate::engine::MAX_CANDIDATES;

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

/// llama.cpp's process-wide initialisation, done once. Its logs go to `tracing` first, so
/// nothing reaches stdout (which carries the protocol in `quill serve`).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::LoadFailed(e.clone()))
}

/// Starts the engine thread, which loads the model described by `cfg` and serves requests.
/// Load errors reach callers as [`EngineError::LoadFailed`]; the returned handle is valid
/// either way.
pub fn spawn(cfg: EngineConfig) -> Engine {
    Engine::spawn(move |starter| {
        let backend = match backend() {
            Ok(b) => b,
            Err(e) => return starter.fail(e.to_string()),
        };
        // Our own header check first: it names truncation and corruption precisely.
        if let Err(e) = crate::gguf::read_header(&cfg.model_path) {
            return starter.fail(e.to_string());
        }
        let gpu_layers = effective_gpu_layers(cfg.gpu_layers);
        let free_before = gpu_free_memory();
        let params = LlamaModelParams::default()
            .with_n_gpu_layers(gpu_layers)
            .with_progress_callback(starter.progress_fn());
        let started = Instant::now();
        let model = match LlamaModel::load_from_file(backend, &cfg.model_path, &params) {
            Ok(m) => m,
            Err(e) => {
                return starter.fail(format!(
                    "llama.cpp could not load {}: {e} (see the log for its reason)",
                    cfg.model_path.display()
                ));
            }
        };
        let threads = i32::try_from(cfg.threads.max(1)).unwrap_or(1);
        let n_ctx = cfg.context_size.min(model.n_ctx_train().max(256));
        let n_seq = cfg.parallel.max(MAX_CANDIDATES);
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(cfg.batch_size)
            .with_n_ubatch(cfg.batch_size)
            // Enough sequences for the suffix shift's scratch one and ranked candidates.
            .with_n_seq_max(n_seq)
            // One pool of cells for every sequence: batch slots and the scratch sequence
            // share cells instead of copying them.
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let head_dim = u32::try_from(model.n_embd()).unwrap_or(0) / model.n_head().max(1);
        let flash = cfg
            .flash_attention
            .resolve(gpu_layers > 0 && GPU_BUILD, head_dim);
        let ctx_params = ctx_params.with_flash_attention_policy(match flash {
            None => -1,
            Some(true) => 1,
            Some(false) => 0,
        });
        let ctx = match model.new_context(backend, ctx_params) {
            Ok(c) => c,
            Err(e) => {
                return starter.fail(format!(
                    "cannot create a llama.cpp context of {n_ctx} tokens: {e}"
                ));
            }
        };
        let mut runner = LlamaRunner::new(&model, ctx, n_seq as usize);
        let info = ModelInfo {
            name: cfg.model_name.clone(),
            path: cfg.model_path.display().to_string(),
            n_ctx,
            n_ctx_train: model.n_ctx_train(),
            n_params: model.n_params(),
            threads: cfg.threads,
            gpu_layers: gpu_layers.min(model.n_layer() + 1),
            has_fim: runner.special(Special::FimPrefix).is_some()
                && runner.special(Special::FimSuffix).is_some()
                && runner.special(Special::FimMiddle).is_some(),
            has_repo_tokens: runner.special(Special::RepoName).is_some()
                && runner.special(Special::FileSep).is_some(),
            chat_template: model
                .chat_template(None)
                .ok()
                .and_then(|t| t.to_string().ok()),
            server: None,
        };
        if gpu_layers > 0 {
            let used: u64 = free_before
                .iter()
                .zip(gpu_free_memory())
                .map(|(b, a)| b.saturating_sub(a))
                .sum();
            tracing::info!(
                layers_offloaded = info.gpu_layers,
                // llama.cpp counts the output layer too.
                layers = model.n_layer() + 1,
                vram_used_mib = used / (1 << 20),
                "model on the GPU"
            );
        }
        tracing::info!(
            model = %info.name,
            load_ms = ms_since(started) as u64,
            n_ctx,
            threads,
            gpu_layers = info.gpu_layers,
            fim = info.has_fim,
            flash_attention = flash.map_or("llama.cpp's choice", |on| if on { "on" } else { "off" }),
            "model loaded"
        );
        starter.serve(info, &mut runner);
    })
}

/// Tokenizes `text` with llama.cpp's own tokenizer for the model at `path`, loading only
/// its vocabulary. For checking quill's budget tokenizer against the model's.
pub fn tokenize_with_llama(path: &std::path::Path, text: &str) -> Result<Vec<u32>, EngineError> {
    let backend = backend()?;
    let params = LlamaModelParams::default().with_vocab_only(true);
    let model = LlamaModel::load_from_file(backend, path, &params)
        .map_err(|e| EngineError::LoadFailed(e.to_string()))?;
    Ok(model
        .vocab()
        .tokenize(text.as_bytes(), false, false)
        .into_iter()
        .map(|t| t.0 as u32)
        .collect())
}

/// All layers on a GPU build with a usable device; none otherwise, with a warning when a
/// GPU build finds no device at run time.
fn effective_gpu_layers(requested: u32) -> u32 {
    if requested == 0 {
        return 0;
    }
    if !GPU_BUILD {
        tracing::warn!(
            "gpu_layers = {requested} ignored: this build has no GPU back-end (build with --features cuda, vulkan or metal)"
        );
        return 0;
    }
    let gpus: Vec<_> = llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| {
            matches!(
                d.device_type,
                llama_cpp_2::LlamaBackendDeviceType::Gpu
                    | llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
            )
        })
        .collect();
    if gpus.is_empty() {
        tracing::warn!("no usable GPU found at run time; running on the CPU");
        return 0;
    }
    for d in &gpus {
        tracing::info!(
            device = %d.name,
            description = %d.description,
            backend = %d.backend,
            free_mib = d.memory_free / (1 << 20),
            total_mib = d.memory_total / (1 << 20),
            "GPU device"
        );
    }
    requested
}

/// Free memory of each GPU device, in bytes.
fn gpu_free_memory() -> Vec<u64> {
    if !GPU_BUILD {
        return Vec::new();
    }
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| {
            matches!(
                d.device_type,
                llama_cpp_2::LlamaBackendDeviceType::Gpu
                    | llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
            )
        })
        .map(|d| d.memory_free as u64)
        .collect()
}

struct LlamaRunner<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// Sequences the context holds (batch slots).
    n_seq_max: usize,
    /// What sequence 0 of the KV cache holds; changed only by executing a
    /// [`cache_plan`] plan, by generation (which appends) and by clearing.
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

    /// Brings sequence 0 to `tokens` as [`cache_plan`] plans it (the common prefix kept;
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

    /// Removes the keys and values of draft tokens the model did not confirm.
    fn drop_unconfirmed(
        &mut self,
        pending: &mut std::collections::VecDeque<LlamaToken>,
    ) -> Result<(), EngineError> {
        pending.clear();
        self.ctx
            .kv_cache_seq_rm(0, Some(self.cache.cached.len() as u32), None)
            .map_err(|e| EngineError::Backend(e.to_string()))
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
    /// Ranked candidates ([`Request::candidates`]): the greedy answer in sequence 0 and
    /// greedy continuations of the next most likely first tokens in sequences 1.., which
    /// share the prompt's cells; one `llama_decode` a step for all that still run. Only
    /// the greedy answer stays in the cache afterwards, as a single request leaves it.
    fn generate_candidates(
        &mut self,
        req: &mut Request,
        cancel: &CancelToken,
        n: usize,
        max_tokens: usize,
        mut timings: Timings,
    ) -> Result<Output, EngineError> {
        let gen_start = Instant::now();
        let vocab = self.model.vocab();
        let logits = self.ctx.get_logits_ith(self.batch.n_tokens() - 1);
        let lse = log_sum_exp(logits);
        let mut growing: Vec<Growing> = (0..n)
            .map(|rank| {
                let mut picks = Ranked::new(
                    rank,
                    req.candidate_temperature,
                    u64::from(req.sampling.seed),
                );
                let first = picks.pick(logits, "", req.ignore_eog, &vocab);
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
        let result = self.grow(req, cancel, &mut growing, at, max_tokens);
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
        req: &mut Request,
        cancel: &CancelToken,
        growing: &mut [Growing],
        at: usize,
        max_tokens: usize,
    ) -> Result<(), EngineError> {
        let vocab = self.model.vocab();
        loop {
            cancel.check()?;
            let late = req.deadline.is_some_and(|d| Instant::now() >= d);
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
                if !req.ignore_eog && vocab.is_eog(token) {
                    g.stop = Some(StopReason::EndOfGeneration);
                    continue;
                }
                push_piece(
                    &mut g.bytes,
                    &mut g.text,
                    &vocab.token_to_piece(token, false, None),
                );
                let rule = if g.seq == 0 {
                    req.stop.as_mut()
                } else {
                    req.others_stop.as_mut()
                };
                if let Some(f) = rule
                    && f(&g.text)
                {
                    g.stop = Some(StopReason::StopRule);
                    continue;
                }
                if g.confidence.count() as usize >= max_tokens {
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
                let token = g.picks.pick(logits, &g.text, req.ignore_eog, &vocab);
                let logprob = logits[token.0 as usize] - log_sum_exp(logits);
                g.next = Some((token, logprob));
            }
        }
    }
}

/// Tokens of [`Score`] rows read per `llama_decode`: each one's logits are kept (a row of
/// the vocabulary's size), so this bounds that memory (~80 MB for a 150k vocabulary).
const SCORE_CHUNK: usize = 128;

impl LlamaRunner<'_> {
    /// Reads each of `score.texts` followed by `score.tail` after `score.before`, as far
    /// as the cache holds it (sequence 0): each row in the scratch sequence, sharing
    /// those cells. Sequence 0 is left as it was, so the next completion still finds its
    /// prompt cached.
    fn score(
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
        let tokens = self.tokenize(&req.prompt)?;
        let n_ctx = self.ctx.n_ctx();
        if tokens.len() >= n_ctx as usize {
            return Err(EngineError::PromptTooLong {
                tokens: tokens.len(),
                n_ctx,
            });
        }
        let room = n_ctx as usize - tokens.len();
        let max_tokens = (req.max_tokens as usize).min(room);
        if !req.reuse_cache {
            self.ctx.clear_kv_cache();
            self.cache = Cache::default();
        }
        let shift = req.shift_suffix.then_some(req.fresh_suffix);
        let reused = self.evaluate(&tokens, cancel, shift)?;
        let mut timings = Timings {
            prompt_tokens: tokens.len() as u32,
            reused_tokens: reused as u32,
            evaluated_tokens: (tokens.len() - reused) as u32,
            prompt_ms: ms_since(start),
            ..Timings::default()
        };
        if let Some(score) = req.score.take() {
            return self.score(&score, cancel, timings);
        }
        if max_tokens == 0 {
            if req.refresh_stale {
                timings.refreshed_tokens = self.refresh_stale(cancel)? as u32;
            }
            return Ok(Output {
                text: String::new(),
                stop: StopReason::PrefillOnly,
                timings,
                candidates: Vec::new(),
                fits: Vec::new(),
            });
        }

        let n_candidates = (req.candidates as usize).min(self.n_seq_max);
        if n_candidates > 1 && req.sampling.temperature <= 0.0 {
            return self.generate_candidates(req, cancel, n_candidates, max_tokens, timings);
        }
        let gen_start = Instant::now();
        let model = self.model;
        let vocab = model.vocab();
        let mut picker = sampler(&req.sampling);
        // Drafts are checked against greedy picks; sampling gets none.
        let speculate = matches!(picker, Picker::Greedy) && req.draft.max > 0;
        let mut logits_idx = self.batch.n_tokens() - 1;
        // Draft tokens decoded after the one at `logits_idx`, not yet confirmed. Their keys
        // and values are in the cache past `self.cache.cached`.
        let mut pending: std::collections::VecDeque<LlamaToken> = Default::default();
        let mut stats = DraftStats::default();
        let mut bytes: Vec<u8> = Vec::new();
        let mut text = String::new();
        let mut generated = 0usize;
        let stop = loop {
            cancel.check()?;
            if req.deadline.is_some_and(|d| Instant::now() >= d) {
                break StopReason::Deadline;
            }
            let token = picker.pick(&self.ctx, logits_idx);
            if !req.ignore_eog && vocab.is_eog(token) {
                break StopReason::EndOfGeneration;
            }
            generated += 1;
            push_piece(
                &mut bytes,
                &mut text,
                &vocab.token_to_piece(token, false, None),
            );
            if let Some(f) = req.stop.as_mut()
                && f(&text)
            {
                break StopReason::StopRule;
            }
            if generated >= max_tokens {
                break StopReason::MaxTokens;
            }
            if pending.front() == Some(&token) {
                // The draft was right: this token's logits are already computed.
                pending.pop_front();
                self.cache.cached.push(token);
                stats.accepted += 1;
                logits_idx += 1;
                continue;
            }
            if !pending.is_empty() {
                self.drop_unconfirmed(&mut pending)?;
            }
            let draft = if speculate {
                let mut tail = self.cache.cached.clone();
                tail.push(token);
                let room = max_tokens.saturating_sub(generated + 1);
                let recent = self.recent.slices();
                super::draft::propose(&tail, &recent, &req.draft, room)
            } else {
                Vec::new()
            };
            self.batch.clear();
            let at = self.cache.cached.len();
            for (j, t) in std::iter::once(token)
                .chain(draft.iter().copied())
                .enumerate()
            {
                self.batch
                    .add(t, (at + j) as i32, &[0], true)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            self.decode()?;
            self.cache.cached.push(token);
            stats.drafted += draft.len() as u32;
            pending.extend(draft);
            logits_idx = 0;
        };
        if !pending.is_empty() {
            self.drop_unconfirmed(&mut pending)?;
        }
        let answer = &self.cache.cached[self.cache.prompt_len.min(self.cache.cached.len())..];
        if !answer.is_empty() {
            self.recent.push(answer);
        }
        timings.drafted_tokens = stats.drafted;
        timings.accepted_tokens = stats.accepted;
        timings.generated_tokens = generated as u32;
        timings.generate_ms = ms_since(gen_start);
        Ok(Output {
            text,
            stop,
            timings,
            candidates: Vec::new(),
            fits: Vec::new(),
        })
    }
}
