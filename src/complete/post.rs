//! Turning what the model generated into what the editor inserts.
//!
//! The same rules run twice: while tokens stream in (to stop generating as soon as the
//! answer is settled) and on the final text (to cut it). [`Shape::scan`] is the one place
//! those rules live.
//!
//! - Single line vs block comes from the cursor: text to its right means "finish this
//!   line"; an empty line or the end of a block opener means "write a block"; with
//!   [`Multiline::Auto`], an empty line inside a block with more of it after the cursor
//!   gets one statement (its first line, its body, its closing bracket). At the start of
//!   a line with code (column 0, or its indentation) the answer is whole lines in front
//!   of it: one statement, ending with a line break.
//! - A line the model leaves inside a bracket it opened (`f(` and a line break) goes on
//!   until that bracket closes, unless the code below the cursor's line is deeper: then
//!   it is what the line opens (a body, a bracket's contents), and the line ends there.
//! - A block ends where indentation returns below it, at a Markdown fence, where the
//!   output starts repeating the code after the cursor, and optionally at a blank line.
//! - What overlaps the text right of the cursor (an auto-closed bracket) is trimmed.
//! - Brace languages written Allman style: a `{` alone under a header goes on with that
//!   header (also after a header whose body is below already, when the code below closes
//!   a bracket it does not open). Whole lines that open with a comment keep it with the
//!   statement after it.

use crate::brackets;
use crate::config::{CompletionConfig, Multiline};
use crate::lang::Language;

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Finish the current line.
    Line,
    /// Write one or more lines.
    Block,
}

/// What post-processing knows about the cursor position.
#[derive(Debug, Clone)]
pub struct Shape {
    pub mode: Mode,
    pub language: Option<Language>,
    /// The cursor line's text before the cursor.
    pub line_before: String,
    /// The cursor line's text after the cursor, without its line break.
    pub line_after: String,
    /// The first non-blank line after the cursor's line, trimmed.
    pub next_line: String,
    /// That line's indentation (in whitespace characters), if there is one.
    pub next_indent: Option<usize>,
    /// Lines of a block must be indented at least this much (in whitespace characters).
    pub min_indent: usize,
    /// Brace languages: a block may end with its own closing-bracket line, unless the code
    /// after the cursor already has it.
    pub bracket_closers: bool,
    pub max_lines: usize,
    /// A blank line ends a block.
    pub stop_at_blank_line: bool,
    /// Brackets the code after the cursor closes that the code before it did not open
    /// ([`brackets::owed`]): a line that opens that many is a header whose body and closing
    /// bracket are in the file already.
    pub owed: i32,
    /// Brackets the cursor's line opens before the cursor and leaves open (`Math.max(`:
    /// 1). A first line of the model's that closes them finishes the statement: the
    /// answer is that line, not the lines after it (`}` of the loop around it).
    pub line_open: usize,
    /// The code before the cursor has comments after code on a line (`x += 1; // why`):
    /// the model's are kept too. Where it has none, the ones the model adds (an Instruct
    /// model's chatter: `total += x * x; // x * x is x squared`) are cut.
    pub trailing_comments: bool,
    /// One statement is asked for: after its first line only deeper lines and a closing
    /// bracket at the cursor's column follow.
    pub statement: bool,
    /// The cursor is at the start of a line with code (before it only indentation): the
    /// answer is whole lines inserted in front of that code, each ending with a line
    /// break (one statement; the first line's indentation is the model's when the cursor
    /// is at column 0).
    pub whole_lines: bool,
}

/// Where to cut generated text: keep `text[start..end]`; `done` once more text cannot
/// change the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub start: usize,
    pub end: usize,
    pub done: bool,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

fn is_closer_line(trimmed: &str) -> bool {
    !trimmed.is_empty()
        && trimmed.starts_with(['}', ')', ']'])
        && trimmed.chars().all(|c| "})];,".contains(c))
}

/// True for a line of opening braces alone: in Allman style (`if (x)` then `{` below it at
/// the same indentation) it goes on with the header above it.
fn is_opener_line(trimmed: &str) -> bool {
    !trimmed.is_empty() && trimmed.chars().all(|c| c == '{')
}

/// True for a line that leaves its statement open: a header such as `if (x)` or `else`,
/// not one ending a statement or a block (`;`, `{`, `}`).
fn leaves_header_open(trimmed: &str) -> bool {
    !trimmed.is_empty() && !trimmed.ends_with([';', '{', '}', ','])
}

/// Comment lines the model may open whole lines with before the statement they describe.
const LEAD_COMMENTS: usize = 2;

/// True for a line that goes on with the statement above it at the same indentation.
fn continues_statement(trimmed: &str) -> bool {
    trimmed.starts_with(['}', ')', ']'])
        || ["else", "elif ", "except", "finally", "catch"]
            .iter()
            .any(|k| trimmed.starts_with(k))
}

/// True for lines an Instruct model writes around code: fences and Markdown headings.
fn is_markdown(trimmed: &str) -> bool {
    trimmed.starts_with("```")
}

fn is_prose_heading(trimmed: &str) -> bool {
    trimmed.starts_with("### ") || trimmed.starts_with("**Explanation")
}

impl Shape {
    /// The shape at byte `offset` of `text`.
    pub fn at(
        text: &str,
        offset: usize,
        language: Option<Language>,
        cfg: &CompletionConfig,
    ) -> Shape {
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line_before = &text[line_start..offset];
        let line_after = text[offset..line_end].trim_end_matches('\r');
        let next = text[line_end..].lines().find(|l| !l.trim().is_empty());
        let next_line = next.unwrap_or("").trim().to_string();
        let next_indent = next.map(indent_of);
        let opens_block = |line: &str| match language {
            Some(l) => l.opens_block(line),
            None => line.trim_end().ends_with([':', '{', '(', '[']),
        };
        let blank_before = line_before.trim().is_empty();
        let whole_lines = blank_before && !line_after.trim().is_empty();
        // Inside a block with more of it after the cursor, `Multiline::Auto` asks for one
        // statement: lines deeper than the cursor (its body) and its closing bracket.
        let statement = blank_before
            && line_after.trim().is_empty()
            && cfg.multiline == Multiline::Auto
            && !line_before.is_empty()
            && !opens_block(
                text[..line_start]
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or(""),
            )
            && text[line_end..]
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|next| indent_of(next) >= line_before.len());
        let statement = statement || whole_lines;
        let mode = if whole_lines {
            Mode::Block
        } else if !line_after.trim().is_empty() {
            Mode::Line
        } else if blank_before || opens_block(line_before) {
            Mode::Block
        } else {
            Mode::Line
        };
        let min_indent = if statement {
            line_before.len() + 1
        } else if blank_before {
            // On an empty line the cursor column is the block's indentation.
            line_before.len()
        } else {
            // After an opener the body is indented deeper than the opener's line.
            indent_of(line_before) + 1
        };
        // Whole lines go in front of the code on the cursor's line: that is what comes next.
        let next_line = if whole_lines {
            line_after.trim().to_string()
        } else {
            next_line
        };
        Shape {
            mode,
            language,
            line_before: line_before.to_string(),
            line_after: line_after.to_string(),
            next_line,
            next_indent,
            min_indent,
            bracket_closers: language
                .is_none_or(|l| l.blocks() != crate::lang::Blocks::Indentation),
            max_lines: cfg.max_block_lines,
            stop_at_blank_line: cfg.stop_at_blank_line,
            owed: brackets::owed(text, offset, language),
            line_open: brackets::unclosed(line_before, language).chars().count(),
            trailing_comments: has_trailing_comments(&text[..line_start], language),
            statement,
            whole_lines,
        }
    }

    /// Where to cut `text`. With `complete`, the last line counts as finished.
    pub fn scan(&self, text: &str, complete: bool) -> Cut {
        let mut start = 0;
        // An Instruct model may open with a fence: skip that line.
        if text.trim_start().starts_with("```") {
            match text.find('\n') {
                Some(i) => start = i + 1,
                None => {
                    return Cut {
                        start: text.len(),
                        end: text.len(),
                        done: false,
                    };
                }
            }
        }
        let body = &text[start..];
        let mut pos = 0; // byte offset in `body` of the current line
        let mut lines = 0; // non-blank lines accepted
        let mut first = true;
        let mut min_indent = self.min_indent;
        let mut header_only = false;
        // A header-only line that leaves a bracket the code below closes unopened: the
        // next line may be its Allman-style `{`.
        let mut opener_due = false;
        // Comment lines before the first line of code (whole lines only).
        let mut lead_comments = 0;
        // The last non-blank line accepted, trimmed.
        let mut previous = "";
        // Line mode: brackets the model opened and has not closed yet.
        let mut open = 0i32;
        loop {
            let (line, next, finished) = match body[pos..].find('\n') {
                Some(i) => (&body[pos..pos + i], pos + i + 1, true),
                None => (&body[pos..], body.len(), complete),
            };
            if !finished {
                // Judge a line only once it is whole.
                return Cut {
                    start,
                    end: start + body.len(),
                    done: false,
                };
            }
            let cut_before = Cut {
                start,
                end: start + pos,
                done: true,
            };
            let cut_after = Cut {
                start,
                end: start + pos + line.len(),
                done: true,
            };
            let line = line.trim_end_matches('\r');
            let trimmed = line.trim();
            if is_markdown(trimmed) {
                return cut_before;
            }
            if self.mode == Mode::Line {
                open += brackets::balance(line, self.language);
                lines += 1;
                // `f(` and a line break: the call goes on over the next lines, unless
                // they are in the file already.
                let own = indent_of(&self.line_before);
                if open <= 0
                    || lines >= self.max_lines
                    || self.continued_below(own)
                    || open <= self.owed
                {
                    return cut_after;
                }
            } else {
                if trimmed.is_empty() && lines > 0 && self.stop_at_blank_line {
                    return cut_before;
                }
                // Whole lines opening with a comment: the statement is the code after it, and
                // the comment stays with it.
                let lead_comment = lines == 0
                    && self.whole_lines
                    && lead_comments < LEAD_COMMENTS
                    && self.language.is_some_and(|l| l.is_comment(trimmed));
                if lead_comment {
                    lead_comments += 1;
                } else if opener_due {
                    return if is_opener_line(trimmed) {
                        cut_after
                    } else {
                        cut_before
                    };
                } else if !trimmed.is_empty() {
                    // The first segment continues the cursor's line, so its indentation is
                    // the cursor's, whatever it looks like.
                    if lines == 0 && self.whole_lines {
                        // The statement's lines are deeper than its first one.
                        let own = if self.line_before.is_empty() {
                            indent_of(line)
                        } else {
                            self.line_before.len()
                        };
                        min_indent = own + 1;
                        // The code after the cursor is deeper: it is this line's body already
                        // (the hole is a `def` or `if` line), so the answer is this line,
                        // unless it opens brackets the code after does not close.
                        let after = self.line_before.len() + indent_of(&self.line_after);
                        header_only = after > own && self.closed_below(line);
                    } else if first && !self.line_before.is_empty() {
                        // The model's first line finishes the cursor's line; the code
                        // below it is deeper: its body, or its bracket's contents, are
                        // there already (the hole is a `def` line or `x = [`).
                        let own = if self.line_before.trim().is_empty() {
                            self.line_before.len()
                        } else {
                            indent_of(&self.line_before)
                        };
                        // A line that closes what the cursor's line opened (`Math.max(` then
                        // `a, b);`) ends the statement.
                        let closes_cursor_line = self.line_open > 0
                            && self.line_open as i32 + brackets::balance(line, self.language) <= 0;
                        header_only = self.continued_below(own) || closes_cursor_line;
                    } else if lines == 0 && self.line_before.is_empty() {
                        // At column 0 the model's first line sets the block's indentation:
                        // a body line of the function above is not followed by new
                        // top-level code.
                        min_indent = min_indent.max(indent_of(line));
                    } else if !first {
                        let indent = indent_of(line);
                        if indent < min_indent {
                            let at_cursor = self.statement && indent + 1 == min_indent;
                            let closer = is_closer_line(trimmed)
                                || self
                                    .language
                                    .is_some_and(|l| l.closes_keyword_block(trimmed));
                            // `} else {`, `elif x:`, Allman's `{` under `if (x)`: the same
                            // statement goes on.
                            let allman = self.bracket_closers
                                && is_opener_line(trimmed)
                                && leaves_header_open(previous);
                            let goes_on =
                                at_cursor && !closer && (continues_statement(trimmed) || allman);
                            if !goes_on {
                                let closes = if self.statement {
                                    at_cursor && closer
                                } else {
                                    self.bracket_closers && closer && trimmed != self.next_line
                                };
                                return if closes && lines > 0 {
                                    cut_after
                                } else {
                                    cut_before
                                };
                            }
                        }
                        if is_prose_heading(trimmed) {
                            return cut_before;
                        }
                    }
                    if trimmed.len() >= 3 && trimmed == self.next_line {
                        // The model is writing the code that already follows the cursor.
                        return cut_before;
                    }
                    lines += 1;
                    previous = trimmed;
                    if lines >= self.max_lines {
                        return cut_after;
                    }
                    if header_only {
                        // `if (x)` whose body and `}` are below, Allman style: its `{` may
                        // be the model's next line.
                        if lines == 1
                            && self.bracket_closers
                            && brackets::balance(line, self.language) < self.owed
                            && leaves_header_open(trimmed)
                        {
                            opener_due = true;
                        } else {
                            return cut_after;
                        }
                    }
                }
            }
            first = false;
            if next >= body.len() {
                return Cut {
                    start,
                    end: start + body.len(),
                    done: false,
                };
            }
            pos = next;
        }
    }

    /// True when the code after the cursor closes every bracket `line` leaves open.
    fn closed_below(&self, line: &str) -> bool {
        brackets::balance(line, self.language) <= self.owed.max(0)
    }

    /// True when the first line after the cursor's is deeper than `own`, the cursor
    /// line's indentation: it goes on with what the cursor's line opens.
    fn continued_below(&self, own: usize) -> bool {
        self.next_indent.is_some_and(|next| next > own)
    }

    /// True once generating more cannot change the answer: the engine's stop rule.
    pub fn should_stop(&self, text: &str) -> bool {
        self.scan(text, false).done
    }

    /// True for a line finished at its end (nothing after the cursor on it): the next
    /// line is where the user goes once it is accepted, so a generation here can go on
    /// into that line ([`Shape::should_stop_ahead`]) after the answer has settled.
    pub fn looks_ahead(&self) -> bool {
        self.mode == Mode::Line && !self.whole_lines && self.line_after.trim().is_empty()
    }

    /// The stop rule of a generation that looks ahead: the answer settled, then its line
    /// break and one more whole non-blank line (what Enter and an accept would ask for).
    pub fn should_stop_ahead(&self, text: &str) -> bool {
        let cut = self.scan(text, false);
        if !cut.done {
            return false;
        }
        let rest = &text[cut.end..];
        match rest
            .strip_prefix('\n')
            .or_else(|| rest.strip_prefix("\r\n"))
        {
            Some(after) => has_whole_line(after),
            // The answer was cut before its line's end (a fence): nothing to look ahead to.
            None => !rest.is_empty(),
        }
    }

    /// The text to insert, from all the model generated.
    pub fn finish(&self, text: &str) -> String {
        let cut = self.scan(text, true);
        let mut kept = &text[cut.start..cut.end];
        if self.whole_lines {
            // Lines go in front of the cursor's code: a blank line first adds nothing.
            while let Some(i) = kept.find('\n').filter(|&i| kept[..i].trim().is_empty()) {
                kept = &kept[i + 1..];
            }
        }
        let mut out = kept.trim_end().to_string();
        if !self.trailing_comments {
            out = cut_trailing_comments(&out, self.language);
        }
        self.drop_repeated_indent(&mut out);
        if self.mode == Mode::Line {
            out = trim_overlap(&out, self.line_after.trim_end()).to_string();
        }
        self.end_whole_lines(out)
    }

    /// Whole lines end with a line break, and the code after the cursor keeps its
    /// indentation: `text` plus the line break and the cursor's indentation.
    pub fn end_whole_lines(&self, text: String) -> String {
        if !self.whole_lines || text.trim().is_empty() {
            return text;
        }
        let mut text = text;
        text.push('\n');
        text.push_str(&self.line_before);
        text
    }

    /// `text` without what [`Shape::end_whole_lines`] added.
    pub fn strip_whole_lines_end<'a>(&self, text: &'a str) -> &'a str {
        if !self.whole_lines {
            return text;
        }
        text.strip_suffix(self.line_before.as_str())
            .and_then(|t| t.strip_suffix('\n'))
            .unwrap_or(text)
    }

    /// All the model generated as it would be inserted at the cursor, not cut at its end:
    /// an opening fence skipped, a repeated indentation dropped. This is what the
    /// suggestion cache continues from when the user types on.
    pub fn inserted(&self, text: &str) -> String {
        let start = self.scan(text, false).start;
        let mut out = text[start..].to_string();
        self.drop_repeated_indent(&mut out);
        out
    }

    fn drop_repeated_indent(&self, out: &mut String) {
        if self.mode == Mode::Block
            && !self.line_before.is_empty()
            && self.line_before.trim().is_empty()
        {
            // The cursor already stands at the indentation; a repeated indent would double it.
            let first_len = out.find('\n').unwrap_or(out.len());
            let lead = indent_of(&out[..first_len]);
            out.drain(..lead);
        }
    }
}

/// Lines of code before the cursor looked at for comments after code.
const COMMENT_STYLE_LINES: usize = 200;

/// True when one of the last lines of `before` has a comment after its code.
fn has_trailing_comments(before: &str, language: Option<Language>) -> bool {
    before
        .lines()
        .rev()
        .take(COMMENT_STYLE_LINES)
        .any(|l| brackets::trailing_comment(l, language).is_some())
}

/// `text` with each line's comment after code cut (and the space before it).
fn cut_trailing_comments(text: &str, language: Option<Language>) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (line, end) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        match brackets::trailing_comment(line, language) {
            Some(at) => out.push_str(line[..at].trim_end()),
            None => out.push_str(line),
        }
        out.push_str(end);
    }
    out
}

/// True when `text` has a non-blank line that has ended (a line break after it).
pub fn has_whole_line(text: &str) -> bool {
    text.split_inclusive('\n')
        .any(|l| l.ends_with('\n') && !l.trim().is_empty())
}

/// Drops the end of `completion` that the text right of the cursor already has, e.g. the
/// `)` of an auto-closed bracket.
fn trim_overlap<'a>(completion: &'a str, after: &str) -> &'a str {
    if after.is_empty() {
        return completion;
    }
    if let Some(stripped) = completion.strip_suffix(after) {
        return stripped;
    }
    // A partial overlap: the completion ends with the start of what follows.
    for (k, _) in after.char_indices().rev() {
        let head = &after[..k];
        if !head.is_empty() && completion.ends_with(head) {
            return &completion[..completion.len() - head.len()];
        }
    }
    // Closers an editor put after the cursor (`Math.max(|)`): the completion writes them
    // and ends its statement after them (`a, b);`). It stops before them; the end of the
    // statement is the user's to type after the closer.
    if after.chars().all(|c| matches!(c, ')' | ']' | '}'))
        && let Some(p) = completion.rfind(after)
        && completion[p + after.len()..]
            .chars()
            .all(|c| matches!(c, ';' | ',') || c.is_whitespace())
    {
        return &completion[..p];
    }
    completion
}

#[cfg(test)]
mod tests;
