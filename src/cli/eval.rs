//! `quill eval`: completion quality on real code, per language and task kind, optionally
//! comparing two configurations on the same tasks in one run.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use quill::complete::{Input, RunOptions, run_blocking};
use quill::config::{CompletionConfig, Multiline};
use quill::context::ContextFile;
use quill::context::{Options as ContextOptions, Source};
use quill::eval::report::{Outcome, answer, paired, rows};
use quill::eval::sources::{collect, collect_packages, default_source};
use quill::eval::{EvalTask, TaskKind, TaskSet, build_tasks, corpus, edit_similarity, exact_match};
use quill::lang::Language;

use super::{CompletionArgs, Loaded, ModelArgs, load_config};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Language of the tasks: python (the interpreter's standard library), rust (crates in
    /// the cargo registry), javascript (npm's own sources), any other language quill knows
    /// with --source (scripts/eval-corpora.sh fetches C, C++, Java, Kotlin, Swift and
    /// TypeScript trees newer than the models)
    #[arg(long, default_value = "python")]
    pub language: String,
    /// Folder to take source files from instead of the language's default
    #[arg(long, conflicts_with = "corpus")]
    pub source: Option<PathBuf>,
    /// A pinned set of packages fetched from PyPI into quill's cache instead: `unseen`
    /// (Python packages first published after the models' training data, so a cross-file
    /// task is answered from the open files, not from memory)
    #[arg(long)]
    pub corpus: Option<String>,
    /// Source files sampled from the folder (cross-file tasks: about as many again, from whole
    /// packages)
    #[arg(long, default_value_t = 40)]
    pub files: usize,
    /// Tasks per kind
    #[arg(long, default_value_t = 30)]
    pub tasks: usize,
    /// Task kinds: line (a line masked, the cursor at its indentation on the emptied
    /// line), whole-line (the same lines removed with their line break, the cursor at
    /// column 0 of the next line), remainder, block, cross-file
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "line,whole-line,remainder,block,cross-file"
    )]
    pub kinds: Vec<String>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Configurations to run on the same tasks (two for the side-by-side comparison; one
    /// to four accepted), each `key=value[,key=value]` with keys
    /// prefix, suffix, context (on|off), context_tokens, snippets (on|off:
    /// similar code from open files besides definitions), members (on|off: a long class as
    /// its fields and method signatures, or its header alone), syntax (on|off),
    /// repo (on|off: context laid out with the model's repository tokens, or as comments),
    /// model (a name or path), shift (on|off: reuse the suffix's cache after an edit, as
    /// the server does), typing (complete this many characters earlier first),
    /// context_change (with typing: that earlier completion's context lacks this many
    /// last lines, as after a change of the context from other files), multiline
    /// (auto|always: an empty line inside a block gets one statement, or a block), blank_stop
    /// (on|off: a blank line ends a block), block_lines (most lines a block), draft (most
    /// draft tokens per step in speculative decoding; 0 off), fresh (with shift: tokens
    /// after the edit decoded afresh), candidates (ranked candidates generated side by side
    /// from one prompt, the best kept; 1 off), temperature (candidates after the first
    /// sample at it where they leave the greedy answer; 0: the next most likely token
    /// there), rank (confidence|likelihood: how candidates are ordered), rescue (ranked
    /// candidates tried when post-processing left nothing of the model's answer; 0 off).
    /// Without it, one run with the flags' settings.
    #[arg(long, num_args = 1..=4, value_names = ["A", "B"])]
    pub compare: Option<Vec<String>>,
    /// Print the tasks (id, the code before the cursor on its line, the expected answer;
    /// with --json, `quill batch` input lines with an `expected` field)
    /// and stop, without loading a model: to see what a task set measures
    #[arg(long)]
    pub list: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Write every task's outcome as JSON lines to FILE (configuration, task, expected and
    /// generated text, scores, the rendered prompt) to see why a configuration loses
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub completion: CompletionArgs,
}

/// One configuration under test.
#[derive(Debug, Clone)]
struct Config {
    name: String,
    model: Option<String>,
    completion: CompletionConfig,
    context: bool,
    /// Similar snippets from the open files, besides definitions.
    snippets: bool,
    /// A long class in the context as its members' outline, not its header alone.
    members: bool,
    /// Reuse the suffix's KV cache after an edit (as the server does while typing).
    shift: bool,
    /// Before each task, complete with the cursor this many characters earlier, as if
    /// the user had typed them since (0: tasks start from a cold cache).
    typing: usize,
    /// With `typing`: the earlier completion's context lacks the last this many lines of
    /// its last file, as if the context from other files had changed since.
    context_change: usize,
}

fn parse_config(spec: &str, base: &Config) -> Result<Config> {
    let mut c = base.clone();
    c.name = spec.to_string();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("{part:?} is not key=value"))?;
        let n = || {
            v.parse::<usize>()
                .with_context(|| format!("{k}={v}: not a number"))
        };
        match k {
            "prefix" => c.completion.prefix_tokens = n()?,
            "suffix" => c.completion.suffix_tokens = n()?,
            "context" => c.context = v == "on",
            "snippets" => c.snippets = v == "on",
            "members" => c.members = v == "on",
            "context_tokens" => c.completion.context_tokens = n()?,
            "syntax" => c.completion.syntax_check = v == "on",
            "repo" => c.completion.repo_layout = v == "on",
            "model" => c.model = Some(v.to_string()),
            "shift" => c.shift = v == "on",
            "typing" => c.typing = n()?,
            "context_change" => c.context_change = n()?,
            "multiline" => {
                c.completion.multiline =
                    Multiline::from_name(v).with_context(|| format!("multiline={v}"))?
            }
            "blank_stop" => c.completion.stop_at_blank_line = v == "on",
            "block_lines" => c.completion.max_block_lines = n()?,
            "draft" => c.completion.draft_tokens = n()?,
            "fresh" => c.completion.fresh_suffix_tokens = n()?,
            "candidates" => c.completion.candidates = n()? as u32,
            "rescue" => c.completion.rescue_candidates = n()? as u32,
            "temperature" => {
                c.completion.candidate_temperature = v
                    .parse()
                    .with_context(|| format!("{k}={v}: not a number"))?
            }
            "rank" => {
                c.completion.candidate_ranking = quill::config::Ranking::from_name(v)
                    .with_context(|| format!("rank={v}: confidence or likelihood"))?
            }
            other => bail!("unknown configuration key {other:?}"),
        }
    }
    Ok(c)
}

fn run_config(
    loaded: &Loaded,
    set: &TaskSet,
    cfg: &Config,
    lang: Language,
    mut dump: Option<&mut dyn Write>,
) -> Result<Vec<Outcome>> {
    let trees: Vec<Option<tree_sitter::Tree>> = set
        .files
        .iter()
        .map(|f| quill::syntax::parse(lang, &f.text, None))
        .collect();
    let mut out = Vec::new();
    let started = Instant::now();
    for (i, t) in set.tasks.iter().enumerate() {
        let context = if cfg.context && !t.others.is_empty() {
            task_context(set, &trees, t, loaded, cfg)
        } else {
            Vec::new()
        };
        if cfg.typing > 0 {
            // The same file a few keystrokes earlier: what the cache holds while typing.
            let mut cut = t.offset.saturating_sub(cfg.typing);
            while !t.text.is_char_boundary(cut) {
                cut -= 1;
            }
            let earlier = format!("{}{}", &t.text[..cut], &t.text[t.offset..]);
            let mut input = Input::new(&earlier, cut);
            input.language = Some(lang);
            input.path = Some(&t.path);
            let changed = earlier_context(&context, cfg.context_change);
            input.context = &changed;
            input.repo_name = Some("workspace");
            run_one(loaded, &input, cfg)?;
        }
        let mut input = Input::new(&t.text, t.offset);
        input.language = Some(lang);
        input.path = Some(&t.path);
        input.context = &context;
        input.repo_name = Some("workspace");
        let (c, prompt) = run_one(loaded, &input, cfg)?;
        let got = answer(t.kind, &c.text);
        let completed = format!("{}{}{}", &t.text[..t.offset], c.text, &t.text[t.offset..]);
        let parses = quill::syntax::parse(lang, &completed, None)
            .is_some_and(|tree| quill::syntax::error_count(tree.root_node()) == 0);
        let o = Outcome {
            kind: t.kind,
            exact: exact_match(&got, &t.expected),
            exact_any: c
                .alternatives
                .iter()
                .any(|a| exact_match(&answer(t.kind, a), &t.expected)),
            similarity: edit_similarity(&got, &t.expected),
            parses,
            empty: c.text.trim().is_empty(),
            ms: c.timings.prompt_ms + c.timings.generate_ms,
            // An inference server reports its count at the end of the stream, which quill
            // closes as soon as the answer is settled: then quill's own count of the text.
            prompt_tokens: match c.timings.prompt_tokens {
                0 => (c.prefix_tokens + c.suffix_tokens + c.context_tokens) as f64,
                n => n as f64,
            },
            timings: c.timings,
        };
        if let Some(w) = dump.as_mut() {
            let line = serde_json::json!({
                "config": cfg.name,
                "model": loaded.info.name,
                "task": t.id,
                "kind": t.kind.name(),
                "path": t.path,
                "offset": t.offset,
                "expected": t.expected,
                "got": got,
                "alternatives": c.alternatives,
                "ranked": c.ranked,
                "raw": c.raw,
                "exact": o.exact,
                "similarity": o.similarity,
                "parses": o.parses,
                "context": context.iter().map(|f| &f.path).collect::<Vec<_>>(),
                "context_tokens": c.context_tokens,
                "prompt": quill::engine::render::render(&prompt),
            });
            writeln!(w, "{line}")?;
        }
        out.push(o);
        if (i + 1) % 10 == 0 {
            eprintln!(
                "  {}: {}/{} tasks, {:.0} s",
                cfg.name,
                i + 1,
                set.tasks.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(out)
}

/// One completion through the shared pipeline, with the configuration's engine options,
/// and the prompt it was given.
/// `context` without the last `lines` lines of its last file (a file left empty goes).
fn earlier_context(context: &[ContextFile], lines: usize) -> Vec<ContextFile> {
    let mut out = context.to_vec();
    if lines == 0 {
        return out;
    }
    if let Some(last) = out.last_mut() {
        let kept: Vec<&str> = last.text.lines().collect();
        let keep = kept.len().saturating_sub(lines);
        last.text = kept[..keep].iter().map(|l| format!("{l}\n")).collect();
        if last.text.is_empty() {
            out.pop();
        }
    }
    out
}

fn run_one(
    loaded: &Loaded,
    input: &Input<'_>,
    cfg: &Config,
) -> Result<(quill::complete::Completion, Vec<quill::engine::Piece>)> {
    let opts = RunOptions {
        shift_suffix: cfg.shift,
        ..RunOptions::default()
    };
    let run = run_blocking(
        &loaded.engine,
        input,
        &cfg.completion,
        &*loaded.counter,
        &opts,
    )?;
    Ok((run.completion, run.prepared.prompt))
}

fn task_context(
    set: &TaskSet,
    trees: &[Option<tree_sitter::Tree>],
    t: &EvalTask,
    loaded: &Loaded,
    cfg: &Config,
) -> Vec<ContextFile> {
    let current_tree = quill::syntax::parse(t.language, &t.text, None);
    let current = Source {
        path: &t.path,
        text: &t.text,
        language: Some(t.language),
        tree: current_tree.as_ref(),
        recency: 2,
    };
    let others: Vec<Source<'_>> = t
        .others
        .iter()
        .map(|&o| Source {
            path: &set.files[o].path,
            text: &set.files[o].text,
            language: Some(t.language),
            tree: trees[o].as_ref(),
            recency: 1,
        })
        .collect();
    let defaults = ContextOptions::default();
    let opts = ContextOptions {
        budget: cfg.completion.context_tokens,
        max_snippets: if cfg.snippets {
            defaults.max_snippets
        } else {
            0
        },
        members: cfg.members,
        ..defaults
    };
    quill::context::build(&current, t.offset, &others, &opts, &*loaded.counter)
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    // Tasks are cut from files of the language, found by its extensions: it must be one
    // quill knows.
    let lang = Language::from_name(&args.language).with_context(|| {
        let known: Vec<&str> = Language::ALL.iter().map(|l| l.name()).collect();
        format!(
            "quill eval finds tasks by a known language's extensions; {:?} is not one ({})",
            args.language,
            known.join(", ")
        )
    })?;
    let corpus = args.corpus.as_deref().map(corpus::find).transpose()?;
    if let Some(c) = corpus.filter(|c| c.language != lang) {
        bail!(
            "the {} corpus is {}: pass --language {}",
            c.name,
            c.language.name(),
            c.language.name()
        );
    }
    let kinds: Vec<TaskKind> = args
        .kinds
        .iter()
        .map(|k| TaskKind::from_name(k).with_context(|| format!("unknown task kind {k:?}")))
        .collect::<Result<_>>()?;
    let root = match (&args.source, corpus) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => corpus::fetch(c, &quill::models::quill_home().join("eval"))?,
        (None, None) => default_source(lang)?,
    };
    let files = collect(&root, lang, args.files, args.seed);
    if files.is_empty() {
        bail!("no {} files found under {}", lang.name(), root.display());
    }
    let single: Vec<TaskKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != TaskKind::CrossFile)
        .collect();
    let mut set = build_tasks(files, lang, &single, args.tasks, args.seed);
    if kinds.contains(&TaskKind::CrossFile) {
        let packages = collect_packages(&root, lang, args.files, args.seed);
        set.append(build_tasks(
            packages,
            lang,
            &[TaskKind::CrossFile],
            args.tasks,
            args.seed,
        ));
    }
    // Tasks from one file next to each other, in file order: later tasks reuse the KV
    // cache of earlier ones. Scores do not depend on the order.
    set.tasks.sort_by_key(|t| (t.file, t.offset));
    eprintln!(
        "{} tasks from {} {} files under {} (seed {})",
        set.tasks.len(),
        set.files.len(),
        lang.name(),
        root.display(),
        args.seed
    );
    if args.list {
        let mut out = std::io::stdout().lock();
        if args.json {
            // `quill batch` input, with the expected answer beside it: other engines and
            // other builds can be run on the same tasks.
            for t in &set.tasks {
                let task = serde_json::json!({
                    "id": t.id,
                    "prefix": &t.text[..t.offset],
                    "suffix": &t.text[t.offset..],
                    "language": lang.name(),
                    "path": t.path,
                    "expected": t.expected,
                });
                writeln!(out, "{task}")?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        for t in &set.tasks {
            let line_start = t.text[..t.offset].rfind('\n').map_or(0, |i| i + 1);
            writeln!(
                out,
                "{}\t{}\u{2038}{}",
                t.id,
                t.text[line_start..t.offset].trim_start(),
                t.expected.lines().next().unwrap_or("")
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let base = Config {
        name: "default".into(),
        model: args.model.model.clone(),
        completion: args.completion.config(),
        context: true,
        snippets: true,
        members: ContextOptions::default().members,
        shift: false,
        typing: 0,
        context_change: 0,
    };
    let configs: Vec<Config> = match &args.compare {
        Some(specs) => specs
            .iter()
            .map(|s| parse_config(s, &base))
            .collect::<Result<_>>()?,
        None => vec![base],
    };
    let mut dump = match &args.dump {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?,
        )),
        None => None,
    };
    let mut results = Vec::new();
    let mut all_outcomes: Vec<Vec<Outcome>> = Vec::new();
    let mut loaded: Option<(Option<String>, Loaded)> = None;
    for cfg in &configs {
        if loaded.as_ref().is_none_or(|(m, _)| *m != cfg.model) {
            drop(loaded.take());
            let mut margs = args.model.clone();
            margs.model = cfg.model.clone();
            loaded = Some((cfg.model.clone(), load_config(margs.engine_config()?)?));
        }
        let (_, l) = loaded.as_ref().expect("loaded above");
        eprintln!("running {} with {}", cfg.name, l.info.name);
        let outcomes = run_config(
            l,
            &set,
            cfg,
            lang,
            dump.as_mut().map(|w| w as &mut dyn Write),
        )?;
        results.push((cfg.name.clone(), l.info.name.clone(), rows(&outcomes)));
        all_outcomes.push(outcomes);
    }
    if let Some(mut w) = dump {
        w.flush()?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let v: Vec<_> = results
            .iter()
            .map(|(name, model, rows)| {
                serde_json::json!({
                    "config": name,
                    "model": model,
                    "language": lang.name(),
                    "seed": args.seed,
                    "rows": rows.iter().map(|(k, r)| (k.name(), r)).collect::<BTreeMap<_, _>>(),
                })
            })
            .collect();
        let v = match &all_outcomes[..] {
            [a, b] => serde_json::json!({ "configs": v, "paired": paired(a, b) }),
            _ => serde_json::json!({ "configs": v }),
        };
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "| config | model | language | kind | tasks | exact | any exact | edit sim | parses | empty | p50 ms | p95 ms | prompt tok | gen tok/s | drafts kept |"
    )?;
    writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for (name, model, rows) in &results {
        for (k, r) in rows {
            writeln!(
                out,
                "| {name} | {model} | {} | {} | {} | {:.1}% | {:.1}% | {:.3} | {:.1}% | {:.1}% | {:.0} | {:.0} | {:.0} | {:.1} | {:.0}% |",
                lang.name(),
                k.name(),
                r.tasks,
                r.exact * 100.0,
                r.exact_any * 100.0,
                r.similarity,
                r.parses * 100.0,
                r.empty * 100.0,
                r.p50_ms,
                r.p95_ms,
                r.prompt_tokens,
                r.generate_tps,
                r.draft_accepted * 100.0
            )?;
        }
    }
    if let ([a, b], [(na, _, _), (nb, _, _)]) = (&all_outcomes[..], &results[..]) {
        writeln!(out)?;
        writeln!(
            out,
            "Paired, task by task (edit similarity; a sign test's p under 0.05 is a real difference):"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "| kind | {na} better | {nb} better | same | exact only {na} | exact only {nb} | sign test p |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|")?;
        for (k, p) in paired(a, b) {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.3} |",
                k.name(),
                p.a_better,
                p.b_better,
                p.same,
                p.exact_only_a,
                p.exact_only_b,
                p.sign_p
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
