//! The real engine on real GGUF models: completions that parse, KV-cache reuse,
//! cancellation, and clear errors for broken model files.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quill::complete::{Input, complete_blocking};
use quill::config::CompletionConfig;
use quill::engine::config::EngineConfig;
use quill::engine::{CancelReason, EngineError, EngineState, Generate, Piece, Request, Work};
use quill::lang::Language;
use quill::syntax::{error_count, parse};

use crate::support::{CHAT_ONLY, DEFAULT, SMALL, cursor, load, real_model};

const PYTHON: &str = r#"import math


def distance(a, b):
    """Euclidean distance between two points given as (x, y) tuples."""
    dx = a[0] - b[0]
    $0
    return math.sqrt(dx * dx + dy * dy)


def main():
    print(distance((0, 0), (3, 4)))
"#;

const RUST: &str = r#"/// Returns the largest value in `values`, or `None` when it is empty.
pub fn largest(values: &[i64]) -> Option<i64> {
    let mut best: Option<i64> = None;
    for &v in values {
        $0
    }
    best
}

fn main() {
    println!("{:?}", largest(&[3, 9, 2]));
}
"#;

const CPP: &str = r#"#include <vector>

// The largest value in `values`, or 0 when it is empty.
long largest(const std::vector<long>& values) {
    long best = 0;
    for (long v : values) {
        $0
    }
    return best;
}

int main() {
    return static_cast<int>(largest({3, 9, 2}));
}
"#;

const JAVA: &str = r#"import java.util.List;

public final class Stats {
    /** The sum of the squares of `xs`. */
    public static long sumOfSquares(List<Long> xs) {
        long total = 0;
        for (long x : xs) {
            $0
        }
        return total;
    }
}
"#;

/// Completes `marked` and checks the result: not empty, the file still parses without
/// errors, and the completion does not repeat the code after the cursor.
fn check_completion(
    engine: &quill::engine::Engine,
    counter: &quill::tokenizer::Counter,
    marked: &str,
    lang: Language,
    path: &str,
) -> String {
    let (text, offset) = cursor(marked);
    let mut input = Input::new(&text, offset);
    input.language = Some(lang);
    input.path = Some(path);
    let c = complete_blocking(engine, &input, &CompletionConfig::default(), &**counter)
        .expect("a completion");
    eprintln!("completion for {path}: {:?} (raw {:?})", c.text, c.raw);
    assert!(
        !c.text.trim().is_empty(),
        "empty completion; raw output {:?}",
        c.raw
    );
    let completed = format!("{}{}{}", &text[..offset], c.text, &text[offset..]);
    let tree = parse(lang, &completed, None).unwrap();
    assert_eq!(
        error_count(tree.root_node()),
        0,
        "does not parse:\n{completed}"
    );
    assert!(
        !repeats_suffix(&c.text, &text[offset..]),
        "repeats the code after the cursor: {:?}",
        c.text
    );
    c.text
}

/// True when `completion` ends with the code that follows it: its last two non-blank lines
/// are the suffix's first two, or it contains a distinctive first suffix line.
fn repeats_suffix(completion: &str, suffix: &str) -> bool {
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let rest = suffix.split_once('\n').map_or("", |x| x.1);
    let (c, s) = (lines(completion), lines(rest));
    let k = 2.min(c.len()).min(s.len());
    let tail_is_head = k > 0 && c[c.len() - k..] == s[..k];
    let distinctive = s
        .first()
        .is_some_and(|l| l.len() >= 6 && completion.contains(l.as_str()));
    tail_is_head || distinctive
}

#[test]
fn small_model_completes_python_and_rust_functions() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, counter) = load(path, SMALL);
    let py = check_completion(&engine, &counter, PYTHON, Language::Python, "geometry.py");
    assert!(py.contains("dy"), "{py}");
    check_completion(&engine, &counter, RUST, Language::Rust, "src/lib.rs");
}

/// C++ and Java, with their grammars: the answer parses and does not repeat the code after
/// the cursor.
#[test]
fn small_model_completes_cpp_and_java_functions() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, counter) = load(path, SMALL);
    let cpp = check_completion(&engine, &counter, CPP, Language::Cpp, "src/stats.cpp");
    assert!(cpp.contains("best"), "{cpp}");
    let java = check_completion(&engine, &counter, JAVA, Language::Java, "src/Stats.java");
    assert!(java.contains("total"), "{java}");
}

#[test]
fn default_model_completes_python() {
    let Some((path, _guard)) = real_model(DEFAULT) else {
        return;
    };
    let (engine, counter) = load(path, DEFAULT);
    let py = check_completion(&engine, &counter, PYTHON, Language::Python, "geometry.py");
    assert!(py.contains("dy ="), "{py}");
}

#[test]
fn second_request_reuses_the_cached_prefix() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, counter) = load(path, SMALL);
    let text = std::fs::read_to_string("benches/data/inventory.py").unwrap();
    let at = text.find("def average_order_value").unwrap();
    // One request each: the rescue of an empty answer (a second, ranked generation)
    // would add its own prompt tokens to the counts.
    let cfg = CompletionConfig {
        rescue_candidates: 0,
        ..CompletionConfig::default()
    };
    let run = |offset: usize| {
        let mut input = Input::new(&text, offset);
        input.language = Some(Language::Python);
        input.path = Some("inventory.py");
        complete_blocking(&engine, &input, &cfg, &*counter).unwrap()
    };
    let first = run(at);
    // The user typed on: the cursor moved a few characters further.
    let second = run(at + "def average".len());
    let (a, b) = (first.timings, second.timings);
    eprintln!("first {a:?}\nsecond {b:?}");
    assert!(a.prompt_tokens > 1000, "the prompt should be long: {a:?}");
    assert_eq!(a.reused_tokens, 0);
    assert!(b.reused_tokens > a.prompt_tokens / 2, "{b:?}");
    assert!(
        b.evaluated_tokens * 2 < a.evaluated_tokens,
        "second request evaluated {} of {} tokens",
        b.evaluated_tokens,
        a.evaluated_tokens
    );
    // The same prompt again: everything but the last token comes from the cache.
    let third = run(at + "def average".len());
    assert_eq!(third.timings.evaluated_tokens, 1, "{:?}", third.timings);
}

#[test]
fn cancellation_stops_decoding_on_the_model_thread() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, _counter) = load(path, SMALL);
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let mut g = Generate::new(2000);
    g.ignore_eog = true;
    g.stop = Some(Box::new(move |_text: &str| {
        counter.fetch_add(1, Ordering::SeqCst);
        false
    }));
    let req = Request::new(
        vec![Piece::Text("def fibonacci(n):\n".into())],
        Work::Generate(g),
    );
    let ticket = engine.submit(req);
    let cancel = ticket.cancel_token();
    while seen.load(Ordering::SeqCst) < 5 {
        std::thread::sleep(Duration::from_millis(5));
    }
    cancel.cancel(CancelReason::Caller);
    let result = ticket.wait_blocking();
    let generated = seen.load(Ordering::SeqCst);
    assert!(
        matches!(result, Err(EngineError::Cancelled(CancelReason::Caller))),
        "{result:?}"
    );
    assert!(
        generated < 100,
        "decoding went on for {generated} tokens after cancel"
    );
    // The engine keeps serving.
    let out = engine
        .generate_blocking(Request::generate(
            vec![Piece::Text("x = 1\ny = ".into())],
            4,
        ))
        .unwrap();
    assert!(out.timings.generated_tokens > 0);
}

#[test]
fn newer_request_for_the_same_document_supersedes() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, _counter) = load(path, SMALL);
    let mut g = Generate::new(2000);
    g.ignore_eog = true;
    let mut long = Request::new(vec![Piece::Text("def a():\n".into())], Work::Generate(g));
    long.key = Some("file:///a.py".into());
    let first = engine.submit(long);
    std::thread::sleep(Duration::from_millis(300));
    let mut short = Request::generate(vec![Piece::Text("def b():\n".into())], 3);
    short.key = Some("file:///a.py".into());
    let second = engine.submit(short);
    assert!(matches!(
        first.wait_blocking(),
        Err(EngineError::Cancelled(CancelReason::Superseded))
    ));
    assert!(second.wait_blocking().is_ok());
}

#[test]
fn broken_model_files_give_clear_errors() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Truncated: the first 20 MB of the real file.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..20 << 20]).unwrap();
    // Corrupt: a valid header whose tensor table is overwritten with noise.
    let noisy = dir.path().join("noisy.gguf");
    let mut b = bytes[..8 << 20].to_vec();
    for (i, x) in b.iter_mut().enumerate().skip(24).step_by(7) {
        *x = (i % 251) as u8;
    }
    std::fs::write(&noisy, &b).unwrap();
    for (file, expect) in [(&cut, "truncated"), (&noisy, "")] {
        let engine = quill::engine::llama::spawn(EngineConfig::new(file.clone(), "broken".into()));
        let err = engine.ready_blocking().unwrap_err().to_string();
        eprintln!("{}: {err}", file.display());
        assert!(err.contains(&*file.display().to_string()), "{err}");
        assert!(err.contains(expect), "{err}");
        assert!(matches!(engine.state(), EngineState::Failed(_)));
        // Requests get the load error, not a hang.
        let r = engine.generate_blocking(Request::generate(vec![Piece::Text("x".into())], 1));
        assert!(matches!(r, Err(EngineError::LoadFailed(_))), "{r:?}");
    }
}

#[test]
fn chat_only_model_refuses_fill_in_the_middle() {
    let Some((path, _guard)) = real_model(CHAT_ONLY) else {
        return;
    };
    let (engine, counter) = load(path, CHAT_ONLY);
    let (text, offset) = cursor("def f():\n    $0\n");
    let input = Input::new(&text, offset);
    let err = complete_blocking(&engine, &input, &CompletionConfig::default(), &*counter)
        .unwrap_err()
        .to_string();
    assert!(err.contains("fill-in-the-middle"), "{err}");
}

#[test]
fn budget_tokenizer_matches_llama_cpp() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let header = quill::gguf::read_header(&path).unwrap();
    let ours = quill::tokenizer::GgufTokenizer::from_header(&header).unwrap();
    assert!(ours.exact);
    let bench = std::fs::read_to_string("benches/data/inventory.py").unwrap();
    let samples = [
        "def f(x):\n    return x + 1\n",
        "fn main() {\n\tprintln!(\"héllo, 世界 😀\");\n}\r\n",
        "   leading spaces and 12345 numbers, can't won't I'd\n\n\n",
        "<|endoftext|> stays text",
        bench.as_str(),
    ];
    for s in samples {
        let theirs = quill::engine::llama::tokenize_with_llama(&path, s).unwrap();
        assert_eq!(
            ours.encode(s),
            theirs,
            "token mismatch on {:?}",
            &s[..s.len().min(60)]
        );
    }
}

/// Where the typing tests type: inventory.py, the cursor at the indentation of a
/// statement's line, and the file after that statement.
fn typing_place() -> (String, usize, String) {
    let text = std::fs::read_to_string("benches/data/inventory.py").unwrap();
    let line = "    values = [order.subtotal for order in orders if not order.is_empty()]\n";
    let at = text.find(line).unwrap() + 4;
    let rest = text[at + line.len() - 4..].to_string();
    (text, at, rest)
}

#[test]
fn typing_keeps_the_suffix_cached_with_shift() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, counter) = load(path, SMALL);
    let info = engine.ready_blocking().unwrap();
    let (text, at, rest) = typing_place();
    let rest = rest.as_str();
    let cfg = CompletionConfig::default();
    let run = |typed: &str, shift: bool| {
        let doc = format!("{}{typed}\n{rest}", &text[..at]);
        let mut input = Input::new(&doc, at + typed.len());
        input.language = Some(Language::Python);
        let prepared = quill::complete::prepare(&input, &cfg, &*counter, &info).unwrap();
        let mut req = prepared.request(&cfg, None);
        req.shift_suffix = shift.then_some(cfg.fresh_suffix_tokens);
        let out = engine.generate_blocking(req).unwrap();
        quill::complete::finish(&input, &prepared, out, &cfg)
    };
    let first = run("val", true);
    // Three more characters typed at the cursor: the prefix's end changes, the suffix not.
    let second = run("values", true);
    let t = second.timings;
    eprintln!("first {:?}\nsecond {t:?}\n{:?}", first.timings, second.text);
    // The typed tokens, the suffix's first `fresh_suffix_tokens` and `<|fim_middle|>`.
    let most = cfg.fresh_suffix_tokens as u32 + 16;
    assert!(
        t.evaluated_tokens <= most,
        "decoded {} prompt tokens",
        t.evaluated_tokens
    );
    assert!(t.reused_tokens + most >= t.prompt_tokens);
    assert!(!second.text.trim().is_empty());
    // Without the shift the whole suffix is decoded again.
    run("val", false);
    let third = run("values", false);
    assert!(third.timings.evaluated_tokens > 100, "{:?}", third.timings);
}

/// Typing moves the suffix's keys and values instead of decoding them again; a pause
/// (the warm-up, `refresh_stale`) decodes them again once enough changed in front of
/// them, and the next completion reads the same cache a fresh read gives.
#[test]
fn a_pause_reads_the_moved_suffix_again() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, counter) = load(path, SMALL);
    let info = engine.ready_blocking().unwrap();
    let (text, at, rest) = typing_place();
    let rest = rest.as_str();
    let cfg = CompletionConfig::default();
    let doc = |typed: &str| format!("{}{typed}\n{rest}", &text[..at]);
    fn input<'a>(doc: &'a str, cursor: usize) -> Input<'a> {
        let mut input = Input::new(doc, cursor);
        input.language = Some(Language::Python);
        input
    }
    let request = |input: &Input| {
        let prepared = quill::complete::prepare(input, &cfg, &*counter, &info).unwrap();
        let mut req = prepared.request(&cfg, None);
        req.shift_suffix = Some(cfg.fresh_suffix_tokens);
        (prepared, req)
    };
    let warm_up = |typed: &str, refresh: bool| {
        let doc = doc(typed);
        let (_, mut req) = request(&input(&doc, at + typed.len()));
        req.work = Work::Prefill {
            refresh_stale: refresh,
        };
        engine.generate_blocking(req).unwrap().timings
    };
    // Statements typed a few words at a time, as warm-ups between keys would: more than
    // 64 tokens in front of the moved suffix.
    let typed = "values = [order.subtotal for order in orders if not order.is_empty()]\n    \
                 count = len(values)\n    total = sum(values)\n    average = total / count\n    \
                 largest = max(values, default=0.0)\n    smallest = min(values, default=0.0)\n    \
                 spread = largest - smallest\n    print(count, total, average, ";
    let mut end = 0;
    while end < typed.len() {
        end = (end + 20).min(typed.len());
        let t = warm_up(&typed[..end], false);
        assert_eq!(t.refreshed_tokens, 0);
    }
    let fresh_evaluated = warm_up(typed, false).evaluated_tokens;
    assert!(fresh_evaluated < 16, "typing read {fresh_evaluated} tokens");
    // The pause: the whole moved suffix is decoded again, once.
    let refreshed = warm_up(typed, true).refreshed_tokens;
    assert!(refreshed > 100, "refreshed {refreshed} tokens");
    assert_eq!(warm_up(typed, true).refreshed_tokens, 0);
    let full = doc(typed);
    let at_end = input(&full, at + typed.len());
    let (prepared, req) = request(&at_end);
    let out = engine.generate_blocking(req).unwrap();
    assert!(out.timings.evaluated_tokens <= 2, "{:?}", out.timings);
    let after = quill::complete::finish(&at_end, &prepared, out, &cfg);
    // The same answer as a prompt read from nothing.
    let (prepared, mut req) = request(&at_end);
    req.reuse_cache = false;
    let out = engine.generate_blocking(req).unwrap();
    let fresh = quill::complete::finish(&at_end, &prepared, out, &cfg);
    eprintln!(
        "refreshed {refreshed}: {:?}\nfresh: {:?}",
        after.text, fresh.text
    );
    assert!(!fresh.text.trim().is_empty());
    assert_eq!(after.text, fresh.text);
}

/// A completion after the context from other files changed (the cursor entered a new
/// function) and the user typed: the prompt differs at its head and at the cursor. The
/// file between them is moved behind the new head, not read again.
#[test]
fn a_changed_context_moves_the_file_behind_it() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, counter) = load(path, SMALL);
    let info = engine.ready_blocking().unwrap();
    let (text, at, rest) = typing_place();
    let rest = rest.as_str();
    let cfg = CompletionConfig::default();
    let context = |body: &str| {
        vec![quill::context::ContextFile {
            path: "report.py".into(),
            text: body.into(),
        }]
    };
    let before = context("def open_orders(orders):\n    return [o for o in orders if o.open]\n");
    let after = context(
        "def open_orders(orders):\n    return [o for o in orders if o.open]\n\ndef overdue(orders, today, days=14):\n    limit = today - days\n    return [o for o in open_orders(orders) if o.created < limit]\n",
    );
    let run = |typed: &str, context: &[quill::context::ContextFile]| {
        let doc = format!("{}{typed}\n{rest}", &text[..at]);
        let mut input = Input::new(&doc, at + typed.len());
        input.language = Some(Language::Python);
        input.context = context;
        input.repo_name = Some("workspace");
        let prepared = quill::complete::prepare(&input, &cfg, &*counter, &info).unwrap();
        let mut req = prepared.request(&cfg, None);
        req.shift_suffix = Some(cfg.fresh_suffix_tokens);
        let out = engine.generate_blocking(req).unwrap();
        quill::complete::finish(&input, &prepared, out, &cfg)
    };
    let first = run("val", &before);
    // A definition added at the context's end, and three characters typed.
    let second = run("values", &after);
    // A file added at the context's head (in front of the other), and one more character.
    let mut ahead = context("def helper(x):\n    return x * 2\n");
    ahead[0].path = "a.py".into();
    ahead.extend(after.clone());
    let third = run("values ", &ahead);
    eprintln!(
        "first {:?}\nsecond {:?}\nthird {:?}\n{:?}",
        first.timings, second.timings, third.timings, third.text
    );
    for t in [second.timings, third.timings] {
        assert!(t.prompt_tokens > 1000, "{t:?}");
        // The new context's tokens, the typed ones, a few after the cursor, `<|fim_middle|>`.
        assert!(
            t.evaluated_tokens < 150 && t.reused_tokens > 1000,
            "decoded {} prompt tokens",
            t.evaluated_tokens
        );
    }
    assert!(!second.text.trim().is_empty());
}

/// Speculative decoding (prompt-lookup drafts checked in one decode) must not change what
/// greedy decoding generates: the same tokens with drafts on and off, over many prompts
/// cut from real code, up to floating point. llama.cpp's CPU kernels sum a decode of
/// several tokens in another order than a decode of one, so a near-tie between two
/// tokens can fall the other way (2 of 20 `quill eval` tasks with the 1.5B, after 33 and
/// 172 identical characters; the same happens between a prompt evaluated in one chunk
/// and in another, or between `quill batch --parallel 1` and 4). A real difference in the
/// logic (a draft kept that the model did not pick, a key at a wrong position) changes
/// nearly every answer, so three in four must be the same. It must also have drafted
/// something, or the test proves nothing.
#[test]
fn speculative_decoding_generates_the_same_tokens() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, _counter) = load(path, SMALL);
    let files = [
        include_str!("../../benches/data/report.py"),
        include_str!("../../benches/data/inventory.py"),
        include_str!("../../examples/holes.py"),
    ];
    let (mut prompts, mut identical, mut drafted, mut kept) = (0, 0, 0, 0);
    for text in files {
        let lines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
        // Cursors at the start of every 40th line and inside every 50th.
        let mut cursors: Vec<usize> = lines.iter().step_by(40).copied().collect();
        cursors.extend(lines.iter().step_by(50).map(|&l| {
            let end = text[l..].find('\n').map_or(text.len(), |e| l + e);
            let mid = l + (end - l) / 2;
            (mid..=end)
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(end)
        }));
        let boundary = |mut i: usize| {
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        for at in cursors {
            let (from, to) = (
                boundary(at.saturating_sub(2000)),
                boundary((at + 800).min(text.len())),
            );
            let prompt = vec![
                Piece::Special(quill::engine::Special::FimPrefix),
                Piece::Text(text[from..at].to_string()),
                Piece::Special(quill::engine::Special::FimSuffix),
                Piece::Text(text[at..to].to_string()),
                Piece::Special(quill::engine::Special::FimMiddle),
            ];
            // Both runs evaluate the prompt from an empty cache in the same chunks, so
            // their first logits are the same; only the generation differs.
            let run = |draft: quill::engine::DraftConfig| {
                let mut g = Generate::new(40);
                g.draft = draft;
                let mut req = Request::new(prompt.clone(), Work::Generate(g));
                req.reuse_cache = false;
                engine.generate_blocking(req).unwrap()
            };
            let plain = run(quill::engine::DraftConfig::OFF);
            let fast = run(quill::engine::DraftConfig::default());
            assert_eq!(plain.timings.drafted_tokens, 0);
            if plain.text == fast.text {
                identical += 1;
            } else {
                let same = plain
                    .text
                    .chars()
                    .zip(fast.text.chars())
                    .take_while(|(a, b)| a == b)
                    .count();
                eprintln!(
                    "differs at byte {at} after {same} characters: {:?} vs {:?}",
                    plain.text, fast.text
                );
            }
            drafted += fast.timings.drafted_tokens;
            kept += fast.timings.accepted_tokens;
            prompts += 1;
        }
    }
    eprintln!("{prompts} prompts, {identical} identical: {kept} of {drafted} draft tokens kept");
    assert!(prompts >= 20, "only {prompts} prompts");
    assert!(
        identical * 4 >= prompts * 3,
        "drafts changed {} of {prompts} answers",
        prompts - identical
    );
    assert!(
        kept > 0,
        "no draft was ever kept: speculation was not exercised"
    );
}

/// A fill-in-the-middle prompt of `marked` at its cursor mark.
fn fim_at_cursor(marked: &str) -> Vec<Piece> {
    let (text, at) = cursor(marked);
    vec![
        Piece::Special(quill::engine::Special::FimPrefix),
        Piece::Text(text[..at].to_string()),
        Piece::Special(quill::engine::Special::FimSuffix),
        Piece::Text(text[at..].to_string()),
        Piece::Special(quill::engine::Special::FimMiddle),
    ]
}

/// Ranked candidates from one prefill: the greedy answer first, alternatives that start
/// with other tokens, confidences that are log-probabilities, and a cache left as a single
/// request leaves it (the next request reuses the prompt).
#[test]
fn candidates_share_one_prompt() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, _counter) = load(path, SMALL);
    let prompt = fim_at_cursor(PYTHON);
    let mut req = Request::generate(prompt.clone(), 24);
    req.reuse_cache = false;
    let single = engine.generate_blocking(req).unwrap();
    let req = Request::new(
        prompt.clone(),
        Work::Generate(Generate::new(24).ranked(3, 0.0, None)),
    );
    let ranked = engine.generate_blocking(req).unwrap();
    let c = &ranked.candidates;
    eprintln!("single {:?}; candidates {c:?}", single.text);
    assert_eq!(c.len(), 3);
    assert_eq!(ranked.text, c[0].text);
    assert!(
        c.iter()
            .all(|c| c.mean_logprob <= 0.0 && c.mean_logprob.is_finite())
    );
    // Each alternative starts with a token the others do not: the texts differ.
    assert!(c[0].text != c[1].text && c[1].text != c[2].text && c[0].text != c[2].text);
    // The prompt was reused from the single run's cache, and stays for the next one.
    assert_eq!(ranked.timings.evaluated_tokens, 1);
    let req = Request::generate(prompt, 1);
    let again = engine.generate_blocking(req).unwrap();
    assert_eq!(again.timings.evaluated_tokens, 1);
    if single.text != c[0].text {
        eprintln!("the greedy candidate differs from the single answer (CPU numerics)");
    }
}

/// Sampled candidates (`candidate_temperature`): all write code, the greedy one does not
/// depend on the seed, and the same seed gives the same samples.
#[test]
fn sampled_candidates_repeat_from_their_seed() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, _counter) = load(path, SMALL);
    let prompt = fim_at_cursor(PYTHON);
    let ask = |seed: u32| {
        let mut g = Generate::new(24).ranked(6, 1.2, None);
        g.sampling.seed = seed;
        let req = Request::new(prompt.clone(), Work::Generate(g));
        engine.generate_blocking(req).unwrap().candidates
    };
    // Every run after the first decodes the prompt's last token alone (the rest is
    // cached): the same arithmetic each time.
    ask(3);
    let first = ask(1);
    let texts =
        |c: &[quill::engine::Candidate]| c.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
    eprintln!("sampled {:?}", texts(&first));
    assert_eq!(first.len(), 6);
    // Every candidate writes code (none ends before it), and the same seed repeats.
    assert!(
        first
            .iter()
            .all(|c| !c.text.trim().is_empty() && c.mean_logprob.is_finite())
    );
    assert_eq!(texts(&first), texts(&ask(1)));
    // The greedy candidate does not depend on the seed; at this temperature the samples do.
    let other = ask(2);
    assert_eq!(first[0].text, other[0].text);
    assert_ne!(texts(&first[1..]), texts(&other[1..]));
}

/// Reading candidates in place (`Work::Score`, the likelihood ranking's verifier): the
/// line the code after the hole needs reads best, every token has a log-probability, and
/// the prompt stays cached for the next request.
#[test]
fn the_code_after_the_hole_reads_best_after_the_right_line() {
    let Some((path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (engine, _counter) = load(path, SMALL);
    let prompt = fim_at_cursor(PYTHON);
    let (text, at) = cursor(PYTHON);
    let line_start = text[..at].rfind('\n').unwrap() + 1;
    engine
        .generate_blocking(Request::prefill(prompt.clone()))
        .unwrap();
    let read = || {
        let score = quill::engine::Score {
            before: vec![
                Piece::Special(quill::engine::Special::FimPrefix),
                Piece::Text(text[..line_start].to_string()),
            ],
            texts: ["dy = a[1] - b[1]", "dz = a[2] - b[2]", "dy = 0"]
                .iter()
                .map(|t| format!("{}{t}", &text[line_start..at]))
                .collect(),
            tail: text[at..].lines().take(2).collect::<Vec<_>>().join("\n"),
        };
        let req = Request::new(prompt.clone(), Work::Score(score));
        engine.generate_blocking(req).unwrap()
    };
    let out = read();
    let joint: Vec<f64> = out.fits.iter().map(|f| f.joint()).collect();
    eprintln!("fits {:?}; joint {joint:?}", out.fits);
    assert_eq!(out.fits.len(), 3);
    assert!(out.fits.iter().all(|f| {
        !f.text.is_empty()
            && !f.tail.is_empty()
            && f.text
                .iter()
                .chain(&f.tail)
                .all(|l| l.is_finite() && *l <= 0.0)
    }));
    assert!(joint[0] > joint[1] && joint[0] > joint[2], "{joint:?}");
    assert_eq!(read().fits, out.fits);
    // Reading left the prompt's cells as they were: the next request decodes one token.
    let again = engine
        .generate_blocking(Request::generate(prompt, 1))
        .unwrap();
    assert_eq!(again.timings.evaluated_tokens, 1);
}
