//! Bug hints as diagnostics: review results per function, published with source `quill`
//! on the lines they concern, cached by the function's text and dropped when it changes.
//!
//! A finding's range is computed once, on the text the model reviewed, as a byte range
//! inside the function's code; publishing finds that code again in the document as it is
//! now (at the start of a line) and shifts the range by where it sits. A line number
//! never meets a document it was not computed on.

use dashmap::DashMap;
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Uri};

use super::documents::Snapshot;
use super::position;
use crate::assist::Finding;
use crate::text::{Encoding, LineIndex};

/// The review of one function.
#[derive(Debug, Clone)]
struct Review {
    /// The function's text when it was reviewed: the cache key, and how it is found again
    /// after edits above it move it.
    code: String,
    findings: Vec<Found>,
}

/// One finding, placed in its function's code.
#[derive(Debug, Clone)]
struct Found {
    /// The line, relative to the function's first line.
    line: usize,
    /// Bytes of `Review::code`: the line from its first non-blank character to its end.
    start: usize,
    end: usize,
    message: String,
}

#[derive(Debug, Default)]
pub struct Reviews(DashMap<Uri, Vec<Review>>);

impl Reviews {
    /// Cached findings for `code` in `uri`, as lines relative to the code's start.
    pub fn cached(&self, uri: &Uri, code: &str) -> Option<Vec<(usize, String)>> {
        self.0.get(uri)?.iter().find(|r| r.code == code).map(|r| {
            r.findings
                .iter()
                .map(|f| (f.line, f.message.clone()))
                .collect()
        })
    }

    /// Stores the findings for `code`, the text the model reviewed, whose first line is
    /// `first_line` (1-based) as the findings count lines. Findings on lines outside
    /// `code` are dropped. Returns how many were kept.
    pub fn store(&self, uri: &Uri, code: &str, first_line: usize, findings: &[Finding]) -> usize {
        let index = LineIndex::new(code);
        let findings: Vec<Found> = findings
            .iter()
            .filter_map(|f| {
                let line = f.line.checked_sub(first_line)?;
                let content = index.line(code, line)?;
                let line_start = index.offset(code, line, 0, Encoding::Utf8).ok()?;
                // The empty line after a final line break is not part of the code.
                if line_start >= code.len() {
                    return None;
                }
                let start = line_start + (content.len() - content.trim_start().len());
                let end = (line_start + content.trim_end().len()).max(start);
                Some(Found {
                    line,
                    start,
                    end,
                    message: f.message.clone(),
                })
            })
            .collect();
        let kept = findings.len();
        let review = Review {
            code: code.to_string(),
            findings,
        };
        let mut list = self.0.entry(uri.clone()).or_default();
        list.retain(|r| r.code != code);
        list.push(review);
        kept
    }

    pub fn has(&self, uri: &Uri) -> bool {
        self.0.get(uri).is_some_and(|l| !l.is_empty())
    }

    pub fn forget(&self, uri: &Uri) {
        self.0.remove(uri);
    }

    /// The diagnostics for the document as it is now. Reviews of functions whose text is
    /// no longer in the document (at the start of a line) are dropped.
    pub fn diagnostics(&self, snap: &Snapshot, enc: Encoding) -> Vec<Diagnostic> {
        let Some(mut list) = self.0.get_mut(&snap.uri) else {
            return Vec::new();
        };
        let text = snap.text.as_str();
        list.retain(|r| locate(text, &r.code).is_some());
        let mut out = Vec::new();
        for r in list.iter() {
            let Some(at) = locate(text, &r.code) else {
                continue;
            };
            for f in &r.findings {
                // `code` sits verbatim at `at`: offsets inside it are offsets of `text`.
                out.push(Diagnostic {
                    range: position::range(text, &snap.index, at + f.start, at + f.end, enc),
                    severity: Some(DiagnosticSeverity::INFORMATION),
                    code: Some(NumberOrString::String("review".into())),
                    source: Some("quill".into()),
                    message: f.message.clone(),
                    ..Diagnostic::default()
                });
            }
        }
        out
    }
}

/// Where `code` (whole lines) sits in `text`: the first occurrence that starts a line.
/// An occurrence inside a line (`x = 1` in `yx = 1`) is not the reviewed code.
fn locate(text: &str, code: &str) -> Option<usize> {
    let step = code.chars().next()?.len_utf8();
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(code) {
        let at = from + i;
        if at == 0 || matches!(text.as_bytes()[at - 1], b'\n' | b'\r') {
            return Some(at);
        }
        from = at + step;
    }
    None
}

#[cfg(test)]
mod tests {
    use tower_lsp_server::ls_types::{Position, Range};

    use super::*;
    use crate::server::documents::DocumentStore;

    const FUNC: &str = "def mean(xs):\n    total = 0\n    for i in range(1, len(xs)):\n        total += xs[i]\n    return total / len(xs)\n";

    fn uri() -> Uri {
        "file:///w/stats.py".parse().unwrap()
    }

    fn snap(text: &str) -> Snapshot {
        let docs = DocumentStore::default();
        docs.open(uri(), "python".into(), 1, text.to_string());
        docs.snapshot(&uri()).unwrap()
    }

    fn finding(line: usize, message: &str) -> Finding {
        Finding {
            line,
            message: message.into(),
        }
    }

    fn ranges(reviews: &Reviews, text: &str) -> Vec<(Range, String)> {
        reviews
            .diagnostics(&snap(text), Encoding::Utf16)
            .into_iter()
            .map(|d| (d.range, d.message))
            .collect()
    }

    fn range(line: u32, from: u32, to: u32) -> Range {
        Range::new(Position::new(line, from), Position::new(line, to))
    }

    #[test]
    fn a_finding_moves_with_its_function_and_goes_with_its_change() {
        let reviewed = format!("import math\n\n{FUNC}\nprint(mean([1]))\n");
        let reviews = Reviews::default();
        // The function starts on line 3 (1-based); the `for` line is 5.
        let kept = reviews.store(&uri(), FUNC, 3, &[finding(5, "skips the first")]);
        assert_eq!(kept, 1);
        let want = vec![(range(4, 4, 31), "skips the first".to_string())];
        assert_eq!(ranges(&reviews, &reviewed), want);
        // Lines added above (some multi-byte) move it down; the columns stay.
        let moved = format!("# é\n# 合計\n{reviewed}");
        assert_eq!(
            ranges(&reviews, &moved),
            vec![(range(6, 4, 31), want[0].1.clone())]
        );
        // Lines removed above move it up.
        let up = format!("{FUNC}\nprint(mean([1]))\n");
        assert_eq!(
            ranges(&reviews, &up),
            vec![(range(2, 4, 31), want[0].1.clone())]
        );
        // A change inside the function drops the review for good.
        let changed = up.replace("range(1,", "range(0,");
        assert!(ranges(&reviews, &changed).is_empty());
        assert!(!reviews.has(&uri()));
        assert!(ranges(&reviews, &up).is_empty());
    }

    #[test]
    fn findings_outside_the_reviewed_code_are_dropped() {
        let reviews = Reviews::default();
        // FUNC has 5 lines, 10..=14 here: 9 is above it, 15 (the line after its final
        // line break) and 400 are below.
        let kept = reviews.store(
            &uri(),
            FUNC,
            10,
            &[
                finding(9, "above"),
                finding(14, "last line"),
                finding(15, "after"),
                finding(400, "far below"),
            ],
        );
        assert_eq!(kept, 1);
        let text = format!("x = 1\n{FUNC}y = 2\n");
        assert_eq!(
            ranges(&reviews, &text),
            vec![(range(5, 4, 26), "last line".to_string())]
        );
        assert_eq!(
            reviews.cached(&uri(), FUNC),
            Some(vec![(4, "last line".to_string())])
        );
    }

    #[test]
    fn the_code_is_found_only_where_a_line_starts() {
        let reviews = Reviews::default();
        reviews.store(&uri(), "x = 1\n", 1, &[finding(1, "unused")]);
        // `x = 1\n` also ends the first line; the reviewed line is the second.
        let text = "# ax = 1\nx = 1\n";
        assert_eq!(
            ranges(&reviews, text),
            vec![(range(1, 0, 5), "unused".to_string())]
        );
        // Only inside a line: not the reviewed code any more.
        assert!(ranges(&reviews, "# ax = 1\n").is_empty());
    }

    #[test]
    fn a_shorter_document_and_odd_text_never_give_a_bad_range() {
        let reviews = Reviews::default();
        // The model's line numbers run past the code, the code past the document.
        reviews.store(
            &uri(),
            FUNC,
            1,
            &[finding(2, "first"), finding(usize::MAX, "huge")],
        );
        assert_eq!(
            ranges(&reviews, FUNC),
            vec![(range(1, 4, 13), "first".to_string())]
        );
        // The document lost the function: nothing, and the review is gone.
        for text in ["", "\n", "def mean(xs):\n", "\u{3000}é\r\n\r"] {
            assert!(ranges(&reviews, text).is_empty(), "{text:?}");
        }
        assert!(!reviews.has(&uri()));
        // Blank and CRLF lines, lone `\r` breaks, multi-byte indentation.
        let code = "f(\r\n\r\n\u{3000}\u{3000}é,\rz)\r\n";
        reviews.store(
            &uri(),
            code,
            1,
            &[finding(2, "blank"), finding(3, "wide"), finding(4, "z")],
        );
        let text = format!("# 前\r\n{code}");
        let got = ranges(&reviews, &text);
        assert_eq!(
            got,
            vec![
                (range(2, 0, 0), "blank".to_string()),
                (range(3, 2, 4), "wide".to_string()),
                (range(4, 0, 2), "z".to_string()),
            ]
        );
    }
}
