//! What the engine answers: the text, why it stopped, what it cost, and the candidates
//! with the model's confidence in each.

use super::Fit;

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
