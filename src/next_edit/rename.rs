//! The rename rule: the user's last edit turned one name into another (`count` → `total`, at
//! its definition or at one use); the next edit is the same change at the next place the
//! old name still means the same thing. Deterministic: read from the syntax tree, no model.
//!
//! What counts as "the same thing" (precision before recall: a wrong suggestion costs the
//! user more than none):
//! - a name node of the same kind (`identifier`, `field_identifier`, …), in the same position
//!   (a bare name, or a member after the same object: `self.count` renames `self.count`,
//!   not `items.count`);
//! - within the function the edit is in, unless the name is a definition's own name or a
//!   member (then the whole file);
//! - and only while the new name was not already there: a use changed to another name that
//!   exists (`a` → `b`, both defined) is a fix of that use, not a rename.

use std::ops::Range;

use tree_sitter::{Node, Tree};

use super::history::History;
use super::tree::{for_each_leaf, is_keyword_name, is_name, member_object};
use crate::lang::Language;

/// A rename found in the history: `old` became `new` at `site` (bytes of the current text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub old: String,
    pub new: String,
    pub site: Range<usize>,
    /// The places where `old` still needs to become `new`, in document order.
    pub places: Vec<Range<usize>>,
    /// The one to propose first: the next place after the edit, wrapping around.
    pub next: usize,
}

/// How many recent hunks are looked at for a rename still under way (an unrelated edit
/// after a rename, a comment fixed, does not lose the places left).
const LOOK_BACK: usize = 4;

/// The rename the most recent hunks of `history` started (the last one first), with the
/// places left to change; `None` when none of them is a rename with places left.
pub fn find(lang: Language, text: &str, tree: &Tree, history: &History) -> Option<Rename> {
    let n = history.hunks().count();
    (0..n.min(LOOK_BACK)).find_map(|back| find_at(lang, text, tree, history, n - 1 - back))
}

/// The rename hunk `at` of `history` started, if it is one with places left.
fn find_at(
    lang: Language,
    text: &str,
    tree: &Tree,
    history: &History,
    at: usize,
) -> Option<Rename> {
    let hunk = history.hunks().nth(at)?;
    let (old, new, site) = expand(text, hunk.start, &hunk.old, &hunk.new)?;
    let root = tree.root_node();
    let node = name_at(root, &site)?;
    let shape = Shape::of(node, text);
    if shape.label {
        return None;
    }
    let (scope, guard) = scopes_of(lang, tree, text, node, &shape);
    let mut places = Vec::new();
    let mut already = 0;
    let mut visit = |n: Node<'_>, counting: bool| {
        if n.byte_range() == site || !is_name(n) || !shape.matches(&Shape::of(n, text)) {
            return;
        }
        let t = &text[n.byte_range()];
        if t == old && !counting {
            places.push(n.byte_range());
        } else if t == new && counting {
            already += 1;
        }
    };
    for_each_leaf(scope, &mut |n| visit(n, false));
    for_each_leaf(guard, &mut |n| visit(n, true));
    // The new name elsewhere must be this rename's own earlier steps, not a name that was
    // there before it began.
    let steps = history
        .hunks()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, h)| h)
        .filter(|h| {
            expand(text, h.start, &h.old, &h.new).is_some_and(|(o, n, _)| o == old && n == new)
        })
        .count();
    if places.is_empty() || already > steps {
        return None;
    }
    let next = places
        .iter()
        .position(|p| p.start > site.start)
        .unwrap_or(0);
    Some(Rename {
        old,
        new,
        site,
        places,
        next,
    })
}

/// The names before and after an edit of `old` into `new` at `start` of `text` (where `new`
/// is now), widened to the whole word around it, and that word's range in `text`.
fn expand(
    text: &str,
    start: usize,
    old: &str,
    new: &str,
) -> Option<(String, String, Range<usize>)> {
    let end = start + new.len();
    if !text.is_char_boundary(start) || end > text.len() || !text.is_char_boundary(end) {
        return None;
    }
    if !old.chars().all(is_word) || !new.chars().all(is_word) {
        return None;
    }
    let left = text[..start]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(start, |(i, _)| i);
    let right = text[end..]
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(text.len(), |(i, _)| end + i);
    let before = format!("{}{old}{}", &text[left..start], &text[end..right]);
    let after = text[left..right].to_string();
    (is_identifier(&before) && is_identifier(&after) && before != after).then_some((
        before,
        after,
        left..right,
    ))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| !c.is_numeric()) && s.chars().all(is_word)
}

/// The name leaf spanning exactly `range`.
fn name_at<'t>(root: Node<'t>, range: &Range<usize>) -> Option<Node<'t>> {
    let n = root.named_descendant_for_byte_range(range.start, range.end)?;
    (n.byte_range() == *range && is_name(n)).then_some(n)
}

/// Where a name stands: its kind, and for a member (`obj.name`) the object's text.
#[derive(Debug)]
struct Shape<'a> {
    kind: &'a str,
    object: Option<&'a str>,
    definition: bool,
    label: bool,
}

impl<'a> Shape<'a> {
    fn of(n: Node<'a>, text: &'a str) -> Self {
        let parent = n.parent();
        let object = member_object(n, text);
        let definition = parent.is_some_and(|p| {
            let pk = p.kind();
            p.child_by_field_name("name")
                .is_some_and(|m| m.id() == n.id())
                && [
                    "function",
                    "method",
                    "class",
                    "struct",
                    "enum",
                    "interface",
                    "trait",
                    "type",
                    "module",
                    "constructor",
                ]
                .iter()
                .any(|d| pk.contains(d))
        });
        let label = is_keyword_name(n);
        Shape {
            kind: n.kind(),
            object,
            definition,
            label,
        }
    }

    /// Whether a name standing as `other` is the same thing as the one standing as `self`:
    /// the same kind after the same object; for a definition's own name, its bare uses and
    /// its uses as a member of the object itself (`self.area()`, `this.area()`).
    fn matches(&self, other: &Shape<'_>) -> bool {
        if other.label {
            return false;
        }
        if self.definition {
            return other
                .object
                .is_none_or(|o| matches!(o, "self" | "this" | "cls" | "Self"));
        }
        self.kind == other.kind && self.object == other.object && !other.definition
    }
}

/// The node whose names a rename at `node` covers (the enclosing function for a local name,
/// the whole file for a definition's name, a member, or a name outside any function), and
/// the node where the new name must not be found already (the outermost function around
/// it: a nested function sees its outer function's names).
fn scopes_of<'t>(
    lang: Language,
    tree: &'t Tree,
    text: &str,
    node: Node<'t>,
    shape: &Shape<'_>,
) -> (Node<'t>, Node<'t>) {
    let root = tree.root_node();
    if shape.definition || shape.object.is_some() {
        return (root, root);
    }
    let r = node.byte_range();
    let functions: Vec<Node<'t>> = crate::syntax::scopes_at(lang, tree, text, r.start, r.end)
        .into_iter()
        .filter(|s| {
            let k = s.kind();
            [
                "function",
                "method",
                "constructor",
                "lambda",
                "closure",
                "init_declaration",
                "destructor",
                "operator_declaration",
                "subscript_declaration",
            ]
            .iter()
            .any(|f| k.contains(f))
        })
        .collect();
    match (functions.last(), functions.first()) {
        (Some(inner), Some(outer)) => (*inner, *outer),
        _ => (root, root),
    }
}
