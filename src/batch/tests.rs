use super::*;
use crate::config::CompletionConfig;
use crate::engine::fake::FakeBackend;
use crate::tokenizer::ApproxCounter;

fn settings() -> BatchSettings {
    BatchSettings {
        completion: CompletionConfig::default(),
        max_tokens_instruction: 256,
        temperature: 0.0,
        seed: 1,
        affinity: false,
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
    run_on(&engine(), input, out, resume, settings())
}

/// Runs `input` on `e` with 2 slots; the summary and the output's records.
fn run_on(
    e: &Engine,
    input: &str,
    out: &Path,
    resume: bool,
    s: BatchSettings,
) -> (Summary, Vec<Record>) {
    let info = e.ready_blocking().unwrap();
    let summary = run(
        e,
        info,
        Arc::new(ApproxCounter),
        &Input::from_text(input),
        out,
        resume,
        2,
        s,
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
    let mut s = settings();
    s.completion.candidates = 3;
    let input = r#"{"id": "a", "prefix": "def f():\n    ", "suffix": "\n", "language": "python"}
{"id": "b", "prefix": "def g():\n    ", "suffix": "\n", "language": "python"}"#;
    let (summary, records) = run_on(&engine(), input, &out, false, s);
    assert_eq!((summary.tasks, summary.failed), (2, 0));
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

#[cfg(unix)]
#[test]
fn file_tasks_naming_fifos_devices_or_huge_files_get_errors_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.py");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let huge = dir.path().join("huge.py");
    let mut text = "def a():\n    # quill: fill\n".to_string();
    text.push_str(&"#".repeat(input::MAX_FILE_BYTES as usize));
    std::fs::write(&huge, text).unwrap();
    let input = format!(
        "{}\n{}\n{}\n{}\n",
        // Reading a FIFO with no writer would block the run forever.
        serde_json::json!({"id": "fifo", "file": fifo}),
        // Reading /dev/zero would never end.
        serde_json::json!({"id": "zero", "file": "/dev/zero"}),
        serde_json::json!({"id": "huge", "file": huge}),
        r#"{"id": "fim", "prefix": "def f():\n    ", "suffix": "\n", "language": "python"}"#,
    );
    let out = dir.path().join("out.jsonl");
    let (summary, records) = run_input(&input, &out, false);
    assert_eq!((summary.tasks, summary.failed), (4, 3));
    let error = |id: &str| {
        let r = records
            .iter()
            .find(|r| r.id.as_deref() == Some(id))
            .unwrap();
        r.error.clone().unwrap()
    };
    assert!(error("fifo").ends_with("is a FIFO, not a regular file"));
    assert!(error("zero").ends_with("is a device, not a regular file"));
    assert!(error("huge").contains("is larger than"));
    let fim = records.iter().find(|r| r.id.as_deref() == Some("fim"));
    assert_eq!(fim.unwrap().text.as_deref(), Some("return 42"));
}

/// An output that fails (a closed pipe): tells when it first failed.
struct BrokenPipe(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl std::io::Write for BrokenPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        let (failed, cv) = &*self.0;
        *failed.lock().unwrap() = true;
        cv.notify_all();
        Err(std::io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_output_ends_the_run_at_once() {
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (g, c) = (gate.clone(), calls.clone());
    let mut backend = FakeBackend::new(move |_| {
        // From the second task on, generate only once the first record failed to be
        // written, so that what follows shows whether the run stops.
        if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1 {
            let (failed, cv) = &*g;
            let mut f = failed.lock().unwrap();
            while !*f {
                f = cv.wait(f).unwrap();
            }
        }
        "x".repeat(300)
    });
    backend.token_delay = std::time::Duration::from_millis(1);
    let e = backend.spawn();
    let info = e.ready_blocking().unwrap();
    let n = 20;
    let input: String = (0..n)
        .map(|i| format!("{{\"id\": \"t{i}\", \"prefix\": \"x = \", \"suffix\": \"\"}}\n"))
        .collect();
    let err = run_into(
        &e,
        info,
        Arc::new(ApproxCounter),
        &Input::from_text(&input),
        Sink::new("the pipe", BrokenPipe(gate)),
        &HashSet::new(),
        1,
        settings(),
        |_, _| panic!("no record was written"),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "write a result to the pipe");
    assert_eq!(
        err.downcast_ref::<std::io::Error>().map(|e| e.kind()),
        Some(std::io::ErrorKind::BrokenPipe)
    );
    // The task running when the write failed is cancelled, and none is started after it
    // (before, all 20 ran to the end).
    let calls = calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(calls <= 3, "{calls} tasks were generated");
}

#[test]
fn a_task_cut_to_nothing_is_rescued_by_ranked_candidates() {
    let e = FakeBackend::new(|_| "    return x\n".into()).spawn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let input = r#"{"id": "hole", "prefix": "def f(x):\n", "suffix": "    return x\n", "language": "python"}"#;
    let mut s = settings();
    let run_with = |s: BatchSettings| run_on(&e, input, &out, false, s).1.remove(0);
    let rescued = run_with(s.clone());
    assert!(
        rescued.text.as_deref().unwrap().contains("or 1"),
        "{rescued:?}"
    );
    s.completion.rescue_candidates = 0;
    let plain = run_with(s);
    assert_eq!(plain.text.as_deref(), Some(""));
    assert!(rescued.generated_tokens > plain.generated_tokens);
}

#[test]
fn likelihood_reads_each_task_s_candidates_in_place() {
    // The code after the hole reads best after the `or 2` candidate: ranked by likelihood
    // that one is the answer, by confidence the greedy one.
    let mut fake = FakeBackend::new(|_| "y = x + 1".into());
    let seen = fake.read_best("or 2");
    let e = fake.spawn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let input = r#"{"id": "a", "prefix": "def f(x):\n    ", "suffix": "\n    return y\n", "language": "python"}
{"id": "b", "prefix": "def g(x):\n    ", "suffix": "\n    return y\n", "language": "python"}"#;
    let mut s = settings();
    s.completion.candidates = 3;
    s.completion.candidate_ranking = crate::config::Ranking::Likelihood;
    let (summary, records) = run_on(&e, input, &out, false, s.clone());
    assert_eq!((summary.tasks, summary.failed), (2, 0));
    for r in &records {
        assert_eq!(r.text.as_deref(), Some("y = x + 1 or 2"), "{r:?}");
    }
    // Three candidates a task, each read after its line's start with the code after it.
    let read = seen.lock().unwrap().clone();
    assert_eq!(read.len(), 6, "{read:?}");
    assert!(read.contains(&("    y = x + 1 or 1".into(), "\n    return y\n".into())));
    s.completion.candidate_ranking = crate::config::Ranking::Confidence;
    let (_, records) = run_on(&e, input, &out, false, s);
    assert!(
        records
            .iter()
            .all(|r| r.text.as_deref() == Some("y = x + 1"))
    );
    assert_eq!(seen.lock().unwrap().len(), 6, "confidence reads nothing");
}
