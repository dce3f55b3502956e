//! tree-sitter helpers: parsing, counting syntax errors, finding the enclosing scope, and
//! checking that inserting text does not make the code around it worse.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tree_sitter::{
    InputEdit, Node, ParseOptions, ParseState, Parser, Point, QueryCursor, StreamingIterator, Tree,
};

use crate::brackets;
use crate::lang::{Blocks, Language, QueryKind};

/// Files larger than this are completed without syntax checks: parsing them on every
/// keystroke would cost more than the check is worth.
pub const MAX_CHECKED_BYTES: usize = 1 << 20;

/// How long a parse may take before it is given up. Real files of up to
/// [`MAX_CHECKED_BYTES`] parse in milliseconds; some shapes make a grammar's scanner
/// quadratic (tree-sitter-python on thousands of comment lines after an indented block;
/// BENCHMARKS.md, "Defaults decided by a measurement"), and a parse runs while edits wait.
pub const PARSE_BUDGET: Duration = Duration::from_millis(500);

/// Parses `text` as `lang`, reusing `old` (already edited to match) when given; `None`
/// when the grammar cannot be loaded or the parse takes longer than [`PARSE_BUDGET`].
pub fn parse(lang: Language, text: &str, old: Option<&Tree>) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    let deadline = Instant::now() + PARSE_BUDGET;
    let mut give_up = |_: &ParseState| {
        if Instant::now() > deadline {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let bytes = text.as_bytes();
    let tree = parser.parse_with_options(
        &mut |i, _| bytes.get(i..).unwrap_or_default(),
        old,
        Some(ParseOptions::new().progress_callback(&mut give_up)),
    );
    if tree.is_none() {
        tracing::warn!(
            "tree-sitter gave up on {} bytes of {lang:?} after {PARSE_BUDGET:?}: no syntax checks there",
            text.len()
        );
    }
    tree
}

/// ERROR and MISSING nodes under `node`, skipping subtrees without errors.
///
/// A cursor walk, not recursion: a deeply nested document (thousands of open brackets)
/// must not overflow a small thread stack.
pub fn error_count(node: Node<'_>) -> usize {
    let mut count = 0;
    walk_errors(node, |n| {
        count += usize::from(n.is_error() || n.is_missing());
        ControlFlow::Continue(true)
    });
    count
}

/// Visits the nodes under `node` (itself first) that have an error or are one, parents
/// before children; `visit` says whether to go into a node's children
/// (`Continue(false)`: skip them, `Break`: stop). A cursor walk, not recursion.
fn walk_errors(node: Node<'_>, mut visit: impl FnMut(Node<'_>) -> ControlFlow<(), bool>) {
    if !node.has_error() {
        return;
    }
    let mut cursor = node.walk();
    // Levels below `node` (the cursor's own `depth()` costs a pass over its stack).
    let mut depth = 0usize;
    loop {
        let n = cursor.node();
        let into = match visit(n) {
            ControlFlow::Break(()) => return,
            ControlFlow::Continue(into) => into,
        };
        // Into the children only where there is an error to find.
        if into && n.has_error() && cursor.goto_first_child() {
            depth += 1;
            continue;
        }
        // Then the next sibling with an error, climbing until there is one; back at
        // `node`: done.
        loop {
            if depth == 0 {
                return;
            }
            if cursor.goto_next_sibling() {
                let sib = cursor.node();
                if sib.has_error() || sib.is_missing() {
                    break;
                }
                continue;
            }
            if !cursor.goto_parent() {
                return;
            }
            depth -= 1;
        }
    }
}

/// Bytes of the text under `node` inside ERROR nodes (the outermost ones), leaving out
/// `skip` (the inserted text, whose own errors the count of nodes judges). Where the
/// user's half-typed code already has an error, an answer can leave the count as it was
/// while the error swallows more of the code around it: this says so.
pub fn error_extent(node: Node<'_>, skip: std::ops::Range<usize>) -> usize {
    let mut extent = 0;
    let mut outer: Option<std::ops::Range<usize>> = None;
    for e in error_spans(node) {
        // Spans come parents first: a nested one is inside the last outermost one.
        if outer
            .as_ref()
            .is_some_and(|o| e.start >= o.start && e.end <= o.end)
        {
            continue;
        }
        let overlap = e.end.min(skip.end).saturating_sub(e.start.max(skip.start));
        extent += (e.end - e.start) - overlap;
        outer = Some(e);
    }
    extent
}

/// True when an ERROR node under `node` lies wholly inside `range` (the inserted text):
/// the answer itself does not parse there, whatever the code around it does.
pub fn error_inside(node: Node<'_>, range: std::ops::Range<usize>) -> bool {
    let mut found = false;
    walk_errors(node, |n| {
        if n.is_error() && n.start_byte() >= range.start && n.end_byte() <= range.end {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(n.start_byte() < range.end && n.end_byte() > range.start)
    });
    found
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
    /// [`error_extent`] of the whole text.
    total_extent: usize,
    /// Where the code after the cursor's line is misparsed already (a method being
    /// written in the middle of a class: the rest of the class reads as its body), the
    /// tail's errors move with any insertion. Then an answer is judged on the code up to
    /// the cursor's line end, the brackets still open closed after it: this is that
    /// text's error count without the answer.
    truncated: Option<usize>,
    /// The end of the cursor's line.
    line_end: usize,
}

/// The ERROR and MISSING nodes under `node`, as byte ranges.
fn error_spans(node: Node<'_>) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    walk_errors(node, |n| {
        if n.is_error() || n.is_missing() {
            out.push(n.start_byte()..n.end_byte());
        }
        ControlFlow::Continue(true)
    });
    out
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
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let broken_after = error_spans(tree.root_node())
            .iter()
            .any(|e| e.start > line_end);
        let total_extent = error_extent(tree.root_node(), 0..0);
        let mut check = InsertionCheck {
            lang,
            text,
            offset,
            tree,
            scope_start,
            scope_errors,
            total_errors,
            total_extent,
            truncated: None,
            line_end,
        };
        if broken_after {
            check.truncated = check.truncated_errors("").map(|(n, _)| n);
        }
        Some(check)
    }

    /// The code up to the cursor's line end with `inserted` at the cursor and the brackets
    /// left open closed: its error count, and whether an ERROR lies inside `inserted`.
    fn truncated_errors(&self, inserted: &str) -> Option<(usize, bool)> {
        let mut doc = String::with_capacity(self.line_end + inserted.len() + 16);
        doc.push_str(&self.text[..self.offset]);
        doc.push_str(inserted);
        doc.push_str(&self.text[self.offset..self.line_end]);
        let closers = brackets::unclosed(&doc, Some(self.lang));
        if !closers.is_empty() {
            doc.push('\n');
            doc.push_str(&closers);
        }
        doc.push('\n');
        let tree = parse(self.lang, &doc, None)?;
        let range = self.offset..self.offset + inserted.len();
        Some((
            error_count(tree.root_node()),
            error_inside(tree.root_node(), range),
        ))
    }

    /// True when inserting `inserted` adds no syntax errors to the enclosing scope, nor to
    /// the file (a stray opening brace can push its error past the scope's end).
    ///
    /// A one-line answer that ends by opening brackets (`for (…) {`, `f(`) or a keyword
    /// block (`do |x|`) is what the user goes on to write: the lines after it will close
    /// them. It is checked with their closers after it, so a block-opening line passes
    /// where its body is not written yet; an answer over several lines that leaves a
    /// bracket open still fails (a block cut short).
    pub fn accepts(&self, inserted: &str) -> bool {
        if inserted.is_empty() {
            return true;
        }
        if self.accepts_exactly(inserted) {
            return true;
        }
        if inserted.trim().contains('\n') {
            return false;
        }
        let last_line = inserted.trim_end();
        if last_line.ends_with(['{', '(', '[']) {
            let closers = brackets::unclosed(last_line, Some(self.lang));
            return !closers.is_empty() && self.accepts_exactly(&format!("{inserted}{closers}"));
        }
        // `xs.each do |x|`, `if [ -f x ]; then`: a keyword line closes it.
        match self.lang.blocks() {
            Blocks::Keywords(closers) if self.lang.opens_block(last_line) => closers
                .iter()
                .any(|end| self.accepts_exactly(&format!("{inserted}\n{end}"))),
            _ => false,
        }
    }

    fn accepts_exactly(&self, inserted: &str) -> bool {
        if let Some(before) = self.truncated {
            return match self.truncated_errors(inserted) {
                Some((after, inside)) => {
                    after < before || (after == before && !(after > 0 && inside))
                }
                None => true,
            };
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
        // As many errors as before, one of them inside the answer (it fixed the user's
        // error, `"a": 1,` then nothing, and made its own, `"b": 2,,`), or spread over
        // more of the code around it.
        if total > 0
            && total == self.total_errors
            && (error_inside(tree.root_node(), self.offset..end)
                || error_extent(tree.root_node(), self.offset..end) > self.total_extent)
        {
            return false;
        }
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

    /// A line that opens a block is what the user is writing: the next lines close it.
    #[test]
    fn a_line_that_opens_a_block_passes() {
        let ts = "function f(stops: number[]): number {\n  let best = 0;\n  $0\n}\n";
        assert!(check(
            Language::TypeScript,
            ts,
            "for (let i = 1; i < stops.length; i++) {"
        ));
        let rs = "fn f(xs: &[u32]) -> u32 {\n    let mut n = 0;\n    $0\n    n\n}\n";
        assert!(check(Language::Rust, rs, "for x in xs {"));
        let go = "func f(xs []int) int {\n\tn := 0\n\t$0\n\treturn n\n}\n";
        assert!(check(Language::Go, go, "for _, x := range xs {"));
        assert!(check(Language::Go, go, "n = max(n, len("));
        // Open elsewhere than at its end: still an error.
        assert!(!check(Language::Rust, rs, "for x in xs {\n        n += x;"));
        assert!(!check(Language::Rust, rs, "for x in xs { n += x;"));
    }

    /// Where the code already has an error at the cursor (a JSON member being added
    /// after a trailing comma), an answer that leaves the error count as it was is still
    /// refused when the error is its own.
    #[test]
    fn an_answer_that_trades_the_users_error_for_its_own_is_refused() {
        let json = "{\n  \"name\": \"quill\",\n  $0\n}\n";
        assert!(check(Language::Json, json, "\"port\": 80"));
        for bad in ["\"port\" 80", "\"port\": }", "\"port\": 80,,"] {
            assert!(!check(Language::Json, json, bad), "{bad}");
        }
    }

    /// A method typed in the middle of a class: the rest of the class after the cursor is
    /// misparsed (its methods read as the new method's body), and any insertion moves
    /// those errors. The answer is judged on the code up to the cursor's line.
    #[test]
    fn code_misparsed_after_the_cursor_does_not_judge_the_answer() {
        let java = "class R {\n    static double longest(double[] xs) {\n        double best = 0;\n        for (int i = 1; i < xs.length; i++) {\n            best = Math.max(best, $0\n\n    static double other(double[] xs) {\n        return xs[0];\n    }\n}\n";
        assert!(check(Language::Java, java, "xs[i] - xs[i - 1]);"));
        assert!(!check(Language::Java, java, "xs[i] - xs[i - 1]));"));
        assert!(!check(Language::Java, java, "xs[i] - ;"));
    }

    #[test]
    fn finds_enclosing_function() {
        let text = "class A:\n    def m(self):\n        return 1\n";
        let tree = parse(Language::Python, text, None).unwrap();
        let off = text.find("return").unwrap();
        let n = enclosing_scope(Language::Python, &tree, text, off, off).unwrap();
        assert_eq!(n.kind(), "function_definition");
    }

    /// The recursive count this replaced, as the reference.
    fn error_count_recursive(node: Node<'_>) -> usize {
        if !node.has_error() {
            return 0;
        }
        let mut count = usize::from(node.is_error() || node.is_missing());
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            count += error_count_recursive(child);
        }
        count
    }

    #[test]
    fn error_count_matches_a_full_recursive_count() {
        for (lang, text) in [
            (
                Language::Python,
                "def f(x):\n    return (x +\n\nprint(f(1)\nclass :\n",
            ),
            (
                Language::Rust,
                "fn main() {\n    let x = ;\n    if true { foo(\n}\n",
            ),
            (Language::Python, "def ok():\n    return 1\n"),
            (
                Language::JavaScript,
                "function f( { return [1, 2; }\nconst = 3;\n",
            ),
        ] {
            let tree = parse(lang, text, None).unwrap();
            let root = tree.root_node();
            assert_eq!(error_count(root), error_count_recursive(root), "{text:?}");
            // And from an inner node, whose siblings must not be counted.
            let mut cursor = root.walk();
            for child in root.children(&mut cursor) {
                assert_eq!(error_count(child), error_count_recursive(child), "{text:?}");
            }
        }
        let broken = parse(Language::Python, "x = (1,\ny = 2\n", None).unwrap();
        assert!(error_count(broken.root_node()) > 0);
    }

    /// 50,000 nested brackets (10,000 nested functions): every tree walk over the document
    /// (error counts, the insertion check, context building) runs on a 256 KiB stack.
    #[test]
    fn deeply_nested_documents_do_not_overflow_a_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                // Balanced brackets with an error at the bottom: a tree 50,000 levels deep
                // with `has_error` set all the way down.
                let brackets = |prefix: &str| {
                    format!("{prefix}{}1 +{}\n", "[".repeat(50_000), "]".repeat(50_000))
                };
                let functions = format!(
                    "{}1 +{}\n",
                    "function a() {".repeat(10_000),
                    "}".repeat(10_000)
                );
                let cases = [
                    (Language::Python, brackets("x = ")),
                    (Language::JavaScript, brackets("x = ")),
                    (Language::Rust, brackets("const X: i32 = ")),
                    (Language::JavaScript, functions),
                ];
                let mut results = Vec::new();
                for (lang, text) in cases {
                    let tree = parse(lang, &text, None).unwrap();
                    let errors = error_count(tree.root_node());
                    let at = text.find("1 +").unwrap() + 3;
                    let check = InsertionCheck::new(lang, &text, at, Some(&tree)).unwrap();
                    assert!(check.accepts(" 2"), "finishing the expression fixes it");
                    let current = crate::context::Source {
                        path: "deep.js",
                        text: &text,
                        language: Some(lang),
                        tree: Some(&tree),
                        recency: 1,
                    };
                    let other = crate::context::Source {
                        path: "other.js",
                        ..current
                    };
                    let _ = crate::context::build(
                        &current,
                        at,
                        &[other],
                        &crate::context::Options::default(),
                        &crate::tokenizer::ApproxCounter,
                    );
                    let defs = crate::context::symbols::definitions(lang, &tree, &text).len();
                    results.push((errors, defs));
                }
                results
            })
            .unwrap();
        let results = handle.join().expect("a walk overflowed its stack");
        // The half-written `1 +` is a syntax error in every case.
        assert!(results.iter().all(|(e, _)| *e > 0), "{results:?}");
        // Of 10,000 nested functions, those within the depth limit are looked at (each
        // costs a walk up the tree); the outermost ones come first.
        let nested = results[3].1;
        assert!(
            nested > 0 && nested <= crate::context::symbols::MAX_DEFINITION_DEPTH as usize,
            "{results:?}"
        );
    }

    #[test]
    fn point_at_counts_bytes_per_line() {
        let t = "ab\ncdé\nf";
        assert_eq!(point_at(t, 0), Point::new(0, 0));
        assert_eq!(point_at(t, 3), Point::new(1, 0));
        assert_eq!(point_at(t, t.len()), Point::new(2, 1));
    }
}
