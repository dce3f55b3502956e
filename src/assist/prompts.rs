//! The words sent to the model. Small models follow short, concrete instructions with one
//! clear output format best; each prompt asks for exactly one thing.

use super::{Action, Query};
use crate::engine::ChatMessage;
use crate::lang::Language;

fn fence(lang: Option<Language>) -> &'static str {
    lang.map_or("", |l| l.spec().fence)
}

fn language_name(lang: Option<Language>) -> &'static str {
    lang.map_or("source", |l| l.spec().display)
}

/// `code` with its file line numbers, `  12 | ` style, so answers can name lines.
fn numbered(code: &str, first_line: usize) -> String {
    code.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>4} | {}", first_line + i, l.trim_end_matches('\r')))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes `  12 | ` prefixes a model copied from a numbered listing.
pub fn strip_line_numbers(code: &str) -> String {
    let numbered = code.lines().filter(|l| !l.trim().is_empty()).all(|l| {
        let t = l.trim_start();
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && t[digits..].starts_with(" |")
    });
    if !numbered || code.trim().is_empty() {
        return code.to_string();
    }
    code.lines()
        .map(|l| {
            let t = l.trim_start();
            let digits = t.chars().take_while(char::is_ascii_digit).count();
            let rest = &t[digits..];
            rest.strip_prefix(" | ")
                .or_else(|| rest.strip_prefix(" |"))
                .unwrap_or(rest)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn doc_style(lang: Option<Language>) -> &'static str {
    lang.map_or("a documentation comment", |l| l.spec().doc_style)
}

pub fn messages(q: &Query<'_>) -> Vec<ChatMessage> {
    let lang = q.language;
    let name = language_name(lang);
    let tag = fence(lang);
    let code = &q.text[q.target.start..q.target.end];
    let code = code.trim_end_matches(['\n', '\r']);
    let what = match q.target.kind {
        "function" => "function",
        "selection" => "code",
        "file" => "file",
        _ => "code",
    };
    let system = format!(
        "You are quill, a careful senior {name} engineer helping in a code editor. Be concise and concrete."
    );
    let mut user = String::new();
    if !q.context.is_empty() {
        user.push_str("Related code from the project:\n");
        for c in q.context {
            user.push_str(&format!(
                "{}:\n```{tag}\n{}\n```\n",
                c.path,
                c.text.trim_end()
            ));
        }
        user.push('\n');
    }
    let problems: String = q
        .problems
        .iter()
        .map(|p| format!("- line {}: {}\n", p.line, p.message))
        .collect();
    let reply_code = format!(
        "Reply with the complete new {what} in one ```{tag} code block, then one sentence saying what you changed."
    );
    match q.action {
        Action::Explain => {
            user.push_str(&format!(
                "File {}:\n```{tag}\n{}\n```\n\n",
                q.path,
                numbered(code, q.target.first_line)
            ));
            if problems.is_empty() {
                user.push_str(&format!(
                    "Explain what this {what} does and whether anything is wrong with it (bugs, unhandled edge cases). \
                     Name lines by their numbers. Answer in Markdown, in at most 150 words."
                ));
            } else {
                user.push_str(&format!(
                    "My tools report:\n{problems}\nExplain the cause of each problem and how to fix it. \
                     Name lines by their numbers. Answer in Markdown, in at most 150 words."
                ));
            }
        }
        Action::Review => {
            user.push_str(&format!(
                "File {}:\n```{tag}\n{}\n```\n\n\
                 Review this {what} line by line as a strict reviewer. Look for wrong results, \
                 off-by-one errors in ranges and indexes, unhandled edge cases (empty input, None, zero) \
                 and crashes. For each problem write one line in the form \
                 `LINE <number>: <the problem in a few words>`, using the line numbers shown. \
                 Write only those lines; write `NO BUGS` only if every line is correct.",
                q.path,
                numbered(code, q.target.first_line)
            ));
        }
        action => {
            user.push_str(&format!("File {}:\n```{tag}\n{code}\n```\n\n", q.path));
            let task = match action {
                Action::Fix if problems.is_empty() => {
                    format!(
                        "Fix the bugs in this {what}. Keep its name and signature unless the bug is there."
                    )
                }
                Action::Fix => format!(
                    "My tools report:\n{problems}\nFix these problems in the {what}. Change nothing else."
                ),
                Action::Simplify => {
                    format!("Simplify this {what} without changing what it does.")
                }
                Action::DocComment => format!(
                    "Add {} to this {what} saying what it does, its parameters and what it returns. \
                     Do not change the code itself.",
                    doc_style(lang)
                ),
                Action::TypeHints => format!(
                    "Add {name} type annotations to the parameters and the return value of this {what}. \
                     Do not change anything else."
                ),
                Action::Extract => {
                    let (s, e) = q.target.selection.unwrap_or((q.target.start, q.target.end));
                    let lines = q.text[s..e].trim_end_matches(['\n', '\r']);
                    format!(
                        "Move these lines into a new, well-named {name} function and call it where they were:\n\
                         ```{tag}\n{lines}\n```\nPut the new function just before this {what}. \
                         Return both functions in the code block."
                    )
                }
                Action::Instruction(i) => format!("Change this {what} as follows: {i}"),
                Action::Explain | Action::Review => unreachable!("handled above"),
            };
            user.push_str(&task);
            user.push(' ');
            user.push_str(&reply_code);
        }
    }
    vec![
        ChatMessage::new("system", system),
        ChatMessage::new("user", user),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        let n = numbered("a\n  b", 9);
        assert_eq!(n, "   9 | a\n  10 |   b");
        assert_eq!(strip_line_numbers(&n), "a\n  b");
        assert_eq!(strip_line_numbers("x = 1 | 2"), "x = 1 | 2");
    }
}
