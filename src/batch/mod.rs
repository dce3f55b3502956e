//! Batch generation: many tasks through one loaded model (`quill batch`).
//!
//! Input is JSON Lines (`tasks`), output JSON Lines (`output`), and the work goes through
//! the engine's multi-sequence batching (`BatchSource`, `source`): `--parallel N` tasks
//! decode together, one `llama_decode` per step.

pub mod output;
pub mod source;
pub mod tasks;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use anyhow::Result;

use crate::engine::{Engine, EngineError, ModelInfo};
use crate::tokenizer::Counter;
use output::{Record, Sink};
pub use source::Settings;

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Summary {
    pub tasks: usize,
    pub failed: usize,
    pub skipped: usize,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub seconds: f64,
}

/// Runs the tasks in `input` (JSON Lines text) and writes records to `output`. `on_record`
/// sees each record as it is written (progress display).
#[allow(clippy::too_many_arguments)]
pub fn run(
    engine: &Engine,
    info: Arc<ModelInfo>,
    counter: Counter,
    input: &str,
    output: &Path,
    resume: bool,
    parallel: usize,
    settings: Settings,
    mut on_record: impl FnMut(&Record, usize),
) -> Result<Summary> {
    let started = std::time::Instant::now();
    let (tasks, bad) = tasks::parse(input);
    let done = if resume {
        output::finished_ids(output)?
    } else {
        Default::default()
    };
    let total = tasks.len() + bad.len();
    let tasks: Vec<tasks::Task> = tasks
        .into_iter()
        .filter(|t| !done.contains(&t.id))
        .collect();
    let skipped = total - bad.len() - tasks.len();
    let todo = tasks.len() + bad.len();
    let mut sink = Sink::open(output, resume)?;
    let mut summary = Summary {
        skipped,
        ..Summary::default()
    };
    let mut write = |r: &Record, summary: &mut Summary| -> Result<()> {
        sink.write(r)?;
        summary.tasks += 1;
        summary.failed += usize::from(r.error.is_some());
        summary.prompt_tokens += r.prompt_tokens;
        summary.generated_tokens += r.generated_tokens;
        on_record(r, todo);
        Ok(())
    };
    for b in bad {
        write(&Record::error(b.id, b.line, b.error), &mut summary)?;
    }
    let (tx, rx) = mpsc::channel();
    let source = source::Source::new(tasks, info, counter, settings, tx);
    // The engine thread runs the batch; this thread writes records as they come.
    let result = std::thread::scope(|scope| -> Result<Result<(), EngineError>> {
        let runner = scope.spawn(|| engine.run_batch_blocking(Box::new(source), parallel));
        for record in rx {
            write(&record, &mut summary)?;
        }
        Ok(runner.join().unwrap_or(Err(EngineError::Stopped)))
    })?;
    result?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests;
