//! The repeated-pattern rule: the user changed one line of a run of lines that share a
//! shape (a table of calls, assignments, asserts) at a place where every line of the run
//! has the same text; the next edit is the same change in the next line of the run.
//! Deterministic: read from the lines' tokens, no model.
//!
//! `self.assertEquals(a, 1)` → `self.assertEqual(a, 1)` over three such lines proposes the
//! other two; so does `add(a)` → `add(a, strict=True)`, and `put(a)` → `put(a, len(a))`
//! becomes `put(b, len(b))` in the line about `b`.
//!
//! What counts (precision before recall: a wrong suggestion costs the user more than none):
//! - a run: at least [`MIN_RUN`] adjacent lines with the edited line's indentation and the
//!   same tokens, kind for kind, differing only in names and literals, and differing
//!   somewhere (identical lines are not a table);
//! - the edit, in tokens, replaced tokens every line of the run has the same (or inserted
//!   between two such), and it changed or inserted a name or an argument: a changed
//!   literal (`1` → `2`) is a value the user set in one line, not a pattern;
//! - a line already changed the same way counts as done; any other line of the run at that
//!   place means the lines differ there on purpose, and nothing is proposed.

use std::ops::Range;

use super::history::History;

/// Fewest lines (the edited one included) that make a run.
pub const MIN_RUN: usize = 3;

/// How many recent hunks are looked at for a pattern change still under way.
const LOOK_BACK: usize = 4;

/// A pattern change found in the history, with the lines it has yet to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Each line still to change: the bytes to replace and the text for them, in
    /// document order.
    pub places: Vec<(Range<usize>, String)>,
    /// The one to propose first: the next line after the edit, wrapping around.
    pub next: usize,
    /// What changed, for the label: the edit's old and new text.
    pub old: String,
    pub new: String,
}

/// The pattern change the most recent hunks of `history` made (the last one first), with
/// the lines left to change.
pub fn find(text: &str, history: &History, comments: &[&str]) -> Option<Pattern> {
    let hunks: Vec<_> = history.hunks().rev().take(LOOK_BACK).collect();
    hunks.into_iter().find_map(|h| {
        if h.old.contains('\n') || h.new.contains('\n') {
            return None;
        }
        find_at(text, h.start, &h.old, &h.new, comments)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Name,
    Number,
    Text,
    Punct,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    class: Class,
    text: &'a str,
    /// Bytes in its line.
    span: Range<usize>,
}

/// `line`'s tokens up to a line comment (one of `comments` outside a string): names,
/// numbers, quoted strings (with a prefix such as `r`, `b`, `f`), and single punctuation
/// characters.
fn tokens<'a>(line: &'a str, comments: &[&str]) -> Vec<Token<'a>> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let string_prefix = |t: &str| t.len() <= 2 && t.bytes().all(|c| b"rbufRBUFL8".contains(&c));
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if comments.iter().any(|leader| line[i..].starts_with(leader)) {
            break;
        }
        let word = |c: u8| c == b'_' || c == b'$' || c.is_ascii_alphanumeric() || c >= 0x80;
        let class = if c == b'_' || c == b'$' || c.is_ascii_alphabetic() || c >= 0x80 {
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            if i < b.len() && matches!(b[i], b'"' | b'\'') && string_prefix(&line[start..i]) {
                i = string_end(b, i);
                Class::Text
            } else {
                Class::Name
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            Class::Number
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i = string_end(b, i);
            Class::Text
        } else {
            // One character (a multi-byte one whole).
            i += line[i..].chars().next().map_or(1, char::len_utf8);
            Class::Punct
        };
        out.push(Token {
            class,
            text: &line[start..i],
            span: start..i,
        });
    }
    out
}

/// Where the string whose quote is at `at` ends (after its closing quote, or the line's end).
fn string_end(b: &[u8], at: usize) -> usize {
    let quote = b[at];
    let mut i = at + 1;
    while i < b.len() && b[i] != quote {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    (i + 1).min(b.len())
}

/// Same shape: token for token the same class, punctuation the same.
fn same_shape(a: &[Token<'_>], b: &[Token<'_>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.class == y.class && (x.class != Class::Punct || x.text == y.text))
}

fn same_text(a: &[Token<'_>], b: &[Token<'_>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.text == y.text)
}

/// The line of `text` around byte `at`: its byte range (without the line break).
fn line_at(text: &str, at: usize) -> Range<usize> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    start..end
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// A pattern change by the hunk that put `new` at `start` where `old` was.
fn find_at(text: &str, start: usize, old: &str, new: &str, comments: &[&str]) -> Option<Pattern> {
    let here = line_at(text, start);
    let new_line = &text[here.clone()];
    let in_line = start - here.start;
    if in_line + new.len() > new_line.len() {
        return None;
    }
    let old_line = format!(
        "{}{}{}",
        &new_line[..in_line],
        old,
        &new_line[in_line + new.len()..]
    );
    let before = tokens(&old_line, comments);
    let after = tokens(new_line, comments);
    // The edit in tokens: `before[i..j]` became `after[i..k]`.
    let i = before
        .iter()
        .zip(&after)
        .take_while(|(a, b)| a.text == b.text)
        .count();
    let tail = before[i..]
        .iter()
        .rev()
        .zip(after[i..].iter().rev())
        .take_while(|(a, b)| a.text == b.text)
        .count();
    let (j, k) = (before.len() - tail, after.len() - tail);
    if i == j && i == k {
        return None;
    }
    let inserted = &after[i..k];
    let replaced = &before[i..j];
    // A name or an argument: a changed literal is the user's value for this line.
    let names = replaced
        .iter()
        .chain(inserted)
        .any(|t| t.class == Class::Name);
    let argument = replaced.is_empty()
        && inserted.first().is_some_and(|t| t.text == ",")
        && inserted.iter().any(|t| t.class != Class::Punct);
    if !names && !argument {
        return None;
    }
    // One bare name turned into another the file already has (`block` → `crc`): a fix of
    // that use, as the rename rule reads it too, not a change of the table.
    let member = i > 0 && matches!(before[i - 1].text, "." | ":" | ">");
    if let ([was], [now]) = (replaced, inserted)
        && was.class == Class::Name
        && now.class == Class::Name
        && !member
        && has_word(&text[..here.start], now.text) | has_word(&text[here.end..], now.text)
    {
        return None;
    }
    let indent = indentation(new_line);
    // The new text for a line of the run whose tokens, shaped as before the edit, are
    // `theirs`: one name for one name is the same name everywhere (`clone` → `meta` in
    // `meta: self.meta.clone()` is not `current` in the next line); otherwise the edited
    // line's names that differ line to line become the line's own.
    let one_name = replaced.len() == 1 && inserted.len() == 1;
    let (nf, nt) = span(new_line, &after, i, k);
    let new_text = &new_line[nf..nt];
    let text_for = |theirs: &[Token<'_>]| {
        if one_name {
            Some(new_text.to_string())
        } else {
            substitute(new_text, &before, theirs, comments)
        }
    };
    // The run: adjacent lines of the same indentation shaped like the line before the
    // edit (still to change) or after it (done).
    let mut run: Vec<(Range<usize>, bool)> = Vec::new();
    let scan = |from: usize, up: bool, run: &mut Vec<(Range<usize>, bool)>| {
        let mut at = from;
        loop {
            let line = if up {
                if at == 0 {
                    break;
                }
                line_at(text, at - 1)
            } else {
                if at >= text.len() {
                    break;
                }
                line_at(text, at + 1)
            };
            let s = &text[line.clone()];
            if indentation(s) != indent || s.trim().is_empty() {
                break;
            }
            let toks = tokens(s, comments);
            let todo = same_shape(&toks, &before) && same_text(&toks[i..j], replaced);
            let done = same_shape(&toks, &after) && {
                // Changed already: its text there is what the change gives it.
                let theirs: Vec<Token<'_>> = toks[..i]
                    .iter()
                    .chain(replaced)
                    .chain(&toks[k..])
                    .cloned()
                    .collect();
                let (f, t) = span(s, &toks, i, k);
                text_for(&theirs).as_deref() == Some(&s[f..t])
            };
            if !todo && !done {
                if same_shape(&toks, &before) || same_shape(&toks, &after) {
                    // A line of the run that differs where the edit was: on purpose.
                    return false;
                }
                break;
            }
            at = if up { line.start } else { line.end };
            run.push((line, todo && !done));
        }
        true
    };
    if !scan(here.start, true, &mut run) || !scan(here.end, false, &mut run) {
        return None;
    }
    if run.len() + 1 < MIN_RUN {
        return None;
    }
    // A table differs somewhere: some token varies between the lines.
    let varies = run.iter().any(|(line, _)| {
        let toks = tokens(&text[line.clone()], comments);
        !same_text(&toks[..i], &before[..i]) || !same_text(&toks[toks.len() - tail..], &before[j..])
    });
    if !varies {
        return None;
    }
    let mut places: Vec<(Range<usize>, String)> = run
        .iter()
        .filter(|(_, todo)| *todo)
        .filter_map(|(line, _)| {
            let s = &text[line.clone()];
            let toks = tokens(s, comments);
            let (from, to) = span(s, &toks, i, j);
            Some((line.start + from..line.start + to, text_for(&toks)?))
        })
        .collect();
    if places.is_empty() {
        return None;
    }
    places.sort_by_key(|(r, _)| r.start);
    let next = places
        .iter()
        .position(|(r, _)| r.start >= here.end)
        .unwrap_or(0);
    Some(Pattern {
        places,
        next,
        old: token_text(&old_line, &before, i, j),
        new: token_text(new_line, &after, i, k),
    })
}

/// `word` stands in `text` as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c == '_' || c == '$' || c.is_alphanumeric();
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(is_word)
            && !text[at + word.len()..].chars().next().is_some_and(is_word)
    })
}

/// The bytes of `line` the edit of tokens `i..j` spans: from the end of token `i - 1` (the
/// start of token `i` at the line's start) to the start of token `j` (the line's end
/// after the last).
fn span(line: &str, toks: &[Token<'_>], i: usize, j: usize) -> (usize, usize) {
    let from = if i == 0 {
        toks.first().map_or(0, |t| t.span.start)
    } else {
        toks[i - 1].span.end
    };
    let to = toks.get(j).map_or(line.len(), |t| t.span.start);
    (from, to.max(from))
}

fn token_text(line: &str, toks: &[Token<'_>], i: usize, j: usize) -> String {
    if i == j {
        return String::new();
    }
    line[toks[i].span.start..toks[j - 1].span.end].to_string()
}

/// `inserted` (text of the edited line) for another line of the run: a name that is one of
/// the edited line's own (where the lines differ) becomes that line's name in its place;
/// `None` when such a name has two places that say different things.
fn substitute(
    inserted: &str,
    before: &[Token<'_>],
    theirs: &[Token<'_>],
    comments: &[&str],
) -> Option<String> {
    let mut out = String::with_capacity(inserted.len());
    let mut last = 0;
    for t in tokens(inserted, comments) {
        if t.class != Class::Name {
            continue;
        }
        let mut mapped: Option<&str> = None;
        for (mine, other) in before.iter().zip(theirs) {
            if mine.class == Class::Name && mine.text == t.text && mine.text != other.text {
                match mapped {
                    Some(m) if m != other.text => return None,
                    _ => mapped = Some(other.text),
                }
            }
        }
        if let Some(m) = mapped {
            out.push_str(&inserted[last..t.span.start]);
            out.push_str(m);
            last = t.span.end;
        }
    }
    out.push_str(&inserted[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `before` edited to `after` (one hunk, found by diffing), and the pattern found.
    fn found(before: &str, after: &str) -> Option<Pattern> {
        let mut h = History::default();
        h.record(before, after);
        find(after, &h, &["#", "//"])
    }

    fn apply_next(text: &str, p: &Pattern) -> String {
        let (r, t) = &p.places[p.next];
        let mut s = text.to_string();
        s.replace_range(r.clone(), t);
        s
    }

    #[test]
    fn a_renamed_call_in_a_table_of_calls_goes_on_to_the_next_line() {
        let before = "def t(self):\n    self.assertEquals(a, 1)\n    self.assertEquals(b, 2)\n    self.assertEquals(c, 3)\n";
        let after = before.replacen("assertEquals", "assertEqual", 1);
        let p = found(before, &after).expect("a pattern");
        assert_eq!(p.places.len(), 2);
        assert_eq!(
            (p.old.as_str(), p.new.as_str()),
            ("assertEquals", "assertEqual")
        );
        let once = apply_next(&after, &p);
        assert_eq!(once, before.replacen("assertEquals", "assertEqual", 2));
        // Applied, it is the last hunk: the rule goes on to the third line.
        let mut h = History::default();
        h.record(&after, &once);
        let p = find(&once, &h, &["#"]).expect("the last line");
        assert_eq!(p.places.len(), 1);
        assert_eq!(
            apply_next(&once, &p),
            before.replace("assertEquals", "assertEqual")
        );
    }

    #[test]
    fn an_added_argument_follows_each_line_with_its_own_names() {
        let before = "put(a)\nput(bb)\nput(c)\n";
        let after = "put(a, len(a))\nput(bb)\nput(c)\n";
        let p = found(before, after).expect("a pattern");
        assert_eq!(
            apply_next(after, &p),
            "put(a, len(a))\nput(bb, len(bb))\nput(c)\n"
        );
        let before = "let x = f(1);\nlet y = f(2);\nlet z = f(3);\n";
        let after = "let x = f(1, true);\nlet y = f(2);\nlet z = f(3);\n";
        let p = found(before, after).expect("a pattern");
        assert_eq!(p.places.len(), 2);
        assert_eq!(
            apply_next(after, &p),
            "let x = f(1, true);\nlet y = f(2, true);\nlet z = f(3);\n"
        );
    }

    #[test]
    fn a_name_changed_for_a_name_is_the_same_name_in_every_line() {
        let before = "    meta: self.meta.clone(),\n    current: self.current.clone(),\n    runner: self.runner.clone(),\n";
        let after = before.replacen("clone", "meta", 1);
        let p = found(before, &after).expect("a pattern");
        assert_eq!(apply_next(&after, &p), before.replacen("clone", "meta", 2));
    }

    #[test]
    fn the_next_line_is_below_the_edit_then_wraps_around() {
        let before = "    go(a)\n    go(b)\n    go(c)\n";
        let after = "    go(a)\n    run(b)\n    go(c)\n";
        let p = found(before, after).expect("a pattern");
        assert_eq!(apply_next(after, &p), "    go(a)\n    run(b)\n    run(c)\n");
    }

    #[test]
    fn nothing_for_one_value_a_varying_name_a_short_run_or_identical_lines() {
        let table = "a = f(1)\nb = f(1)\nc = f(1)\n";
        // A literal: the user's value for this line.
        assert_eq!(found(table, "a = f(2)\nb = f(1)\nc = f(1)\n"), None);
        // A name that differs between the lines anyway.
        assert_eq!(found(table, "x = f(1)\nb = f(1)\nc = f(1)\n"), None);
        // Two lines are not a table.
        assert_eq!(found("a = f(1)\nb = f(1)\n", "a = g(1)\nb = f(1)\n"), None);
        // Lines that are all the same are not a table either.
        assert_eq!(found("f()\nf()\nf()\n", "g()\nf()\nf()\n"), None);
        // A use changed to another name the file has: a fix of that use.
        assert_eq!(
            found("x = 1\nf(a)\nf(a)\nf(a)\n", "x = 1\nf(x)\nf(a)\nf(a)\n"),
            None
        );
        // Another indentation ends the run.
        assert_eq!(
            found(
                "a = f(1)\n  b = f(1)\n  c = f(1)\n",
                "a = g(1)\n  b = f(1)\n  c = f(1)\n"
            ),
            None
        );
    }

    #[test]
    fn a_line_that_differs_where_the_edit_was_stops_it() {
        // The third line calls something else already: the lines differ there on purpose.
        let before = "a = f(1)\nb = f(2)\nc = h(3)\nd = f(4)\n";
        let after = "a = g(1)\nb = f(2)\nc = h(3)\nd = f(4)\n";
        assert_eq!(found(before, after), None);
    }

    #[test]
    fn comments_and_string_prefixes_do_not_change_a_line_s_shape() {
        let before = "s = s.replace('&', '&amp;')  # first!\ns = s.replace('<', r'&lt;')\ns = s.replace('>', '&gt;')\n";
        let after = before.replacen("s.replace(", "s.sub(", 1);
        let p = found(before, &after).expect("a pattern");
        assert_eq!(p.places.len(), 2);
        assert_eq!(
            apply_next(&after, &p),
            before.replacen("s.replace(", "s.sub(", 2)
        );
    }

    #[test]
    fn an_argument_typed_letter_by_letter_is_one_change() {
        // The `)` typed before the call's own `)` is one hunk with the rest of the argument.
        let base =
            "def report(out, a, bb, c):\n    out.write(a)\n    out.write(bb)\n    out.write(c)\n";
        let at = base.find("(a)").unwrap() + 2;
        let mut h = History::default();
        let mut cur = base.to_string();
        for (i, ch) in ", len(a)".char_indices() {
            let mut next = cur.clone();
            next.insert(at + i, ch);
            h.record(&cur, &next);
            cur = next;
        }
        assert_eq!(h.hunks().count(), 1);
        let p = find(&cur, &h, &["#"]).expect("a pattern");
        assert_eq!(p.places.len(), 2);
        let once = apply_next(&cur, &p);
        assert_eq!(once, cur.replace("out.write(bb)", "out.write(bb, len(bb))"));
        // Applied, it is the last hunk: the rule goes on to the last line.
        let mut h = History::default();
        h.record(&cur, &once);
        let p = find(&once, &h, &["#"]).expect("the last line");
        assert_eq!(p.places.len(), 1);
        assert_eq!(
            apply_next(&once, &p),
            once.replace("out.write(c)", "out.write(c, len(c))")
        );
    }

    #[test]
    fn a_multi_line_edit_is_not_a_pattern() {
        assert_eq!(found("f(a)\nf(b)\nf(c)\n", "g(a)\nx\nf(b)\nf(c)\n"), None);
    }
}
