//! One completion from prompt to answer, as the engine requests it takes: generate (one
//! answer or ranked candidates), read the candidates in place when ranking by likelihood,
//! and when nothing is left of the answer, rescue it with ranked candidates. The pipeline
//! does no I/O: it hands out requests and takes their answers, so a blocking caller
//! (`run_blocking`: the CLI, `quill eval`, `quill bench`) and the batch (slots on the
//! engine thread) drive the same steps in the same order.
//!
//! The invariants: every answer it takes belongs to the requests it handed out last, in
//! their order; it ends with `Step::Done` exactly once; a rescue runs at most once and only
//! after an empty answer; the completion it ends with carries the cost of every request
//! it made.
//!
//! The editor's server answers from a cache of generations that outlive requests
//! (`server::suggest`) and so runs its own flow, with the same parts (`finish`,
//! `verify`, `rescue`).

use tracing::warn;

use super::{
    CompleteError, Completion, CountTokens, Input, Prepared, finish, prepare, rescue, verify,
};
use crate::config::{CompletionConfig, Ranking};
use crate::engine::{
    Answers, Candidate, EngineError, ModelInfo, Output, Request, Sampling, StopReason, Timings,
};

/// How the pipeline's requests run beyond the prompt: what the caller decides.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Requests with the same key supersede each other (one per editor document);
    /// `None` never supersedes.
    pub key: Option<String>,
    /// Keep the common prefix in the model's KV cache (false: evaluate the prompt afresh).
    pub reuse_cache: bool,
    /// Also keep the suffix's cells after an edit, moved (what the server does while the
    /// user types).
    pub shift_suffix: bool,
    /// How tokens are picked (the batch's temperature and per-task seed); `None`: greedy.
    pub sampling: Option<Sampling>,
    /// Ranked candidates as one request per rank (a batch gives each its own slot)
    /// rather than one request that decodes them side by side.
    pub split_ranks: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            key: None,
            reuse_cache: true,
            shift_suffix: false,
            sampling: None,
            split_ranks: false,
        }
    }
}

/// What the pipeline wants next.
#[derive(Debug)]
pub enum Step {
    /// Run these requests (any order, side by side if the caller can) and give their
    /// answers back in this order.
    Generate(Vec<Request>),
    /// Run this reading of the candidates next: it reads the prompt the generation just
    /// left in the cache, so a caller with a queue puts it first.
    Read(Request),
    Done(Completion),
}

enum Stage {
    /// The answer is being generated; `first` is the empty answer a rescue is for.
    Generating {
        first: Option<Completion>,
    },
    /// The candidates are being read in place.
    Reading {
        output: Output,
        reading: verify::CandidateReading,
        first: Option<Completion>,
    },
    Done,
}

/// A completion on its way through the engine; see the module's documentation.
pub struct Pipeline {
    cfg: CompletionConfig,
    prepared: Prepared,
    opts: RunOptions,
    stage: Stage,
}

impl Pipeline {
    /// Prepares `input`'s prompt; the first step is its generation.
    pub fn start(
        input: &Input<'_>,
        cfg: &CompletionConfig,
        counter: &dyn CountTokens,
        info: &ModelInfo,
        opts: RunOptions,
    ) -> Result<(Pipeline, Step), CompleteError> {
        let prepared = prepare(input, cfg, counter, info)?;
        Ok(Self::with_prepared(prepared, cfg, opts))
    }

    /// The pipeline of a prompt already prepared.
    pub fn with_prepared(
        prepared: Prepared,
        cfg: &CompletionConfig,
        opts: RunOptions,
    ) -> (Pipeline, Step) {
        let mut p = Pipeline {
            cfg: cfg.clone(),
            prepared,
            opts,
            stage: Stage::Generating { first: None },
        };
        let step = Step::Generate(p.generation(cfg.candidates));
        (p, step)
    }

    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    pub fn into_prepared(self) -> Prepared {
        self.prepared
    }

    /// The requests that generate the answer with `n` ranked candidates (1: one answer).
    fn generation(&mut self, n: u32) -> Vec<Request> {
        let cfg = CompletionConfig {
            candidates: n.max(1),
            ..self.cfg.clone()
        };
        let one = |p: &Self, answers: Option<Answers>| {
            let mut g = p.prepared.generation(&cfg);
            if let Some(s) = p.opts.sampling {
                g.sampling = s;
            }
            if let Some(a) = answers {
                g.answers = a;
            }
            let mut req = p.prepared.request_for(g, &cfg, p.opts.key.clone());
            req.reuse_cache = p.opts.reuse_cache;
            req.shift_suffix = p.opts.shift_suffix.then_some(cfg.fresh_suffix_tokens);
            req
        };
        if n > 1 && self.opts.split_ranks {
            let temperature = cfg.candidate_temperature;
            (0..n)
                .map(|rank| one(self, Some(Answers::Rank { rank, temperature })))
                .collect()
        } else {
            vec![one(self, None)]
        }
    }

    /// Takes the answers to the requests of the last step, in their order.
    pub fn advance(
        &mut self,
        input: &Input<'_>,
        answers: Vec<Result<Output, EngineError>>,
    ) -> Result<Step, CompleteError> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Generating { first } => {
                let output = merge(answers)?;
                let ranked_by_reading = self.cfg.candidate_ranking == Ranking::Likelihood
                    && output.candidates.len() > 1;
                if ranked_by_reading
                    && let Some((mut req, reading)) = verify::for_candidates(
                        input,
                        &self.prepared,
                        &output.candidates,
                        self.cfg.syntax_check,
                    )
                {
                    req.key = self.opts.key.clone();
                    self.stage = Stage::Reading {
                        output,
                        reading,
                        first,
                    };
                    return Ok(Step::Read(req));
                }
                let completion = finish(input, &self.prepared, output, &self.cfg);
                Ok(self.settle(completion, first))
            }
            Stage::Reading {
                mut output,
                reading,
                first,
            } => {
                let read = answers
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| Err(EngineError::Backend("no reading came back".into())));
                let mut cfg = self.cfg.clone();
                match read {
                    Ok(read) => reading.apply(&mut output, read),
                    Err(e) if e.is_cancelled() => return Err(e.into()),
                    Err(why) => {
                        warn!(%why, "candidates ranked by confidence instead of likelihood");
                        cfg.candidate_ranking = Ranking::Confidence;
                    }
                }
                let completion = finish(input, &self.prepared, output, &cfg);
                Ok(self.settle(completion, first))
            }
            Stage::Done => Err(EngineError::Backend("the completion had ended".into()).into()),
        }
    }

    /// After an answer: done, or (once) ranked candidates to rescue an empty one.
    fn settle(&mut self, completion: Completion, first: Option<Completion>) -> Step {
        if let Some(mut first) = first {
            first.rescue_with(completion);
            return Step::Done(first);
        }
        match rescue(&completion, &self.cfg) {
            Some(n) => {
                let reqs = self.generation(n);
                self.stage = Stage::Generating {
                    first: Some(completion),
                };
                Step::Generate(reqs)
            }
            None => Step::Done(completion),
        }
    }
}

/// The answers of one generation step as one output: a single answer as it is; ranked
/// candidates run one per request gathered in rank order (the greedy answer's text and
/// stop first; tokens generated summed, the longest prompt and time kept). Candidates
/// that failed are left out; only when all did is it an error.
fn merge(answers: Vec<Result<Output, EngineError>>) -> Result<Output, CompleteError> {
    if answers.len() == 1 {
        return Ok(answers.into_iter().next().expect("one answer")?);
    }
    let mut error = None;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut timings = Timings::default();
    let mut first: Option<(String, StopReason)> = None;
    for answer in answers {
        match answer {
            Ok(out) => {
                let t = out.timings;
                timings.prompt_tokens = timings.prompt_tokens.max(t.prompt_tokens);
                timings.reused_tokens = timings.reused_tokens.max(t.reused_tokens);
                timings.evaluated_tokens += t.evaluated_tokens;
                timings.generated_tokens += t.generated_tokens;
                if t.prompt_ms + t.generate_ms > timings.prompt_ms + timings.generate_ms {
                    (timings.prompt_ms, timings.generate_ms) = (t.prompt_ms, t.generate_ms);
                }
                first.get_or_insert((out.text, out.stop));
                candidates.extend(out.candidates);
            }
            Err(e) if e.is_cancelled() => return Err(e.into()),
            Err(e) => error = Some(e),
        }
    }
    let Some((text, stop)) = first else {
        return Err(error
            .unwrap_or_else(|| EngineError::Backend("no candidate finished".into()))
            .into());
    };
    Ok(Output {
        text,
        stop,
        timings,
        candidates,
        fits: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
