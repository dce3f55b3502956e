//! The open documents: text, version, language and tree-sitter tree, kept in sync with the
//! client's incremental changes.
//!
//! Edits apply synchronously under the document's map entry (never across an `.await`);
//! readers take a [`Snapshot`] (shared text and a cheap tree clone) and work without locks.
//! An edit whose version is not newer than the stored one is refused with a log line.
//!
//! Invariant: a change is always applied. A range past the end of a line or of the
//! document (editors send them after their own bugs or races) is clamped the way editors'
//! text models clamp (VS Code's `validatePosition`): to the line's end, or to the end of
//! the text, with a warning in the log. The document never goes dead; a full-text change
//! (or reopening) puts it right if the editor's copy really differs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tower_lsp_server::ls_types::{Range, TextDocumentContentChangeEvent, Uri};
use tree_sitter::{InputEdit, Point, Tree};

use crate::lang::Language;
use crate::syntax::{self, MAX_CHECKED_BYTES};
use crate::text::{Encoding, LineIndex};

/// One open document.
#[derive(Debug, Clone)]
struct Document {
    text: Arc<String>,
    version: i32,
    language_id: String,
    language: Option<Language>,
    tree: Option<Tree>,
    index: Arc<LineIndex>,
    /// When this document was last opened, changed or completed in (store-wide counter).
    touched: u64,
    /// tree-sitter gave up on this text (`syntax::PARSE_BUDGET`): it is not parsed again
    /// on every edit, only after a full-text change or a reopen.
    unparsable: bool,
}

/// A document as it was at one moment; cheap to take, free to keep.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub uri: Uri,
    pub text: Arc<String>,
    pub version: i32,
    pub language_id: String,
    pub language: Option<Language>,
    pub tree: Option<Tree>,
    pub index: Arc<LineIndex>,
    pub touched: u64,
    /// tree-sitter gave up on this text: nothing should parse it again.
    pub unparsable: bool,
}

impl Snapshot {
    /// This snapshot with each lone `\r` line break (old Mac files) turned into `\n`, so
    /// the completion pipeline, which splits lines at `\n`, sees the lines the editor
    /// shows. Same length, so every byte offset stays valid; the tree is parsed again.
    pub fn with_lf_breaks(self) -> Snapshot {
        let bytes = self.text.as_bytes();
        let lone = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        if !(0..bytes.len()).any(lone) {
            return self;
        }
        let fixed: Vec<u8> = (0..bytes.len())
            .map(|i| if lone(i) { b'\n' } else { bytes[i] })
            .collect();
        // Only ASCII `\r` bytes were replaced by ASCII `\n`: still UTF-8.
        let text = String::from_utf8(fixed).expect("UTF-8 stays UTF-8");
        let tree = if self.unparsable {
            None
        } else {
            parse(self.language, &text, None)
        };
        Snapshot {
            text: Arc::new(text),
            tree,
            ..self
        }
    }
}

/// Why a change was not applied.
/// What a `didChange` did: where the last change ended (the cursor, for warm-ups) and
/// each change as it was applied, in order.
#[derive(Debug)]
pub struct Changed {
    pub at: usize,
    pub steps: Vec<Applied>,
}

/// One content change in bytes: `range` of the text as it was just before it, replaced
/// by `text`. Editors batch several (a word typed, two places at once) in one `didChange`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub range: std::ops::Range<usize>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChangeError {
    #[error("{0} is not open")]
    NotOpen(String),
    #[error("change to version {got} of {uri} is not newer than version {have}; ignored")]
    Stale { uri: String, got: i32, have: i32 },
}

/// All open documents, keyed by URI.
#[derive(Debug, Default)]
pub struct DocumentStore {
    docs: DashMap<Uri, Document>,
    clock: AtomicU64,
}

/// The language for an LSP language id, falling back to the file extension, then to a
/// `#!` line (`text`, the document's text when it was opened).
pub fn language_of(uri: &Uri, language_id: &str, text: &str) -> Option<Language> {
    Language::from_name(language_id).or_else(|| {
        let path = uri.path().as_str();
        Language::detect(std::path::Path::new(path), text)
    })
}

fn parse(language: Option<Language>, text: &str, old: Option<&Tree>) -> Option<Tree> {
    let lang = language?;
    if text.len() > MAX_CHECKED_BYTES {
        return None;
    }
    syntax::parse(lang, text, old)
}

/// Whether a text in `language` should have parsed but did not (given up).
fn gave_up(language: Option<Language>, text: &str, tree: &Option<Tree>) -> bool {
    language.is_some() && text.len() <= MAX_CHECKED_BYTES && tree.is_none()
}

impl DocumentStore {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn open(&self, uri: Uri, language_id: String, version: i32, text: String) {
        let language = language_of(&uri, &language_id, &text);
        let tree = parse(language, &text, None);
        let unparsable = gave_up(language, &text, &tree);
        let index = Arc::new(LineIndex::new(&text));
        let touched = self.tick();
        self.docs.insert(
            uri,
            Document {
                text: Arc::new(text),
                version,
                language_id,
                language,
                tree,
                index,
                touched,
                unparsable,
            },
        );
    }

    pub fn close(&self, uri: &Uri) {
        self.docs.remove(uri);
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Applies `changes` (in order) as version `version`. Ranges are in `enc`. Returns the
    /// byte offset just after the last change, where the user's cursor most likely is.
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
        enc: Encoding,
    ) -> Result<Changed, ChangeError> {
        let touched = self.tick();
        let mut entry = self
            .docs
            .get_mut(uri)
            .ok_or_else(|| ChangeError::NotOpen(uri.as_str().to_string()))?;
        let doc = entry.value_mut();
        if version <= doc.version {
            return Err(ChangeError::Stale {
                uri: uri.as_str().to_string(),
                got: version,
                have: doc.version,
            });
        }
        let mut text = doc.text.as_ref().clone();
        let mut index = doc.index.as_ref().clone();
        let mut tree = doc.tree.clone();
        let mut last = 0;
        let mut steps = Vec::with_capacity(changes.len());
        let mut unparsable = doc.unparsable;
        for change in changes {
            match change.range {
                None => {
                    steps.push(Applied {
                        range: 0..text.len(),
                        text: change.text.clone(),
                    });
                    text = change.text;
                    index = LineIndex::new(&text);
                    tree = None;
                    last = text.len();
                    unparsable = false;
                }
                Some(range) => {
                    let (start, end, clamped) = byte_range(&text, &index, range, enc);
                    if clamped {
                        tracing::warn!(
                            "{}: change range {}:{}-{}:{} lies outside the document ({} lines); \
                             clamped as editors do",
                            uri.as_str(),
                            range.start.line,
                            range.start.character,
                            range.end.line,
                            range.end.character,
                            index.lines()
                        );
                    }
                    if let Some(t) = tree.as_mut() {
                        t.edit(&edit(&text, start, end, &change.text));
                    }
                    text.replace_range(start..end, &change.text);
                    index = LineIndex::new(&text);
                    last = start + change.text.len();
                    steps.push(Applied {
                        range: start..end,
                        text: change.text,
                    });
                }
            }
        }
        doc.version = version;
        doc.touched = touched;
        doc.tree = if unparsable {
            None
        } else {
            parse(doc.language, &text, tree.as_ref())
        };
        doc.unparsable = gave_up(doc.language, &text, &doc.tree);
        doc.text = Arc::new(text);
        doc.index = Arc::new(index);
        Ok(Changed { at: last, steps })
    }

    /// Marks a document as just used (a completion in it), for context ranking.
    pub fn touch(&self, uri: &Uri) {
        let t = self.tick();
        if let Some(mut d) = self.docs.get_mut(uri) {
            d.touched = t;
        }
    }

    pub fn snapshot(&self, uri: &Uri) -> Option<Snapshot> {
        self.docs.get(uri).map(|d| Snapshot {
            uri: uri.clone(),
            text: d.text.clone(),
            version: d.version,
            language_id: d.language_id.clone(),
            language: d.language,
            tree: d.tree.clone(),
            index: d.index.clone(),
            touched: d.touched,
            unparsable: d.unparsable,
        })
    }

    /// Snapshots of every open document but `except`, most recently touched first.
    pub fn others(&self, except: &Uri) -> Vec<Snapshot> {
        let mut out: Vec<Snapshot> = self
            .docs
            .iter()
            .filter(|e| e.key() != except)
            .filter_map(|e| self.snapshot(e.key()))
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.touched));
        out
    }
}

/// The byte range of an LSP range in `text`, and whether it had to be clamped. A position
/// past the end of its line clamps to the line's end (clients send such ranges for
/// whole-line deletions, silently); one past the last line clamps to the end of the text
/// (only a confused editor sends that: `true`, for the log).
fn byte_range(text: &str, index: &LineIndex, range: Range, enc: Encoding) -> (usize, usize, bool) {
    let mut clamped = false;
    let mut pos = |p: tower_lsp_server::ls_types::Position| {
        let line = p.line as usize;
        // A range may end at the start of the line after the last one.
        if line == index.lines() && p.character == 0 {
            return text.len();
        }
        index
            .offset_clamped(text, line, p.character as usize, enc)
            .unwrap_or_else(|_| {
                clamped = true;
                text.len()
            })
    };
    let start = pos(range.start);
    let end = pos(range.end);
    (start.min(end), start.max(end), clamped)
}

/// The tree-sitter edit for replacing `text[start..end]` with `new`.
fn edit(text: &str, start: usize, end: usize, new: &str) -> InputEdit {
    let start_position = syntax::point_at(text, start);
    let old_end_position = syntax::point_at(text, end);
    let lines = new.matches('\n').count();
    let new_end_position = if lines == 0 {
        Point::new(start_position.row, start_position.column + new.len())
    } else {
        Point::new(
            start_position.row + lines,
            new.len() - new.rfind('\n').map_or(0, |i| i + 1),
        )
    };
    InputEdit {
        start_byte: start,
        old_end_byte: end,
        new_end_byte: start + new.len(),
        start_position,
        old_end_position,
        new_end_position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::Position;

    fn uri() -> Uri {
        "file:///w/a.py".parse().unwrap()
    }

    fn change(l0: u32, c0: u32, l1: u32, c1: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(l0, c0), Position::new(l1, c1))),
            range_length: None,
            text: text.to_string(),
        }
    }

    #[test]
    fn incremental_changes_keep_text_and_tree_in_sync() {
        let store = DocumentStore::default();
        store.open(uri(), "python".into(), 1, "def f():\n    pass\n".into());
        store
            .change(
                &uri(),
                2,
                vec![change(1, 4, 1, 8, "return 1")],
                Encoding::Utf16,
            )
            .unwrap();
        let s = store.snapshot(&uri()).unwrap();
        assert_eq!(s.text.as_str(), "def f():\n    return 1\n");
        let fresh = syntax::parse(Language::Python, &s.text, None).unwrap();
        assert_eq!(
            s.tree.unwrap().root_node().to_sexp(),
            fresh.root_node().to_sexp()
        );
    }

    #[test]
    fn a_text_the_grammar_cannot_parse_in_time_is_not_parsed_on_every_edit() {
        // tree-sitter-python is quadratic on comment lines after an indented block.
        let slow = format!("def f():\n    x = 1\n{}", "# c\n".repeat(20_000));
        let store = DocumentStore::default();
        store.open(uri(), "python".into(), 1, slow);
        let s = store.snapshot(&uri()).unwrap();
        assert!(s.unparsable && s.tree.is_none());
        store
            .change(&uri(), 2, vec![change(0, 0, 0, 0, "#")], Encoding::Utf16)
            .unwrap();
        let s = store.snapshot(&uri()).unwrap();
        assert!(s.unparsable && s.tree.is_none() && s.text.starts_with("#def"));
        let full = TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: "def f():\n    pass\n".into(),
        };
        store
            .change(&uri(), 3, vec![full], Encoding::Utf16)
            .unwrap();
        let s = store.snapshot(&uri()).unwrap();
        assert!(!s.unparsable && s.tree.is_some());
    }

    #[test]
    fn lone_carriage_returns_become_line_feeds_for_the_pipeline() {
        let store = DocumentStore::default();
        let u = uri();
        store.open(u.clone(), "python".into(), 1, "a = 1\rb = 2\r\nc\r".into());
        let s = store.snapshot(&u).unwrap().with_lf_breaks();
        assert_eq!(s.text.as_str(), "a = 1\nb = 2\r\nc\n");
        assert_eq!(s.index.lines(), 4);
    }

    #[test]
    fn utf16_ranges_with_emoji_cjk_and_crlf() {
        let store = DocumentStore::default();
        store.open(
            uri(),
            "python".into(),
            1,
            "s = \"😀中\"\r\nx = 1\r\n".into(),
        );
        // After `s = "` (5), the emoji (2 UTF-16 units) and the CJK char (1): column 8.
        store
            .change(&uri(), 2, vec![change(0, 8, 0, 8, "!")], Encoding::Utf16)
            .unwrap();
        store
            .change(&uri(), 3, vec![change(1, 4, 1, 5, "2")], Encoding::Utf16)
            .unwrap();
        let s = store.snapshot(&uri()).unwrap();
        assert_eq!(s.text.as_str(), "s = \"😀中!\"\r\nx = 2\r\n");
        // The same edit in UTF-8 columns: the emoji is 4 bytes, the CJK char 3.
        store
            .change(&uri(), 4, vec![change(0, 13, 0, 13, "?")], Encoding::Utf8)
            .unwrap();
        assert_eq!(
            store.snapshot(&uri()).unwrap().text.as_str(),
            "s = \"😀中!?\"\r\nx = 2\r\n"
        );
    }

    #[test]
    fn stale_changes_are_refused_and_ranges_past_the_end_clamped() {
        let store = DocumentStore::default();
        store.open(uri(), "python".into(), 5, "x = 1\n".into());
        let err = store
            .change(&uri(), 5, vec![change(0, 0, 0, 0, "y")], Encoding::Utf16)
            .unwrap_err();
        assert!(matches!(err, ChangeError::Stale { .. }));
        assert_eq!(store.snapshot(&uri()).unwrap().text.as_str(), "x = 1\n");
        // A range past the last line lands at the end of the text, as in VS Code's model.
        store
            .change(&uri(), 6, vec![change(9, 0, 9, 4, "y")], Encoding::Utf16)
            .unwrap();
        assert_eq!(store.snapshot(&uri()).unwrap().text.as_str(), "x = 1\ny");
        // From the middle of the text to past its end: the rest is replaced.
        store
            .change(&uri(), 7, vec![change(0, 4, 30, 2, "2\n")], Encoding::Utf16)
            .unwrap();
        // The document keeps following the editor's later changes.
        store
            .change(&uri(), 8, vec![change(0, 0, 0, 0, "z")], Encoding::Utf16)
            .unwrap();
        let s = store.snapshot(&uri()).unwrap();
        assert_eq!((s.text.as_str(), s.version), ("zx = 2\n", 8));
        let fresh = syntax::parse(Language::Python, &s.text, None).unwrap();
        assert_eq!(
            s.tree.unwrap().root_node().to_sexp(),
            fresh.root_node().to_sexp()
        );
    }

    #[test]
    fn full_replacement_and_unknown_language() {
        let store = DocumentStore::default();
        let u: Uri = "file:///w/notes.txt".parse().unwrap();
        store.open(u.clone(), "plaintext".into(), 1, "hello".into());
        let full = TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: "bye".into(),
        };
        store.change(&u, 2, vec![full], Encoding::Utf16).unwrap();
        let s = store.snapshot(&u).unwrap();
        assert_eq!(s.text.as_str(), "bye");
        assert!(s.language.is_none() && s.tree.is_none());
    }
}
