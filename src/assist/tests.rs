use super::*;
use crate::engine::fake::{FakeBackend, render};
use crate::syntax::parse;

const BUGGY: &str = "import math\n\n\ndef mean(xs):\n    total = 0\n    for i in range(1, len(xs)):\n        total += xs[i]\n    return total / len(xs)\n\n\nprint(mean([1, 2, 3]))\n";

fn query<'a>(action: &'a Action, text: &'a str, t: &'a Target) -> Query<'a> {
    Query {
        action,
        text,
        language: Some(Language::Python),
        path: "stats.py",
        target: t,
        problems: &[],
        context: &[],
    }
}

fn target_at(text: &str, needle: &str, action: &Action) -> Target {
    let tree = parse(Language::Python, text, None).unwrap();
    let at = text.find(needle).unwrap();
    target(text, Some(Language::Python), Some(&tree), at, at, action)
}

#[test]
fn target_is_the_enclosing_function_in_whole_lines() {
    let t = target_at(BUGGY, "total +=", &Action::Explain);
    assert_eq!(t.kind, "function");
    assert_eq!(t.first_line, 4);
    assert_eq!(
        &BUGGY[t.start..t.end],
        &BUGGY[BUGGY.find("def mean").unwrap()..BUGGY.find("\n\n\nprint").unwrap() + 1]
    );
}

#[test]
fn selection_and_extract_targets() {
    let tree = parse(Language::Python, BUGGY, None).unwrap();
    let s = BUGGY.find("    for i").unwrap();
    let e = BUGGY.find("    return").unwrap();
    let t = target(
        BUGGY,
        Some(Language::Python),
        Some(&tree),
        s + 4,
        e - 2,
        &Action::Simplify,
    );
    assert_eq!((t.kind, t.start, t.end), ("selection", s, e));
    let t = target(
        BUGGY,
        Some(Language::Python),
        Some(&tree),
        s + 4,
        e - 2,
        &Action::Extract,
    );
    assert_eq!(t.kind, "function");
    assert_eq!(t.selection, Some((s, e)));
}

#[test]
fn explain_prompt_numbers_lines_and_lists_problems() {
    let t = target_at(BUGGY, "total +=", &Action::Explain);
    let problems = [Problem {
        line: 6,
        message: "range starts at 1".into(),
    }];
    let mut q = query(&Action::Explain, BUGGY, &t);
    q.problems = &problems;
    let rendered = render(&[crate::engine::Piece::Chat(messages(&q))]);
    assert!(
        rendered.contains("   6 |     for i in range(1, len(xs)):"),
        "{rendered}"
    );
    assert!(rendered.contains("- line 6: range starts at 1"));
    assert!(rendered.starts_with("<|im_start|>system\n"));
    assert!(rendered.ends_with("<|im_start|>assistant\n"));
}

#[test]
fn fix_answer_becomes_a_checked_edit_in_the_functions_range() {
    let t = target_at(BUGGY, "total +=", &Action::Fix);
    let q = query(&Action::Fix, BUGGY, &t);
    let answer = "```python\ndef mean(xs):\n    total = 0\n    for i in range(len(xs)):\n        total += xs[i]\n    return total / len(xs)\n```\nThe loop now starts at 0.";
    match conclude(&q, answer) {
        Outcome::Edit {
            replacement,
            summary,
        } => {
            assert_eq!((replacement.start, replacement.end), (t.start, t.end));
            assert!(replacement.new_text.contains("range(len(xs))"));
            assert_eq!(summary, "The loop now starts at 0.");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_code_is_not_offered_and_the_answer_is_kept() {
    let t = target_at(BUGGY, "total +=", &Action::Fix);
    let q = query(&Action::Fix, BUGGY, &t);
    let answer =
        "The loop should start at 0.\n```python\ndef mean(xs:\n    return sum(xs) / len(xs)\n```";
    match conclude(&q, answer) {
        Outcome::Rejected {
            reason,
            explanation,
        } => {
            assert!(reason.contains("does not parse"), "{reason}");
            assert!(explanation.contains("The loop should start at 0."));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn review_findings_stay_inside_the_function() {
    let t = target_at(BUGGY, "total +=", &Action::Review);
    let q = query(&Action::Review, BUGGY, &t);
    let got = conclude(
        &q,
        "LINE 6: the loop skips the first element\nLINE 8: divides by zero\nLINE 9: after it\nLINE 11: outside",
    );
    // The function is lines 4..=8: its last line counts, the blank line after it not.
    assert_eq!(
        got,
        Outcome::Findings(vec![
            Finding {
                line: 6,
                message: "the loop skips the first element".into()
            },
            Finding {
                line: 8,
                message: "divides by zero".into()
            }
        ])
    );
}

#[test]
fn asking_the_fake_model_goes_through_the_chat_template() {
    let engine = FakeBackend::new(|prompt| {
        assert!(prompt.contains("<|im_start|>user\n"));
        "It adds.".to_string()
    })
    .spawn();
    let t = target_at(BUGGY, "total +=", &Action::Explain);
    let q = query(&Action::Explain, BUGGY, &t);
    let answer = ask_blocking(&engine, messages(&q), 100).unwrap();
    assert_eq!(
        conclude(&q, &answer),
        Outcome::Explanation("It adds.".into())
    );
}
