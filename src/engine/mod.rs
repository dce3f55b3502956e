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
mod output;
pub mod queue;
pub mod remote;
pub mod render;
mod request;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

pub use draft::DraftConfig;
pub use output::{Candidate, Confidence, Output, StopReason, Timings};
pub use queue::{Engine, EngineState, Starter, Ticket};
pub use request::{
    Answers, CANDIDATE_TOP_K, Fit, Generate, Priority, Request, Sampling, Score, StopFn, WaitGuard,
    Waiting, Work,
};

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
