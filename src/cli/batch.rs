//! `quill batch`: many tasks, one model load, records written as they finish.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use quill::batch::{self, BatchSettings, Input};

use super::{CompletionArgs, ModelArgs, load_config};

#[derive(Args, Debug)]
#[command(
    after_help = "Each input line is a JSON object with a unique \"id\" and one of:\n  \
    {\"prefix\": …, \"suffix\": …, \"language\"?: …, \"path\"?: …}   fill in the middle\n  \
    {\"instruction\": …, \"language\"?: …, \"context\"?: …}         code from an instruction\n  \
    {\"file\": PATH}    fill the file's `quill: fill` holes; the result is the whole file\n\n\
    Each output line: {\"id\", \"line\", \"text\", \"error\", \"prompt_tokens\", \"generated_tokens\", \"ms\"},\n\
    written as tasks finish; \"line\" is the task's input line (sort by it for input order).\n\
    Exit code 0 when every task succeeded, 1 when some failed."
)]
pub struct BatchArgs {
    /// Tasks, one JSON object per line (`-` for stdin)
    #[arg(long, short)]
    pub input: PathBuf,
    /// Results, one JSON object per line (`-` for stdout)
    #[arg(long, short)]
    pub output: PathBuf,
    /// Tasks decoded together in one context
    #[arg(long, default_value_t = DEFAULT_PARALLEL)]
    pub parallel: usize,
    /// Skip tasks whose id the output already has without error; append to it
    #[arg(long)]
    pub resume: bool,
    /// Seed for sampling (with --temperature > 0); the same seed gives the same output
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// Sampling temperature; 0 is greedy
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub completion: CompletionArgs,
}

/// Measured on the 2-core development machine (BENCHMARKS.md, "Batch throughput").
pub const DEFAULT_PARALLEL: usize = 4;

/// Context per sequence: a full FIM prompt (prefix + suffix budgets) and its answer.
const PER_SEQUENCE: u32 = 2560;

pub fn run(args: BatchArgs) -> Result<ExitCode> {
    if args.model.backend.is_some()
        && args.completion.config().candidate_ranking == quill::config::Ranking::Likelihood
    {
        anyhow::bail!(
            "--rank-by likelihood reads each candidate in place, which needs the model \
             in-process, and --backend runs it on a server: rank by confidence there"
        );
    }
    // Each line is read with a cap: a line over it is that task's error, not an OOM.
    let input = if args.input == std::path::Path::new("-") {
        Input::read(std::io::stdin().lock()).context("read tasks from stdin")?
    } else {
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("open {}", args.input.display()))?;
        Input::read(std::io::BufReader::new(file))
            .with_context(|| format!("read {}", args.input.display()))?
    };
    let parallel = args.parallel.max(1);
    let mut cfg = args.model.engine_config()?;
    cfg.parallel = parallel as u32;
    if cfg.remote.is_none() {
        // One context holds every slot's sequence.
        cfg.context_size = cfg.context_size.max(PER_SEQUENCE * parallel as u32);
    }
    let loaded = load_config(cfg)?;
    let settings = BatchSettings {
        completion: args.completion.config(),
        max_tokens_instruction: args.completion.max_tokens.unwrap_or(512),
        temperature: args.temperature,
        seed: args.seed,
        affinity: loaded.info.server.is_some(),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{pos}/{len} tasks [{bar:30}] {per_sec} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let mut generated = 0u64;
    let summary = batch::run(
        &loaded.engine,
        loaded.info.clone(),
        loaded.counter.clone(),
        &input,
        &args.output,
        args.resume,
        parallel,
        settings,
        |record, total| {
            bar.set_length(total as u64);
            bar.inc(1);
            generated += record.generated_tokens;
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{:.1} tok/s", generated as f64 / secs));
        },
    )?;
    bar.finish_and_clear();
    eprintln!(
        "{} tasks ({} failed, {} skipped) in {:.1} s: {:.2} tasks/s, {:.1} generated tok/s, model {}, parallel {parallel}",
        summary.tasks,
        summary.failed,
        summary.skipped,
        summary.seconds,
        summary.tasks as f64 / summary.seconds.max(1e-3),
        summary.generated_tokens as f64 / summary.seconds.max(1e-3),
        loaded.info.name
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
