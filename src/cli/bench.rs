//! `quill bench`: completion latency while typing, with and without KV-cache reuse, next
//! to the raw engine's prompt and generation speed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use quill::bench::{mean, percentile, scenarios, typing_steps};
use quill::complete::{Input, RunOptions, run_blocking};
use quill::engine::{Generate, Piece, Request, Work};
use quill::text::LineIndex;

use super::complete::language_for;
use super::{CompletionArgs, ModelArgs, load, read_source};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The file to type into (≥ 300 lines is realistic)
    #[arg(long, default_value = "benches/data/inventory.py")]
    pub file: PathBuf,
    /// 1-based line where typing starts [default: two thirds into the file]
    #[arg(long)]
    pub line: Option<usize>,
    /// Lines to retype
    #[arg(long, default_value_t = 6)]
    pub lines: usize,
    /// Completion requests without KV reuse (each costs a full prompt evaluation)
    #[arg(long, default_value_t = 6)]
    pub cold_requests: usize,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Only measure the raw engine (prompt and generation speed, like llama-bench's
    /// pp512/tg128): fixed lengths, end-of-generation tokens ignored, so the numbers
    /// also mean something on a synthetic model whose text is noise
    #[arg(long)]
    pub engine_only: bool,
    /// Repetitions of the raw engine measurement
    #[arg(long, default_value_t = 3)]
    pub repetitions: usize,
    /// Replay an editing session through `quill serve` over stdio instead: open
    /// benches/data/inventory.py and examples/holes.py, retype lines of --file (default
    /// benches/data/report.py), ask for an inline completion at every word
    #[arg(long)]
    pub lsp: bool,
    /// With --lsp: `people` retypes code as a programmer with ghost text does (accepting
    /// suggestions whole or by line or word, typing some by hand, backspacing, new lines;
    /// starts at the `overdue` function of benches/data/report.py by default); `words`
    /// asks at every word boundary and accepts nothing
    #[arg(long, default_value = "people", value_parser = ["people", "words"])]
    pub replay: String,
    /// With --lsp: the project to type in, one per language: `python` (report.py next to
    /// inventory.py), `typescript`, `rust`, `go`, `java`, `cpp` (benches/data/LANGUAGE/:
    /// two functions of a trip report typed next to the geometry module it imports).
    /// Replaces --file, --line and --lines
    #[arg(long, value_parser = scenarios::SCENARIOS.map(|s| s.name))]
    pub scenario: Option<String>,
    /// With --lsp: more server settings, as JSON (e.g. '{"timeBudgetMs": 0}', or an experiment: '{"experiments": {"suggestionCache": false}}')
    #[arg(long, value_name = "JSON")]
    pub settings: Option<String>,
    /// With --lsp --replay people: ask a fresh server without the suggestion cache about
    /// every state answered from the cache, and count identical answers
    #[arg(long)]
    pub verify: bool,
    /// With --lsp --replay people: drive the llama-server at URL the way llama.vim does,
    /// instead of `quill serve` (scripts/llama-peer.sh builds and starts one)
    #[arg(long, value_name = "URL")]
    pub peer: Option<String>,
    /// With --lsp --replay people: milliseconds between two keystrokes (each one a
    /// `didChange`); servers work in the background meanwhile, as they do while a person
    /// types. 150 is a fast typist (80 words a minute); 0 asks back to back
    #[arg(long, value_name = "MS", default_value_t = 150)]
    pub keystroke_ms: u64,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub completion: CompletionArgs,
}

#[derive(Debug, Default, serde::Serialize)]
struct Series {
    requests: usize,
    p50_ms: f64,
    p95_ms: f64,
    mean_ms: f64,
    mean_prompt_tokens: f64,
    mean_evaluated_tokens: f64,
    mean_reused_tokens: f64,
    mean_generated_tokens: f64,
    /// Generated tokens per second of generation time, over all requests.
    generate_tps: f64,
}

fn series(samples: &[quill::engine::Timings]) -> Series {
    let ms: Vec<f64> = samples
        .iter()
        .map(|t| t.prompt_ms + t.generate_ms)
        .collect();
    let f = |g: fn(&quill::engine::Timings) -> u32| {
        mean(&samples.iter().map(|t| g(t) as f64).collect::<Vec<_>>())
    };
    let gen_tokens: f64 = samples.iter().map(|t| t.generated_tokens as f64).sum();
    let gen_ms: f64 = samples.iter().map(|t| t.generate_ms).sum();
    Series {
        requests: samples.len(),
        p50_ms: percentile(&ms, 50.0),
        p95_ms: percentile(&ms, 95.0),
        mean_ms: mean(&ms),
        mean_prompt_tokens: f(|t| t.prompt_tokens),
        mean_evaluated_tokens: f(|t| t.evaluated_tokens),
        mean_reused_tokens: f(|t| t.reused_tokens),
        mean_generated_tokens: f(|t| t.generated_tokens),
        generate_tps: if gen_ms > 0.0 {
            gen_tokens * 1000.0 / gen_ms
        } else {
            0.0
        },
    }
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.lsp {
        return run_lsp(&args);
    }
    let text = read_source(&args.file)?;
    let index = LineIndex::new(&text);
    if index.lines() < args.lines + 2 {
        bail!(
            "{} is too short to type {} lines into",
            args.file.display(),
            args.lines
        );
    }
    let start_line = match args.line {
        Some(l) if l >= 1 => l - 1,
        Some(_) => bail!("--line starts at 1"),
        None => index.lines() * 2 / 3,
    };
    let language = language_for(&args.file, &text, None)?;
    let steps = typing_steps(&text, start_line, args.lines);
    let loaded = load(&args.model)?;
    if args.engine_only {
        let raw = raw_engine(&loaded, &text, args.repetitions)?;
        let v = serde_json::json!({
            "model": loaded.info.name,
            "threads": loaded.info.threads,
            "gpu_layers": loaded.info.gpu_layers,
            "prompt_tokens": raw.evaluated_tokens,
            "prompt_tps": raw.prompt_tps(),
            "generated_tokens": raw.generated_tokens,
            "generate_tps": raw.generate_tps(),
        });
        let mut out = std::io::stdout().lock();
        if args.json {
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "model {} ({} threads, {} GPU layers): pp{} {:.1} tok/s, tg{} {:.1} tok/s (median of {})",
                loaded.info.name,
                loaded.info.threads,
                loaded.info.gpu_layers,
                raw.evaluated_tokens,
                raw.prompt_tps(),
                raw.generated_tokens,
                raw.generate_tps(),
                args.repetitions.max(1)
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = args.completion.config();
    let path = args.file.display().to_string();
    let engine = &loaded.engine;

    // `reuse`: keep the common prefix in the KV cache; `shift`: also the suffix (what
    // the server does while typing).
    let run_step = |step: &quill::bench::Step,
                    reuse: bool,
                    shift: bool|
     -> Result<quill::complete::Completion> {
        let mut input = Input::new(&step.text, step.offset);
        input.language = language;
        input.path = Some(&path);
        let opts = RunOptions {
            key: Some("bench".into()),
            reuse_cache: reuse,
            shift_suffix: shift,
            ..RunOptions::default()
        };
        Ok(run_blocking(engine, &input, &cfg, &*loaded.counter, &opts)?.completion)
    };

    // Cold first completion: an empty cache, as right after the server starts.
    eprintln!("bench: {} typing steps in {path}", steps.len());
    let first = run_step(&steps[0], false, false)?;
    let cold_first = first.timings;

    let replay = |shift: bool| -> Result<Vec<quill::engine::Timings>> {
        let mut out = Vec::new();
        // Start from the first step's prompt, evaluated afresh.
        run_step(&steps[0], false, false)?;
        for step in &steps[1..] {
            out.push(run_step(step, true, shift)?.timings);
        }
        Ok(out)
    };
    let warm = replay(false)?;
    let shifted = replay(true)?;
    let mut cold = Vec::new();
    let stride = (steps.len() / args.cold_requests.max(1)).max(1);
    for step in steps.iter().step_by(stride).take(args.cold_requests) {
        cold.push(run_step(step, false, false)?.timings);
    }

    let raw = raw_engine(&loaded, &text, 1)?;

    let warm_s = series(&warm);
    let shifted_s = series(&shifted);
    let cold_s = series(&cold);
    if args.json {
        let v = serde_json::json!({
            "model": loaded.info.name,
            "threads": loaded.info.threads,
            "gpu_layers": loaded.info.gpu_layers,
            "file": path,
            "lines": index.lines(),
            "prefix_budget": cfg.prefix_tokens,
            "suffix_budget": cfg.suffix_tokens,
            "cold_first_ms": cold_first.prompt_ms + cold_first.generate_ms,
            "with_reuse": warm_s,
            "with_reuse_and_suffix_shift": shifted_s,
            "without_reuse": cold_s,
            "engine": {
                "prompt_tokens": raw.evaluated_tokens,
                "prompt_tps": raw.prompt_tps(),
                "generated_tokens": raw.generated_tokens,
                "generate_tps": raw.generate_tps(),
            },
        });
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "model {} ({} threads, {} GPU layers), {} ({} lines), typing {} lines from line {}",
        loaded.info.name,
        loaded.info.threads,
        loaded.info.gpu_layers,
        path,
        index.lines(),
        args.lines,
        start_line + 1
    )?;
    writeln!(
        out,
        "budgets: prefix {} tokens, suffix {} tokens",
        cfg.prefix_tokens, cfg.suffix_tokens
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<18} {:>5} {:>8} {:>8} {:>10} {:>10} {:>9} {:>10}",
        "completion", "n", "p50 ms", "p95 ms", "prompt tok", "evaluated", "gen tok", "gen tok/s"
    )?;
    for (name, s) in [
        ("reuse + suffix", &shifted_s),
        ("reuse prefix", &warm_s),
        ("no KV reuse", &cold_s),
    ] {
        writeln!(
            out,
            "{:<18} {:>5} {:>8.0} {:>8.0} {:>10.0} {:>10.1} {:>9.1} {:>10.1}",
            name,
            s.requests,
            s.p50_ms,
            s.p95_ms,
            s.mean_prompt_tokens,
            s.mean_evaluated_tokens,
            s.mean_generated_tokens,
            s.generate_tps
        )?;
    }
    writeln!(
        out,
        "cold first completion: {:.0} ms ({} prompt tokens)",
        cold_first.prompt_ms + cold_first.generate_ms,
        cold_first.evaluated_tokens
    )?;
    writeln!(
        out,
        "raw engine: prompt {} tokens at {:.1} tok/s, generation {} tokens at {:.1} tok/s",
        raw.evaluated_tokens,
        raw.prompt_tps(),
        raw.generated_tokens,
        raw.generate_tps()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The raw engine, as llama-bench measures it: pp512 evaluates a 512-token prompt from an
/// empty cache; tg128 generates 128 tokens from an (almost) empty cache, end-of-generation
/// ignored and no stop rule. Returns the median of `reps` runs of each, as one `Timings`.
fn raw_engine(loaded: &super::Loaded, text: &str, reps: usize) -> Result<quill::engine::Timings> {
    let mut pp_text = String::new();
    'fill: loop {
        for line in text.lines() {
            pp_text.push_str(line);
            pp_text.push('\n');
            if loaded.counter.count(&pp_text) >= 512 {
                break 'fill;
            }
        }
    }
    // `max_tokens` 0: read the prompt only.
    let run = |prompt: &str, max_tokens: u32| -> Result<quill::engine::Timings> {
        let mut g = Generate::new(max_tokens);
        g.ignore_eog = true;
        // Raw speed: one token a decode, as llama-bench's tg.
        g.draft = quill::engine::DraftConfig::OFF;
        let work = match max_tokens {
            0 => Work::Prefill {
                refresh_stale: false,
            },
            _ => Work::Generate(g),
        };
        let mut req = Request::new(vec![Piece::Text(prompt.to_string())], work);
        req.reuse_cache = false;
        Ok(loaded
            .engine
            .generate_blocking(req)
            .context("raw engine benchmark")?
            .timings)
    };
    let mut pp = Vec::new();
    let mut tg = Vec::new();
    for _ in 0..reps.max(1) {
        pp.push(run(&pp_text, 0)?);
        tg.push(run("\n", 128)?);
    }
    pp.sort_by(|a, b| a.prompt_tps().total_cmp(&b.prompt_tps()));
    tg.sort_by(|a, b| a.generate_tps().total_cmp(&b.generate_tps()));
    let (p, g) = (pp[pp.len() / 2], tg[tg.len() / 2]);
    Ok(quill::engine::Timings {
        prompt_tokens: p.prompt_tokens,
        evaluated_tokens: p.evaluated_tokens,
        prompt_ms: p.prompt_ms,
        generated_tokens: g.generated_tokens,
        generate_ms: g.generate_ms,
        ..Default::default()
    })
}

fn run_lsp(args: &BenchArgs) -> Result<ExitCode> {
    let people = args.replay == "people";
    let default_file = args.file == std::path::Path::new("benches/data/inventory.py");
    let scenario = match &args.scenario {
        Some(name) => Some(scenarios::find(name)?),
        None if default_file => Some(&scenarios::SCENARIOS[0]),
        None => None,
    };
    let file = scenario.map_or_else(|| args.file.clone(), |s| PathBuf::from(s.file));
    let source = read_source(&file)?;
    let (start_line, n_lines) =
        scenarios::lines_typed(&source, scenario, args.line, args.lines, people)?;
    let others = scenarios::open_beside(scenario, &file);
    // The server's settings from the command line's flags.
    let mut options = serde_json::json!({});
    if let Some(m) = &args.model.model {
        options["model"] = m.as_str().into();
    }
    if let Some(t) = args.model.threads {
        options["threads"] = t.into();
    }
    if let Some(n) = args.model.gpu_layers {
        options["gpuLayers"] = n.into();
    }
    if let Some(n) = args.completion.max_tokens {
        options["maxTokens"] = n.into();
    }
    // Flags with a default pass it on: the server's defaults are the same.
    options["contextSize"] = args.model.context_size.into();
    options["flashAttention"] = args.model.flash_attention.as_str().into();
    options["prefixTokens"] = args.completion.prefix_tokens.into();
    options["suffixTokens"] = args.completion.suffix_tokens.into();
    options["draftTokens"] = args.completion.draft_tokens.into();
    options["candidates"] = args.completion.candidates.into();
    options["rankBy"] = args.completion.rank_by.as_str().into();
    if let Some(extra) = &args.settings {
        let extra: serde_json::Value =
            serde_json::from_str(extra).context("--settings is not JSON")?;
        let Some(extra) = extra.as_object() else {
            bail!("--settings must be a JSON object");
        };
        for (k, v) in extra {
            options[k] = v.clone();
        }
    }
    if people {
        return run_typing(args, &file, &source, &others, start_line, n_lines, &options);
    }
    let report = quill::bench::lsp::run_session(&file, &others, start_line, n_lines, &options)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "LSP replay: quill serve over stdio, {} open files, typing {} lines of {} from line {}",
            others.len() + 1,
            n_lines,
            file.display(),
            start_line + 1
        )?;
        writeln!(
            out,
            "{} inline completions: p50 {:.0} ms, p95 {:.0} ms; prompt {:.0} tokens, {:.1} evaluated per request; cache reuse {:.1}%; {} empty",
            report.requests,
            report.p50_ms,
            report.p95_ms,
            report.mean_prompt_tokens,
            report.mean_evaluated_tokens,
            report.cache_reuse * 100.0,
            report.empty
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The `people` replay against `quill serve` or, with `--peer`, a llama-server.
fn run_typing(
    args: &BenchArgs,
    file: &std::path::Path,
    source: &str,
    others: &[PathBuf],
    start_line: usize,
    n_lines: usize,
    options: &serde_json::Value,
) -> Result<ExitCode> {
    use quill::bench::replay::{Quill, Scenario, replay, verify};
    let mut scenario = Scenario::new(source, start_line, n_lines)?;
    scenario.keystroke = std::time::Duration::from_millis(args.keystroke_ms);
    let (report, engine) = match &args.peer {
        Some(url) => {
            let mut peer = quill::bench::peer::LlamaServer::new(url, others)?;
            let (r, _) = replay(&mut peer, "llama-server (llama.vim's requests)", &scenario)?;
            (
                r,
                format!("llama-server at {url}, driven as llama.vim drives it"),
            )
        }
        None => {
            let doc = format!("{}\n{}", scenario.head, scenario.tail);
            let mut q = Quill::start(options, others, file, &doc)?;
            let (mut r, asked) = replay(&mut q, "quill serve", &scenario)?;
            q.finish()?;
            if args.verify {
                r.verified = Some(verify(options, others, file, &asked)?);
            }
            (r, format!("quill serve over stdio, settings {options}"))
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Typing replay: {engine}; {} open files; retyping {} lines of {} from line {}",
        others.len() + 1,
        n_lines,
        file.display(),
        start_line + 1
    )?;
    writeln!(
        out,
        "{} requests over {} keystrokes in {:.0} s: p50 {:.0} ms, p95 {:.0} ms, mean {:.0} ms",
        report.requests,
        report.keystrokes,
        report.seconds,
        report.p50_ms,
        report.p95_ms,
        report.mean_ms
    )?;
    if report.partial > 0 {
        writeln!(
            out,
            "first text shown (the words ready, {} answers in part): p50 {:.0} ms, p95 {:.0} ms",
            report.partial, report.first_p50_ms, report.first_p95_ms
        )?;
    }
    writeln!(
        out,
        "cache hits {} ({:.0}%); accepted whole {}, by line {}, by word {}; empty {} ({} where code was still to come on the line)",
        report.cache_hits,
        report.hit_rate * 100.0,
        report.accepted_whole,
        report.accepted_line,
        report.accepted_word,
        report.empty,
        report.empty_wanted
    )?;
    writeln!(
        out,
        "generated {} tokens ({:.2} per keystroke); draft tokens kept {:.0}%",
        report.generated_tokens,
        report.tokens_per_keystroke,
        report.draft_acceptance * 100.0
    )?;
    if let Some(v) = &report.verified {
        writeln!(
            out,
            "verified: {} cache answers asked afresh: {} identical, {} the fresh answer's first lines, {} different; what was typed next: {} cache answers, {} fresh",
            v.checked,
            v.identical,
            v.prefix,
            v.differences.len(),
            v.cached_right,
            v.fresh_right
        )?;
        for d in &v.differences {
            writeln!(out, "  {d}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
