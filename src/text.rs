//! Text at the edges: decoding source files, and converting line/column positions (in
//! UTF-8 bytes, UTF-16 code units or characters) to byte offsets and back.
//!
//! Everything inside quill works on byte offsets into UTF-8 text; conversions happen once,
//! where a position enters or leaves (the CLI's FILE:LINE:COL, the LSP's `Position`).

/// Files larger than this are refused for completion: no editor buffer that size is code a
/// person is typing into, and every request would re-scan it.
pub const MAX_SOURCE_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("it looks like a binary file (it contains NUL bytes)")]
    Binary,
    #[error("it is not UTF-8 text (invalid byte at offset {0})")]
    NotUtf8(usize),
    #[error("it is {0} bytes; quill completes files up to {MAX_SOURCE_BYTES} bytes")]
    TooLarge(usize),
}

/// Checks that `bytes` are a source file quill can work on and returns them as text.
pub fn decode_source(bytes: &[u8]) -> Result<String, TextError> {
    check_source(bytes)?;
    String::from_utf8(bytes.to_vec()).map_err(|e| TextError::NotUtf8(e.utf8_error().valid_up_to()))
}

/// The same checks on text already decoded (an editor buffer).
pub fn check_source(bytes: &[u8]) -> Result<(), TextError> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(TextError::TooLarge(bytes.len()));
    }
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err(TextError::Binary);
    }
    Ok(())
}

/// How a column counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    /// The LSP default.
    #[default]
    Utf16,
    /// Unicode scalar values: what the CLI's COL counts.
    Chars,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("line {line} is past the end of the text ({lines} lines)")]
    LineOutOfRange { line: usize, lines: usize },
    #[error("column {col} is past the end of line {line} ({len} columns)")]
    ColumnOutOfRange { line: usize, col: usize, len: usize },
}

/// Byte offsets of line starts, for position conversion. A line ends at `\n`, `\r\n` or
/// a lone `\r`, as the LSP and editors count them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        let bytes = text.as_bytes();
        starts.extend(bytes.iter().enumerate().filter_map(|(i, b)| match b {
            b'\n' => Some(i + 1),
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => Some(i + 1),
            _ => None,
        }));
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The content of 0-based `line` without its line break (`\n`, `\r\n` or `\r`).
    pub fn line<'t>(&self, text: &'t str, line: usize) -> Option<&'t str> {
        let start = *self.starts.get(line)?;
        let end = self.starts.get(line + 1).copied().unwrap_or(self.len);
        Some(
            text[start..end]
                .trim_end_matches('\n')
                .trim_end_matches('\r'),
        )
    }

    /// The byte offset of 0-based `line` and `col` counted in `enc`. A column past the end
    /// of the line is an error, as is a line past the end of the text; a column inside a
    /// character (half a UTF-16 surrogate pair, a byte inside a UTF-8 sequence) means the
    /// character's start, as editors clamp it.
    pub fn offset(
        &self,
        text: &str,
        line: usize,
        col: usize,
        enc: Encoding,
    ) -> Result<usize, PositionError> {
        let content = self.line(text, line).ok_or(PositionError::LineOutOfRange {
            line,
            lines: self.lines(),
        })?;
        let start = self.starts[line];
        let mut units = 0;
        for (i, ch) in content.char_indices() {
            if units == col {
                return Ok(start + i);
            }
            units += match enc {
                Encoding::Utf8 => ch.len_utf8(),
                Encoding::Utf16 => ch.len_utf16(),
                Encoding::Chars => 1,
            };
            if units > col {
                return Ok(start + i);
            }
        }
        if units == col {
            return Ok(start + content.len());
        }
        Err(PositionError::ColumnOutOfRange {
            line,
            col,
            len: units,
        })
    }

    /// The offset like [`LineIndex::offset`], but a column past the end of its line clamps
    /// to the line's end (what editors do with stale positions).
    pub fn offset_clamped(
        &self,
        text: &str,
        line: usize,
        col: usize,
        enc: Encoding,
    ) -> Result<usize, PositionError> {
        match self.offset(text, line, col, enc) {
            Err(PositionError::ColumnOutOfRange { line, .. }) => {
                let content = self.line(text, line).unwrap_or("");
                Ok(self.starts[line] + content.len())
            }
            other => other,
        }
    }

    /// The 0-based line and column (in `enc`) of byte `offset`.
    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(self.len));
        let line = self.starts.partition_point(|s| *s <= offset) - 1;
        let start = self.starts[line];
        // An offset between `\r` and `\n` is at the end of the line's content.
        let end = start + self.line(text, line).map_or(0, str::len);
        let before = &text[start..offset.min(end)];
        let col = match enc {
            Encoding::Utf8 => before.len(),
            Encoding::Utf16 => before.chars().map(char::len_utf16).sum(),
            Encoding::Chars => before.chars().count(),
        };
        (line, col)
    }
}

/// The largest character boundary at or before `offset` (which must be ≤ `text.len()`).
pub fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_huge_files_are_refused() {
        assert_eq!(decode_source(b"ab\0cd"), Err(TextError::Binary));
        assert!(matches!(
            decode_source(&[0xff, 0xfe, b'a']),
            Err(TextError::NotUtf8(0))
        ));
        assert!(matches!(
            decode_source(&vec![b'a'; MAX_SOURCE_BYTES + 1]),
            Err(TextError::TooLarge(_))
        ));
        assert_eq!(decode_source(b"fn x() {}\n").unwrap(), "fn x() {}\n");
    }

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        // "😀" is 4 bytes, 2 UTF-16 units, 1 char.
        let text = "a😀b\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.offset(text, 0, 3, Encoding::Utf16), Ok(5));
        assert_eq!(idx.offset(text, 0, 5, Encoding::Utf8), Ok(5));
        assert_eq!(idx.offset(text, 0, 2, Encoding::Chars), Ok(5));
        // Half a surrogate pair, or a byte inside the character, means its start.
        assert_eq!(idx.offset(text, 0, 2, Encoding::Utf16), Ok(1));
        assert_eq!(idx.offset(text, 0, 3, Encoding::Utf8), Ok(1));
        assert_eq!(idx.position(text, 5, Encoding::Utf16), (0, 3));
        assert_eq!(idx.position(text, 3, Encoding::Utf16), (0, 1));
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        let text = "a\rb\r\nc\nd";
        let idx = LineIndex::new(text);
        assert_eq!(idx.lines(), 4);
        assert_eq!(idx.line(text, 0), Some("a"));
        assert_eq!(idx.line(text, 1), Some("b"));
        assert_eq!(idx.line(text, 2), Some("c"));
        assert_eq!(idx.offset(text, 3, 1, Encoding::Utf16), Ok(8));
        assert_eq!(idx.position(text, 2, Encoding::Utf16), (1, 0));
        // Between `\r` and `\n` (found by the fuzzer): the end of the line's content.
        assert_eq!(idx.position(text, 4, Encoding::Utf8), (1, 1));
    }

    #[test]
    fn cjk_tabs_and_crlf() {
        let text = "\t中文x\r\nnext\r\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line(text, 0), Some("\t中文x"));
        // A tab is one unit in every encoding; each CJK char one UTF-16 unit, 3 bytes.
        assert_eq!(idx.offset(text, 0, 3, Encoding::Utf16), Ok(7));
        assert_eq!(idx.offset(text, 0, 7, Encoding::Utf8), Ok(7));
        // The end of a CRLF line is before the \r.
        assert_eq!(idx.offset(text, 0, 4, Encoding::Utf16), Ok(8));
        assert!(idx.offset(text, 0, 5, Encoding::Utf16).is_err());
        assert_eq!(idx.offset_clamped(text, 0, 50, Encoding::Utf16), Ok(8));
        assert_eq!(idx.offset(text, 1, 0, Encoding::Utf16), Ok(10));
        assert_eq!(idx.position(text, 10, Encoding::Utf16), (1, 0));
        assert!(matches!(
            idx.offset(text, 9, 0, Encoding::Utf16),
            Err(PositionError::LineOutOfRange { .. })
        ));
    }

    #[test]
    fn empty_text_has_one_line() {
        let idx = LineIndex::new("");
        assert_eq!(idx.lines(), 1);
        assert_eq!(idx.offset("", 0, 0, Encoding::Utf16), Ok(0));
    }
}
