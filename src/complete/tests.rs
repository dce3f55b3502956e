use super::*;
use crate::engine::fake::FakeBackend;
use crate::tokenizer::ApproxCounter;

fn run(marked: &str, lang: Language, answer: &'static str) -> Completion {
    let offset = marked.find("$0").unwrap();
    let text = marked.replace("$0", "");
    let engine = FakeBackend::new(move |_| answer.to_string()).spawn();
    let mut input = Input::new(&text, offset);
    input.language = Some(lang);
    input.path = Some("t.py");
    complete_blocking(
        &engine,
        &input,
        &CompletionConfig::default(),
        &ApproxCounter,
    )
    .unwrap()
}

#[test]
fn an_answer_cut_to_nothing_is_rescued_by_ranked_candidates() {
    // A whole-line hole where the model repeats the line after the cursor: cut to
    // nothing, then the next most likely answers are tried (the fake's rank 1 is its
    // first line with `or 1`).
    let text = "def f(x):\n    return x\n";
    let offset = "def f(x):\n".len();
    let engine = FakeBackend::new(|_| "    return x\n".to_string()).spawn();
    let mut input = Input::new(text, offset);
    input.language = Some(Language::Python);
    let mut cfg = CompletionConfig::default();
    let c = complete_blocking(&engine, &input, &cfg, &ApproxCounter).unwrap();
    assert_eq!(c.raw, "    return x\n");
    assert!(c.text.contains("or 1"), "{:?}", c.text);
    cfg.rescue_candidates = 0;
    let c = complete_blocking(&engine, &input, &cfg, &ApproxCounter).unwrap();
    assert_eq!(c.text, "");
}

#[test]
fn an_answer_the_model_ends_at_once_is_rescued() {
    // A hole the model would leave empty (it ends before writing anything): the
    // ranked candidates after the greedy one do not end before they write code.
    let text = "def f(x):\n    return x\n";
    let offset = "def f(x):\n".len();
    let engine = FakeBackend::new(|_| String::new()).spawn();
    let mut input = Input::new(text, offset);
    input.language = Some(Language::Python);
    let c = complete_blocking(
        &engine,
        &input,
        &CompletionConfig::default(),
        &ApproxCounter,
    )
    .unwrap();
    assert_eq!(c.raw, "");
    assert!(c.text.contains("# 1"), "{:?}", c.text);
}

#[test]
fn pipeline_cuts_and_checks() {
    let c = run(
        "def f(x):\n    $0\n\nprint(f(1))\n",
        Language::Python,
        "return x + 1\n\nprint(f(1))\n```\n",
    );
    assert_eq!(c.text, "return x + 1");
    assert_eq!(c.mode, Mode::Block);
    assert_eq!(c.stop, StopReason::StopRule);
}

#[test]
fn syntax_check_falls_back_to_shorter_block() {
    // The last line opens a bracket that never closes: drop it, keep the rest.
    let c = run(
        "def f(x):\n    $0\n",
        Language::Python,
        "y = x + 1\n    return (y",
    );
    assert_eq!(c.text, "y = x + 1");
    assert_eq!(c.rejected, 1);
}

/// A cursor on the empty line between two lines of Python, and its shape.
fn between_two_lines() -> (Input<'static>, Shape) {
    let text = "total = 0\n\nprint(total)\n";
    let offset = "total = 0\n".len();
    let mut input = Input::new(text, offset);
    input.language = Some(Language::Python);
    let shape = Shape::at(text, offset, input.language, &CompletionConfig::default());
    (input, shape)
}

fn c(text: &str, mean_logprob: f32) -> crate::engine::Candidate {
    crate::engine::Candidate {
        text: text.into(),
        stop: StopReason::EndOfGeneration,
        mean_logprob,
        min_logprob: mean_logprob,
        fit: None,
    }
}

#[test]
fn candidates_rank_clean_then_confident() {
    let (input, shape) = between_two_lines();
    // The greedy answer's last line leaves a bracket open (the check drops it): a
    // clean one wins, the more confident of the clean ones first; empty and repeated
    // answers are left out of the alternatives.
    let (best, rejected, others) = rank(
        &input,
        &shape,
        &[
            c("total += 1\nfoo(", -0.1),
            c("total += 2", -0.9),
            c("total += 3", -0.5),
            c("", -0.05),
            c("total += 3", -0.7),
        ],
        true,
        Ranking::Confidence,
    );
    assert_eq!(best, "total += 3");
    assert_eq!(rejected, 0);
    assert_eq!(others, ["total += 2", "total += 1"]);
    // Equals keep their order: the greedy answer stays first.
    let pair = [c("a", -0.5), c("b", -0.5)];
    let (best, _, others) = rank(&input, &shape, &pair, true, Ranking::Confidence);
    assert_eq!((best.as_str(), others), ("a", vec!["b".to_string()]));
}

#[test]
fn likelihood_ranks_by_how_the_code_after_reads_with_each_candidate() {
    // The fake's candidates: the answer, then its line with `or 1`, `or 2`. The code
    // after the hole reads best after `or 2` (the verifier's pick); by confidence the
    // greedy answer stays first.
    let text = "def f(x):\n    \n    return y\n";
    let offset = "def f(x):\n    ".len();
    let mut fake = FakeBackend::new(|_| "y = x + 1".to_string());
    let seen = fake.read_best("or 2");
    let engine = fake.spawn();
    let mut input = Input::new(text, offset);
    input.language = Some(Language::Python);
    let mut cfg = CompletionConfig {
        candidates: 3,
        candidate_ranking: Ranking::Likelihood,
        ..CompletionConfig::default()
    };
    let c = complete_blocking(&engine, &input, &cfg, &ApproxCounter).unwrap();
    assert_eq!(c.text, "y = x + 1 or 2");
    assert_eq!(c.alternatives, ["y = x + 1", "y = x + 1 or 1"]);
    assert!(c.ranked.iter().all(|s| s.fit.is_some()), "{:?}", c.ranked);
    // Each candidate is read with its line's start, then the code after the hole.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], ("    y = x + 1".into(), "\n    return y\n".into()));
    cfg.candidate_ranking = Ranking::Confidence;
    let c = complete_blocking(&engine, &input, &cfg, &ApproxCounter).unwrap();
    assert_eq!(c.text, "y = x + 1");
    assert!(c.ranked.iter().all(|s| s.fit.is_none()));
}

#[test]
fn bad_position_is_an_error() {
    let engine = FakeBackend::new(|_| String::new()).spawn();
    let input = Input::new("é", 1);
    let err = complete_blocking(
        &engine,
        &input,
        &CompletionConfig::default(),
        &ApproxCounter,
    )
    .unwrap_err();
    assert!(matches!(err, CompleteError::BadPosition { .. }));
}

#[test]
fn cut_prefix_keeps_imports_and_enclosing_function() {
    let body: String = (0..200).map(|i| format!("    v{i} = {i}\n")).collect();
    let head = format!("import os\n\ndef build(path):\n{body}    return os.path.join(path, ");
    let offset = head.len();
    let text = format!("{head})\n");
    let mut input = Input::new(&text, offset);
    input.language = Some(Language::Python);
    let cfg = CompletionConfig {
        prefix_tokens: 200,
        suffix_tokens: 0,
        ..CompletionConfig::default()
    };
    let p = prepare(&input, &cfg, &ApproxCounter, &FakeBackend::info()).unwrap();
    let rendered = crate::engine::fake::render(&p.prompt);
    assert!(
        rendered.starts_with("<|fim_prefix|>import os\n\ndef build(path):\n    v"),
        "{rendered}"
    );
    assert!(!rendered.contains("v0 = 0"));
}

#[test]
fn context_is_cut_to_budget_on_line_boundaries() {
    let files = vec![
        ContextFile {
            path: "a.py".into(),
            text: "def a():\n    pass\n".into(),
        },
        ContextFile {
            path: "b.py".into(),
            text: "x = 1\n".repeat(100),
        },
    ];
    let (kept, used) = fit_context(&files, 60, &ApproxCounter);
    assert_eq!(kept.len(), 2);
    assert!(used <= 60);
    assert!(kept[1].text.ends_with('\n'));
    assert!(kept[1].text.len() < files[1].text.len());
}

#[test]
fn a_prompt_aside_is_laid_out_as_the_cursor_s() {
    // Cursor at the new parameter; calls below (in the window) and far below (out of it).
    let filler: String = (0..300).map(|i| format!("    v{i} = {i}\n")).collect();
    let head = "import os\n\ndef area(w, h, scale";
    let cursor = head.len();
    let text = format!(
        "{head}):\n    return w * h\n\nprint(area(1, 2))\n\ndef far():\n{filler}    area(3, 4)\n"
    );
    let near = text.find("area(1, 2").unwrap() + "area(1, 2".len();
    let far = text.find("area(3, 4").unwrap() + "area(3, 4".len();
    let mut input = Input::new(&text, cursor);
    input.language = Some(Language::Python);
    input.path = Some("geo.py");
    let ghost = CompletionConfig {
        prefix_tokens: 400,
        suffix_tokens: 200,
        ..CompletionConfig::default()
    };
    let short = CompletionConfig {
        suffix_tokens: 8,
        ..ghost.clone()
    };
    let info = FakeBackend::info();
    let cursor_prompt = crate::engine::fake::render(
        &prepare(&input, &ghost, &ApproxCounter, &info)
            .unwrap()
            .prompt,
    );
    let p = prepare_aside(&input, &ghost, near, &short, &ApproxCounter, &info)
        .unwrap()
        .expect("the call is in the cursor's window");
    let rendered = crate::engine::fake::render(&p.prompt);
    // The same head as the cursor's prompt, up to the cursor; then the code on to the call.
    let head_end = cursor_prompt.find("<|fim_suffix|>").unwrap();
    assert!(
        rendered.starts_with(&cursor_prompt[..head_end]),
        "{rendered}"
    );
    assert!(
        rendered.contains("scale):\n    return w * h\n\nprint(area(1, 2<|fim_suffix|>))\n"),
        "{rendered}"
    );
    assert_eq!(p.shape.mode, Mode::Line);
    // A call outside the cursor's window has no such prompt.
    assert!(
        prepare_aside(&input, &ghost, far, &short, &ApproxCounter, &info)
            .unwrap()
            .is_none()
    );
    // Above the cursor: the suffix runs on to the end of the cursor's line.
    let above = text.find("def area(w").unwrap() + "def area(w".len();
    let p = prepare_aside(&input, &ghost, above, &short, &ApproxCounter, &info)
        .unwrap()
        .unwrap();
    let rendered = crate::engine::fake::render(&p.prompt);
    assert!(
        rendered.contains("def area(w<|fim_suffix|>, h, scale):\n    return"),
        "{rendered}"
    );
    // Both end where the cursor's prompt ends.
    let tail =
        &cursor_prompt[cursor_prompt.find("<|fim_suffix|>").unwrap() + "<|fim_suffix|>".len()..];
    assert!(rendered.ends_with(tail), "{rendered}");
    // A bad place is an error, as a bad cursor is.
    assert!(
        prepare_aside(
            &input,
            &ghost,
            text.len() + 1,
            &short,
            &ApproxCounter,
            &info
        )
        .is_err()
    );
}
