//! `quill complete FILE:LINE:COL`: one completion, printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use quill::complete::{Input, RunOptions, run_blocking};
use quill::lang::Language;
use quill::text::{Encoding, LineIndex};

use super::{CompletionArgs, ModelArgs, load, read_source};

#[derive(Args, Debug)]
pub struct CompleteArgs {
    /// FILE:LINE:COL, 1-based; COL counts characters (a tab is one). FILE:LINE completes at
    /// the end of the line.
    #[arg(value_name = "FILE:LINE:COL")]
    pub target: String,
    /// Print JSON: the text, the mode, why generation stopped, and timings
    #[arg(long)]
    pub json: bool,
    /// Print the prompt (with special tokens) to stderr before completing
    #[arg(long)]
    pub show_prompt: bool,
    /// Language, when the file name does not tell (python, rust, javascript, typescript, go)
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub completion: CompletionArgs,
}

/// A parsed FILE:LINE[:COL] (0-based line; column in characters, `None` for end of line).
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub line: usize,
    pub col: Option<usize>,
}

pub fn parse_target(s: &str) -> Result<Target> {
    let number = |part: &str, what: &str| -> Result<usize> {
        let n: usize = part
            .parse()
            .with_context(|| format!("{what} {part:?} in {s:?} is not a number"))?;
        if n == 0 {
            bail!("{what} in {s:?} is 0; lines and columns start at 1");
        }
        Ok(n - 1)
    };
    let mut parts = s.rsplitn(3, ':');
    let last = parts.next().unwrap_or("");
    let mid = parts.next();
    let first = parts.next();
    match (first, mid) {
        (Some(file), Some(line))
            if !file.is_empty() && line.chars().all(|c| c.is_ascii_digit()) =>
        {
            Ok(Target {
                path: PathBuf::from(file),
                line: number(line, "line")?,
                col: Some(number(last, "column")?),
            })
        }
        (_, Some(_)) => {
            // FILE:LINE, where FILE itself may contain a colon.
            let (file, line) = s.rsplit_once(':').expect("has a colon");
            Ok(Target {
                path: PathBuf::from(file),
                line: number(line, "line")?,
                col: None,
            })
        }
        _ => bail!("expected FILE:LINE:COL, got {s:?}"),
    }
}

/// The language named by `--language`, else the one of `path`. A name quill has no rules
/// for is no error: the file gets plain fill-in-the-middle (a note says so).
/// Without a name, the file's extension, then its `#!` line, say which.
pub fn language_for(path: &Path, text: &str, named: Option<&str>) -> Result<Option<Language>> {
    let Some(n) = named else {
        return Ok(Language::detect(path, text));
    };
    let lang = Language::from_name(n);
    if lang.is_none() {
        tracing::warn!(
            "quill has no rules for language {n:?}: plain fill-in-the-middle, no syntax check"
        );
    }
    Ok(lang)
}

pub fn run(args: CompleteArgs) -> Result<ExitCode> {
    let target = parse_target(&args.target)?;
    let text = read_source(&target.path)?;
    let index = LineIndex::new(&text);
    let offset = match target.col {
        Some(col) => index.offset(&text, target.line, col, Encoding::Chars),
        None => index
            .line(&text, target.line)
            .map(|l| index.offset(&text, target.line, l.chars().count(), Encoding::Chars))
            .unwrap_or(index.offset(&text, target.line, 0, Encoding::Chars)),
    }
    .with_context(|| format!("bad position {}", args.target))?;
    let language = language_for(&target.path, &text, args.language.as_deref())?;
    let loaded = load(&args.model)?;
    let cfg = args.completion.config();
    let path_str = target.path.display().to_string();
    let mut input = Input::new(&text, offset);
    input.language = language;
    input.path = Some(&path_str);
    let run = run_blocking(
        &loaded.engine,
        &input,
        &cfg,
        &*loaded.counter,
        &RunOptions::default(),
    )?;
    if args.show_prompt {
        eprintln!("{}", quill::engine::render::render(&run.prepared.prompt));
    }
    let completion = run.completion;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut v = serde_json::to_value(&completion)?;
        v["model"] = serde_json::Value::String(loaded.info.name.clone());
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", completion.text)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            parse_target("src/a.py:3:5").unwrap(),
            Target {
                path: "src/a.py".into(),
                line: 2,
                col: Some(4)
            }
        );
        assert_eq!(
            parse_target("a.py:3").unwrap(),
            Target {
                path: "a.py".into(),
                line: 2,
                col: None
            }
        );
        assert!(parse_target("a.py").is_err());
        assert!(parse_target("a.py:0:1").is_err());
        // A colon in the file name (C:\\x.py:3 on Windows) is kept in the path.
        assert_eq!(
            parse_target("C:\\x.py:3").unwrap().path,
            PathBuf::from("C:\\x.py")
        );
        assert!(parse_target("a.py:3:x").is_err());
    }
}
