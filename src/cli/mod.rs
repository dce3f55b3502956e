//! Command-line interface: one module per subcommand, sharing the model and completion
//! flags defined here.

mod assist;
mod batch;
mod bench;
mod complete;
mod eval;
mod eval_edits;
mod fill;
pub mod logging;
mod models;
mod serve;
mod write_back;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use quill::config::CompletionConfig;
use quill::engine::config::{EngineConfig, default_threads};
use quill::engine::{Engine, ModelInfo};
use quill::tokenizer::Counter;

#[derive(Parser, Debug)]
#[command(
    name = "quill",
    version,
    about = "Local code generation: completions, explanations and refactors from a GGUF model run in-process by llama.cpp",
    long_about = "quill runs a quantized code model on your machine (CPU by default, GPU when built with \
                  a GPU feature). Use it as a language server (`quill serve`) for ghost-text \
                  completions in your editor, or from the command line.\n\n\
                  First run `quill models pull` to download the default model."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More logging on stderr (-v info, -vv debug); QUILL_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Write logs to this file instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the completion at FILE:LINE:COL (1-based, as editors show)
    Complete(complete::CompleteArgs),
    /// Fill every hole marked `quill: fill` in a file and print the result
    Fill(fill::FillArgs),
    /// List, download (any GGUF from Hugging Face too), locate and remove models
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Measure completion latency and throughput by replaying typing through a file
    Bench(bench::BenchArgs),
    /// Run the language server on stdin/stdout (what editors start)
    Serve(serve::ServeArgs),
    /// Measure completion quality on real code (exact match, edit similarity, parse rate)
    Eval(eval::EvalArgs),
    /// Measure next-edit suggestions on real code (precision, recall, latency per class)
    EvalEdits(eval_edits::EvalEditsArgs),
    /// Explain the function at FILE:LINE (or a whole small file): what it does, what is wrong
    Explain(assist::ExplainArgs),
    /// Rewrite the function at FILE:LINE as instructed; print a diff or --write it
    Refactor(assist::RefactorArgs),
    /// Look for bugs in the function at FILE:LINE; print FILE:LINE: problem
    Review(assist::ReviewArgs),
    /// Run many generation tasks (JSON Lines) through one loaded model
    Batch(batch::BatchArgs),
}

impl Command {
    /// The log level when no -v is given.
    pub fn default_log(&self) -> &'static str {
        match self {
            // Editors keep the server's stderr as its log: say what it does.
            Command::Serve(_) => "warn,quill=info,llama-cpp-2=error",
            // llama.cpp warns about harmless model quirks at every load; its errors still show.
            _ => "warn,llama-cpp-2=error",
        }
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Complete(a) => complete::run(a),
        Command::Fill(a) => fill::run(a),
        Command::Models(c) => models::run(c),
        Command::Bench(a) => bench::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Eval(a) => eval::run(a),
        Command::EvalEdits(a) => eval_edits::run(a),
        Command::Explain(a) => assist::explain(a),
        Command::Refactor(a) => assist::refactor(a),
        Command::Review(a) => assist::review(a),
        Command::Batch(a) => batch::run(a),
    }
}

/// Which model to run and how.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A model name from `quill models list`, or the path of any GGUF file (with
    /// --backend also a Hugging Face tokenizer.json of the served model)
    /// [default: qwen2.5-coder-1.5b-instruct-q4_k_m]
    #[arg(long, short, value_name = "NAME|PATH")]
    pub model: Option<String>,
    /// CPU threads [default: physical cores]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Layers to offload to the GPU [default: all on a GPU build, else 0]
    #[arg(long)]
    pub gpu_layers: Option<u32>,
    /// Context window in tokens
    #[arg(long, default_value_t = quill::engine::config::DEFAULT_CONTEXT_SIZE)]
    pub context_size: u32,
    /// llama.cpp's flash attention kernel. `auto` turns it off on a CPU for models whose
    /// attention heads are narrower than 128 (there it is slower: the 0.5B generates ~40%
    /// faster without it) and leaves it to llama.cpp elsewhere
    #[arg(long, default_value = "auto", value_parser = quill::engine::config::FlashAttention::NAMES)]
    pub flash_attention: String,
    /// Run the model on this inference server (llama-server, vLLM, Ollama, any
    /// OpenAI-compatible API) instead of in-process, e.g. http://127.0.0.1:8080. `--model`
    /// then names a GGUF with the served model's vocabulary (its header gives the tokenizer
    /// and the fill-in-the-middle tokens)
    #[arg(long, value_name = "URL", help_heading = "Inference server")]
    pub backend: Option<String>,
    /// The server's API
    #[arg(long, default_value = "openai", value_parser = quill::engine::remote::wire::Api::NAMES, help_heading = "Inference server")]
    pub api: String,
    /// The model name the server knows [default: the first it lists]
    #[arg(long, value_name = "NAME", help_heading = "Inference server")]
    pub backend_model: Option<String>,
    /// The environment variable holding the server's API key (sent as a bearer token)
    #[arg(long, value_name = "VAR", help_heading = "Inference server")]
    pub api_key_env: Option<String>,
    /// Seconds to wait for the server's answer to start, and between two tokens
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECS",
        help_heading = "Inference server"
    )]
    pub backend_timeout: u64,
}

impl ModelArgs {
    pub fn engine_config(&self) -> Result<EngineConfig> {
        let remote = self.backend.as_ref().map(|url| {
            let api = quill::engine::remote::wire::Api::from_name(&self.api)
                .expect("clap checked the name");
            let mut r = quill::engine::remote::RemoteConfig::new(url, api);
            r.model = self.backend_model.clone();
            r.api_key_env = self.api_key_env.clone();
            r.timeout = std::time::Duration::from_secs(self.backend_timeout.max(1));
            r
        });
        let mut cfg = EngineConfig::resolve(self.model.as_deref(), remote)?;
        cfg.threads = self.threads.unwrap_or_else(default_threads);
        if let Some(n) = self.gpu_layers {
            cfg.gpu_layers = n;
        }
        cfg.context_size = self.context_size;
        cfg.flash_attention =
            quill::engine::config::FlashAttention::from_name(&self.flash_attention)
                .expect("clap checked the name");
        Ok(cfg)
    }
}

/// How to complete.
#[derive(Args, Debug, Clone)]
pub struct CompletionArgs {
    /// Token budget for the code before the cursor
    #[arg(long, default_value_t = CompletionConfig::default().prefix_tokens)]
    pub prefix_tokens: usize,
    /// Token budget for the code after the cursor
    #[arg(long, default_value_t = CompletionConfig::default().suffix_tokens)]
    pub suffix_tokens: usize,
    /// Most tokens to generate for a block (default 192); a line gets at most 48 of them
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Keep completions that add syntax errors
    #[arg(long)]
    pub no_syntax_check: bool,
    /// Speculative decoding: most draft tokens (taken from the prompt and the text
    /// generated so far) checked per step; 0 turns it off. Greedy output is the same
    #[arg(long, default_value_t = CompletionConfig::default().draft_tokens)]
    pub draft_tokens: usize,
    /// Ranked candidates: answers generated side by side from one prompt (the greedy one
    /// and continuations of the next most likely tokens where its code starts), the best kept
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=quill::engine::MAX_CANDIDATES as i64))]
    pub candidates: u32,
    /// When the answer is empty (the model ended at once, or post-processing left nothing:
    /// it repeated the code after the cursor, or broke the syntax): try this many ranked
    /// candidates and keep the best non-empty one; 0 turns it off
    #[arg(long, default_value_t = CompletionConfig::default().rescue_candidates, value_parser = clap::value_parser!(u32).range(0..=quill::engine::MAX_CANDIDATES as i64))]
    pub rescue: u32,
    /// With --candidates: the candidates after the first sample at this temperature from
    /// where they leave the greedy answer (0: each takes the next most likely token there)
    #[arg(long, default_value_t = 0.0, value_name = "T")]
    pub candidate_temperature: f32,
    /// With --candidates: order them by the model's confidence (mean token
    /// log-probability) or by likelihood (how likely the model reads the file with each
    /// in the hole, the code after it too)
    #[arg(long, default_value = "confidence", value_parser = ["confidence", "likelihood"])]
    pub rank_by: String,
}

impl CompletionArgs {
    pub fn config(&self) -> CompletionConfig {
        let c = CompletionConfig {
            prefix_tokens: self.prefix_tokens,
            suffix_tokens: self.suffix_tokens,
            syntax_check: !self.no_syntax_check,
            draft_tokens: self.draft_tokens,
            candidates: self.candidates,
            rescue_candidates: self.rescue,
            candidate_temperature: self.candidate_temperature.max(0.0),
            candidate_ranking: quill::config::Ranking::from_name(&self.rank_by)
                .unwrap_or(quill::config::Ranking::Confidence),
            ..CompletionConfig::default()
        };
        match self.max_tokens {
            Some(m) => c.with_max_tokens(m),
            None => c,
        }
    }
}

/// A loaded model, ready for requests.
pub struct Loaded {
    pub engine: Engine,
    pub info: Arc<ModelInfo>,
    pub counter: Counter,
}

/// Loads the model named by `args` and waits until it is ready.
pub fn load(args: &ModelArgs) -> Result<Loaded> {
    let cfg = args.engine_config()?;
    load_config(cfg)
}

pub fn load_config(cfg: EngineConfig) -> Result<Loaded> {
    let counter = cfg.counter()?;
    let engine = quill::engine::spawn(cfg);
    let info = engine
        .ready_blocking()
        .context("the model could not be loaded")?;
    Ok(Loaded {
        engine,
        info,
        counter,
    })
}

/// Reads a source file a command names, refusing what cannot be code: a FIFO or device
/// (which would block or never end), a directory, a huge or binary file.
pub fn read_source(path: &std::path::Path) -> Result<String> {
    quill::regular_file::read_source(path).map_err(|e| match e {
        quill::regular_file::SourceError::Read(e) => {
            anyhow::anyhow!("cannot read {}: {e}", path.display())
        }
        quill::regular_file::SourceError::Text(e) => {
            anyhow::anyhow!("{} cannot be completed: {e}", path.display())
        }
    })
}
