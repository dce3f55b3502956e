//! The `quill` binary as a user runs it.

use std::process::Command;

use crate::support::{SMALL, cursor, quill_bin, real_model};

fn quill(args: &[&str]) -> std::process::Output {
    Command::new(quill_bin())
        .args(args)
        .output()
        .expect("run quill")
}

#[test]
fn help_describes_every_subcommand() {
    let out = quill(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["complete", "fill", "models", "bench"] {
        assert!(text.contains(cmd), "--help lacks {cmd}: {text}");
    }
    let out = quill(&["complete", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("FILE:LINE:COL"));
}

#[test]
fn batch_on_a_server_says_it_cannot_rank_by_likelihood() {
    // Asked for a ranking it cannot do on an inference server (reading candidates in
    // place needs the model in-process), batch says so before loading or connecting to
    // anything, rather than ranking by something else without a word.
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks.jsonl");
    std::fs::write(
        &tasks,
        "{\"id\": 1, \"prefix\": \"x = \", \"suffix\": \"\"}\n",
    )
    .unwrap();
    let input = tasks.display().to_string();
    let output = dir.path().join("out.jsonl").display().to_string();
    let out = quill(&[
        "batch",
        "--input",
        &input,
        "--output",
        &output,
        "--backend",
        "http://127.0.0.1:9",
        "--candidates",
        "4",
        "--rank-by",
        "likelihood",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("likelihood") && err.contains("--backend"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(!std::path::Path::new(&output).exists());
}

#[test]
fn bad_position_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.py");
    std::fs::write(&file, "x = 1\n").unwrap();
    let target = format!("{}:9:1", file.display());
    let out = quill(&["complete", &target]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line") && err.contains("past the end"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
}

#[test]
fn binary_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob.py");
    std::fs::write(&file, b"\x00\x01\x02binary").unwrap();
    let out = quill(&["complete", &format!("{}:1:1", file.display())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("binary"));
}

/// A FIFO or a device named as the file to complete or explain is refused at once: before,
/// `quill complete FIFO:1:1` waited forever for a writer.
#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.py");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let fifo = fifo.display().to_string();
    for args in [
        vec!["complete".to_string(), format!("{fifo}:1:1")],
        vec!["explain".to_string(), format!("{fifo}:1")],
        vec!["fill".to_string(), fifo.clone()],
        vec!["complete".to_string(), "/dev/zero:1:1".to_string()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = quill(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn unknown_model_lists_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.py");
    std::fs::write(&file, "x = 1\n").unwrap();
    let out = quill(&[
        "complete",
        &format!("{}:1:1", file.display()),
        "--model",
        "gpt-9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown model") && err.contains(SMALL),
        "{err}"
    );
}

#[test]
fn garbage_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.py");
    std::fs::write(&file, "x = 1\n").unwrap();
    let model = dir.path().join("model.gguf");
    std::fs::write(&model, "<html>404 not found</html>").unwrap();
    let out = quill(&[
        "complete",
        &format!("{}:1:1", file.display()),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a GGUF model file"), "{err}");
}

#[test]
fn complete_prints_json_with_timings() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calc.py");
    let (text, _) = cursor("def area(width, height):\n    $0\n");
    std::fs::write(&file, text).unwrap();
    let out = quill(&[
        "complete",
        &format!("{}:2:5", file.display()),
        "--model",
        SMALL,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let text = v["text"].as_str().unwrap();
    assert!(!text.trim().is_empty(), "{v}");
    assert!(v["timings"]["prompt_tokens"].as_u64().unwrap() > 5);
    assert!(v["timings"]["generated_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["mode"], "block");
}

#[test]
fn fill_fills_every_hole_of_the_example() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let out = quill(&["fill", "examples/holes.py", "--model", SMALL]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filled = String::from_utf8(out.stdout).unwrap();
    assert!(!filled.contains("quill: fill\n"), "{filled}");
    let tree = quill::syntax::parse(quill::lang::Language::Python, &filled, None).unwrap();
    assert_eq!(quill::syntax::error_count(tree.root_node()), 0, "{filled}");
}

/// `quill eval-edits` builds next-edit cases from the files of a folder and reports each
/// class (`--no-model`: the classes read from the tree alone).
#[test]
fn eval_edits_reports_precision_and_recall_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let src = "def mean(count, xs):\n    if count == 0:\n        return 0\n    return sum(xs) / count\n\n\
               def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n\n\
               def use():\n    return mean(3, [1]) + total([2])\n";
    // Files under 1,500 bytes are not sampled: the same functions under other names.
    let text: String = (0..8)
        .map(|i| {
            src.replace("mean", &format!("mean{i}"))
                .replace("total", &format!("total{i}"))
        })
        .collect();
    std::fs::write(dir.path().join("stats.py"), text).unwrap();
    let out = quill(&[
        "eval-edits",
        "--language",
        "python",
        "--source",
        dir.path().to_str().unwrap(),
        "--json",
        "--no-model",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["class"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "rename-local",
            "rename-use",
            "rename-definition",
            "rereference",
            "literal",
            "all"
        ]
    );
    let all = rows.last().unwrap();
    assert_eq!(all["precision"], 1.0);
    assert_eq!(all["recall"], 1.0);
    // A folder without files of the language is a clear error.
    let empty = tempfile::tempdir().unwrap();
    let out = quill(&[
        "eval-edits",
        "--language",
        "rust",
        "--source",
        empty.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rust files"));
}
