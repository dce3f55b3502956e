//! The inference engine: one thread owns the model and one long-lived context; the rest of
//! the program talks to it through [`Engine`], a small handle that queues requests.
//!
//! The boundary: nothing outside `engine/` touches llama.cpp. Requests carry a prompt as
//! [`Piece`]s (plain text, symbolic special tokens, template markup), the engine turns
//! them into tokens with the model's own vocabulary. Everything the queue does (superseding,
//! fairness, background warm-up, cancellation) lives in [`queue`] and is tested with the
//! deterministic [`fake`] backend; [`llama`] is the real one.

pub mod config;
pub mod draft;
/// Tests only (the `fake-engine` feature, on for this crate's own tests).
#[cfg(any(test, feature = "fake-engine"))]
pub mod fake;
pub mod llama;
pub mod queue;
pub mod remote;
pub mod render;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

pub use draft::DraftConfig;
pub use queue::{Engine, EngineState, Starter, Ticket};

/// The most ranked candidates a request gets, from any engine (the in-process one keeps
/// at least this many sequences in its context). Settings and flags are bounded by it.
pub const MAX_CANDIDATES: u32 = 8;

/// Starts the engine `cfg` describes: the model in-process, or a client of the inference
/// server it names. Either way the handle is valid at once; loading continues in the
/// background (see [`Engine::ready_blocking`]).
pub fn spawn(cfg: config::EngineConfig) -> Engine {
    match cfg.remote.clone() {
        Some(remote) => {
            let file = Some(cfg.model_path).filter(|p| !p.as_os_str().is_empty());
            remote::spawn(remote, file, cfg.context_size)
        }
        None => llama::spawn(cfg),
    }
}

/// Special tokens a prompt refers to by role; the engine maps them to the model's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Special {
    FimPrefix,
    FimSuffix,
    FimMiddle,
    /// Repository name marker (`<|repo_name|>` in Qwen2.5-Coder).
    RepoName,
    /// File separator for repository-level prompts (`<|file_sep|>`).
    FileSep,
}

/// One part of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// User text: tokenized as-is, so code that happens to contain `<|endoftext|>` stays text.
    Text(String),
    /// A special token by role.
    Special(Special),
    /// Output of a chat template: special-token markup in it is parsed.
    Markup(String),
    /// A conversation, laid out with the model's own chat template (from the GGUF) and
    /// ending with the assistant's turn.
    Chat(Vec<ChatMessage>),
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// How to pick each next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 means greedy (deterministic).
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: i32,
    pub seed: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 0.95,
            top_k: 40,
            seed: 0,
        }
    }
}

/// Which queue a request waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A user is waiting: completions, explanations.
    Interactive,
    /// Prefilling the KV cache ahead of time; cancelled by any interactive request.
    Background,
}

/// Decides, from all the text generated so far, whether to stop early. Runs on the engine
/// thread between tokens, so it must be cheap.
pub type StopFn = Box<dyn FnMut(&str) -> bool + Send>;

/// Sampled ranked candidates ([`Answers::Ranked`] with a temperature) draw from this
/// many most likely tokens (llama.cpp's top-k default), in-process and through a server
/// alike.
pub const CANDIDATE_TOP_K: usize = 40;

/// A request to the engine: a prompt, what to do with it ([`Work`]), and how it waits
/// and reads.
pub struct Request {
    pub prompt: Vec<Piece>,
    pub work: Work,
    /// Stop (keeping what was generated) at this instant.
    pub deadline: Option<Instant>,
    /// Requests with the same key supersede each other: a newer one cancels the older.
    pub key: Option<String>,
    pub priority: Priority,
    /// Counts the callers waiting on the answer. With some set, the request runs as
    /// background work whenever nobody waits (an answer given early goes on generating
    /// into the suggestion cache), and any interactive request preempts it then.
    pub waiting: Option<Waiting>,
    /// Reuse the KV cache's common prefix (true). False clears the cache first, which is
    /// what a server that builds a new context per request pays; benchmarks compare both.
    pub reuse_cache: bool,
    /// Also reuse the end of the previous prompt after an edit in its middle, moving its
    /// keys and values to their new positions (an approximation, bounded; see
    /// `engine::llama::cache_plan`), decoding afresh this many tokens right after the
    /// edit (the code whose meaning the edit changes most). For typing: the code after
    /// the cursor stays cached.
    pub shift_suffix: Option<usize>,
}

/// The kinds of work a request asks for, once its prompt is in the cache.
pub enum Work {
    /// Generate nothing (a warm-up). With `refresh_stale`, in a pause: decode again the
    /// parts of the cache that were moved rather than decoded (a shifted suffix, a file
    /// moved behind a changed head) when enough changed in front of them, in small steps
    /// that any other request preempts, keeping the part done. The next answers then
    /// read the same cache a fresh read would give, and the re-read that the staleness
    /// bound would force in front of a request does not come.
    Prefill { refresh_stale: bool },
    /// Generate an answer, or ranked candidates ([`Generate::answers`]).
    Generate(Generate),
    /// Read texts in the prompt's place instead of generating: the answer's
    /// [`Output::fits`] has the model's log-probability of each of their tokens.
    Score(Score),
}

/// How to generate.
pub struct Generate {
    /// 0 generates nothing (as [`Work::Prefill`] without a refresh).
    pub max_tokens: u32,
    pub sampling: Sampling,
    /// Decides when the (first) answer is done; see [`StopFn`].
    pub stop: Option<StopFn>,
    /// Keep generating through end-of-generation tokens (fixed-length benchmarks).
    pub ignore_eog: bool,
    /// Speculative decoding from the text at hand (greedy decoding only; see
    /// [`draft`]). The output is the same with it on or off, only faster.
    pub draft: DraftConfig,
    pub answers: Answers,
}

/// Which answers a generation gives.
pub enum Answers {
    /// One, as [`Generate::sampling`] picks it.
    One,
    /// Ranked candidates (with greedy decoding; otherwise one answer): the greedy answer
    /// and the ones that leave it where its code starts (after its indentation; see
    /// `llama::ranked`) with the next most likely tokens, each continued greedily, or
    /// sampled from there at `temperature` (above 0; from the [`CANDIDATE_TOP_K`] most
    /// likely, seeded by the sampling seed and the rank, so a run repeats). Each
    /// candidate has its own sequence sharing the prompt's keys and values, decoded side
    /// by side; [`Output::candidates`] has them all, the greedy one first.
    Ranked {
        n: u32,
        temperature: f32,
        /// The stop rule of the candidates after the first ([`Generate::stop`] sees the
        /// first's text only, so that it can also stream it somewhere).
        others_stop: Option<StopFn>,
    },
    /// One candidate of [`Answers::Ranked`] on its own (a batch slot): rank 0 is the
    /// greedy answer (end-of-generation is allowed only there); [`Output::candidates`]
    /// has it with its confidence.
    Rank { rank: u32, temperature: f32 },
}

impl Answers {
    /// How many answers: ranked candidates or one.
    pub fn count(&self) -> u32 {
        match self {
            Answers::Ranked { n, .. } => *n,
            Answers::One | Answers::Rank { .. } => 1,
        }
    }
}

impl Generate {
    pub fn new(max_tokens: u32) -> Self {
        Generate {
            max_tokens,
            sampling: Sampling::default(),
            stop: None,
            ignore_eog: false,
            draft: DraftConfig {
                max: config::default_draft_tokens(),
                ..DraftConfig::default()
            },
            answers: Answers::One,
        }
    }

    /// `n` ranked candidates, or one answer where `n` is 1.
    pub fn ranked(mut self, n: u32, temperature: f32, others_stop: Option<StopFn>) -> Self {
        self.answers = if n > 1 {
            Answers::Ranked {
                n,
                temperature,
                others_stop,
            }
        } else {
            Answers::One
        };
        self
    }
}

/// Reads candidate answers in the code they would sit in, left to right, the way the
/// model reads a file: `before` (a start of the prompt: the code before the hole up to
/// its last line), one of `texts` (that line's start and a candidate), then `tail` (the
/// code after the hole). How likely the model finds the code after the hole with each
/// candidate in front of it is a signal from outside the candidate's own generation (a
/// verifier for ranked candidates). Each text and the tail are tokenized together, as
/// the file would be, so no candidate pays for a split its neighbour does not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub before: Vec<Piece>,
    pub texts: Vec<String>,
    pub tail: String,
}

/// How the model read one of [`Score::texts`]: the log-probability of each token that
/// ends inside the text, then of each token after those (the tail).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Fit {
    pub text: Vec<f32>,
    pub tail: Vec<f32>,
}

impl Fit {
    /// The log-probability of the text and the tail together: how likely the whole file
    /// reads with this text in the hole.
    pub fn joint(&self) -> f64 {
        self.text
            .iter()
            .chain(&self.tail)
            .map(|&l| f64::from(l))
            .sum()
    }

    /// The log-probability of the tail: how likely the code after the hole reads after
    /// the text.
    pub fn tail_logprob(&self) -> f64 {
        self.tail.iter().map(|&l| f64::from(l)).sum()
    }

    /// What [`crate::config::Ranking::Likelihood`] ranks by: the text's log-probability
    /// as the model wrote it, seeing the code on both sides of the hole (its mean token
    /// log-probability as generated, `confidence`, times its tokens as read), plus the
    /// tail's log-probability after it. Read left to right alone the text cannot see the
    /// code after its tail, which its generation did (measured: BENCHMARKS.md).
    pub fn score(&self, confidence: f32) -> f64 {
        f64::from(confidence) * self.text.len() as f64 + self.tail_logprob()
    }
}

/// The counter behind [`Request::waiting`].
#[derive(Debug, Clone, Default)]
pub struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Waiting {
    pub fn new() -> Self {
        Self::default()
    }

    /// One more caller waits, until the guard is dropped.
    pub fn enter(&self) -> WaitGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        WaitGuard(self.0.clone())
    }

    /// True when nobody waits.
    pub fn is_idle(&self) -> bool {
        self.0.load(Ordering::SeqCst) == 0
    }
}

/// A caller waiting on a request; see [`Waiting::enter`].
#[derive(Debug)]
pub struct WaitGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Request {
    /// A request for `work` with the defaults: interactive, reusing the cache.
    pub fn new(prompt: Vec<Piece>, work: Work) -> Self {
        Request {
            prompt,
            work,
            deadline: None,
            key: None,
            priority: Priority::Interactive,
            waiting: None,
            reuse_cache: true,
            shift_suffix: None,
        }
    }

    /// Generates one answer of up to `max_tokens`.
    pub fn generate(prompt: Vec<Piece>, max_tokens: u32) -> Self {
        Self::new(prompt, Work::Generate(Generate::new(max_tokens)))
    }

    /// Reads the prompt into the cache and generates nothing.
    pub fn prefill(prompt: Vec<Piece>) -> Self {
        Self::new(
            prompt,
            Work::Prefill {
                refresh_stale: false,
            },
        )
    }
}

#[cfg(test)]
impl Request {
    /// The generation this request asks for (tests that set its fields one by one).
    pub(crate) fn generation_mut(&mut self) -> &mut Generate {
        match &mut self.work {
            Work::Generate(g) => g,
            _ => panic!("not a generation"),
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("pieces", &self.prompt.len())
            .field(
                "work",
                &match &self.work {
                    Work::Prefill { .. } => "prefill",
                    Work::Generate(_) => "generate",
                    Work::Score(_) => "score",
                },
            )
            .field("key", &self.key)
            .field("priority", &self.priority)
            .finish()
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// The request's stop function said so.
    StopRule,
    MaxTokens,
    Deadline,
    /// Warm-up: the prompt was evaluated, nothing generated.
    PrefillOnly,
}

/// What one request cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Prompt tokens found in the KV cache from earlier requests.
    pub reused_tokens: u32,
    /// Prompt tokens decoded for this request.
    pub evaluated_tokens: u32,
    pub generated_tokens: u32,
    /// Draft tokens checked by the model (speculative decoding) and how many it kept.
    pub drafted_tokens: u32,
    pub accepted_tokens: u32,
    /// Prompt tokens that had been moved rather than decoded, decoded again
    /// ([`Work::Prefill`]).
    pub refreshed_tokens: u32,
    /// Waiting in the queue before the engine took the request.
    pub queue_ms: f64,
    pub prompt_ms: f64,
    pub generate_ms: f64,
}

impl Timings {
    pub fn total_ms(&self) -> f64 {
        self.queue_ms + self.prompt_ms + self.generate_ms
    }

    /// Generated tokens per second of generation time.
    pub fn generate_tps(&self) -> f64 {
        if self.generate_ms <= 0.0 {
            return 0.0;
        }
        self.generated_tokens as f64 * 1000.0 / self.generate_ms
    }

    /// Evaluated prompt tokens per second of prompt time.
    pub fn prompt_tps(&self) -> f64 {
        if self.prompt_ms <= 0.0 {
            return 0.0;
        }
        self.evaluated_tokens as f64 * 1000.0 / self.prompt_ms
    }
}

/// The result of a request.
#[derive(Debug, Clone)]
pub struct Output {
    pub text: String,
    pub stop: StopReason,
    pub timings: Timings,
    /// With [`Answers::Ranked`] or [`Answers::Rank`]: every candidate, the greedy one
    /// (`text`) first; empty otherwise.
    pub candidates: Vec<Candidate>,
    /// With [`Work::Score`]: how the model read each text, in order; empty otherwise.
    pub fits: Vec<Fit>,
}

impl Output {
    /// The answer to a prefill: the prompt read, nothing generated.
    pub fn prefilled(timings: Timings) -> Self {
        Output {
            text: String::new(),
            stop: StopReason::PrefillOnly,
            timings,
            candidates: Vec::new(),
            fits: Vec::new(),
        }
    }
}

/// One of several answers to a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub text: String,
    pub stop: StopReason,
    /// The mean log-probability of its tokens (the model's confidence in it).
    pub mean_logprob: f32,
    /// The least log-probability of its tokens (its most doubtful choice).
    pub min_logprob: f32,
    /// How the model read the file with it in the hole, when it was read
    /// ([`crate::config::Ranking::Likelihood`]; set by the caller, not the engine).
    pub fit: Option<Fit>,
}

/// The log-probabilities of an answer's tokens as they are picked (the end-of-generation
/// token too: the model chose to end there), summed up for [`Candidate`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confidence {
    sum: f64,
    n: u32,
    min: f32,
}

impl Confidence {
    pub fn add(&mut self, logprob: f32) {
        self.min = if self.n == 0 {
            logprob
        } else {
            self.min.min(logprob)
        };
        self.sum += f64::from(logprob);
        self.n += 1;
    }

    /// How many tokens were added.
    pub fn count(&self) -> u32 {
        self.n
    }

    pub fn mean(&self) -> f32 {
        (self.sum / f64::from(self.n.max(1))) as f32
    }

    /// The least log-probability added (0 with none).
    pub fn least(&self) -> f32 {
        self.min
    }

    /// A candidate with these log-probabilities.
    pub fn candidate(&self, text: String, stop: StopReason) -> Candidate {
        Candidate {
            text,
            stop,
            mean_logprob: self.mean(),
            min_logprob: self.least(),
            fit: None,
        }
    }
}

/// Why a request was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The caller gave up (LSP `$/cancelRequest`, a dropped future).
    Caller,
    /// A newer request with the same key arrived.
    Superseded,
    /// A background request made way for an interactive one.
    Preempted,
    /// The engine is shutting down.
    Shutdown,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("request cancelled ({0:?})")]
    Cancelled(CancelReason),
    #[error("the model failed to load: {0}")]
    LoadFailed(String),
    #[error(
        "the model has no fill-in-the-middle tokens ({0}); use a code model such as qwen2.5-coder"
    )]
    NoFim(String),
    #[error("the model has no {0:?} token")]
    MissingSpecial(Special),
    #[error(
        "the model {0} has no chat template, which explanations and refactors need; use an Instruct model such as qwen2.5-coder-1.5b-instruct-q4_k_m"
    )]
    NoChatTemplate(String),
    #[error(
        "the prompt is {tokens} tokens but the context holds {n_ctx}; raise context_size or lower the budgets"
    )]
    PromptTooLong { tokens: usize, n_ctx: u32 },
    #[error("llama.cpp failed: {0}")]
    Backend(String),
    /// The inference server could not be reached (down, wrong address, a timeout): worth
    /// trying again later.
    #[error("the inference server is unreachable: {0}")]
    Unreachable(String),
    /// The inference server answered with an error (a bad key, an unknown model, a request
    /// it cannot serve).
    #[error("the inference server refused the request: {0}")]
    Refused(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the engine has stopped")]
    Stopped,
}

impl EngineError {
    pub fn is_cancelled(&self) -> bool {
        matches!(self, EngineError::Cancelled(_))
    }
}

/// A cancellation flag shared by a request's caller and the engine thread, which checks it
/// between tokens (and between prompt batches).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicU8>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self, reason: CancelReason) {
        let code = match reason {
            CancelReason::Caller => 1,
            CancelReason::Superseded => 2,
            CancelReason::Preempted => 3,
            CancelReason::Shutdown => 4,
        };
        // The first reason wins.
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<CancelReason> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(CancelReason::Caller),
            2 => Some(CancelReason::Superseded),
            3 => Some(CancelReason::Preempted),
            _ => Some(CancelReason::Shutdown),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }

    /// `Err(Cancelled)` once cancelled, for `?` in decode loops.
    pub fn check(&self) -> Result<(), EngineError> {
        match self.reason() {
            None => Ok(()),
            Some(r) => Err(EngineError::Cancelled(r)),
        }
    }
}

/// What a model offers, known once it has loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: String,
    pub n_ctx: u32,
    pub n_ctx_train: u32,
    pub n_params: u64,
    pub threads: usize,
    pub gpu_layers: u32,
    /// True when the vocabulary has prefix, suffix and middle tokens.
    pub has_fim: bool,
    /// True when it also has repository-level tokens (repo name, file separator).
    pub has_repo_tokens: bool,
    pub chat_template: Option<String>,
    /// The inference server's URL when the model runs there (see [`remote`]).
    pub server: Option<String>,
}

/// The model side of the engine, run on its thread.
pub trait Backend {
    /// Runs one request to completion, checking `cancel` between tokens.
    fn generate(&mut self, req: &mut Request, cancel: &CancelToken) -> Result<Output, EngineError>;

    /// Runs every request `source` hands out, up to `parallel` at a time. The default runs
    /// them one by one; the llama.cpp backend decodes them together in one context.
    fn run_batch(
        &mut self,
        source: &mut dyn BatchSource,
        parallel: usize,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        let _ = parallel;
        loop {
            cancel.check()?;
            match source.next() {
                Some((tag, mut req)) => {
                    let r = self.generate(&mut req, cancel);
                    if cancel.is_cancelled() {
                        return cancel.check();
                    }
                    source.done(tag, r);
                }
                None if source.finished() => return Ok(()),
                // Nothing ready and nothing running: the source waits on nothing.
                None => return Err(EngineError::Backend("batch source stalled".into())),
            }
        }
    }
}

/// Hands requests to a batch run and takes their results, on the engine thread. A source
/// may hand out a request only after an earlier one finished (filling a file's holes one
/// after the other).
pub trait BatchSource: Send {
    /// The next request to start, tagged; `None` when none is ready now.
    fn next(&mut self) -> Option<(u64, Request)>;
    /// A request finished.
    fn done(&mut self, tag: u64, result: Result<Output, EngineError>);
    /// True when every request has been handed out and finished.
    fn finished(&self) -> bool;
}

pub(crate) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Length of the common prefix of two token sequences: the part of the KV cache a new
/// prompt can keep.
pub fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How many items `a` and `b` end with alike.
pub fn common_suffix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_matching_head() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix::<u32>(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
        assert_eq!(common_suffix(&[1, 2, 3], &[0, 2, 3]), 2);
        assert_eq!(common_suffix(&[1, 2], &[3]), 0);
    }

    #[test]
    fn first_cancel_reason_wins() {
        let t = CancelToken::new();
        assert!(t.check().is_ok());
        t.cancel(CancelReason::Superseded);
        t.cancel(CancelReason::Caller);
        assert_eq!(t.reason(), Some(CancelReason::Superseded));
        assert!(t.check().unwrap_err().is_cancelled());
    }
}
