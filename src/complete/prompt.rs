//! Fill-in-the-middle prompts as engine [`Piece`]s.
//!
//! Stable text goes first so the KV cache keeps it across keystrokes: the repository
//! header and the other files' context, then the current file's path, then the code. With
//! a model that has repository-level tokens (Qwen2.5-Coder's `<|repo_name|>` and
//! `<|file_sep|>`), context files are laid out as the model saw repositories in training.

use crate::context::ContextFile;
use crate::engine::{Piece, Special};
use crate::lang::Language;

/// Everything a FIM prompt is made of.
#[derive(Debug, Clone, Copy)]
pub struct FimParts<'a> {
    pub repo_name: Option<&'a str>,
    pub context: &'a [ContextFile],
    pub path: Option<&'a str>,
    pub language: Option<Language>,
    pub prefix: &'a str,
    pub suffix: &'a str,
    /// The model has `<|repo_name|>`/`<|file_sep|>`.
    pub repo_tokens: bool,
}

/// Builds the prompt.
pub fn fim_prompt(p: &FimParts<'_>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lead = String::new();
    // Repository-level layout only when there is another file to show: on a single file
    // the plain FIM prompt completes better (seen with both Qwen2.5-Coder sizes; the 0.5B
    // model given a lone `<|file_sep|>path` header writes code for the end of the file).
    if p.repo_tokens && !p.context.is_empty() {
        if let Some(repo) = p.repo_name {
            out.push(Piece::Special(Special::RepoName));
            out.push(Piece::Text(format!("{repo}\n")));
        }
        for file in p.context {
            out.push(Piece::Special(Special::FileSep));
            let mut body = format!("{}\n{}", file.path, file.text);
            if !body.ends_with('\n') {
                body.push('\n');
            }
            out.push(Piece::Text(body));
        }
        if let Some(path) = p.path {
            out.push(Piece::Special(Special::FileSep));
            out.push(Piece::Text(format!("{path}\n")));
        }
    } else if !p.context.is_empty() {
        // No repository tokens: show the context as comments at the top of the prefix.
        let c = p.language.and_then(Language::line_comment).unwrap_or("//");
        for file in p.context {
            lead.push_str(&format!("{c} {}\n", file.path));
            for line in file.text.lines() {
                lead.push_str(&format!("{c} {line}\n"));
            }
        }
    }
    let prefix = if lead.is_empty() {
        p.prefix.to_string()
    } else {
        format!("{lead}{}", p.prefix)
    };
    // Prefix, suffix, middle: the order Qwen2.5-Coder was trained on (suffix first was
    // measured and answered almost nothing: BENCHMARKS.md).
    out.push(Piece::Special(Special::FimPrefix));
    out.push(Piece::Text(prefix));
    out.push(Piece::Special(Special::FimSuffix));
    out.push(Piece::Text(p.suffix.to_string()));
    out.push(Piece::Special(Special::FimMiddle));
    // Empty text pieces tokenize to nothing; drop them to keep prompts easy to read.
    out.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::render;

    fn parts<'a>(context: &'a [ContextFile]) -> FimParts<'a> {
        FimParts {
            repo_name: Some("demo"),
            context,
            path: Some("src/app.py"),
            language: Some(Language::Python),
            prefix: "def f():\n    ",
            suffix: "\n",
            repo_tokens: true,
        }
    }

    #[test]
    fn repository_layout_puts_context_first() {
        let ctx = [ContextFile {
            path: "src/util.py".into(),
            text: "def helper(x): ...".into(),
        }];
        let got = render(&fim_prompt(&parts(&ctx)));
        assert_eq!(
            got,
            "<|repo_name|>demo\n<|file_sep|>src/util.py\ndef helper(x): ...\n\
             <|file_sep|>src/app.py\n<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>"
        );
    }

    #[test]
    fn single_file_prompt_is_plain_fim() {
        let got = render(&fim_prompt(&parts(&[])));
        assert_eq!(
            got,
            "<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>"
        );
    }

    #[test]
    fn without_repo_tokens_context_becomes_comments() {
        let ctx = [ContextFile {
            path: "util.py".into(),
            text: "def helper(x): ...".into(),
        }];
        let mut p = parts(&ctx);
        p.repo_tokens = false;
        let got = render(&fim_prompt(&p));
        assert!(
            got.starts_with("<|fim_prefix|># util.py\n# def helper(x): ...\ndef f():"),
            "{got}"
        );
    }
}
