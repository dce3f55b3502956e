//! Batch generation: many tasks through one loaded model (`quill batch`).
//!
//! Input is JSON Lines (`tasks`), output JSON Lines (`output`), and the work goes through
//! the engine's multi-sequence batching (the engine's `BatchSource`, fed by `feed`): `--parallel N` tasks
//! decode together, one `llama_decode` per step.
//!
//! Inputs are read with caps (`input`): an over-long line or a `file` task naming a FIFO,
//! a device or a huge file gets an error record, and the rest of the batch goes on. A
//! record that cannot be written ends the run at once.

mod affinity;
pub mod feed;
pub mod input;
pub mod output;
pub mod tasks;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use anyhow::Result;

use crate::engine::{CancelReason, CancelToken, Engine, EngineError, ModelInfo};
use crate::tokenizer::Counter;
pub use feed::BatchSettings;
pub use input::Input;
use output::{Record, Sink};

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

/// Runs the tasks in `input` (JSON Lines) and writes records to `output`. `on_record`
/// sees each record as it is written (progress display). A record that cannot be written
/// ends the run with that error.
#[allow(clippy::too_many_arguments)]
pub fn run(
    engine: &Engine,
    info: Arc<ModelInfo>,
    counter: Counter,
    input: &Input,
    output: &Path,
    resume: bool,
    parallel: usize,
    settings: BatchSettings,
    on_record: impl FnMut(&Record, usize),
) -> Result<Summary> {
    let done = if resume {
        output::finished_ids(output)?
    } else {
        Default::default()
    };
    let sink = Sink::open(output, resume)?;
    run_into(
        engine, info, counter, input, sink, &done, parallel, settings, on_record,
    )
}

/// [`run`] writing to `sink`, skipping the tasks whose ids are in `done`.
#[allow(clippy::too_many_arguments)]
fn run_into(
    engine: &Engine,
    info: Arc<ModelInfo>,
    counter: Counter,
    input: &Input,
    mut sink: Sink,
    done: &HashSet<String>,
    parallel: usize,
    settings: BatchSettings,
    mut on_record: impl FnMut(&Record, usize),
) -> Result<Summary> {
    let started = std::time::Instant::now();
    let (tasks, bad) = input.tasks();
    let total = tasks.len() + bad.len();
    let tasks: Vec<tasks::Task> = tasks
        .into_iter()
        .filter(|t| !done.contains(&t.id))
        .collect();
    let skipped = total - bad.len() - tasks.len();
    let todo = tasks.len() + bad.len();
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
    let source = feed::TaskFeed::new(tasks, info, counter, settings, tx);
    let cancel = CancelToken::new();
    // The engine thread runs the batch; this thread writes records as they come.
    let result = std::thread::scope(|scope| -> Result<Result<(), EngineError>> {
        let runner = scope
            .spawn(|| engine.run_batch_cancellable(Box::new(source), parallel, cancel.clone()));
        for record in rx {
            if let Err(e) = write(&record, &mut summary) {
                // Nobody would see what is generated next: stop the engine now (the
                // scope waits for it) and end with the write's error.
                cancel.cancel(CancelReason::Caller);
                return Err(e);
            }
        }
        Ok(runner.join().unwrap_or(Err(EngineError::Stopped)))
    })?;
    result?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests;
