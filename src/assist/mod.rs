//! Explanations, fixes, refactors and reviews: chat prompts built from the code around the
//! cursor, sent through the model's own chat template, and answers turned into checked
//! edits or Markdown. Shared by `quill explain`/`quill refactor` and the server's code
//! actions; pure except [`ask`].

pub mod answer;
pub mod edit;
mod prompts;

use tree_sitter::Tree;

use crate::context::ContextFile;
use crate::engine::{ChatMessage, Engine, EngineError, Generate, Piece, Request, Work};
use crate::lang::Language;
pub use answer::Finding;
pub use edit::{EditError, Replacement};

/// What to do with a piece of code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// What does it do, what is wrong with it (and, given diagnostics, why they occur).
    Explain,
    Fix,
    Simplify,
    /// A docstring (Python) or doc comment (others).
    DocComment,
    /// Type hints (Python) or annotations (TypeScript).
    TypeHints,
    /// Move the selected lines into a new function.
    Extract,
    /// A refactor in the user's words.
    Instruction(String),
    /// Find bugs, one finding per line.
    Review,
}

impl Action {
    /// The id used in code action data and commands.
    pub fn id(&self) -> &'static str {
        match self {
            Action::Explain => "explain",
            Action::Fix => "fix",
            Action::Simplify => "simplify",
            Action::DocComment => "doc",
            Action::TypeHints => "types",
            Action::Extract => "extract",
            Action::Instruction(_) => "instruction",
            Action::Review => "review",
        }
    }

    pub fn from_id(id: &str, instruction: Option<&str>) -> Option<Action> {
        Some(match id {
            "explain" => Action::Explain,
            "fix" => Action::Fix,
            "simplify" => Action::Simplify,
            "doc" => Action::DocComment,
            "types" => Action::TypeHints,
            "extract" => Action::Extract,
            "instruction" => Action::Instruction(instruction?.to_string()),
            "review" => Action::Review,
            _ => return None,
        })
    }

    /// The menu title.
    pub fn title(&self, lang: Option<Language>) -> String {
        match self {
            Action::Explain => "quill: Explain this code / what is wrong here?".into(),
            Action::Fix => "quill: Fix this code".into(),
            Action::Simplify => "quill: Simplify".into(),
            Action::DocComment => match lang {
                Some(Language::Python) => "quill: Add docstring".into(),
                _ => "quill: Add doc comment".into(),
            },
            Action::TypeHints => match lang {
                Some(Language::Python) => "quill: Add type hints".into(),
                _ => "quill: Add type annotations".into(),
            },
            Action::Extract => "quill: Extract selection into a function".into(),
            Action::Instruction(i) => format!("quill: Refactor: {i}"),
            Action::Review => "quill: Review for bugs".into(),
        }
    }

    /// True when the answer is an edit (not prose).
    pub fn edits(&self) -> bool {
        !matches!(self, Action::Explain | Action::Review)
    }

    /// True when the action makes sense for `lang`.
    pub fn applies_to(&self, lang: Option<Language>) -> bool {
        match self {
            Action::TypeHints => matches!(
                lang,
                Some(Language::Python | Language::TypeScript | Language::Tsx)
            ),
            _ => true,
        }
    }

    /// Most tokens an answer may take.
    pub fn max_tokens(&self) -> u32 {
        match self {
            Action::Explain | Action::Review => 400,
            _ => 768,
        }
    }
}

/// The code an action works on: whole lines of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub start: usize,
    pub end: usize,
    /// The 1-based line number of `start`.
    pub first_line: usize,
    /// What the range is: `function`, `selection`, `file` or `lines`.
    pub kind: &'static str,
    /// The user's selection (whole lines) when the action is about it, inside the range.
    pub selection: Option<(usize, usize)>,
}

const WHOLE_FILE_LINES: usize = 150;

/// The code for an action at `start..end` of `text`: the selection's whole lines when
/// something is selected (its enclosing function for `extract`), else the function around
/// the cursor, else the whole file when small, else the lines around the cursor.
pub fn target(
    text: &str,
    language: Option<Language>,
    tree: Option<&Tree>,
    start: usize,
    end: usize,
    action: &Action,
) -> Target {
    let line_of = |o: usize| text[..o].matches('\n').count() + 1;
    let function = || -> Option<(usize, usize)> {
        let (lang, tree) = (language?, tree?);
        let scopes = crate::syntax::scopes_at(lang, tree, text, start, end.max(start));
        let f = scopes
            .iter()
            .rev()
            .find(|n| n.kind().contains("function") || n.kind().contains("method"))
            .or(scopes.last())?;
        // Decorators belong to the function.
        let node = match f.parent() {
            Some(p) if p.kind() == "decorated_definition" => p,
            _ => *f,
        };
        Some(edit::whole_lines(text, node.start_byte(), node.end_byte()))
    };
    if end > start {
        let sel = edit::whole_lines(text, start, end);
        if *action == Action::Extract
            && let Some((s, e)) = function()
            && s <= sel.0
            && sel.1 <= e
        {
            return Target {
                start: s,
                end: e,
                first_line: line_of(s),
                kind: "function",
                selection: Some(sel),
            };
        }
        return Target {
            start: sel.0,
            end: sel.1,
            first_line: line_of(sel.0),
            kind: "selection",
            selection: Some(sel),
        };
    }
    if let Some((s, e)) = function() {
        return Target {
            start: s,
            end: e,
            first_line: line_of(s),
            kind: "function",
            selection: None,
        };
    }
    if text.lines().count() <= WHOLE_FILE_LINES {
        return Target {
            start: 0,
            end: text.len(),
            first_line: 1,
            kind: "file",
            selection: None,
        };
    }
    // A large file with the cursor outside any function: the 40 lines around it.
    let cursor_line = line_of(start);
    let from = cursor_line.saturating_sub(20).max(1);
    let mut s = 0;
    for _ in 1..from {
        s += text[s..].find('\n').map_or(0, |i| i + 1);
    }
    let mut e = s;
    for _ in 0..40 {
        match text[e..].find('\n') {
            Some(i) => e += i + 1,
            None => {
                e = text.len();
                break;
            }
        }
    }
    Target {
        start: s,
        end: e,
        first_line: from,
        kind: "lines",
        selection: None,
    }
}

/// A diagnostic from the user's other tools, passed to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    pub message: String,
}

/// Everything a prompt is made of.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub action: &'a Action,
    pub text: &'a str,
    pub language: Option<Language>,
    pub path: &'a str,
    pub target: &'a Target,
    pub problems: &'a [Problem],
    pub context: &'a [ContextFile],
}

/// The conversation for a request.
pub fn messages(req: &Query<'_>) -> Vec<ChatMessage> {
    prompts::messages(req)
}

/// What an action produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Markdown for the user.
    Explanation(String),
    /// A checked edit, with what the model said about it.
    Edit {
        replacement: Replacement,
        summary: String,
    },
    /// The model's code was not usable; the user gets its answer as Markdown instead.
    Rejected { reason: String, explanation: String },
    /// Review findings (may be empty: no bugs found).
    Findings(Vec<Finding>),
}

/// Interprets the model's `answer` to `req`.
pub fn conclude(req: &Query<'_>, answer: &str) -> Outcome {
    match req.action {
        Action::Explain => Outcome::Explanation(answer.trim().to_string()),
        Action::Review => {
            // The target's lines are `first_line..first_line + count`: nothing after them.
            let lines = req.text[req.target.start..req.target.end].lines().count();
            let last = req.target.first_line + lines.saturating_sub(1);
            Outcome::Findings(answer::findings(answer, req.target.first_line, last))
        }
        _ => {
            let blocks = answer::code_blocks(answer);
            let summary = answer::prose(answer);
            let mut reason = EditError::NoCode.to_string();
            // Prefer blocks in the file's language, longest first: small models sometimes
            // show a usage example before the real answer.
            let mut candidates: Vec<&answer::CodeBlock> = blocks.iter().collect();
            candidates.sort_by_key(|b| std::cmp::Reverse(b.code.len()));
            for block in candidates {
                let code = prompts::strip_line_numbers(&block.code);
                match edit::replace_lines(
                    req.text,
                    req.language,
                    req.target.start,
                    req.target.end,
                    &code,
                ) {
                    Ok(replacement) => {
                        return Outcome::Edit {
                            replacement,
                            summary,
                        };
                    }
                    Err(e) => reason = e.to_string(),
                }
            }
            Outcome::Rejected {
                reason: reason.clone(),
                explanation: format!("_{reason}_\n\n{}", answer.trim()),
            }
        }
    }
}

/// Sends the conversation to the engine and returns the answer. `on_token` sees the
/// number of characters generated so far (for progress).
pub async fn ask(
    engine: &Engine,
    messages: Vec<ChatMessage>,
    max_tokens: u32,
    mut on_token: impl FnMut(usize) + Send + 'static,
) -> Result<String, EngineError> {
    let mut g = Generate::new(max_tokens);
    g.stop = Some(Box::new(move |t: &str| {
        on_token(t.len());
        false
    }));
    let req = Request::new(vec![Piece::Chat(messages)], Work::Generate(g));
    Ok(engine.generate(req).await?.text)
}

/// [`ask`] for callers outside an async runtime.
pub fn ask_blocking(
    engine: &Engine,
    messages: Vec<ChatMessage>,
    max_tokens: u32,
) -> Result<String, EngineError> {
    let req = Request::generate(vec![Piece::Chat(messages)], max_tokens);
    Ok(engine.generate_blocking(req)?.text)
}

#[cfg(test)]
mod tests;
