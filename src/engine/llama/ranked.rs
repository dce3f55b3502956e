//! How each ranked candidate picks its tokens ([`Answers::Ranked`] in one context,
//! [`Answers::Rank`] in batch slots): the first is the greedy answer; the others
//! follow it through its leading indentation and leave it where the code starts, by the
//! next most likely token there or, with a candidate temperature, by sampling every token
//! from there on.
//!
//! [`Answers::Ranked`]: crate::engine::Answers::Ranked
//! [`Answers::Rank`]: crate::engine::Answers::Rank

use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::vocab::LlamaVocab;

use super::argmax;
use crate::engine::CANDIDATE_TOP_K;

/// One candidate's way of picking tokens.
#[derive(Debug, Clone)]
pub(super) struct Ranked {
    /// 0 for the greedy answer.
    rank: usize,
    branch: Branch,
    /// Sampling temperature of an alternative and its random state (`None`: the
    /// `rank`-th most likely token where it branches, greedy after).
    sample: Option<(f32, u64)>,
}

/// Where a candidate stands: still on the greedy path, or branched off it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch {
    /// Follows the greedy answer through its leading indentation.
    Pending,
    Taken,
}

impl Ranked {
    /// The candidate of `rank` (0: the greedy one). With `temperature` above 0 the ones
    /// after the first sample at it, each from its own seed (`seed` and its rank), so a
    /// run repeats.
    pub(super) fn new(rank: usize, temperature: f32, seed: u64) -> Self {
        Ranked {
            rank,
            branch: Branch::Pending,
            sample: (rank > 0 && temperature > 0.0).then(|| {
                (
                    temperature,
                    splitmix64(seed ^ (rank as u64).wrapping_mul(PHI)),
                )
            }),
        }
    }

    /// The next token, given the candidate's text so far. A candidate after the first
    /// follows the greedy answer while that only indents (spaces and tabs), then leaves
    /// it: the alternatives of a first token at a line start are mostly other indentation
    /// that leads to the same line, so the branch is where the code starts. It takes the
    /// `rank`-th most likely token there (end-of-generation only as the greedy one's) and
    /// is greedy after, or samples from there on. Until it has written more than
    /// whitespace it does not end.
    pub(super) fn pick(
        &mut self,
        logits: &[f32],
        text: &str,
        ignore_eog: bool,
        vocab: &LlamaVocab<'_>,
    ) -> LlamaToken {
        let top = argmax(logits);
        if self.rank == 0 {
            return top;
        }
        let blank = text.trim().is_empty();
        let end_allowed = ignore_eog || !blank;
        if self.branch == Branch::Pending {
            if blank
                && !vocab.is_eog(top)
                && is_indentation(&vocab.token_to_piece(top, false, None))
            {
                return top;
            }
            self.branch = Branch::Taken;
            if self.sample.is_none() {
                return first_tokens(logits, self.rank + 1, ignore_eog, vocab)
                    .last()
                    .copied()
                    .unwrap_or(top);
            }
        }
        if let Some((temperature, state)) = self.sample.as_mut() {
            return sample(logits, *temperature, state, |t| {
                end_allowed || !vocab.is_eog(t)
            })
            .unwrap_or(top);
        }
        if !end_allowed && vocab.is_eog(top) {
            return first_tokens(logits, 2, ignore_eog, vocab)
                .last()
                .copied()
                .unwrap_or(top);
        }
        top
    }
}

/// The first tokens of `n` candidates: the most likely, then the next most likely that do
/// not end the answer at once (that is the greedy one's to give, not an alternative).
pub(super) fn first_tokens(
    logits: &[f32],
    n: usize,
    ignore_eog: bool,
    vocab: &LlamaVocab<'_>,
) -> Vec<LlamaToken> {
    let mut out = Vec::with_capacity(n);
    for t in top_tokens(logits, n + 8) {
        if out.is_empty() || ignore_eog || !vocab.is_eog(t) {
            out.push(t);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

/// A token drawn from the [`CANDIDATE_TOP_K`] most likely that `allowed` lets through, with
/// probabilities softened by `temperature`; `None` when none is allowed.
fn sample(
    logits: &[f32],
    temperature: f32,
    state: &mut u64,
    allowed: impl Fn(LlamaToken) -> bool,
) -> Option<LlamaToken> {
    let top: Vec<LlamaToken> = top_tokens(logits, CANDIDATE_TOP_K)
        .into_iter()
        .filter(|t| allowed(*t))
        .collect();
    let max = logits[top.first()?.0 as usize];
    let weights: Vec<f64> = top
        .iter()
        .map(|t| f64::from((logits[t.0 as usize] - max) / temperature).exp())
        .collect();
    *state = splitmix64(*state);
    // 53 random bits as a fraction in [0, 1).
    let mut at = (*state >> 11) as f64 / (1u64 << 53) as f64 * weights.iter().sum::<f64>();
    for (t, w) in top.iter().zip(&weights) {
        if at < *w {
            return Some(*t);
        }
        at -= w;
    }
    top.last().copied()
}

/// 2^64 / φ: spreads consecutive seeds apart.
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 step: a well-mixed 64-bit value from any state (Steele et al. 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(PHI);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// True for a token of spaces and tabs only.
fn is_indentation(piece: &[u8]) -> bool {
    !piece.is_empty() && piece.iter().all(|b| *b == b' ' || *b == b'\t')
}

/// The `k` tokens with the largest logits, largest first (the first of equals first).
fn top_tokens(logits: &[f32], k: usize) -> Vec<LlamaToken> {
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
    idx.select_nth_unstable_by(k - 1, cmp);
    idx.truncate(k);
    idx.sort_by(cmp);
    idx.into_iter().map(|i| LlamaToken(i as i32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_temperature() {
        let logits = [0.0f32, 2.0, 1.0, -1.0];
        let mut state = 7;
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            let t = sample(&logits, 1.0, &mut state, |_| true).unwrap();
            counts[t.0 as usize] += 1;
        }
        // Softmax of the logits: about 0.087, 0.644, 0.237, 0.032.
        assert!(counts[1] > counts[2] && counts[2] > counts[0] && counts[0] > counts[3]);
        assert!(
            (counts[1] as f64 / 4000.0 - 0.644).abs() < 0.05,
            "{counts:?}"
        );
        // A low temperature is nearly greedy.
        let mut cold = [0usize; 4];
        for _ in 0..1000 {
            cold[sample(&logits, 0.1, &mut state, |_| true).unwrap().0 as usize] += 1;
        }
        assert!(cold[1] > 990, "{cold:?}");
    }

    #[test]
    fn sampling_skips_what_is_not_allowed_and_repeats_from_a_seed() {
        let logits = [5.0f32, 1.0, 0.0];
        let mut state = 1;
        for _ in 0..200 {
            let t = sample(&logits, 1.0, &mut state, |t| t.0 != 0).unwrap();
            assert_ne!(t.0, 0);
        }
        assert_eq!(sample(&logits, 1.0, &mut state, |_| false), None);
        let draw = |seed| {
            let mut s = seed;
            (0..20)
                .map(|_| sample(&logits, 2.0, &mut s, |_| true).unwrap().0)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn top_tokens_are_ordered_and_stable() {
        let logits = [1.0f32, 3.0, 3.0, 2.0];
        let top: Vec<i32> = top_tokens(&logits, 3).into_iter().map(|t| t.0).collect();
        assert_eq!(top, vec![1, 2, 3]);
    }
}
