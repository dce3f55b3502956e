//! Property tests of post-processing and edits: any document, cursor and model output
//! (multi-byte text, `\r\n`, lone `\r`, unbalanced brackets) is cut, checked and turned
//! into an edit without a panic, and what is inserted is whole characters.

use proptest::prelude::*;

use super::post::Shape;
use super::{CompletionConfig, Input, settle};
use crate::assist::edit::{reindent, replace_lines, whole_lines};
use crate::lang::Language;

const PIECES: &[&str] = &[
    "a", "x = 1", " ", "    ", "\t", "\n", "\r\n", "\r", "😀", "中", "é", "(", ")", "{", "}", "[",
    "]", "def f():", "fn f() {", "return ", "\"", "'", "#", "//", ":", ";", "\u{3000}", "\u{a0}",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
}

fn language() -> impl Strategy<Value = Option<Language>> {
    prop::sample::select(vec![
        None,
        Some(Language::Python),
        Some(Language::Rust),
        Some(Language::JavaScript),
        Some(Language::Go),
    ])
}

fn boundary(t: &str, at: usize) -> usize {
    crate::text::floor_char_boundary(t, at % (t.len() + 1))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_output_at_any_cursor_settles(doc in text(), at in 0usize..400, out in text(), lang in language(), check in any::<bool>()) {
        let offset = boundary(&doc, at);
        let cfg = CompletionConfig::default();
        let shape = Shape::at(&doc, offset, lang, &cfg);
        let mut input = Input::new(&doc, offset);
        input.language = lang;
        let (inserted, _) = settle(&input, &shape, &out, check);
        // Post-processing cuts and re-spaces the model's text; it never makes code up: what
        // is inserted, blanks aside, is a subsequence of what the model wrote.
        let mut model = out.chars().filter(|c| !c.is_whitespace());
        for c in inserted.chars().filter(|c| !c.is_whitespace()) {
            prop_assert!(model.any(|m| m == c), "{inserted:?} is not from {out:?}");
        }
    }

    #[test]
    fn edits_of_whole_lines_never_split_characters(doc in text(), a in 0usize..400, b in 0usize..400, code in text(), indent in prop::sample::select(vec!["", "  ", "\t", "\u{3000}", "\u{a0} "]), lang in language()) {
        let (a, b) = (boundary(&doc, a), boundary(&doc, b));
        let (start, end) = (a.min(b), a.max(b));
        let (s, e) = whole_lines(&doc, start, end);
        prop_assert!(doc.is_char_boundary(s) && doc.is_char_boundary(e) && s <= e);
        let _ = reindent(&code, indent, "\n");
        if let Ok(r) = replace_lines(&doc, lang, start, end, &code) {
            prop_assert!(doc.is_char_boundary(r.start) && doc.is_char_boundary(r.end));
        }
    }
}
