//! The pipeline's steps with scripted answers: no engine, every request looked at.

use super::*;
use crate::engine::fake::FakeBackend;
use crate::engine::{Fit, Work};
use crate::lang::Language;
use crate::tokenizer::ApproxCounter;

/// A whole-line hole in a Python function.
const TEXT: &str = "def f(x):\n    return x\n";
const AT: usize = "def f(x):\n".len();

fn input() -> Input<'static> {
    let mut input = Input::new(TEXT, AT);
    input.language = Some(Language::Python);
    input
}

fn start(cfg: &CompletionConfig, opts: RunOptions) -> (Pipeline, Step) {
    Pipeline::start(&input(), cfg, &ApproxCounter, &FakeBackend::info(), opts).unwrap()
}

fn output(text: &str, candidates: &[(&str, f32)], generated: u32) -> Output {
    Output {
        text: text.into(),
        stop: StopReason::EndOfGeneration,
        timings: Timings {
            prompt_tokens: 20,
            generated_tokens: generated,
            ..Timings::default()
        },
        candidates: candidates
            .iter()
            .map(|&(t, lp)| Candidate {
                text: t.into(),
                stop: StopReason::EndOfGeneration,
                mean_logprob: lp,
                min_logprob: lp,
                fit: None,
            })
            .collect(),
        fits: Vec::new(),
    }
}

fn generation(step: Step) -> Vec<Request> {
    match step {
        Step::Generate(reqs) => reqs,
        other => panic!("expected a generation, got {other:?}"),
    }
}

fn answers(r: &Request) -> &Answers {
    match &r.work {
        Work::Generate(g) => &g.answers,
        _ => panic!("not a generation"),
    }
}

#[test]
fn an_empty_answer_is_rescued_once_with_one_request_per_rank() {
    let cfg = CompletionConfig::default();
    let opts = RunOptions {
        split_ranks: true,
        ..RunOptions::default()
    };
    let (mut p, step) = start(&cfg, opts);
    let first = generation(step);
    assert_eq!(first.len(), 1);
    assert!(matches!(answers(&first[0]), Answers::One));
    // The model repeats the line after the cursor: cut to nothing.
    let step = p
        .advance(&input(), vec![Ok(output("    return x\n", &[], 5))])
        .unwrap();
    let rescue = generation(step);
    assert_eq!(rescue.len(), cfg.rescue_candidates as usize);
    for (i, r) in rescue.iter().enumerate() {
        assert!(matches!(answers(r), Answers::Rank { rank, .. } if *rank as usize == i));
    }
    let ranks = vec![
        Ok(output("    return x\n", &[("    return x\n", -0.1)], 4)),
        Ok(output("    y = x\n", &[("    y = x\n", -0.5)], 4)),
        Err(EngineError::Backend("a slot failed".into())),
    ];
    let Step::Done(c) = p.advance(&input(), ranks).unwrap() else {
        panic!("the rescue ends the pipeline");
    };
    assert_eq!(c.text, "    y = x\n");
    assert_eq!(c.raw, "    return x\n", "the first answer's raw text stays");
    assert_eq!(
        c.timings.generated_tokens,
        5 + 4 + 4,
        "every request counts"
    );
    // Nothing more to answer.
    assert!(p.advance(&input(), vec![]).is_err());
}

#[test]
fn no_rescue_when_it_is_off_or_the_answer_has_code() {
    let mut cfg = CompletionConfig::default();
    let (mut p, _) = start(&cfg, RunOptions::default());
    let step = p
        .advance(&input(), vec![Ok(output("    y = x\n", &[], 3))])
        .unwrap();
    assert!(matches!(step, Step::Done(ref c) if c.text == "    y = x\n"));
    cfg.rescue_candidates = 0;
    let (mut p, _) = start(&cfg, RunOptions::default());
    let step = p.advance(&input(), vec![Ok(output("", &[], 0))]).unwrap();
    assert!(matches!(step, Step::Done(ref c) if c.text.is_empty()));
}

#[test]
fn likelihood_reads_the_candidates_before_ranking_them() {
    let cfg = CompletionConfig {
        candidates: 3,
        candidate_ranking: Ranking::Likelihood,
        ..CompletionConfig::default()
    };
    let opts = RunOptions {
        key: Some("doc".into()),
        ..RunOptions::default()
    };
    let (mut p, step) = start(&cfg, opts.clone());
    let reqs = generation(step);
    assert_eq!(reqs.len(), 1, "side by side in one request");
    assert!(matches!(answers(&reqs[0]), Answers::Ranked { n: 3, .. }));
    let candidates = [
        ("    y = x\n", -0.1),
        ("    z = x\n", -0.2),
        ("    w = x\n", -0.3),
    ];
    let generated = || output("    y = x\n", &candidates, 9);
    let Step::Read(read) = p.advance(&input(), vec![Ok(generated())]).unwrap() else {
        panic!("expected a reading");
    };
    assert!(matches!(read.work, Work::Score(ref s) if s.texts.len() == 3));
    assert_eq!(read.key.as_deref(), Some("doc"));
    // The code after the hole reads best after the least confident one.
    let fit = |tail: f32| Fit {
        text: vec![-0.5],
        tail: vec![tail],
    };
    let mut reading = output("", &[], 0);
    reading.fits = vec![fit(-3.0), fit(-3.0), fit(-0.1)];
    reading.timings.evaluated_tokens = 30;
    let Step::Done(c) = p.advance(&input(), vec![Ok(reading)]).unwrap() else {
        panic!("done after the reading");
    };
    assert_eq!(c.text, "    w = x\n");
    assert_eq!(
        c.timings.evaluated_tokens, 30,
        "the reading counts as prompt work"
    );
    // A server cannot read: ranked by confidence instead, no error.
    let (mut p, _) = start(&cfg, opts.clone());
    p.advance(&input(), vec![Ok(generated())]).unwrap();
    let unsupported = Err(EngineError::Unsupported("no scores".into()));
    let Step::Done(c) = p.advance(&input(), vec![unsupported]).unwrap() else {
        panic!("done without the reading");
    };
    assert_eq!(c.text, "    y = x\n");
    // A cancelled reading is the caller's: it comes back as an error.
    let (mut p, _) = start(&cfg, opts);
    p.advance(&input(), vec![Ok(generated())]).unwrap();
    let cancelled = Err(EngineError::Cancelled(crate::engine::CancelReason::Caller));
    assert!(p.advance(&input(), vec![cancelled]).is_err());
}
