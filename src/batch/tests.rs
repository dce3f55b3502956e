use super::*;
use crate::complete::Layout;
use crate::config::CompletionConfig;
use crate::engine::fake::FakeBackend;
use crate::tokenizer::ApproxCounter;

fn settings() -> Settings {
    Settings {
        completion: CompletionConfig::default(),
        layout: Layout::Psm,
        max_tokens_instruction: 256,
        temperature: 0.0,
        seed: 1,
    }
}

/// A fake model: FIM prompts get `return 42`, chats a fenced block.
fn engine() -> Engine {
    FakeBackend::new(|prompt| {
        if prompt.contains("<|im_start|>") {
            "Here you go:\n```rust\nfn rev(s: &str) -> String { s.chars().rev().collect() }\n```\nDone.".into()
        } else {
            "return 42\n".into()
        }
    })
    .spawn()
}

fn run_input(input: &str, out: &Path, resume: bool) -> (Summary, Vec<Record>) {
    let e = engine();
    let info = e.ready_blocking().unwrap();
    let summary = run(
        &e,
        info,
        Arc::new(ApproxCounter),
        input,
        out,
        resume,
        2,
        settings(),
        |_, _| {},
    )
    .unwrap();
    let records = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (summary, records)
}

#[test]
fn every_kind_of_task_and_bad_lines_get_records() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("holes.py");
    std::fs::write(
        &file,
        "def a():\n    # quill: fill\n\n\ndef b():\n    # quill: fill\n",
    )
    .unwrap();
    let input = format!(
        "{}\n{}\n{}\nnot json\n{}\n",
        r#"{"id": "fim", "prefix": "def f():\n    ", "suffix": "\n", "language": "python"}"#,
        r#"{"id": "ins", "instruction": "reverse a string", "language": "rust"}"#,
        serde_json::json!({"id": "file", "file": file}),
        r#"{"id": "fim", "prefix": "dup"}"#,
    );
    let out = dir.path().join("out.jsonl");
    let (summary, records) = run_input(&input, &out, false);
    assert_eq!(summary.tasks, 5);
    assert_eq!(summary.failed, 2);
    let by_line = |l: usize| records.iter().find(|r| r.line == l).unwrap();
    assert_eq!(by_line(1).text.as_deref(), Some("return 42"));
    assert_eq!(
        by_line(2).text.as_deref(),
        Some("fn rev(s: &str) -> String { s.chars().rev().collect() }")
    );
    assert_eq!(
        by_line(3).text.as_deref(),
        Some("def a():\n    return 42\n\n\ndef b():\n    return 42\n")
    );
    assert!(
        by_line(4)
            .error
            .as_deref()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert!(
        by_line(5)
            .error
            .as_deref()
            .unwrap()
            .contains("duplicate id")
    );
    assert!(by_line(1).prompt_tokens > 0 && by_line(1).generated_tokens > 0);
    // Every record is one line of JSON, and the input order is restorable by `line`.
    let mut lines: Vec<usize> = records.iter().map(|r| r.line).collect();
    lines.sort();
    assert_eq!(lines, [1, 2, 3, 4, 5]);
}

#[test]
fn ranked_candidates_make_one_record_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let e = engine();
    let info = e.ready_blocking().unwrap();
    let mut s = settings();
    s.completion.candidates = 3;
    let input = r#"{"id": "a", "prefix": "def f():\n    ", "suffix": "\n", "language": "python"}
{"id": "b", "prefix": "def g():\n    ", "suffix": "\n", "language": "python"}"#;
    let summary = run(
        &e,
        info,
        Arc::new(ApproxCounter),
        input,
        &out,
        false,
        2,
        s,
        |_, _| {},
    )
    .unwrap();
    assert_eq!((summary.tasks, summary.failed), (2, 0));
    let records: Vec<Record> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.text.as_deref(), Some("return 42"), "{r:?}");
        // Three answers were generated for it.
        assert!(r.generated_tokens >= 3, "{r:?}");
    }
}

#[test]
fn resume_skips_finished_ids_and_retries_failures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let input = r#"{"id": "a", "prefix": "x = ", "suffix": ""}
{"id": "b", "prefix": "y = ", "suffix": ""}"#;
    let (first, _) = run_input(input, &out, false);
    assert_eq!(first.tasks, 2);
    // A third task added; a, b are done.
    let input2 = format!(
        "{input}\n{}",
        r#"{"id": "c", "prefix": "z = ", "suffix": ""}"#
    );
    let (second, records) = run_input(&input2, &out, true);
    assert_eq!((second.tasks, second.skipped), (1, 2));
    let ids: Vec<&str> = records.iter().filter_map(|r| r.id.as_deref()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&"c"));
}

#[test]
fn missing_file_and_file_without_holes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.py");
    std::fs::write(&plain, "x = 1\n").unwrap();
    let input = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "gone", "file": dir.path().join("nope.py")}),
        serde_json::json!({"id": "plain", "file": plain}),
    );
    let out = dir.path().join("out.jsonl");
    let (summary, records) = run_input(&input, &out, false);
    assert_eq!(summary.failed, 2);
    assert!(records.iter().all(|r| r.text.is_none()));
    assert!(records.iter().any(|r| {
        r.error
            .as_deref()
            .unwrap()
            .contains("no `quill: fill` holes")
    }));
}
