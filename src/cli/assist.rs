//! `quill explain`, `quill refactor` and `quill review`: the chat features from the
//! command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use quill::assist::{self, Action, Outcome, Query};
use quill::lang::Language;
use quill::text::{Encoding, LineIndex};

use super::complete::{language_for, parse_target};
use super::{ModelArgs, load, read_source, write_back};

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// FILE, FILE:LINE or FILE:LINE:COL (1-based): the function there, or the whole file
    /// when it is small
    #[arg(value_name = "FILE[:LINE[:COL]]")]
    pub target: String,
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct RefactorArgs {
    /// FILE:LINE (1-based): the function around that line
    #[arg(value_name = "FILE:LINE")]
    pub target: String,
    /// What to change, in your words ("use a dict comprehension", "add error handling")
    #[arg(long, short)]
    pub instruction: Option<String>,
    /// A built-in refactor instead of an instruction: fix, simplify, doc, types
    #[arg(long, value_parser = ["fix", "simplify", "doc", "types"])]
    pub action: Option<String>,
    /// Write the change to FILE (keeping the old text in FILE.orig, or FILE.orig.1, … when
    /// that exists) instead of printing a diff
    #[arg(long, conflicts_with = "diff")]
    pub write: bool,
    /// Print a unified diff (the default)
    #[arg(long)]
    pub diff: bool,
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// FILE:LINE (1-based): the function around that line, or FILE for a small file
    #[arg(value_name = "FILE[:LINE]")]
    pub target: String,
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The file, its text and language, and the byte offset named by a target (start of file
/// when no line is given).
fn locate(
    target: &str,
    language: Option<&str>,
) -> Result<(PathBuf, String, Option<Language>, usize)> {
    let (path, line, col) = match parse_target(target) {
        Ok(t) => (t.path, Some(t.line), t.col),
        Err(_) if Path::new(target).is_file() => (PathBuf::from(target), None, None),
        Err(e) => return Err(e),
    };
    let text = read_source(&path)?;
    let lang = language_for(&path, &text, language)?;
    let index = LineIndex::new(&text);
    let offset = match line {
        None => 0,
        Some(l) => {
            let content = index
                .line(&text, l)
                .with_context(|| format!("line {} is past the end of {}", l + 1, path.display()))?;
            // Without a column: the first non-blank character of the line.
            let col =
                col.unwrap_or_else(|| content.chars().take_while(|c| c.is_whitespace()).count());
            index
                .offset(&text, l, col, Encoding::Chars)
                .with_context(|| format!("bad position {target}"))?
        }
    };
    Ok((path, text, lang, offset))
}

fn run_action(
    action: &Action,
    model: &ModelArgs,
    path: &Path,
    text: &str,
    lang: Option<Language>,
    offset: usize,
    whole_file: bool,
) -> Result<(Outcome, assist::Target)> {
    let tree = lang.and_then(|l| quill::syntax::parse(l, text, None));
    let target = if whole_file && text.lines().count() <= 150 {
        assist::Target {
            start: 0,
            end: text.len(),
            first_line: 1,
            kind: "file",
            selection: None,
        }
    } else {
        assist::target(text, lang, tree.as_ref(), offset, offset, action)
    };
    let loaded = load(model)?;
    let path_str = path.display().to_string();
    let query = Query {
        action,
        text,
        language: lang,
        path: &path_str,
        target: &target,
        problems: &[],
        context: &[],
    };
    eprintln!(
        "asking {} about lines {}-{} of {path_str}…",
        loaded.info.name,
        target.first_line,
        target.first_line
            + text[target.start..target.end]
                .lines()
                .count()
                .saturating_sub(1)
    );
    let answer = assist::ask_blocking(
        &loaded.engine,
        assist::messages(&query),
        action.max_tokens(),
    )?;
    tracing::debug!("model answer:\n{answer}");
    Ok((assist::conclude(&query, &answer), target))
}

/// Runs an action that answers in prose (explain, review) on `FILE[:LINE[:COL]]`: the
/// function at the position, or the whole file when no position is given.
fn ask_about(
    target: &str,
    language: Option<&str>,
    model: &ModelArgs,
    action: &Action,
) -> Result<(PathBuf, Outcome)> {
    let whole = parse_target(target).is_err();
    let (path, text, lang, offset) = locate(target, language)?;
    let (outcome, _) = run_action(action, model, &path, &text, lang, offset, whole)?;
    Ok((path, outcome))
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let (_, outcome) = ask_about(
        &args.target,
        args.language.as_deref(),
        &args.model,
        &Action::Explain,
    )?;
    let Outcome::Explanation(md) = outcome else {
        bail!("unexpected answer");
    };
    if md.trim().is_empty() {
        bail!("the model gave an empty explanation");
    }
    writeln!(std::io::stdout().lock(), "{md}")?;
    Ok(ExitCode::SUCCESS)
}

pub fn review(args: ReviewArgs) -> Result<ExitCode> {
    let (path, outcome) = ask_about(
        &args.target,
        args.language.as_deref(),
        &args.model,
        &Action::Review,
    )?;
    let Outcome::Findings(findings) = outcome else {
        bail!("unexpected answer");
    };
    let mut out = std::io::stdout().lock();
    if findings.is_empty() {
        writeln!(out, "no bugs found")?;
    }
    for f in findings {
        writeln!(out, "{}:{}: {}", path.display(), f.line, f.message)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn refactor(args: RefactorArgs) -> Result<ExitCode> {
    let action = match (&args.instruction, args.action.as_deref()) {
        (Some(i), None) => Action::Instruction(i.clone()),
        (None, Some(id)) => Action::from_id(id, None).expect("checked by clap"),
        (Some(_), Some(_)) => bail!("give either --instruction or --action, not both"),
        (None, None) => {
            bail!("say what to change: --instruction \"…\" or --action fix|simplify|doc|types")
        }
    };
    let (path, text, lang, offset) = locate(&args.target, args.language.as_deref())?;
    if !action.applies_to(lang) {
        bail!(
            "{} does not apply to {} files",
            action.title(lang),
            lang.map_or("these", |l| l.name())
        );
    }
    let (outcome, _) = run_action(&action, &args.model, &path, &text, lang, offset, false)?;
    let (replacement, summary) = match outcome {
        Outcome::Edit {
            replacement,
            summary,
        } => (replacement, summary),
        Outcome::Rejected {
            reason,
            explanation,
        } => {
            eprintln!("{explanation}");
            bail!("no change made: {reason}");
        }
        _ => bail!("unexpected answer"),
    };
    let new = format!(
        "{}{}{}",
        &text[..replacement.start],
        replacement.new_text,
        &text[replacement.end..]
    );
    if !summary.is_empty() {
        eprintln!("{summary}");
    }
    if args.write {
        // The backup holds the bytes the change was made from; the file is replaced only
        // while it still holds them (not over an edit saved while the model ran).
        let backup = write_back::replace_with_backup(&path, text.as_bytes(), &new)?;
        eprintln!("wrote {} (backup in {})", path.display(), backup.display());
    } else {
        let diff = similar::TextDiff::from_lines(&text, &new);
        let name = path.display().to_string();
        write!(
            std::io::stdout().lock(),
            "{}",
            diff.unified_diff()
                .header(&format!("a/{name}"), &format!("b/{name}"))
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
