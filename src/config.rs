//! Settings shared by the CLI, the server and the benchmarks, with their defaults: how
//! completions are budgeted, cut and ranked. How the model is loaded and run
//! ([`EngineConfig`] and its defaults) is the engine's, in `engine::config`; finding the
//! model for a configuration (the manifest, a server) is here.
//!
//! The server reads these from `initializationOptions` (see `server/settings.rs`); the CLI
//! from flags.

use std::path::PathBuf;

use crate::engine::config::{DEFAULT_DRAFT_TOKENS, EngineConfig};

impl EngineConfig {
    /// The engine for `model` (a manifest name or a path; `None`: the default model), run
    /// in-process or on `remote`. With a server and no model named, a default model that
    /// is not downloaded is no error: its file only lends the vocabulary, and without it
    /// conversations still work (completions then say what is missing).
    pub fn resolve(
        model: Option<&str>,
        remote: Option<crate::engine::remote::RemoteConfig>,
    ) -> anyhow::Result<EngineConfig> {
        let mut cfg = match crate::models::resolve(model) {
            Ok(r) => {
                if remote.is_none() && crate::tokenizer::is_tokenizer_json(&r.path) {
                    anyhow::bail!(
                        "{} is a tokenizer, not a model: use it with an inference server (--backend, the `backend` setting), or give a GGUF",
                        r.path.display()
                    );
                }
                EngineConfig::new(r.path, r.name)
            }
            Err(e) if remote.is_some() && model.is_none() => {
                tracing::warn!(
                    "{e:#}; without the served model's vocabulary (a GGUF or tokenizer.json) quill cannot write fill-in-the-middle prompts (only explanations, reviews and refactors work)"
                );
                EngineConfig::new(PathBuf::new(), String::new())
            }
            Err(e) => return Err(e),
        };
        cfg.remote = remote;
        Ok(cfg)
    }

    /// The token counter for budgets: the model's own tokenizer, or an approximation when
    /// there is no model file (a server without a local vocabulary).
    pub fn counter(&self) -> anyhow::Result<crate::tokenizer::Counter> {
        if self.model_path.as_os_str().is_empty() {
            return Ok(std::sync::Arc::new(crate::tokenizer::ApproxCounter));
        }
        crate::tokenizer::counter_for_file(&self.model_path)
    }
}

/// When a completion on an empty line may run to several lines. (After a block opener
/// such as `def f():` or `{` it always may; with code right of the cursor it never does.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiline {
    /// An empty line always gets a block.
    Always,
    /// A block where one is likely wanted: on the line after a block opener, at the end of
    /// a block (the code after the cursor is indented less or there is none), or at top
    /// level; inside a block, with more of it after the cursor, one statement (with its
    /// body and closing bracket). The default: the same completions as `Always` on the
    /// eval's tasks for a quarter less generated text (BENCHMARKS.md).
    Auto,
}

impl Multiline {
    pub fn from_name(s: &str) -> Option<Multiline> {
        match s {
            "always" => Some(Multiline::Always),
            "auto" => Some(Multiline::Auto),
            _ => None,
        }
    }
}

/// How ranked candidates are ordered (after: not empty, kept whole by the syntax check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// By the model's confidence: mean token log-probability.
    Confidence,
    /// By how likely the model finds the file with the candidate in the hole: the
    /// candidate's own log-probability as generated plus that of the first lines of the
    /// code after the hole, read after it (`complete::verify`: one extra pass over each
    /// distinct candidate; in-process models only, through a server it is confidence).
    Likelihood,
}

impl Ranking {
    pub fn from_name(s: &str) -> Option<Ranking> {
        match s {
            "confidence" => Some(Ranking::Confidence),
            "likelihood" => Some(Ranking::Likelihood),
            _ => None,
        }
    }
}

/// How completions are budgeted and cut.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionConfig {
    /// Tokens of code before the cursor.
    pub prefix_tokens: usize,
    /// Tokens of code after the cursor.
    pub suffix_tokens: usize,
    /// Tokens of context from other files (the server fills these).
    pub context_tokens: usize,
    /// Most tokens generated for a single-line completion.
    pub max_tokens_line: u32,
    /// Most tokens generated for a block.
    pub max_tokens_block: u32,
    /// Most lines in a block completion.
    pub max_block_lines: usize,
    /// When a cursor on an empty line gets a block rather than one line.
    pub multiline: Multiline,
    /// A block ends at its first blank line.
    pub stop_at_blank_line: bool,
    /// Give up generating after this long (what was generated is kept).
    pub time_budget_ms: Option<u64>,
    /// Check candidates with tree-sitter and fall back to shorter ones.
    pub syntax_check: bool,
    /// Lay context out with the model's repository tokens (`<|file_sep|>` and paths) where
    /// it has them; otherwise as comments at the top of the prefix.
    pub repo_layout: bool,
    /// Most draft tokens checked per decode in speculative decoding (prompt lookup);
    /// 0 turns it off. Greedy output is the same either way. Off by default on a CPU,
    /// where checking k tokens costs about k times one token (BENCHMARKS.md).
    pub draft_tokens: usize,
    /// While typing (the suffix's cache moved, not decoded again): tokens after the edit
    /// that are decoded afresh.
    pub fresh_suffix_tokens: usize,
    /// Ranked candidates: answers generated side by side from one prompt (the greedy one
    /// and continuations of the next most likely tokens where its code starts, or samples
    /// from there with `candidate_temperature`), the best first. 1 is the greedy answer
    /// alone.
    pub candidates: u32,
    /// When the answer is empty (the model ended at once, or post-processing left nothing
    /// of what it wrote: it repeated the code after the cursor, or every version broke the
    /// syntax), generate this many ranked candidates and keep the best non-empty one; 0
    /// or 1 turns it off. Used by
    /// `quill complete`, `fill`, `eval` and `batch`; in the editor only for the "ask now"
    /// key (typing does not wait for a second generation).
    pub rescue_candidates: u32,
    /// Above 0: ranked candidates after the first sample at this temperature from where
    /// they leave the greedy answer (0: each takes the next most likely token there).
    pub candidate_temperature: f32,
    /// How ranked candidates are ordered.
    pub candidate_ranking: Ranking,
}

impl CompletionConfig {
    /// What `maxTokens` (server) and `--max-tokens` (CLI) set: the most tokens a
    /// completion generates, a block's limit; a line gets at most its default limit of
    /// them.
    pub fn with_max_tokens(mut self, max: u32) -> Self {
        self.max_tokens_line = Self::default().max_tokens_line.min(max);
        self.max_tokens_block = max;
        self
    }
}

impl Default for CompletionConfig {
    fn default() -> Self {
        CompletionConfig {
            prefix_tokens: 1536,
            suffix_tokens: 512,
            context_tokens: 1024,
            max_tokens_line: 48,
            max_tokens_block: 192,
            max_block_lines: 24,
            multiline: Multiline::Auto,
            stop_at_blank_line: false,
            time_budget_ms: None,
            syntax_check: true,
            repo_layout: true,
            draft_tokens: DEFAULT_DRAFT_TOKENS,
            fresh_suffix_tokens: 2,
            candidates: 1,
            rescue_candidates: 3,
            candidate_temperature: 0.0,
            candidate_ranking: Ranking::Confidence,
        }
    }
}
