//! Turning code the model wrote into an edit of the file: the file's own indentation and
//! line endings, limited to the range it concerns, and checked with tree-sitter.

use crate::lang::Language;
use crate::syntax::{error_count, parse};

/// Replace `text[start..end]` with `new_text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub start: usize,
    pub end: usize,
    pub new_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the model's code does not parse as {0}; nothing was changed")]
    DoesNotParse(&'static str),
    #[error("the model returned no code")]
    NoCode,
    #[error("the model returned the code unchanged")]
    Unchanged,
}

/// The line ending the file uses (`\r\n` when most lines end with it).
pub fn line_ending(text: &str) -> &'static str {
    let crlf = text.matches("\r\n").count();
    let lf = text.matches('\n').count();
    if crlf * 2 > lf { "\r\n" } else { "\n" }
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// `line` without its first `n` characters of indentation (all of it when it has fewer).
/// Counted in characters, not bytes: indentation may hold multi-byte whitespace (U+3000,
/// a no-break space), and a byte count taken from one line can split a character of
/// another.
fn strip_indent(line: &str, n: usize) -> &str {
    let indent = indent_of(line);
    let cut = indent
        .char_indices()
        .nth(n)
        .map_or(indent.len(), |(i, _)| i);
    &line[cut..]
}

/// `code` moved to `indent`: its common leading whitespace replaced by `indent` on every
/// non-blank line, tabs or spaces as the original used, and `eol` line endings. The
/// common indentation is the least number of leading whitespace characters.
pub fn reindent(code: &str, indent: &str, eol: &str) -> String {
    let lines: Vec<&str> = code.lines().map(|l| l.trim_end_matches('\r')).collect();
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l).chars().count())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("{indent}{}", strip_indent(l, common))
            }
        })
        .collect::<Vec<_>>()
        .join(eol)
}

/// The replacement of the whole lines `start..end` of `text` by `code`, re-indented to the
/// first of those lines, with the file's line endings. Refused when the result no longer
/// parses where the original did (or has more errors where it did not).
pub fn replace_lines(
    text: &str,
    language: Option<Language>,
    start: usize,
    end: usize,
    code: &str,
) -> Result<Replacement, EditError> {
    if code.trim().is_empty() {
        return Err(EditError::NoCode);
    }
    let eol = line_ending(text);
    let original = &text[start..end];
    let first_line = original.lines().next().unwrap_or("");
    let mut new_text = reindent(code, indent_of(first_line), eol);
    // Keep the range's own trailing line break.
    if original.ends_with('\n') {
        new_text.push_str(eol);
    }
    if new_text.trim() == original.trim() {
        return Err(EditError::Unchanged);
    }
    if let Some(lang) = language {
        let before = parse(lang, text, None).map_or(0, |t| error_count(t.root_node()));
        let after_text = format!("{}{}{}", &text[..start], new_text, &text[end..]);
        let after =
            parse(lang, &after_text, None).map_or(usize::MAX, |t| error_count(t.root_node()));
        if after > before {
            return Err(EditError::DoesNotParse(lang.name()));
        }
    }
    Ok(Replacement {
        start,
        end,
        new_text,
    })
}

/// The start of `offset`'s line and the end of `end`'s line (after its line break), so
/// edits and prompts work on whole lines.
pub fn whole_lines(text: &str, start: usize, end: usize) -> (usize, usize) {
    let s = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let e = if end > start && text[..end].ends_with('\n') {
        end
    } else {
        text[end..].find('\n').map_or(text.len(), |i| end + i + 1)
    };
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "class A:\n    def f(self, xs):\n        return xs[1:]\n\n    def g(self):\n        pass\n";

    fn f_range() -> (usize, usize) {
        let s = FILE.find("    def f").unwrap();
        let e = FILE.find("\n\n").unwrap() + 1;
        (s, e)
    }

    #[test]
    fn model_code_takes_the_files_indentation() {
        let (s, e) = f_range();
        // The model wrote the method at column 0 with 2-space indents.
        let code = "def f(self, xs):\n  \"\"\"Everything but the first.\"\"\"\n  return xs[1:]";
        let r = replace_lines(FILE, Some(Language::Python), s, e, code).unwrap();
        assert_eq!(
            r.new_text,
            "    def f(self, xs):\n      \"\"\"Everything but the first.\"\"\"\n      return xs[1:]\n"
        );
        let out = format!("{}{}{}", &FILE[..s], r.new_text, &FILE[e..]);
        assert!(out.ends_with("\n\n    def g(self):\n        pass\n"));
    }

    #[test]
    fn crlf_files_keep_crlf() {
        let text = "fn a() {\r\n    1\r\n}\r\n";
        let r = replace_lines(
            text,
            Some(Language::Rust),
            0,
            text.len(),
            "fn a() {\n    2\n}",
        )
        .unwrap();
        assert_eq!(r.new_text, "fn a() {\r\n    2\r\n}\r\n");
    }

    #[test]
    fn broken_code_is_refused() {
        let (s, e) = f_range();
        let err = replace_lines(
            FILE,
            Some(Language::Python),
            s,
            e,
            "def f(self, xs:\n    return xs[1:]",
        )
        .unwrap_err();
        assert_eq!(err, EditError::DoesNotParse("python"));
        let err = replace_lines(FILE, Some(Language::Python), s, e, "").unwrap_err();
        assert_eq!(err, EditError::NoCode);
    }

    #[test]
    fn reindent_strips_multibyte_indentation_by_characters() {
        // U+3000 (3 bytes) against two ASCII spaces: a byte count of 2 would cut inside it.
        assert_eq!(
            reindent("\u{3000}x = 1\n  y = 2", "    ", "\n"),
            "    x = 1\n     y = 2"
        );
        // A no-break space (2 bytes) and a tab: one character each.
        assert_eq!(reindent("\u{a0}a\n\tb", "", "\n"), "a\nb");
        // CJK text, indented by ideographic spaces: the common two are replaced, the text
        // after them is kept whole.
        assert_eq!(
            reindent(
                "\u{3000}\u{3000}# 合計を返す\n\u{3000}\u{3000}\u{3000}return 合計\n",
                "  ",
                "\r\n"
            ),
            "  # 合計を返す\r\n  \u{3000}return 合計"
        );
        // Multi-byte text right after ASCII indentation, with a deeper multi-byte line.
        assert_eq!(
            reindent(" é = 1\n\u{2003}\u{2003}ü = 2", "\t", "\n"),
            "\té = 1\n\t\u{2003}ü = 2"
        );
    }

    #[test]
    fn replacing_lines_indented_with_multibyte_whitespace() {
        let text = "x = [\n\u{3000}1,\n]\n";
        let s = text.find('\u{3000}').unwrap();
        let e = text.find(",\n").unwrap() + 2;
        let r = replace_lines(text, None, s, e, "  2,\n").unwrap();
        assert_eq!(r.new_text, "\u{3000}2,\n");
    }

    #[test]
    fn whole_lines_expand_a_selection() {
        let t = "ab\ncd\nef\n";
        assert_eq!(whole_lines(t, 4, 4), (3, 6));
        assert_eq!(whole_lines(t, 1, 4), (0, 6));
        assert_eq!(whole_lines(t, 3, 6), (3, 6));
    }
}
