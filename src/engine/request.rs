//! What a caller asks the engine for: a prompt, the kind of work ([`Work`]) and how the
//! request waits and reads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::draft::DraftConfig;
use super::{Piece, config};

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
    /// Another prompt for the same answer (the same place in the same code, other
    /// surroundings), read instead when the cache as it is leaves fewer of its tokens to
    /// decode: a prompt laid out to reuse the cursor's cells, with a short one of its own
    /// to fall back on (a next edit's argument). An engine without a cache of its own
    /// reads `prompt`.
    pub alternative: Option<Vec<Piece>>,
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
                max: config::DEFAULT_DRAFT_TOKENS,
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
            alternative: None,
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
