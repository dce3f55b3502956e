//! The real backend: a GGUF model and one long-lived llama.cpp context on the engine thread.
//!
//! The context keeps the tokens now in its KV cache. A new prompt keeps the longest common
//! prefix and decodes only the rest, which is what makes completion while typing cheap.
//! Prompt evaluation runs in chunks and generation token by token, checking the request's
//! [`CancelToken`] in between, so a cancelled request stops within one chunk.

mod batch;
mod ranked;

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
    Backend, CancelToken, Candidate, Engine, EngineError, Fit, ModelInfo, Output, Piece, Request,
    Sampling, Score, Special, StopReason, Timings, common_prefix, common_suffix, ms_since,
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

/// Tokens decoded in front of a reused (shifted) suffix before it is decoded afresh.
const MAX_STALE: usize = 256;
/// A suffix shorter than this is decoded rather than shifted.
const MIN_SHIFTED: usize = 16;
/// Most tokens decoded in front of a moved suffix (one decode, not cancelled midway).
const MAX_MIDDLE: usize = 2 * PROMPT_CHUNK;
/// A run of the previous prompt shorter than this is not moved behind a changed head.
const MIN_MOVED_RUN: usize = 64;
/// Runs moved for one prompt at most (each a change in front of the cursor).
const MAX_MOVES: usize = 4;
/// Most tokens of a changed head decoded in front of a moved run: a context change of
/// more is read afresh with the rest.
const MAX_MOVED_HEAD: usize = 4 * PROMPT_CHUNK;

/// Tokens changed in front of moved keys and values before a warm-up decodes them again
/// ([`Request::refresh_stale`]): a few keystrokes are not worth re-reading a suffix of
/// hundreds of tokens in every pause (a laptop's CPU and battery), a quarter of
/// [`MAX_STALE`] is.
const REFRESH_AFTER: usize = MAX_STALE / 4;
/// A refresh decodes steps of about this long at the measured prompt speed (at least
/// [`REFRESH_MIN_CHUNK`] tokens): a request that preempts it waits for one step.
const REFRESH_STEP_S: f64 = 0.1;
const REFRESH_MIN_CHUNK: usize = 8;

/// Answers kept for draft lookup.
const RECENT_ANSWERS: usize = 8;

/// The sequence the suffix shift decodes in before it becomes sequence 0.
const SCRATCH_SEQ: usize = 1;

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
    /// Tokens whose keys and values are in the KV cache (sequence 0), in order.
    cached: Vec<LlamaToken>,
    /// How many of `cached` the last prompt was (the rest was generated).
    prompt_len: usize,
    /// Tokens decoded in front of a shifted suffix since it was last decoded afresh.
    stale: Stale,
    /// Tokens decoded in front of the file moved behind a changed head (the context from
    /// other files) since it was last decoded afresh.
    head_stale: Stale,
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
            cached: Vec::new(),
            prompt_len: 0,
            stale: Stale::default(),
            head_stale: Stale::default(),
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

    /// Brings the KV cache to `tokens[..tokens.len() - 1]` plus the last token with logits,
    /// reusing the common prefix. With `shift`, also the code after an edit: see
    /// [`LlamaRunner::evaluate_shifted`]. Returns how many tokens were reused.
    fn evaluate(
        &mut self,
        tokens: &[LlamaToken],
        cancel: &CancelToken,
        shift: Option<usize>,
    ) -> Result<usize, EngineError> {
        let mut keep = common_prefix(&self.cached, tokens);
        if keep == tokens.len() {
            // The last token must be decoded again to get its logits.
            keep = keep.saturating_sub(1);
        }
        if let Some(fresh) = shift
            && self.can_shift
        {
            if let Some(reused) = self.evaluate_shifted(tokens, keep, fresh, cancel, false)? {
                return Ok(reused);
            }
            // The prompt also changed far in front of the cursor (the context from other
            // files at its head): move the old prompt from the longest run both share near
            // the head behind the new head, until the edit at the cursor is the usual one.
            let mut decoded = 0;
            for _ in 0..MAX_MOVES {
                let Some(head) = self.move_common_run(tokens, keep, cancel)? else {
                    break;
                };
                decoded += head;
                keep = common_prefix(&self.cached, tokens).min(tokens.len() - 1);
                if let Some(reused) = self.evaluate_shifted(tokens, keep, fresh, cancel, false)? {
                    return Ok(reused.saturating_sub(decoded));
                }
            }
            if decoded > 0 {
                // The head's tokens were decoded, not reused.
                return Ok(self
                    .evaluate_plain(tokens, keep, cancel)?
                    .saturating_sub(decoded));
            }
        }
        self.evaluate_plain(tokens, keep, cancel)
    }

    /// Decodes `tokens` from `keep` on, after what the cache holds up to there; returns
    /// `keep`.
    fn evaluate_plain(
        &mut self,
        tokens: &[LlamaToken],
        mut keep: usize,
        cancel: &CancelToken,
    ) -> Result<usize, EngineError> {
        if keep < self.cached.len() {
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
                .unwrap_or(false);
            if !removed {
                self.ctx.clear_kv_cache();
                keep = 0;
            }
            self.cached.truncate(keep);
        }
        // Everything reused stale from `keep` on is decoded afresh now.
        self.stale.reread_from(keep);
        self.head_stale.reread_from(keep);
        let reused = keep;
        let mut rest = &tokens[keep..];
        while !rest.is_empty() {
            cancel.check()?;
            let (chunk, after) = rest.split_at(self.prompt_chunk().min(rest.len()));
            self.batch.clear();
            for (j, tok) in chunk.iter().enumerate() {
                let pos = (self.cached.len() + j) as i32;
                let logits = after.is_empty() && j + 1 == chunk.len();
                self.batch
                    .add(*tok, pos, &[0], logits)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            let started = Instant::now();
            self.decode()?;
            // Small chunks say more about per-call overhead than about speed.
            if chunk.len() >= PROMPT_CHUNK / 2 {
                let tps = chunk.len() as f64 / started.elapsed().as_secs_f64().max(1e-6);
                self.prompt_tps = Some(self.prompt_tps.map_or(tps, |old| 0.5 * (old + tps)));
            }
            self.cached.extend_from_slice(chunk);
            rest = after;
        }
        self.prompt_len = tokens.len();
        Ok(reused)
    }

    /// When the previous prompt and `tokens` differ in two places (the context from other
    /// files at the head changed, and the user typed at the cursor), the single edit of
    /// [`Self::evaluate_shifted`] spans the whole file between them. This moves the
    /// longest run of tokens both share in front of their common end, starting near the
    /// first difference (the file up to the cursor; [`best_run`]), behind the new head
    /// first, as if the head were the only edit: the cache then holds the new head and
    /// the old prompt from that run on. The tokens it decoded, when it did.
    ///
    /// The moved run was computed attending to the old head: the same approximation as
    /// a moved suffix, counted against the same bound.
    fn move_common_run(
        &mut self,
        tokens: &[LlamaToken],
        keep: usize,
        cancel: &CancelToken,
    ) -> Result<Option<usize>, EngineError> {
        let old_end = self.prompt_len.min(self.cached.len());
        if keep + 1 >= tokens.len() || keep + 1 >= old_end {
            return Ok(None);
        }
        let (old, new) = (
            &self.cached[keep..old_end - 1],
            &tokens[keep..tokens.len() - 1],
        );
        // Not the end both share (the suffix): that is the usual edit's to move, and when
        // it did not, its staleness bound asked for it to be read again.
        let tail = common_suffix(old, new);
        let Some((a, b)) = best_run(
            &old[..old.len() - tail],
            &new[..new.len() - tail],
            MIN_MOVED_RUN,
            MAX_MOVED_HEAD,
        ) else {
            return Ok(None);
        };
        // The new head, then the old prompt from the run on.
        let mut between = tokens[..keep + b].to_vec();
        between.extend_from_slice(&self.cached[keep + a..old_end]);
        let n = between.len();
        let moved = self.evaluate_shifted(&between, keep, 0, cancel, true)?;
        Ok(moved.map(|reused| n - reused))
    }

    /// Reuses the end of the previous prompt after an edit in its middle: when the user
    /// types at the cursor, a fill-in-the-middle prompt changes at the end of its prefix
    /// while everything after (the suffix) stays the same. The suffix's keys and values
    /// are kept and moved to their new positions (a RoPE shift), only the edited middle and
    /// the final token are decoded.
    ///
    /// This is an approximation: the moved suffix was computed attending to the old text
    /// before it. It is bounded: the first `fresh` tokens after the edit are always
    /// decoded afresh, and after `MAX_STALE` tokens changed in front of a moved suffix the
    /// whole suffix is. Returns `None` when it does not apply.
    fn evaluate_shifted(
        &mut self,
        tokens: &[LlamaToken],
        keep: usize,
        fresh: usize,
        cancel: &CancelToken,
        head: bool,
    ) -> Result<Option<usize>, EngineError> {
        let max_middle = if head { MAX_MOVED_HEAD } else { MAX_MIDDLE };
        let n = tokens.len();
        let old_end = self.prompt_len.min(self.cached.len());
        if keep + 1 >= n || keep + 1 >= old_end {
            return Ok(None);
        }
        // Both prompts without their final token (the same `<|fim_middle|>`, whose logits
        // are needed anew).
        let old = &self.cached[keep..old_end - 1];
        let new = &tokens[keep..n - 1];
        let common = common_suffix(old, new);
        // The code right after the cursor is decoded afresh: it is what the edit changes
        // the meaning of most. Only the farther suffix is moved.
        let k = common.saturating_sub(fresh);
        let middle = new.len() - k;
        // Tokens the moved suffix has not seen: the edit itself.
        let changed = middle - (common - k);
        let budget = if head { &self.head_stale } else { &self.stale };
        if k < MIN_SHIFTED || budget.tokens + changed > MAX_STALE || middle > max_middle {
            return Ok(None);
        }
        cancel.check()?;
        let chunk_old = (old_end - 1 - k) as u32;
        let chunk_new = n - 1 - k;
        let delta = chunk_new as i32 - chunk_old as i32;
        let ok = |r: Result<(), llama_cpp_2::context::kv_cache::KvCacheConversionError>| {
            r.map_err(|e| EngineError::Backend(e.to_string()))
        };
        // llama.cpp only decodes a sequence forward (each batch starts right after the
        // sequence's last cached position), so the edited middle cannot be decoded into
        // sequence 0 in front of the moved suffix. It is decoded in the scratch sequence 1,
        // which shares the prefix's cells; the suffix's cells are added to it; the final
        // token is decoded there; then sequence 0 becomes sequence 1.
        let scratch = SCRATCH_SEQ as i32;
        // 1. Drop the old final token and what was generated, then the old middle; move
        //    the suffix to its new positions.
        ok(self
            .ctx
            .kv_cache_seq_rm(0, Some((old_end - 1) as u32), None))?;
        ok(self
            .ctx
            .kv_cache_seq_rm(0, Some(keep as u32), Some(chunk_old)))?;
        if delta != 0 {
            ok(self
                .ctx
                .kv_cache_seq_add(0, Some(chunk_old), Some(old_end as u32 - 1), delta))?;
        }
        // 2. The prefix into the scratch sequence, and the middle decoded after it.
        ok(self.ctx.kv_cache_seq_rm(scratch, None, None))?;
        ok(self
            .ctx
            .kv_cache_seq_cp(0, scratch, Some(0), Some(keep as u32)))?;
        if chunk_new > keep {
            self.batch.clear();
            for (j, tok) in tokens[keep..chunk_new].iter().enumerate() {
                self.batch
                    .add(*tok, (keep + j) as i32, &[scratch], false)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            self.decode()?;
        }
        // 3. The moved suffix joins it; the final token is decoded with logits.
        ok(self
            .ctx
            .kv_cache_seq_cp(0, scratch, Some(chunk_new as u32), Some((n - 1) as u32)))?;
        self.batch.clear();
        self.batch
            .add(tokens[n - 1], (n - 1) as i32, &[scratch], true)
            .map_err(|e| EngineError::Backend(e.to_string()))?;
        self.decode()?;
        // 4. Sequence 0 is now the scratch sequence (the cells are shared, nothing copied).
        ok(self.ctx.kv_cache_seq_rm(0, None, None))?;
        ok(self.ctx.kv_cache_seq_cp(scratch, 0, None, None))?;
        ok(self.ctx.kv_cache_seq_rm(scratch, None, None))?;
        self.cached.clear();
        self.cached.extend_from_slice(tokens);
        self.prompt_len = n;
        // Both stale parts lost their cells from the edit to the moved ones (decoded
        // afresh) and moved with the rest.
        for stale in [&mut self.stale, &mut self.head_stale] {
            stale.edited(keep, chunk_old as usize, chunk_new);
        }
        if head {
            self.head_stale.add(changed, chunk_new);
        } else {
            self.stale.add(changed, chunk_new);
        }
        tracing::debug!(
            keep,
            shifted = k,
            decoded = middle + 1,
            stale = self.stale.tokens,
            head_stale = self.head_stale.tokens,
            head,
            "reused the suffix, shifted"
        );
        Ok(Some(keep + k))
    }

    /// Decodes the cached prompt again from where its moved (stale) part starts, when
    /// more than [`REFRESH_AFTER`] tokens changed in front of it: into the scratch
    /// sequence, which shares the cells in front, in steps of about [`REFRESH_STEP_S`];
    /// then the scratch sequence becomes sequence 0. Preempted between two steps, it keeps
    /// what it decoded and the old cells after it, whose staleness stays counted. Returns
    /// the tokens decoded.
    fn refresh_stale(&mut self, cancel: &CancelToken) -> Result<usize, EngineError> {
        let end = self.prompt_len.min(self.cached.len());
        let from = [self.stale, self.head_stale]
            .iter()
            .filter(|s| s.tokens > REFRESH_AFTER)
            .filter_map(|s| s.from)
            .min();
        let Some(from) = from.filter(|&f| f < end) else {
            return Ok(0);
        };
        // The old cells stay until the swap: both copies of the part must fit.
        if self.cached.len() + (end - from) > self.ctx.n_ctx() as usize || !self.can_shift {
            return Ok(0);
        }
        let ok = |r: Result<(), llama_cpp_2::context::kv_cache::KvCacheConversionError>| {
            r.map_err(|e| EngineError::Backend(e.to_string()))
        };
        let scratch = SCRATCH_SEQ as i32;
        // Generated tokens after the prompt are not kept.
        ok(self.ctx.kv_cache_seq_rm(0, Some(end as u32), None))?;
        self.cached.truncate(end);
        ok(self.ctx.kv_cache_seq_rm(scratch, None, None))?;
        ok(self
            .ctx
            .kv_cache_seq_cp(0, scratch, Some(0), Some(from as u32)))?;
        let step = self
            .prompt_tps
            .map_or(REFRESH_MIN_CHUNK, |tps| (tps * REFRESH_STEP_S) as usize)
            .clamp(
                REFRESH_MIN_CHUNK,
                (self.ctx.n_batch() as usize).max(REFRESH_MIN_CHUNK),
            );
        let mut pos = from;
        while pos < end && !cancel.is_cancelled() {
            let n = step.min(end - pos);
            self.batch.clear();
            for (j, tok) in self.cached[pos..pos + n].iter().enumerate() {
                self.batch
                    .add(*tok, (pos + j) as i32, &[scratch], false)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            self.decode()?;
            pos += n;
        }
        // The rest keeps its old cells.
        if pos < end {
            ok(self
                .ctx
                .kv_cache_seq_cp(0, scratch, Some(pos as u32), Some(end as u32)))?;
        }
        ok(self.ctx.kv_cache_seq_rm(0, None, None))?;
        ok(self.ctx.kv_cache_seq_cp(scratch, 0, None, None))?;
        ok(self.ctx.kv_cache_seq_rm(scratch, None, None))?;
        for stale in [&mut self.stale, &mut self.head_stale] {
            stale.refreshed(from, pos, end);
        }
        tracing::debug!(
            from,
            to = pos,
            of = end,
            stale = self.stale.tokens,
            head_stale = self.head_stale.tokens,
            "decoded the moved part again"
        );
        Ok(pos - from)
    }

    /// Removes the keys and values of draft tokens the model did not confirm.
    fn drop_unconfirmed(
        &mut self,
        pending: &mut std::collections::VecDeque<LlamaToken>,
    ) -> Result<(), EngineError> {
        pending.clear();
        self.ctx
            .kv_cache_seq_rm(0, Some(self.cached.len() as u32), None)
            .map_err(|e| EngineError::Backend(e.to_string()))
    }

    fn decode(&mut self) -> Result<(), EngineError> {
        self.ctx.decode(&mut self.batch).map_err(|e| {
            // The cache may hold part of the failed batch: start clean next time.
            self.ctx.clear_kv_cache();
            self.cached.clear();
            EngineError::Backend(e.to_string())
        })
    }
}

/// Tokens decoded in front of keys and values that were moved rather than decoded again
/// (the approximation of [`LlamaRunner::evaluate_shifted`]), and where the moved part
/// starts.
#[derive(Debug, Default, Clone, Copy)]
struct Stale {
    tokens: usize,
    from: Option<usize>,
}

impl Stale {
    fn add(&mut self, changed: usize, at: usize) {
        self.tokens += changed;
        self.from = Some(self.from.map_or(at, |s| s.min(at)));
    }

    /// The prompt is decoded afresh from `keep` on.
    fn reread_from(&mut self, keep: usize) {
        if self.from.is_some_and(|s| keep <= s) {
            *self = Stale::default();
        }
    }

    /// The cache from `start` to `to` (of a prompt of `end` tokens) was decoded afresh:
    /// a stale part starting in there now starts at `to` (still counting what changed in
    /// front of it), or is gone when the rest was decoded too.
    fn refreshed(&mut self, start: usize, to: usize, end: usize) {
        if self.from.is_some_and(|s| start <= s && s < to) {
            if to >= end {
                *self = Stale::default();
            } else {
                self.from = Some(to);
            }
        }
    }

    /// An edit replaced the cells from `keep` up to `old_at` with freshly decoded ones
    /// and moved those from `old_at` on to `new_at`: a stale part starting in the
    /// replaced cells now starts where the moved ones do, one in the moved cells moved
    /// with them, one in front of the edit stays.
    fn edited(&mut self, keep: usize, old_at: usize, new_at: usize) {
        if let Some(s) = self.from.filter(|&s| s >= keep) {
            self.from = Some(if s >= old_at {
                s - old_at + new_at
            } else {
                new_at
            });
        }
    }
}

/// Where the longest run of at least `min` tokens that `old` and `new` share, among
/// those that start in the first `max_start` tokens of `new`, starts in each. A run that
/// starts farther would leave more than that to decode in front of it; a longer one is
/// more reused (and a short run that matches some other place of `old`, code repeated
/// in the file, is not taken for the file itself).
fn best_run<T: PartialEq>(
    old: &[T],
    new: &[T],
    min: usize,
    max_start: usize,
) -> Option<(usize, usize)> {
    if min == 0 || old.len() < min || new.len() < min {
        return None;
    }
    let mut best: Option<(usize, usize, usize)> = None;
    // Length of the common run ending at old[i - 1], new[j - 1], by j, for the last row.
    let mut prev = vec![0u32; new.len() + 1];
    let mut cur = vec![0u32; new.len() + 1];
    for i in 1..=old.len() {
        for j in 1..=new.len() {
            cur[j] = if old[i - 1] == new[j - 1] {
                prev[j - 1] + 1
            } else {
                0
            };
            let n = cur[j] as usize;
            if n >= min && j - n <= max_start && best.is_none_or(|(_, _, b)| n > b) {
                best = Some((i - n, j - n, n));
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    best.map(|(a, b, _)| (a, b))
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
    logprob: f64,
    picked: usize,
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
                    logprob: 0.0,
                    picked: 0,
                    stop: None,
                }
            })
            .collect();
        let at = self.cached.len();
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
                    self.cached.extend_from_slice(&growing[0].decoded);
                }
                return Err(e);
            }
        }
        self.cached.extend_from_slice(&growing[0].decoded);
        let answer = &self.cached[self.prompt_len.min(self.cached.len())..];
        if !answer.is_empty() {
            self.recent.push(answer);
        }
        timings.generated_tokens = growing.iter().map(|g| g.picked as u32).sum();
        timings.generate_ms = ms_since(gen_start);
        let candidates: Vec<Candidate> = growing
            .into_iter()
            .map(|g| Candidate {
                mean_logprob: (g.logprob / g.picked.max(1) as f64) as f32,
                stop: g.stop.unwrap_or(StopReason::MaxTokens),
                text: g.text,
                fit: None,
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
                g.logprob += f64::from(logprob);
                g.picked += 1;
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
                if g.picked >= max_tokens {
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
        let shared = common_prefix(&self.cached, &before);
        let rows = RowsIn {
            from: 0,
            into: SCRATCH_SEQ as i32,
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
            self.cached.clear();
            self.stale = Stale::default();
            self.head_stale = Stale::default();
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
        // and values are in the cache past `self.cached`.
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
                self.cached.push(token);
                stats.accepted += 1;
                logits_idx += 1;
                continue;
            }
            if !pending.is_empty() {
                self.drop_unconfirmed(&mut pending)?;
            }
            let draft = if speculate {
                let mut tail = self.cached.clone();
                tail.push(token);
                let room = max_tokens.saturating_sub(generated + 1);
                let recent = self.recent.slices();
                super::draft::propose(&tail, &recent, &req.draft, room)
            } else {
                Vec::new()
            };
            self.batch.clear();
            let at = self.cached.len();
            for (j, t) in std::iter::once(token)
                .chain(draft.iter().copied())
                .enumerate()
            {
                self.batch
                    .add(t, (at + j) as i32, &[0], true)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            self.decode()?;
            self.cached.push(token);
            stats.drafted += draft.len() as u32;
            pending.extend(draft);
            logits_idx = 0;
        };
        if !pending.is_empty() {
            self.drop_unconfirmed(&mut pending)?;
        }
        let answer = &self.cached[self.prompt_len.min(self.cached.len())..];
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

#[cfg(test)]
mod tests {
    use super::{Stale, best_run};

    #[test]
    fn stale_parts_move_and_are_forgotten_once_read_again() {
        let mut s = Stale::default();
        s.add(5, 100);
        s.add(3, 120);
        assert_eq!((s.tokens, s.from), (8, Some(100)));
        // An edit in front of it moves it; one behind it does not.
        s.edited(50, 60, 67);
        assert_eq!(s.from, Some(107));
        s.edited(200, 210, 203);
        assert_eq!(s.from, Some(107));
        // Read again from behind its start: still stale; from its start: fresh.
        s.reread_from(110);
        assert_eq!(s.tokens, 8);
        s.reread_from(107);
        assert_eq!((s.tokens, s.from), (0, None));
    }

    /// Typing at the cursor decodes the typed tokens and the first ones after them afresh
    /// and moves the rest of the suffix: the stale part is the moved rest, wherever the
    /// cursor is, and reading the prompt again from the cursor forgets it. (It used to
    /// keep the first edit's position: once the bound forced a read, every later request
    /// read the suffix again.)
    #[test]
    fn the_stale_part_follows_the_cursor() {
        let mut s = Stale::default();
        // The cursor at 266: typed 2 tokens, 2 fresh, the suffix moved from 268 to 270.
        s.edited(266, 268, 270);
        s.add(2, 270);
        // Typed on at 268: the cells from there to the moved ones are new, those move.
        s.edited(268, 270, 272);
        s.add(2, 272);
        assert_eq!((s.tokens, s.from), (4, Some(272)));
        // Read again from the cursor (268 + 2 typed): nothing stale is left.
        s.reread_from(270);
        assert_eq!((s.tokens, s.from), (0, None));
        // A stale part in front of an edit stays where it is.
        s.add(3, 100);
        s.edited(150, 160, 170);
        assert_eq!(s.from, Some(100));
    }

    #[test]
    fn a_refresh_forgets_what_it_decoded_again() {
        let stale = |from| Stale {
            tokens: 70,
            from: Some(from),
        };
        // Decoded again to the end: nothing stale is left.
        let mut s = stale(100);
        s.refreshed(100, 300, 300);
        assert_eq!((s.tokens, s.from), (0, None));
        // Preempted half-way: the rest is stale, and still counts what changed.
        let mut s = stale(100);
        s.refreshed(100, 180, 300);
        assert_eq!((s.tokens, s.from), (70, Some(180)));
        // A part that starts in front of the refresh, or behind where it stopped, stays.
        let mut s = stale(50);
        s.refreshed(100, 300, 300);
        assert_eq!(s.from, Some(50));
        let mut s = stale(200);
        s.refreshed(100, 180, 300);
        assert_eq!(s.from, Some(200));
    }

    #[test]
    fn the_longest_run_near_the_head_is_found_in_both() {
        // A changed head (1 2 -> 7 8 9), the same body, an edit at the end.
        let old = [1, 2, 10, 11, 12, 13, 14, 3];
        let new = [7, 8, 9, 10, 11, 12, 13, 14, 5];
        assert_eq!(best_run(&old, &new, 3, 8), Some((2, 3)));
        // [30 31 32 33] is longer than [20 21]; starting past 3 in `new`, it is too far.
        let old = [20, 21, 1, 30, 31, 32, 33];
        let new = [9, 20, 21, 2, 30, 31, 32, 33];
        assert_eq!(best_run(&old, &new, 2, 8), Some((3, 4)));
        assert_eq!(best_run(&old, &new, 2, 3), Some((0, 1)));
        assert_eq!(best_run::<u8>(&[], &[1], 1, 8), None);
        assert_eq!(best_run(&[1, 2], &[3, 4], 1, 8), None);
    }
}
