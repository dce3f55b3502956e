//! tree-sitter helpers: parsing, counting syntax errors, finding the enclosing scope, and
//! checking that inserting text does not make the code around it worse.

use tree_sitter::{InputEdit, Node, Parser, Point, QueryCursor, StreamingIterator, Tree};

use crate::lang::{Language, QueryKind};

/// Files larger than this are completed without syntax checks: parsing them on every
/// keystroke would cost more than the check is worth.
pub const MAX_CHECKED_BYTES: usize = 1 << 20;

/// Parses `text` as `lang`, reusing `old` (already edited to match) when given.
pub fn parse(lang: Language, text: &str, old: Option<&Tree>) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    parser.parse(text, old)
}

/// ERROR and MISSING nodes under `node`, skipping subtrees without errors.
pub fn error_count(node: Node<'_>) -> usize {
    if !node.has_error() {
        return 0;
    }
    let mut count = usize::from(node.is_error() || node.is_missing());
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        count += error_count(child);
    }
    count
}

/// The smallest `@scope` node (function, class, …) containing `start..end`.
pub fn enclosing_scope<'t>(
    lang: Language,
    tree: &'t Tree,
    text: &str,
    start: usize,
    end: usize,
) -> Option<Node<'t>> {
    scopes_at(lang, tree, text, start, end).pop()
}

/// Every `@scope` node containing `start..end`, outermost first.
pub fn scopes_at<'t>(
    lang: Language,
    tree: &'t Tree,
    text: &str,
    start: usize,
    end: usize,
) -> Vec<Node<'t>> {
    let query = lang.query(QueryKind::Scopes);
    let mut cursor = QueryCursor::new();
    cursor.set_byte_range(start..end.max(start + 1));
    let mut found: Vec<Node<'t>> = Vec::new();
    let mut matches = cursor.matches(query, tree.root_node(), text.as_bytes());
    while let Some(m) = matches.next() {
        for cap in m.captures() {
            let n = cap.node;
            if n.start_byte() <= start && n.end_byte() >= end && !found.contains(&n) {
                found.push(n);
            }
        }
    }
    // Outermost first: larger ranges before the ranges they contain.
    found.sort_by_key(|n| (n.start_byte(), std::cmp::Reverse(n.end_byte())));
    found
}

/// The row/column (bytes) of `offset` in `text`.
pub fn point_at(text: &str, offset: usize) -> Point {
    let before = &text.as_bytes()[..offset];
    let row = before.iter().filter(|b| **b == b'\n').count();
    let col = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
    Point::new(row, col)
}

/// The edit that inserts `len` bytes at `offset` of `text` (the text before the edit).
pub fn insert_edit(text: &str, offset: usize, inserted: &str) -> InputEdit {
    let start = point_at(text, offset);
    let lines = inserted.matches('\n').count();
    let new_end = if lines == 0 {
        Point::new(start.row, start.column + inserted.len())
    } else {
        let last = inserted.len() - inserted.rfind('\n').map_or(0, |i| i + 1);
        Point::new(start.row + lines, last)
    };
    InputEdit {
        start_byte: offset,
        old_end_byte: offset,
        new_end_byte: offset + inserted.len(),
        start_position: start,
        old_end_position: start,
        new_end_position: new_end,
    }
}

/// Checks candidate insertions at one position of one document against its parse.
pub struct InsertionCheck<'a> {
    lang: Language,
    text: &'a str,
    offset: usize,
    tree: Tree,
    scope_start: usize,
    scope_errors: usize,
    total_errors: usize,
}

impl<'a> InsertionCheck<'a> {
    /// `None` when the file is too large or cannot be parsed: callers skip the check.
    pub fn new(lang: Language, text: &'a str, offset: usize, tree: Option<&Tree>) -> Option<Self> {
        if text.len() > MAX_CHECKED_BYTES {
            return None;
        }
        let tree = match tree {
            Some(t) => t.clone(),
            None => parse(lang, text, None)?,
        };
        let (scope_start, scope_errors) = match enclosing_scope(lang, &tree, text, offset, offset) {
            Some(n) => (n.start_byte(), error_count(n)),
            None => (0, error_count(tree.root_node())),
        };
        let total_errors = error_count(tree.root_node());
        Some(InsertionCheck {
            lang,
            text,
            offset,
            tree,
            scope_start,
            scope_errors,
            total_errors,
        })
    }

    /// True when inserting `inserted` adds no syntax errors to the enclosing scope, nor to
    /// the file (a stray opening brace can push its error past the scope's end).
    pub fn accepts(&self, inserted: &str) -> bool {
        if inserted.is_empty() {
            return true;
        }
        let mut new_text = String::with_capacity(self.text.len() + inserted.len());
        new_text.push_str(&self.text[..self.offset]);
        new_text.push_str(inserted);
        new_text.push_str(&self.text[self.offset..]);
        let mut old = self.tree.clone();
        old.edit(&insert_edit(self.text, self.offset, inserted));
        let Some(tree) = parse(self.lang, &new_text, Some(&old)) else {
            return true;
        };
        let total = error_count(tree.root_node());
        if total > self.total_errors {
            return false;
        }
        let end = self.offset + inserted.len();
        let scope_errors = match enclosing_scope(self.lang, &tree, &new_text, self.offset, end) {
            Some(n) if n.start_byte() == self.scope_start => error_count(n),
            // The insertion changed which scope encloses it; the file-wide count decides.
            _ => return true,
        };
        scope_errors <= self.scope_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lang: Language, marked: &str, insert: &str) -> bool {
        let offset = marked.find("$0").unwrap();
        let text = marked.replace("$0", "");
        InsertionCheck::new(lang, &text, offset, None)
            .unwrap()
            .accepts(insert)
    }

    #[test]
    fn accepts_valid_python_body() {
        assert!(check(
            Language::Python,
            "def f(x):\n    $0\n\nprint(f(1))\n",
            "return x + 1"
        ));
    }

    #[test]
    fn rejects_unbalanced_python() {
        assert!(!check(
            Language::Python,
            "def f(x):\n    $0\n\nprint(f(1))\n",
            "return (x + 1"
        ));
    }

    #[test]
    fn half_typed_code_may_already_have_errors() {
        // `return x +` is an error before the completion; finishing it removes it.
        assert!(check(
            Language::Python,
            "def f(x):\n    return x +$0\n\nprint(f(1))\n",
            " 1"
        ));
    }

    #[test]
    fn rejects_stray_rust_brace() {
        assert!(!check(
            Language::Rust,
            "fn main() {\n    $0\n}\n",
            "if true {\n        println!(\"x\");"
        ));
        assert!(check(
            Language::Rust,
            "fn main() {\n    $0\n}\n",
            "if true {\n        println!(\"x\");\n    }"
        ));
    }

    #[test]
    fn finds_enclosing_function() {
        let text = "class A:\n    def m(self):\n        return 1\n";
        let tree = parse(Language::Python, text, None).unwrap();
        let off = text.find("return").unwrap();
        let n = enclosing_scope(Language::Python, &tree, text, off, off).unwrap();
        assert_eq!(n.kind(), "function_definition");
    }

    #[test]
    fn point_at_counts_bytes_per_line() {
        let t = "ab\ncdé\nf";
        assert_eq!(point_at(t, 0), Point::new(0, 0));
        assert_eq!(point_at(t, 3), Point::new(1, 0));
        assert_eq!(point_at(t, t.len()), Point::new(2, 1));
    }
}
