//! `quill batch` on the real model: results parse, seeds repeat, parallel decoding is sound.

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

use crate::support::{SMALL, quill_bin, real_model};

fn batch(input: &str, out: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "batch",
        "--input",
        input,
        "--output",
        out.to_str().unwrap(),
        "--model",
        SMALL,
    ];
    args.extend_from_slice(extra);
    let o = Command::new(quill_bin()).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect()
}

fn parses(lang: quill::lang::Language, code: &str) -> bool {
    quill::syntax::parse(lang, code, None)
        .is_some_and(|t| quill::syntax::error_count(t.root_node()) == 0)
}

/// Every record has a result, FIM answers fit between their prefix and suffix, and
/// instruction answers parse in their language.
fn check(records: &[Value], tasks: &HashMap<String, Value>) {
    assert_eq!(records.len(), tasks.len());
    for r in records {
        let id = r["id"].as_str().unwrap();
        assert!(r["error"].is_null(), "{id}: {}", r["error"]);
        let text = r["text"].as_str().unwrap();
        let task = &tasks[id];
        if let Some(prefix) = task["prefix"].as_str() {
            let whole = format!("{prefix}{text}{}", task["suffix"].as_str().unwrap());
            assert!(
                parses(quill::lang::Language::Python, &whole),
                "{id}: {text:?}"
            );
        } else if task.get("instruction").is_some() {
            let lang =
                quill::lang::Language::from_name(task["language"].as_str().unwrap()).unwrap();
            assert!(
                !text.trim().is_empty() && parses(lang, text),
                "{id}: {text}"
            );
        } else {
            assert!(parses(quill::lang::Language::Python, text), "{id}");
        }
    }
}

#[test]
fn batch_results_parse_at_parallel_1_and_4() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let input = "benches/data/batch_tasks.jsonl";
    let tasks: HashMap<String, Value> = std::fs::read_to_string(input)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let one = batch(input, &dir.path().join("p1.jsonl"), &["--parallel", "1"]);
    check(&one, &tasks);
    let four = batch(input, &dir.path().join("p4.jsonl"), &["--parallel", "4"]);
    check(&four, &tasks);
    let text = |rs: &[Value]| -> HashMap<String, String> {
        rs.iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_string(),
                    r["text"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (a, b) = (text(&one), text(&four));
    let differ: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
    eprintln!(
        "greedy outputs that differ between --parallel 1 and 4: {} of {}: {differ:?}",
        differ.len(),
        a.len()
    );
    // Speculative decoding in batch slots: the same records, parsing as before.
    let plain = batch(
        input,
        &dir.path().join("p4-nodraft.jsonl"),
        &["--parallel", "4", "--draft-tokens", "0"],
    );
    check(&plain, &tasks);
    let c = text(&plain);
    let differ: Vec<&String> = b.keys().filter(|k| b[*k] != c[*k]).collect();
    eprintln!(
        "greedy outputs that differ with and without drafts at --parallel 4: {} of {}: {differ:?}",
        differ.len(),
        b.len()
    );
}

#[test]
fn same_seed_same_output() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"instruction\": \"Write a Python function that returns the n-th Fibonacci number.\", \"language\": \"python\"}\n",
    )
    .unwrap();
    let input = input.to_str().unwrap();
    let run = |name: &str, seed: &str| {
        batch(
            input,
            &dir.path().join(name),
            &["--seed", seed, "--temperature", "0.8", "--parallel", "1"],
        )[0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(run("a.jsonl", "7"), run("b.jsonl", "7"));
}

/// A hole the size of a line at column 0 (the prefix ends with a line break, the suffix
/// starts with the next line's code): the answer is a whole line with its indentation and
/// line break, in front of that code, not text glued to its start.
#[test]
fn whole_line_hole_gets_a_line() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let prefix = "import math\n\n\ndef distance(a, b):\n    \"\"\"Euclidean distance between two points given as (x, y) tuples.\"\"\"\n    dx = a[0] - b[0]\n";
    let suffix = "    return math.sqrt(dx * dx + dy * dy)\n\n\ndef main():\n    print(distance((0, 0), (3, 4)))\n";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tasks.jsonl");
    let task =
        serde_json::json!({"id": "hole", "prefix": prefix, "suffix": suffix, "language": "python"});
    std::fs::write(&input, format!("{task}\n")).unwrap();
    let records = batch(input.to_str().unwrap(), &dir.path().join("out.jsonl"), &[]);
    let text = records[0]["text"].as_str().unwrap();
    eprintln!("whole-line hole: {text:?}");
    assert!(text.ends_with('\n'), "{text:?}");
    assert!(text.starts_with("    dy = "), "{text:?}");
    assert!(parses(
        quill::lang::Language::Python,
        &format!("{prefix}{text}{suffix}")
    ));
    // Ranked candidates in batch slots: one record, a whole line that fits.
    let ranked = batch(
        input.to_str().unwrap(),
        &dir.path().join("ranked.jsonl"),
        &["--candidates", "3", "--parallel", "3"],
    );
    assert_eq!(ranked.len(), 1);
    let best = ranked[0]["text"].as_str().unwrap();
    eprintln!("whole-line hole, best of 3: {best:?}");
    assert!(best.ends_with('\n'), "{best:?}");
    assert!(parses(
        quill::lang::Language::Python,
        &format!("{prefix}{best}{suffix}")
    ));
}

/// `--rank-by likelihood` in batch slots: each task whose candidates differ is read in
/// place on the cells its candidates shared (nothing of the code before the hole is
/// decoded again), and every record still fits between its prefix and suffix.
#[test]
fn likelihood_reads_candidates_on_the_cells_they_shared() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    // Three of the fill-in-the-middle tasks (each reading costs a debug build time).
    let tasks: HashMap<String, Value> = std::fs::read_to_string("benches/data/batch_tasks.jsonl")
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("prefix").is_some())
        .take(3)
        .map(|v| (v["id"].as_str().unwrap().to_string(), v))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("batch.log");
    let input = dir.path().join("tasks.jsonl");
    let lines: Vec<String> = tasks.values().map(Value::to_string).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let o = Command::new(quill_bin())
        .args(["batch", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(dir.path().join("out.jsonl"))
        .args(["--model", SMALL, "--candidates", "3", "--parallel", "3"])
        .args(["--candidate-temperature", "0.7", "--rank-by", "likelihood"])
        .arg("--log-file")
        .arg(&log)
        .env("QUILL_LOG", "quill=debug")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records: Vec<Value> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    check(&records, &tasks);
    let log = std::fs::read_to_string(&log).unwrap();
    let reads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reading candidates"))
        .collect();
    eprintln!("{} tasks read: {reads:#?}", reads.len());
    assert!(!reads.is_empty(), "no task's candidates were read");
    let field = |line: &str, name: &str| -> usize {
        let at = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for line in reads {
        assert_eq!(field(line, "shared"), field(line, "before"), "{line}");
    }
}
