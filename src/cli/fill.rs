//! `quill fill FILE`: fill every `quill: fill` hole and print (or write) the file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use quill::complete::{Input, complete_blocking};

use super::complete::language_for;
use super::{CompletionArgs, ModelArgs, load, read_source, write_back};

#[derive(Args, Debug)]
pub struct FillArgs {
    /// A source file with lines like `# quill: fill` or `// quill: fill: <hint>`
    pub file: PathBuf,
    /// Write the result back to FILE (atomically) instead of printing it
    #[arg(long)]
    pub write: bool,
    /// Language, when the file name does not tell
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub completion: CompletionArgs,
}

pub fn run(args: FillArgs) -> Result<ExitCode> {
    let text = read_source(&args.file)?;
    let language = language_for(&args.file, &text, args.language.as_deref())?;
    let holes = quill::holes::find(&text, language);
    if holes.is_empty() {
        eprintln!(
            "{} has no holes: mark lines with a `{}` comment",
            args.file.display(),
            language.map_or_else(
                || format!("# {}", quill::holes::MARKER),
                |l| l.comment(quill::holes::MARKER)
            ),
        );
        return Ok(ExitCode::from(1));
    }
    let loaded = load(&args.model)?;
    let cfg = args.completion.config();
    let path = args.file.display().to_string();
    eprintln!(
        "filling {} hole(s) in {path} with {}",
        holes.len(),
        loaded.info.name
    );
    let mut n = 0;
    let (filled, results) = quill::holes::fill(&text, language, |opened, cursor| {
        n += 1;
        let mut input = Input::new(opened, cursor);
        input.language = language;
        input.path = Some(&path);
        let c = complete_blocking(&loaded.engine, &input, &cfg, &*loaded.counter)?;
        let t = c.timings;
        eprintln!(
            "  hole {n}: {} line(s), {} prompt tokens ({} reused), {} generated, {:.0} ms",
            c.text.lines().count(),
            t.prompt_tokens,
            t.reused_tokens,
            t.generated_tokens,
            t.total_ms()
        );
        Ok::<_, anyhow::Error>(c.text)
    });
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    for e in &failed {
        eprintln!("  a hole was left unfilled: {e}");
    }
    if args.write {
        // Not over an edit saved while the model ran.
        write_back::replace_if_unchanged(&args.file, text.as_bytes(), &filled)?;
        eprintln!("wrote {}", args.file.display());
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(filled.as_bytes())?;
        out.flush()?;
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
