//! Next-edit suggestions: after an edit, the edit it implies elsewhere in the document
//! (the other uses of a name the user just renamed, the next line of a table the user
//! changed one line of), proposed where it is and applied with one key.
//!
//! Data flow: the server records each `didChange` in the document's [`History`] (hunks,
//! merged as typing goes on); a `quill/nextEdit` request reads the history, the text and its
//! tree and asks the rules in turn: [`rename`] (from the tree alone), [`pattern`] (from
//! the lines' tokens alone), [`field`] (a new field's parameter in the constructor) and
//! [`store`] (a constructor's new parameter stored like the others), both from the tree
//! alone, then [`arguments`] (where the tree finds a call that needs
//! a new argument, the model writes it); a proposal is checked like a completion (the tree
//! must parse no worse after it, and it must change something) before it is returned.
//!
//! Invariants:
//! - [`suggest`] does no I/O of its own: the same text, tree, history and model answers
//!   give the same proposal. The model is asked only when the tree found a place.
//! - A proposal never touches the user's last edit, and never restores what it replaced.

pub mod arguments;
pub mod field;
pub mod history;
pub mod pattern;
pub mod rename;
pub mod store;
pub mod tree;

use std::ops::Range;

use tree_sitter::Tree;

pub use history::{History, Hunk};

use crate::lang::Language;

/// What kind of change a proposal makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// The other uses of a renamed name.
    Rename,
    /// The new argument at a call of a function that gained a parameter (from the model).
    Argument,
    /// The same change in the next line of a run of lines shaped alike.
    Pattern,
    /// A new field's parameter in the constructor, or a constructor's new parameter
    /// stored the way it stores the others.
    Field,
}

/// One proposed edit: replace `range` (bytes of the current text) with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextEdit {
    pub range: Range<usize>,
    pub text: String,
    pub kind: Kind,
    /// Places that still need the same change after this one.
    pub remaining: usize,
    /// What the user sees: `rename count → total (2 more)`.
    pub label: String,
}

/// Asks the model for a completion at `ask.offset` of the text (the one completion
/// pipeline, at background priority; the prompt as [`arguments::prompt_config`] and
/// [`arguments::definition_context`] make it); `None` when it has nothing.
pub type Complete<'a> = dyn FnMut(&arguments::Ask) -> Option<String> + 'a;

/// The next edit that the history of `text` implies, if any: from the rules that read the
/// tree alone first, then from those that ask the model (through `complete`).
pub fn suggest(
    lang: Language,
    text: &str,
    tree: &Tree,
    history: &History,
    complete: &mut Complete<'_>,
) -> Option<NextEdit> {
    let last = history.last()?;
    let edit = rename(lang, text, tree, history)
        .or_else(|| pattern(lang, text, history))
        .or_else(|| field_parameter(text, tree, history))
        .or_else(|| stored_parameter(lang, text, tree, history))
        .or_else(|| added_argument(lang, text, tree, history, complete))?;
    checked(lang, text, tree, last, edit)
}

fn rename(lang: Language, text: &str, tree: &Tree, history: &History) -> Option<NextEdit> {
    let r = rename::find(lang, text, tree, history)?;
    let range = r.places[r.next].clone();
    let remaining = r.places.len() - 1;
    // A shorthand field (`Point { x, y }`) keeps its field: `x: new`.
    let replacement = if tree::is_shorthand(tree.root_node(), &range) {
        format!("{}: {}", r.old, r.new)
    } else {
        r.new.clone()
    };
    Some(NextEdit {
        label: format!("rename {} → {}{}", r.old, r.new, more(remaining)),
        range,
        text: replacement,
        kind: Kind::Rename,
        remaining,
    })
}

fn pattern(lang: Language, text: &str, history: &History) -> Option<NextEdit> {
    let p = pattern::find(text, history, lang.spec().line_comments)?;
    let remaining = p.places.len() - 1;
    let (range, replacement) = p.places[p.next].clone();
    // This line's own text: an argument made of the line's names is not the edited line's.
    let what = if p.old.is_empty() {
        format!(
            "add `{}`",
            replacement.trim().trim_start_matches([',', ' '])
        )
    } else {
        format!("{} → {}", p.old, replacement.trim())
    };
    Some(NextEdit {
        label: format!("{what} in this line too{}", more(remaining)),
        range,
        text: replacement,
        kind: Kind::Pattern,
        remaining,
    })
}

fn field_parameter(text: &str, tree: &Tree, history: &History) -> Option<NextEdit> {
    let p = field::find(text, tree, history)?;
    Some(NextEdit {
        label: format!("add `{}` to {}", p.parameter, p.function),
        range: p.at..p.at,
        text: p.text,
        kind: Kind::Field,
        remaining: 0,
    })
}

fn stored_parameter(
    lang: Language,
    text: &str,
    tree: &Tree,
    history: &History,
) -> Option<NextEdit> {
    let s = store::find(text, tree, history, lang)?;
    Some(NextEdit {
        label: format!("store it too: `{}`", s.store),
        range: s.at..s.at,
        text: s.text,
        kind: Kind::Field,
        remaining: 0,
    })
}

fn added_argument(
    lang: Language,
    text: &str,
    tree: &Tree,
    history: &History,
    complete: &mut Complete<'_>,
) -> Option<NextEdit> {
    let ask = arguments::find(text, tree, history, lang)?;
    let answer = complete(&ask)?;
    let (range, arg) = arguments::edit(&ask, &answer)?;
    Some(NextEdit {
        label: format!(
            "add `{}` to this call of {}{}",
            arg.trim_start_matches([',', ' ']),
            ask.function,
            more(ask.remaining)
        ),
        range,
        text: arg,
        kind: Kind::Argument,
        remaining: ask.remaining,
    })
}

fn more(remaining: usize) -> String {
    if remaining > 0 {
        format!(" ({remaining} more)")
    } else {
        String::new()
    }
}

/// `edit` when it changes something, stays clear of the last edit, and leaves the tree
/// parsing no worse than it does now.
fn checked(
    lang: Language,
    text: &str,
    tree: &Tree,
    last: &Hunk,
    edit: NextEdit,
) -> Option<NextEdit> {
    if text[edit.range.clone()] == edit.text {
        return None;
    }
    let lr = last.range();
    if edit.range.start < lr.end && lr.start < edit.range.end {
        return None;
    }
    let mut after = text.to_string();
    after.replace_range(edit.range.clone(), &edit.text);
    let parsed = crate::syntax::parse(lang, &after, None)?;
    let errors = |t: &Tree| crate::syntax::error_count(t.root_node());
    (errors(&parsed) <= errors(tree)).then_some(edit)
}

/// `text` with `edit` applied.
pub fn apply(text: &str, edit: &NextEdit) -> String {
    let mut out = text.to_string();
    out.replace_range(edit.range.clone(), &edit.text);
    out
}

#[cfg(test)]
mod tests;
