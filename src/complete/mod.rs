//! The completion pipeline, shared by the CLI, the language server, batch and eval:
//! position → token-budgeted FIM prompt → engine → post-processing → syntax check.
//!
//! [`prepare`] and [`finish`] are pure; [`Pipeline`] strings them together with the
//! engine requests between them (generate, read candidates in place, rescue an empty
//! answer) without doing I/O: [`run_blocking`] drives it for the CLI, eval and bench, the
//! batch drives it on the engine thread. The server's `suggest` answers from its cache of
//! generations with the same parts.

mod aside;
pub mod budget;
#[cfg(test)]
mod fuzz;
mod pipeline;
pub mod post;
pub mod prompt;
pub mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tree_sitter::Tree;

use crate::config::{CompletionConfig, Ranking};
use crate::context::ContextFile;
use crate::engine::{
    Engine, EngineError, Generate, ModelInfo, Output, Piece, Request, StopReason, Timings, Work,
};
use crate::lang::Language;
use crate::syntax::InsertionCheck;
use crate::tokenizer::CountTokens;
pub use aside::prepare_aside;
pub use pipeline::{Pipeline, RunOptions, Step};
pub use post::{Mode, Shape};

/// The document and position to complete.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub text: &'a str,
    /// Byte offset of the cursor in `text`.
    pub offset: usize,
    /// Path relative to the workspace, shown to the model.
    pub path: Option<&'a str>,
    pub language: Option<Language>,
    /// The document's current parse, when the caller keeps one.
    pub tree: Option<&'a Tree>,
    /// The caller knows the text cannot be parsed in time (see `syntax::PARSE_BUDGET`):
    /// skip what would parse it (syntax checks, the preamble).
    pub unparsable: bool,
    /// Code from other files, most useful first.
    pub context: &'a [ContextFile],
    pub repo_name: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub fn new(text: &'a str, offset: usize) -> Self {
        Input {
            text,
            offset,
            path: None,
            language: None,
            tree: None,
            unparsable: false,
            context: &[],
            repo_name: None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CompleteError {
    #[error("position {offset} is outside the document ({len} bytes) or inside a character")]
    BadPosition { offset: usize, len: usize },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A prompt ready for the engine, with what is needed to post-process its answer.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub prompt: Vec<Piece>,
    /// Another prompt for the same place, for the engine to read instead when its cache
    /// makes that one cheaper (see [`Request::alternative`]).
    pub alternative: Option<Vec<Piece>>,
    pub shape: Arc<Shape>,
    pub max_tokens: u32,
    /// Tokens of the file's own code in the prompt (prefix, suffix) and of context.
    pub prefix_tokens: usize,
    pub suffix_tokens: usize,
    pub context_tokens: usize,
}

impl Prepared {
    /// How to generate this completion: the post-processing rules are the stop
    /// function, `cfg` says how many candidates.
    pub fn generation(&self, cfg: &CompletionConfig) -> Generate {
        let mut g = Generate::new(self.max_tokens);
        let shape = self.shape.clone();
        g.stop = Some(Box::new(move |text: &str| shape.should_stop(text)));
        g.draft.max = cfg.draft_tokens;
        let shape = self.shape.clone();
        g.ranked(
            cfg.candidates,
            cfg.candidate_temperature,
            Some(Box::new(move |text: &str| shape.should_stop(text))),
        )
    }

    /// The engine request for `generation`, within `cfg`'s time budget.
    pub fn request_for(
        &self,
        generation: Generate,
        cfg: &CompletionConfig,
        key: Option<String>,
    ) -> Request {
        let mut req = Request::new(self.prompt.clone(), Work::Generate(generation));
        req.alternative = self.alternative.clone();
        req.key = key;
        req.deadline = cfg
            .time_budget_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        req
    }

    /// The engine request as `cfg` says.
    pub fn request(&self, cfg: &CompletionConfig, key: Option<String>) -> Request {
        self.request_for(self.generation(cfg), cfg, key)
    }
}

/// The text to insert and what it cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Completion {
    pub text: String,
    pub mode: Mode,
    pub stop: StopReason,
    pub timings: Timings,
    /// What the model generated before post-processing.
    pub raw: String,
    /// Candidates dropped because they added syntax errors.
    pub rejected: usize,
    pub prefix_tokens: usize,
    pub suffix_tokens: usize,
    pub context_tokens: usize,
    /// Where the answer came from.
    pub served: Served,
    /// With ranked candidates: the other answers worth showing, best first (not `text`,
    /// none empty, no two alike).
    pub alternatives: Vec<String>,
    /// With ranked candidates: every one as ranked, best first, with its scores (what
    /// `quill eval --dump` shows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranked: Vec<Scored>,
}

/// Where a completion's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// A generation made for this request, run to its end.
    #[default]
    Model,
    /// The first line(s) of a generation made for this request, which goes on in the
    /// background.
    FirstLine,
    /// The suggestion cache: a generation made for an earlier state of the document.
    Cache,
    /// The words of a line ready when the time budget passed, while the generation goes
    /// on (the client hears `quill/suggestionReady` when it has settled).
    Partial,
}

/// Builds the prompt for `input`.
pub fn prepare(
    input: &Input<'_>,
    cfg: &CompletionConfig,
    counter: &dyn CountTokens,
    model: &ModelInfo,
) -> Result<Prepared, CompleteError> {
    check(input, model)?;
    let shape = Shape::at(input.text, input.offset, input.language, cfg);
    let max_tokens = shape_tokens(&shape, cfg);
    let layout = Layout::at(input, cfg, counter, model, max_tokens);
    let suffix = layout.window.suffix;
    Ok(layout.render(
        input,
        input.offset,
        suffix,
        shape,
        max_tokens,
        counter,
        model,
    ))
}

/// The position is in the document and the model can fill in the middle.
fn check(input: &Input<'_>, model: &ModelInfo) -> Result<(), CompleteError> {
    if input.offset > input.text.len() || !input.text.is_char_boundary(input.offset) {
        return Err(CompleteError::BadPosition {
            offset: input.offset,
            len: input.text.len(),
        });
    }
    if !model.has_fim && model.path.is_empty() && model.server.is_some() {
        return Err(EngineError::Unsupported(
            "completions from an inference server need a GGUF with the served model's vocabulary (--model, or the `model` setting): it gives quill the fill-in-the-middle tokens and the tokenizer"
                .into(),
        )
        .into());
    }
    if !model.has_fim {
        return Err(EngineError::NoFim(format!("model {}", model.name)).into());
    }
    Ok(())
}

fn shape_tokens(shape: &Shape, cfg: &CompletionConfig) -> u32 {
    match shape.mode {
        Mode::Line => cfg.max_tokens_line,
        Mode::Block => cfg.max_tokens_block,
    }
}

/// How a cursor's prompt lays out the file: the context from other files, the window of
/// code around the cursor and what is put back on top of a cut window.
struct Layout<'a> {
    context: Vec<ContextFile>,
    context_tokens: usize,
    preamble: String,
    window: budget::Window<'a>,
    repo_layout: bool,
}

impl<'a> Layout<'a> {
    fn at(
        input: &Input<'a>,
        cfg: &CompletionConfig,
        counter: &dyn CountTokens,
        model: &ModelInfo,
        max_tokens: u32,
    ) -> Layout<'a> {
        // Context gets its own share; what it leaves unused is not handed on, so the cache
        // prefix stays the same whether or not context was found.
        let (context, context_tokens) = fit_context(input.context, cfg.context_tokens, counter);
        // Leave room for the answer and the prompt's own markup within the context window.
        let room = (model.n_ctx as usize)
            .saturating_sub(max_tokens as usize + context_tokens + 32)
            .max(64);
        let scale = |b: usize, total: usize| {
            if total <= room {
                b
            } else {
                b * room / total.max(1)
            }
        };
        let total = cfg.prefix_tokens + cfg.suffix_tokens;
        let (prefix_budget, suffix_budget) = (
            scale(cfg.prefix_tokens, total),
            scale(cfg.suffix_tokens, total),
        );
        let mut window = budget::window(
            input.text,
            input.offset,
            prefix_budget,
            suffix_budget,
            counter,
        );
        // A cut prefix loses the file's imports and the headers of the scopes the cursor is
        // in: put those back on top, paid for from the prefix budget.
        let mut preamble = String::new();
        if window.prefix_cut
            && let Some(lang) = input.language
        {
            let parsed;
            let tree = match input.tree {
                Some(t) => Some(t),
                None if !input.unparsable
                    && input.text.len() <= crate::syntax::MAX_CHECKED_BYTES =>
                {
                    parsed = crate::syntax::parse(lang, input.text, None);
                    parsed.as_ref()
                }
                None => None,
            };
            if let Some(tree) = tree {
                let start = input.offset - window.prefix.len();
                preamble = crate::context::preamble(lang, tree, input.text, start, input.offset);
                if !preamble.is_empty() {
                    let cost = counter.count(&preamble);
                    window = budget::window(
                        input.text,
                        input.offset,
                        prefix_budget.saturating_sub(cost),
                        suffix_budget,
                        counter,
                    );
                }
            }
        }
        Layout {
            context,
            context_tokens,
            preamble,
            window,
            repo_layout: cfg.repo_layout,
        }
    }

    /// Where the window starts in the text.
    fn start(&self, input: &Input<'_>) -> usize {
        input.offset - self.window.prefix.len()
    }

    /// The prompt that completes at `at` (the cursor's offset, or another place in the
    /// window), with the code from the window's start to `at` as its prefix and `suffix`.
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        input: &Input<'_>,
        at: usize,
        suffix: &str,
        shape: Shape,
        max_tokens: u32,
        counter: &dyn CountTokens,
        model: &ModelInfo,
    ) -> Prepared {
        let code = &input.text[self.start(input)..at];
        let prefix = format!("{}{code}", self.preamble);
        let prefix_tokens = if at == input.offset {
            self.window.prefix_tokens + counter.count(&self.preamble)
        } else {
            counter.count(&prefix)
        };
        let suffix_tokens = if suffix.len() == self.window.suffix.len() {
            self.window.suffix_tokens
        } else {
            counter.count(suffix)
        };
        let prompt = prompt::fim_prompt(&prompt::FimParts {
            repo_name: input.repo_name,
            context: &self.context,
            path: input.path,
            language: input.language,
            prefix: &prefix,
            suffix,
            repo_tokens: model.has_repo_tokens && self.repo_layout,
        });
        Prepared {
            prompt,
            alternative: None,
            shape: Arc::new(shape),
            max_tokens,
            prefix_tokens,
            suffix_tokens,
            context_tokens: self.context_tokens,
        }
    }
}

/// The context files that fit in `budget` tokens, in order; a file that does not fit
/// whole is cut at a line boundary.
fn fit_context(
    files: &[ContextFile],
    budget: usize,
    counter: &dyn CountTokens,
) -> (Vec<ContextFile>, usize) {
    let mut out = Vec::new();
    let mut used = 0;
    for file in files {
        let header = counter.count(&file.path) + 2;
        if used + header >= budget {
            break;
        }
        let cost = header + counter.count(&file.text);
        if used + cost <= budget {
            used += cost;
            out.push(file.clone());
            continue;
        }
        // Keep the head of the file, whole lines only.
        let mut kept = String::new();
        let mut kept_cost = header;
        for line in file.text.split_inclusive('\n') {
            let c = counter.count(line);
            if used + kept_cost + c > budget {
                break;
            }
            kept_cost += c;
            kept.push_str(line);
        }
        if !kept.trim().is_empty() {
            used += kept_cost;
            out.push(ContextFile {
                path: file.path.clone(),
                text: kept,
            });
        }
        break;
    }
    (out, used)
}

/// Post-processes the engine's answer and checks it against the syntax tree.
pub fn finish(
    input: &Input<'_>,
    prepared: &Prepared,
    output: Output,
    cfg: &CompletionConfig,
) -> Completion {
    let ranked = if output.candidates.len() > 1 {
        order(
            input,
            &prepared.shape,
            &output.candidates,
            cfg.syntax_check,
            cfg.candidate_ranking,
        )
    } else {
        Vec::new()
    };
    let (text, rejected, alternatives) = if ranked.is_empty() {
        let (text, rejected) = settle(input, &prepared.shape, &output.text, cfg.syntax_check);
        (text, rejected, Vec::new())
    } else {
        best(&ranked)
    };
    Completion {
        text,
        alternatives,
        mode: prepared.shape.mode,
        stop: output.stop,
        timings: output.timings,
        raw: output.text,
        rejected,
        prefix_tokens: prepared.prefix_tokens,
        suffix_tokens: prepared.suffix_tokens,
        context_tokens: prepared.context_tokens,
        served: Served::Model,
        ranked,
    }
}

/// A ranked candidate after post-processing, with what it was ranked by.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scored {
    /// Its place among the engine's candidates (0: the greedy answer).
    pub index: usize,
    /// The text to insert (empty when nothing of it was left).
    pub text: String,
    /// Versions of it the syntax check dropped.
    pub rejected: usize,
    /// The model's mean token log-probability.
    pub logprob: f32,
    /// The least log-probability of its tokens.
    pub min_logprob: f32,
    /// How the model read the file with it in the hole ([`Ranking::Likelihood`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<crate::engine::Fit>,
}

/// Settles each candidate and orders them, best first: answers that are not empty first,
/// then those the syntax check kept whole, then by `ranking` (how the model reads the
/// file with each, and its confidence: mean token log-probability); the greedy answer
/// wins ties.
pub fn order(
    input: &Input<'_>,
    shape: &Shape,
    candidates: &[crate::engine::Candidate],
    syntax_check: bool,
    ranking: Ranking,
) -> Vec<Scored> {
    let mut scored: Vec<Scored> = candidates
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let (text, rejected) = settle(input, shape, &c.text, syntax_check);
            Scored {
                index,
                text,
                rejected,
                logprob: c.mean_logprob,
                min_logprob: c.min_logprob,
                fit: c.fit.clone(),
            }
        })
        .collect();
    // Stable: among equals the earlier (greedy) candidate stays first.
    scored.sort_by(|a, b| by_rank(a, b, ranking));
    scored
}

/// How [`order`] compares two candidates: better first.
fn by_rank(a: &Scored, b: &Scored, ranking: Ranking) -> std::cmp::Ordering {
    let key = |s: &Scored| (!s.text.trim().is_empty(), s.rejected == 0);
    let fit = |s: &Scored| match ranking {
        Ranking::Likelihood => s
            .fit
            .as_ref()
            .map_or(f64::NEG_INFINITY, |f| f.score(s.logprob)),
        _ => 0.0,
    };
    key(b)
        .cmp(&key(a))
        .then(fit(b).total_cmp(&fit(a)))
        .then(b.logprob.total_cmp(&a.logprob))
}

/// The best of candidates in [`order`]: its text, how many versions of it the syntax
/// check dropped, and the other distinct answers that are not empty.
pub fn best(scored: &[Scored]) -> (String, usize, Vec<String>) {
    let Some(first) = scored.first() else {
        return (String::new(), 0, Vec::new());
    };
    let mut alternatives: Vec<String> = Vec::new();
    for s in &scored[1..] {
        if !s.text.trim().is_empty() && s.text != first.text && !alternatives.contains(&s.text) {
            alternatives.push(s.text.clone());
        }
    }
    (first.text.clone(), first.rejected, alternatives)
}

/// [`order`] then [`best`].
pub fn rank(
    input: &Input<'_>,
    shape: &Shape,
    candidates: &[crate::engine::Candidate],
    syntax_check: bool,
    ranking: Ranking,
) -> (String, usize, Vec<String>) {
    best(&order(input, shape, candidates, syntax_check, ranking))
}

/// Cuts `generated` (the model's text at `input`'s cursor) by `shape`'s rules and checks
/// it with tree-sitter, falling back to shorter versions; returns the text to insert and
/// how many candidates the check dropped.
pub fn settle(
    input: &Input<'_>,
    shape: &Shape,
    generated: &str,
    syntax_check: bool,
) -> (String, usize) {
    let text = shape.finish(generated);
    let check = match (syntax_check, input.language) {
        (true, Some(lang)) if !text.is_empty() && !input.unparsable => {
            InsertionCheck::new(lang, input.text, input.offset, input.tree)
        }
        _ => None,
    };
    let Some(check) = check else {
        return (text, 0);
    };
    let mut rejected = 0;
    let mut chosen = String::new();
    for candidate in candidates(&text, shape) {
        if check.accepts(&candidate) {
            chosen = candidate;
            break;
        }
        rejected += 1;
    }
    if rejected > 0 {
        tracing::debug!(
            rejected,
            kept = chosen.len(),
            answer = ?text,
            "syntax check dropped candidates"
        );
    }
    (chosen, rejected)
}

/// The completion, then shorter versions of it: text over several lines loses its last
/// lines one by one (whole lines keep their final line break).
fn candidates(text: &str, shape: &Shape) -> Vec<String> {
    let body = shape.strip_whole_lines_end(text);
    let mut out = vec![text.to_string()];
    let mut rest = body;
    while let Some(i) = rest.rfind('\n') {
        rest = rest[..i].trim_end();
        if rest.trim().is_empty() {
            break;
        }
        out.push(shape.end_whole_lines(rest.to_string()));
    }
    out
}

/// A completion with the prompt it was made from.
#[derive(Debug)]
pub struct Completed {
    pub completion: Completion,
    pub prepared: Prepared,
}

/// Runs the whole pipeline on `engine` ([`Pipeline`]: prepare, generate, read, rescue),
/// waiting for the model if it is still loading. The one entry point for callers outside
/// an async runtime: the CLI's `complete` and `fill`, `quill bench` and `quill eval`.
pub fn run_blocking(
    engine: &Engine,
    input: &Input<'_>,
    cfg: &CompletionConfig,
    counter: &dyn CountTokens,
    opts: &RunOptions,
) -> Result<Completed, CompleteError> {
    let info = engine.ready_blocking()?;
    let prepared = prepare(input, cfg, counter, &info)?;
    run_prepared_blocking(engine, input, prepared, cfg, opts)
}

/// [`run_blocking`] with the prompt prepared already (by [`prepare_aside`], say); `input`
/// is the document at the place the prompt completes.
pub fn run_prepared_blocking(
    engine: &Engine,
    input: &Input<'_>,
    prepared: Prepared,
    cfg: &CompletionConfig,
    opts: &RunOptions,
) -> Result<Completed, CompleteError> {
    let (mut pipeline, mut step) = Pipeline::with_prepared(prepared, cfg, opts.clone());
    loop {
        let reqs = match step {
            Step::Done(completion) => {
                return Ok(Completed {
                    completion,
                    prepared: pipeline.into_prepared(),
                });
            }
            Step::Generate(reqs) => reqs,
            Step::Read(req) => vec![req],
        };
        let answers = reqs
            .into_iter()
            .map(|r| engine.generate_blocking(r))
            .collect();
        step = pipeline.advance(input, answers)?;
    }
}

/// How many ranked candidates to try when the answer is empty: the model ended at once,
/// or post-processing left nothing of what it wrote ([`CompletionConfig::rescue_candidates`]);
/// `None` when not needed. The candidates after the greedy one do not end before they
/// write code, so a hole the model would leave empty gets its most likely filling.
pub fn rescue(c: &Completion, cfg: &CompletionConfig) -> Option<u32> {
    (cfg.candidates <= 1 && cfg.rescue_candidates > 1 && c.text.trim().is_empty())
        .then_some(cfg.rescue_candidates)
}

impl Completion {
    /// Takes the answer of the ranked candidates generated to rescue this empty one, if
    /// they have one; the cost adds up either way.
    pub fn rescue_with(&mut self, ranked: Completion) {
        let t = &mut self.timings;
        t.generated_tokens += ranked.timings.generated_tokens;
        t.evaluated_tokens += ranked.timings.evaluated_tokens;
        t.prompt_ms += ranked.timings.prompt_ms;
        t.generate_ms += ranked.timings.generate_ms;
        if !ranked.text.trim().is_empty() {
            self.text = ranked.text;
            self.alternatives = ranked.alternatives;
            self.ranked = ranked.ranked;
            self.stop = ranked.stop;
            self.rejected = ranked.rejected;
        }
    }
}

/// [`run_blocking`] with the default options, the completion alone.
pub fn complete_blocking(
    engine: &Engine,
    input: &Input<'_>,
    cfg: &CompletionConfig,
    counter: &dyn CountTokens,
) -> Result<Completion, CompleteError> {
    run_blocking(engine, input, cfg, counter, &RunOptions::default()).map(|c| c.completion)
}

#[cfg(test)]
mod tests;
