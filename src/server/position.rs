//! LSP positions at the edge: negotiating the encoding, and converting `Position` to byte
//! offsets and back. Nothing past this module sees an LSP position.

use tower_lsp_server::ls_types::{InitializeParams, Position, PositionEncodingKind, Range};

use crate::text::{Encoding, LineIndex, PositionError};

/// UTF-8 when the client offers it (no conversion needed), else the LSP default UTF-16.
pub fn negotiate(params: &InitializeParams) -> Encoding {
    let offered = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref());
    match offered {
        Some(list) if list.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
        _ => Encoding::Utf16,
    }
}

pub fn kind(enc: Encoding) -> PositionEncodingKind {
    match enc {
        Encoding::Utf8 => PositionEncodingKind::UTF8,
        Encoding::Utf16 => PositionEncodingKind::UTF16,
        Encoding::Chars => PositionEncodingKind::UTF32,
    }
}

/// The byte offset of `pos`. A column past the end of its line means the line's end, as
/// the LSP specifies ("defaults back to the line length"); a line past the end of the text
/// is an error.
pub fn offset(
    text: &str,
    index: &LineIndex,
    pos: Position,
    enc: Encoding,
) -> Result<usize, PositionError> {
    index.offset_clamped(text, pos.line as usize, pos.character as usize, enc)
}

pub fn position(text: &str, index: &LineIndex, offset: usize, enc: Encoding) -> Position {
    let (line, col) = index.position(text, offset, enc);
    Position::new(line as u32, col as u32)
}

pub fn range(text: &str, index: &LineIndex, start: usize, end: usize, enc: Encoding) -> Range {
    Range::new(
        position(text, index, start, enc),
        position(text, index, end, enc),
    )
}
