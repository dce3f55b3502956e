//! Files with holes: lines marked `quill: fill` in a comment, filled one by one.
//!
//! A hole is a line whose only content is a line comment starting with `quill: fill`:
//!
//! ```python
//! def total(items):
//!     # quill: fill
//! ```
//!
//! Text after the marker is a hint: `# quill: fill: sum the prices` keeps the comment
//! `# sum the prices` in the file and fills the line after it. Holes are filled top to
//! bottom, each seeing the ones above it filled, so the model's KV cache keeps the growing
//! prefix from hole to hole.

use crate::lang::Language;

pub const MARKER: &str = "quill: fill";

/// One hole: the byte range of its marker line (without the line break) and its hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub start: usize,
    pub end: usize,
    pub indent: String,
    pub hint: Option<String>,
}

/// Finds the holes in `text`. Comment leaders of every known language are accepted (`#`,
/// `//`), so a file of an unknown language can still carry holes.
pub fn find(text: &str, language: Option<Language>) -> Vec<Hole> {
    let leaders: Vec<&str> = match language {
        Some(l) => l
            .line_comments()
            .iter()
            .copied()
            .chain(l.block_comment().map(|(open, _)| open))
            .collect(),
        None => vec!["#", "//", "--"],
    };
    let close = language.and_then(Language::block_comment).map(|(_, c)| c);
    let mut holes = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        for leader in &leaders {
            if let Some(rest) = trimmed.strip_prefix(leader)
                && let Some(after) = rest.trim_start().strip_prefix(MARKER)
            {
                let after = close
                    .and_then(|c| after.trim_end().strip_suffix(c))
                    .unwrap_or(after);
                let hint = after
                    .trim_start_matches([':', ' ', '-', '—'])
                    .trim()
                    .to_string();
                holes.push(Hole {
                    start: pos,
                    end: pos + body.len(),
                    indent: indent.to_string(),
                    hint: (!hint.is_empty()).then_some(hint),
                });
                break;
            }
        }
        pos += line.len();
    }
    holes
}

/// Replaces `hole` in `text` and returns the new text and the cursor offset to complete at:
/// the marker line becomes its indentation (or the hint comment and an indented line).
pub fn open(text: &str, hole: &Hole, language: Option<Language>) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..hole.start]);
    if let Some(hint) = &hole.hint {
        let comment = language.map_or_else(|| format!("# {hint}"), |l| l.comment(hint));
        let nl = if text[hole.end..].starts_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        out.push_str(&format!("{}{comment}{nl}", hole.indent));
    }
    out.push_str(&hole.indent);
    let cursor = out.len();
    out.push_str(&text[hole.end..]);
    (out, cursor)
}

/// Filling a file's holes one at a time, top to bottom: [`Filling::next_hole`] gives the
/// model's view of the next hole, [`Filling::fill`] or [`Filling::skip`] settles it.
#[derive(Debug, Clone)]
pub struct Filling {
    language: Option<Language>,
    current: String,
    /// Holes are found again after each fill (offsets below it move); this is where the
    /// next one may start, so text a fill inserted is never taken for a hole.
    min_start: usize,
    /// The hole being filled: the text with it opened and the cursor there.
    open: Option<(String, usize)>,
    end_of_hole: usize,
}

impl Filling {
    pub fn new(text: &str, language: Option<Language>) -> Self {
        Filling {
            language,
            current: text.to_string(),
            min_start: 0,
            open: None,
            end_of_hole: 0,
        }
    }

    /// The next hole as the model should see it (the text with that hole opened and every
    /// other marker line removed: a model shown markers copies them) and the cursor in it;
    /// `None` when every hole is settled.
    pub fn next_hole(&mut self) -> Option<(String, usize)> {
        let hole = find(&self.current, self.language)
            .into_iter()
            .find(|h| h.start >= self.min_start)?;
        let (opened, cursor) = open(&self.current, &hole, self.language);
        let others = find(&opened, self.language);
        let view = without_lines(&opened, cursor, &others);
        self.open = Some((opened, cursor));
        self.end_of_hole = hole.end;
        Some(view)
    }

    /// Fills the hole [`Filling::next_hole`] returned with `insert`.
    pub fn fill(&mut self, insert: &str) {
        let Some((opened, cursor)) = self.open.take() else {
            return;
        };
        let insert: String = insert
            .split_inclusive('\n')
            .filter(|l| !l.contains(MARKER))
            .collect();
        let insert = insert.trim_end();
        let mut next = String::with_capacity(opened.len() + insert.len());
        next.push_str(&opened[..cursor]);
        next.push_str(insert);
        next.push_str(&opened[cursor..]);
        self.min_start = cursor + insert.len();
        self.current = next;
    }

    /// Leaves the hole [`Filling::next_hole`] returned as it was.
    pub fn skip(&mut self) {
        if self.open.take().is_some() {
            self.min_start = self.end_of_hole;
        }
    }

    /// The text with every hole settled so far filled.
    pub fn text(&self) -> &str {
        &self.current
    }
}

/// Fills every hole of `text` with `complete(view, cursor)`, top to bottom (see
/// [`Filling`]). Returns the filled text and, per hole, the error if it could not be
/// filled (its marker is then left as it was).
pub fn fill<E>(
    text: &str,
    language: Option<Language>,
    mut complete: impl FnMut(&str, usize) -> Result<String, E>,
) -> (String, Vec<Result<(), E>>) {
    let mut filling = Filling::new(text, language);
    let mut results = Vec::new();
    while let Some((view, cursor)) = filling.next_hole() {
        match complete(&view, cursor) {
            Ok(insert) => {
                filling.fill(&insert);
                results.push(Ok(()));
            }
            Err(e) => {
                filling.skip();
                results.push(Err(e));
            }
        }
    }
    (filling.text().to_string(), results)
}

/// `text` without the lines of `holes` (line breaks included), and `cursor` moved to match.
fn without_lines(text: &str, cursor: usize, holes: &[Hole]) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut new_cursor = cursor;
    let mut pos = 0;
    for h in holes {
        let end = if text[h.end..].starts_with("\r\n") {
            h.end + 2
        } else if text[h.end..].starts_with('\n') {
            h.end + 1
        } else {
            h.end
        };
        out.push_str(&text[pos..h.start]);
        if end <= cursor {
            new_cursor -= end - h.start;
        }
        pos = end;
    }
    out.push_str(&text[pos..]);
    (out, new_cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers_with_and_without_hints() {
        let text = "def f():\n    # quill: fill\n\ndef g():\n    # quill: fill: return two\n";
        let holes = find(text, Some(Language::Python));
        assert_eq!(holes.len(), 2);
        assert_eq!(holes[0].indent, "    ");
        assert_eq!(holes[0].hint, None);
        assert_eq!(holes[1].hint.as_deref(), Some("return two"));
        assert_eq!(&text[holes[0].start..holes[0].end], "    # quill: fill");
    }

    #[test]
    fn ordinary_comments_are_not_holes() {
        let text = "# quill fills things\nx = 1  # quill: fill\n";
        assert!(find(text, Some(Language::Python)).is_empty());
    }

    #[test]
    fn fills_top_to_bottom_and_reports_failures() {
        let text = "fn a() {\n    // quill: fill\n}\nfn b() {\n    // quill: fill: two\n}\n";
        let mut seen = Vec::new();
        let (out, results) = fill(text, Some(Language::Rust), |t: &str, _cursor: usize| {
            seen.push(t.to_string());
            // The model never sees a marker.
            assert!(!t.contains(MARKER), "{t}");
            if seen.len() == 1 {
                Ok::<_, String>("1".to_string())
            } else {
                Ok("2".to_string())
            }
        });
        assert_eq!(out, "fn a() {\n    1\n}\nfn b() {\n    // two\n    2\n}\n");
        assert_eq!(results.len(), 2);
        // The second hole saw the first one filled.
        assert!(seen[1].contains("    1\n"));

        // A model that answers with the marker itself cannot make the loop go on.
        let (out, _) = fill(text, Some(Language::Rust), |_: &str, _| {
            Ok::<_, String>("// quill: fill".to_string())
        });
        assert!(!out.contains(MARKER), "{out}");

        let (out, results) = fill(text, Some(Language::Rust), |_: &str, _| {
            Err::<String, _>("no")
        });
        assert_eq!(out, text);
        assert_eq!(results.len(), 2);
    }
}
