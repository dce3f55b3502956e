//! What a run of eval tasks scored: one outcome per task, a row per task kind (exact match,
//! similarity, parses, empty answers, latency, tokens per second), and the task-by-task
//! comparison of two configurations with a sign test.

use std::collections::BTreeMap;

use super::{TaskKind, sign_test};
use crate::bench::{mean, percentile};
use crate::engine::Timings;

/// One task kind's scores over a run (fractions in 0..=1, latencies in ms).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Row {
    pub tasks: usize,
    pub exact: f64,
    /// Tasks where the answer or one of the other candidates shown with it is exactly
    /// right: what a perfect ranking of the candidates would score (equals `exact` with
    /// one candidate).
    pub exact_any: f64,
    pub similarity: f64,
    pub parses: f64,
    pub empty: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub prompt_tokens: f64,
    /// Generated tokens per second of generation time, over the kind's tasks.
    pub generate_tps: f64,
    /// Draft tokens the model kept, over those it checked.
    pub draft_accepted: f64,
}

/// How one task went.
pub struct Outcome {
    pub kind: TaskKind,
    pub exact: bool,
    /// The answer or one of its alternatives is exactly right.
    pub exact_any: bool,
    pub similarity: f64,
    pub parses: bool,
    pub empty: bool,
    pub ms: f64,
    pub prompt_tokens: f64,
    pub timings: Timings,
}

/// What a completion is scored on: a whole line and a remainder are single-line answers,
/// so only the first line counts.
pub fn answer(kind: TaskKind, text: &str) -> String {
    match kind {
        TaskKind::Block => text.to_string(),
        _ => text.lines().next().unwrap_or("").to_string(),
    }
}

/// Scores per task kind.
pub fn rows(outcomes: &[Outcome]) -> BTreeMap<TaskKind, Row> {
    let mut by: BTreeMap<TaskKind, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by.entry(o.kind).or_default().push(o);
    }
    by.into_iter()
        .map(|(k, os)| {
            let n = os.len() as f64;
            let frac = |f: &dyn Fn(&Outcome) -> bool| os.iter().filter(|o| f(o)).count() as f64 / n;
            let ms: Vec<f64> = os.iter().map(|o| o.ms).collect();
            (
                k,
                Row {
                    tasks: os.len(),
                    exact: frac(&|o| o.exact),
                    exact_any: frac(&|o| o.exact || o.exact_any),
                    similarity: mean(&os.iter().map(|o| o.similarity).collect::<Vec<_>>()),
                    parses: frac(&|o| o.parses),
                    empty: frac(&|o| o.empty),
                    p50_ms: percentile(&ms, 50.0),
                    p95_ms: percentile(&ms, 95.0),
                    prompt_tokens: mean(&os.iter().map(|o| o.prompt_tokens).collect::<Vec<_>>()),
                    generate_tps: {
                        let sum =
                            |f: fn(&Timings) -> f64| os.iter().map(|o| f(&o.timings)).sum::<f64>();
                        let ms = sum(|t| t.generate_ms);
                        if ms > 0.0 {
                            sum(|t| t.generated_tokens as f64) * 1000.0 / ms
                        } else {
                            0.0
                        }
                    },
                    draft_accepted: {
                        let drafted: u32 = os.iter().map(|o| o.timings.drafted_tokens).sum();
                        let accepted: u32 = os.iter().map(|o| o.timings.accepted_tokens).sum();
                        if drafted > 0 {
                            accepted as f64 / drafted as f64
                        } else {
                            0.0
                        }
                    },
                },
            )
        })
        .collect()
}

/// How two configurations compare on the same tasks, one kind.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Paired {
    pub a_better: usize,
    pub b_better: usize,
    pub same: usize,
    pub exact_only_a: usize,
    pub exact_only_b: usize,
    /// Two-sided sign test on the tasks where the two differ.
    pub sign_p: f64,
}

/// Task-by-task comparison of two runs over the same tasks (same order).
pub fn paired(a: &[Outcome], b: &[Outcome]) -> BTreeMap<TaskKind, Paired> {
    let mut by: BTreeMap<TaskKind, Paired> = BTreeMap::new();
    for (x, y) in a.iter().zip(b) {
        let p = by.entry(x.kind).or_default();
        let d = x.similarity - y.similarity;
        if d > 1e-9 {
            p.a_better += 1;
        } else if d < -1e-9 {
            p.b_better += 1;
        } else {
            p.same += 1;
        }
        p.exact_only_a += usize::from(x.exact && !y.exact);
        p.exact_only_b += usize::from(y.exact && !x.exact);
    }
    for p in by.values_mut() {
        p.sign_p = sign_test(p.a_better, p.b_better);
    }
    by
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: TaskKind, similarity: f64, ms: f64) -> Outcome {
        Outcome {
            kind,
            exact: similarity == 1.0,
            exact_any: similarity == 1.0,
            similarity,
            parses: true,
            empty: similarity == 0.0,
            ms,
            prompt_tokens: 10.0,
            timings: Timings {
                generated_tokens: 10,
                generate_ms: 500.0,
                ..Timings::default()
            },
        }
    }

    #[test]
    fn rows_score_each_kind_apart() {
        let r = rows(&[
            outcome(TaskKind::Line, 1.0, 100.0),
            outcome(TaskKind::Line, 0.0, 300.0),
            outcome(TaskKind::Block, 0.5, 50.0),
        ]);
        let line = &r[&TaskKind::Line];
        assert_eq!(line.tasks, 2);
        assert_eq!(line.exact, 0.5);
        assert_eq!(line.empty, 0.5);
        assert_eq!(line.similarity, 0.5);
        assert_eq!(line.generate_tps, 20.0);
        assert_eq!(line.draft_accepted, 0.0);
        assert_eq!(r[&TaskKind::Block].tasks, 1);
        let json = serde_json::to_value(&r).unwrap();
        assert!(
            json.get("line").is_some() && json.get("block").is_some(),
            "{json}"
        );
    }

    #[test]
    fn paired_counts_who_won_each_task() {
        let a = [
            outcome(TaskKind::Line, 1.0, 1.0),
            outcome(TaskKind::Line, 0.4, 1.0),
            outcome(TaskKind::Line, 0.2, 1.0),
            outcome(TaskKind::CrossFile, 0.3, 1.0),
        ];
        let b = [
            outcome(TaskKind::Line, 0.5, 1.0),
            outcome(TaskKind::Line, 0.4, 1.0),
            outcome(TaskKind::Line, 0.9, 1.0),
            outcome(TaskKind::CrossFile, 1.0, 1.0),
        ];
        let p = paired(&a, &b);
        let line = &p[&TaskKind::Line];
        assert_eq!((line.a_better, line.b_better, line.same), (1, 1, 1));
        assert_eq!((line.exact_only_a, line.exact_only_b), (1, 0));
        assert_eq!(line.sign_p, 1.0);
        assert_eq!(p[&TaskKind::CrossFile].exact_only_b, 1);
        // Kinds are keyed by their command-line names in JSON.
        let json = serde_json::to_value(&p).unwrap();
        assert!(json.get("cross-file").is_some(), "{json}");
    }

    #[test]
    fn only_the_first_line_of_a_line_answer_counts() {
        assert_eq!(answer(TaskKind::Line, "a\nb"), "a");
        assert_eq!(answer(TaskKind::WholeLine, "a\nb"), "a");
        assert_eq!(answer(TaskKind::Block, "a\nb"), "a\nb");
    }
}
