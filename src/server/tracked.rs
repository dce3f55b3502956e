//! What the server keeps per document beside its text (the text, version and tree are in
//! [`super::documents`]): one entry, dropped whole when the document closes.

use super::job::KeptContext;
use super::suggest::Shown;

#[derive(Default)]
pub(crate) struct Tracked {
    /// Bumped by every completion request and edit, so a debounced request or a warm-up
    /// can tell it has been overtaken.
    pub turn: u64,
    /// The byte offset just after the last edit (where the cursor likely is).
    pub last_edit: Option<usize>,
    /// The suggestion shown last (to recognise an accept).
    pub shown: Option<Shown>,
    /// The context of the last completion and the start of the top-level scope it was
    /// built in (kept while the cursor stays there; see `job.rs`).
    pub context: Option<KeptContext>,
    /// The document's recent edits, for next-edit suggestions.
    pub edits: crate::next_edit::History,
}
