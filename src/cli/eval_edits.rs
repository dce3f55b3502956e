//! `quill eval-edits`: next-edit suggestions measured on real code. Each case applies a
//! known change at its first site (typed as a user types it) and asks for the next edit;
//! reports per class how often one is shown, right when shown (precision), found (recall),
//! and how long the proposer took (the model's completion included for the classes it
//! answers). `--no-model` keeps to the classes read from the tree.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use quill::complete::{Input, Prepared, RunOptions, run_blocking, run_prepared_blocking};
use quill::eval::edits::{self, Class, Outcome};
use quill::eval::sources;
use quill::lang::Language;
use quill::next_edit::arguments;

#[derive(Args, Debug)]
pub struct EvalEditsArgs {
    /// Language of the cases (python, rust and javascript have a default source; any other
    /// with --source)
    #[arg(long, default_value = "python")]
    pub language: String,
    /// Folder to take source files from instead of the language's default
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// Source files sampled from the folder
    #[arg(long, default_value_t = 200)]
    pub files: usize,
    /// Cases per class
    #[arg(long, default_value_t = 50)]
    pub cases: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Only the cases whose id contains this (`add-parameter:glob.py`)
    #[arg(long)]
    pub only: Option<String>,
    /// Write every case's outcome as JSON lines to FILE
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
    /// Only the classes read from the tree: no model is loaded (add-parameter is skipped)
    #[arg(long)]
    pub no_model: bool,
    /// The prompt an argument is written from: `aside` (the server's: ghost text reads its
    /// prompt at the user's edit first, as an editor asks for it while the user types,
    /// untimed; the argument's prompt is laid out as that one, read from its cells, with
    /// `short` as the engine's alternative), `short` (the definition, then the call's
    /// surroundings, read cold), `aside-cold` (`aside`'s prompt read cold) or `file` (the
    /// whole file's window at the call, cold), to measure one against another
    #[arg(long, value_enum, default_value = "aside")]
    pub argument_prompt: ArgumentPrompt,
    #[command(flatten)]
    pub model: super::ModelArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgumentPrompt {
    Aside,
    /// `aside`'s prompt read cold (no ghost text first, no alternative): its layout's
    /// quality without the moved cells' approximation
    AsideCold,
    Short,
    File,
}

pub fn run(a: EvalEditsArgs) -> Result<ExitCode> {
    let lang = Language::from_name(&a.language)
        .with_context(|| format!("unknown language {:?}", a.language))?;
    let root = match &a.source {
        Some(s) => s.clone(),
        None => sources::default_source(lang)?,
    };
    let files = sources::collect(&root, lang, a.files, a.seed);
    anyhow::ensure!(
        !files.is_empty(),
        "no {} files under {}",
        lang.name(),
        root.display()
    );
    let classes: Vec<Class> = Class::ALL
        .into_iter()
        .filter(|c| !(a.no_model && c.needs_model()))
        .collect();
    let mut cases = edits::build(&files, lang, &classes, a.cases, a.seed);
    if let Some(only) = &a.only {
        cases.retain(|c| c.id.contains(only.as_str()));
    }
    let loaded = if cases.iter().any(|c| c.class.needs_model()) {
        Some(super::load(&a.model)?)
    } else {
        None
    };
    let ghost = quill::config::CompletionConfig::default();
    let typing = RunOptions {
        shift_suffix: true,
        ..RunOptions::default()
    };
    let progress = indicatif::ProgressBar::new(cases.len() as u64);
    let outcomes: Vec<Outcome> = cases
        .iter()
        .map(|case| {
            progress.inc(1);
            let mut cursor =
                Input::new(&case.text, case.history.last().map_or(0, |h| h.range().end));
            cursor.language = Some(lang);
            cursor.path = Some(&case.path);
            if let (Some(m), true, ArgumentPrompt::Aside) =
                (&loaded, case.class.needs_model(), a.argument_prompt)
            {
                // The ghost text an editor asks for at the edit, before the pause.
                if let Err(e) = run_blocking(&m.engine, &cursor, &ghost, &*m.counter, &typing) {
                    tracing::warn!("{}: {e}", case.id);
                }
            }
            let mut complete = |ask: &arguments::Ask| {
                let m = loaded.as_ref()?;
                let info = m.engine.info()?;
                let prepared = match a.argument_prompt {
                    ArgumentPrompt::Aside => {
                        arguments::prepare(ask, &cursor, &ghost, &*m.counter, &info)
                    }
                    ArgumentPrompt::AsideCold => {
                        arguments::prepare(ask, &cursor, &ghost, &*m.counter, &info).map(
                            |(p, cfg)| {
                                (
                                    Prepared {
                                        alternative: None,
                                        ..p
                                    },
                                    cfg,
                                )
                            },
                        )
                    }
                    ArgumentPrompt::Short | ArgumentPrompt::File => {
                        let (context, cfg) = if a.argument_prompt == ArgumentPrompt::Short {
                            let definition = arguments::definition_context(&case.path, ask);
                            (vec![definition], arguments::prompt_config(&ghost))
                        } else {
                            (Vec::new(), ghost.clone())
                        };
                        let mut at = cursor;
                        at.offset = ask.offset;
                        at.context = &context;
                        quill::complete::prepare(&at, &cfg, &*m.counter, &info).map(|p| (p, cfg))
                    }
                };
                let mut at = cursor;
                at.offset = ask.offset;
                let done = prepared
                    .and_then(|(p, cfg)| run_prepared_blocking(&m.engine, &at, p, &cfg, &typing));
                match done {
                    Ok(done) => Some(done.completion.text),
                    Err(e) => {
                        tracing::warn!("{}: {e}", case.id);
                        None
                    }
                }
            };
            edits::run(case, &mut complete)
        })
        .collect();
    progress.finish_and_clear();
    if let Some(path) = &a.dump {
        let mut out = String::new();
        for (c, o) in cases.iter().zip(&outcomes) {
            let line = serde_json::json!({"outcome": o, "path": c.path, "truth": c.truth.len()});
            out.push_str(&line.to_string());
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("write {}", path.display()))?;
    }
    let rows = edits::rows(&outcomes);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "next edits, {} ({} files from {}, seed {})",
        lang.name(),
        files.len(),
        root.display(),
        a.seed
    );
    println!(
        "{:<18} {:>5} {:>8} {:>6} {:>10} {:>7} {:>8} {:>8}",
        "class", "cases", "expected", "shown", "precision", "recall", "p50 µs", "p95 µs"
    );
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.1}%", 100.0 * x));
    for r in rows {
        println!(
            "{:<18} {:>5} {:>8} {:>6} {:>10} {:>7} {:>8} {:>8}",
            r.class,
            r.cases,
            r.expected,
            r.shown,
            pct(r.precision),
            pct(r.recall),
            r.p50_us,
            r.p95_us
        );
    }
    Ok(ExitCode::SUCCESS)
}
