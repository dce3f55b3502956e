//! Draft tokens for speculative decoding, taken from text the model has at hand (prompt
//! lookup): the last few tokens generated are looked up in the prompt, in what this
//! request generated so far and in recent answers, and the tokens that followed them there
//! are the draft. The model then checks the whole draft in one decode and keeps the part
//! it agrees with, so greedy output is what it would have been token by token.
//!
//! Code is repetitive (names, argument lists, a docstring's words, the suffix the model
//! is filling up to), so drafts are often right; a wrong one costs one slightly larger
//! decode on a CPU and almost nothing on a GPU.

use std::collections::VecDeque;

/// How drafts are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftConfig {
    /// Most tokens proposed at once; 0 turns speculation off.
    pub max: usize,
    /// The longest and shortest run of recent tokens matched against the history.
    pub ngram_max: usize,
    pub ngram_min: usize,
}

impl Default for DraftConfig {
    fn default() -> Self {
        DraftConfig {
            max: 8,
            ngram_max: 4,
            ngram_min: 2,
        }
    }
}

impl DraftConfig {
    pub const OFF: DraftConfig = DraftConfig {
        max: 0,
        ngram_max: 4,
        ngram_min: 2,
    };
}

/// Proposes up to `max` tokens to follow `tail` (the prompt and what was generated so
/// far, in order), from the most recent earlier place in `sources` where the last
/// `ngram_max` .. `ngram_min` tokens of `tail` appear. `tail` itself is searched first,
/// then each of `others` (recent answers), newest first.
pub fn propose<T: Copy + PartialEq>(
    tail: &[T],
    others: &[&[T]],
    cfg: &DraftConfig,
    max: usize,
) -> Vec<T> {
    let max = max.min(cfg.max);
    if max == 0 || cfg.ngram_min == 0 {
        return Vec::new();
    }
    for n in (cfg.ngram_min..=cfg.ngram_max).rev() {
        if tail.len() < n {
            continue;
        }
        let key = &tail[tail.len() - n..];
        // In `tail`: an earlier occurrence (not the key itself), most recent first.
        if let Some(found) = find_last(&tail[..tail.len() - 1], key) {
            let from = found + n;
            let end = (from + max).min(tail.len());
            if from < end {
                return tail[from..end].to_vec();
            }
        }
        for other in others {
            if let Some(found) = find_last(other, key) {
                let from = found + n;
                let end = (from + max).min(other.len());
                if from < end {
                    return other[from..end].to_vec();
                }
            }
        }
    }
    Vec::new()
}

/// Start of the last occurrence of `key` in `hay`.
fn find_last<T: PartialEq>(hay: &[T], key: &[T]) -> Option<usize> {
    if key.is_empty() || hay.len() < key.len() {
        return None;
    }
    (0..=hay.len() - key.len())
        .rev()
        .find(|&i| hay[i..i + key.len()] == *key)
}

/// The last few answers, searched for drafts after the current prompt.
#[derive(Debug)]
pub struct Recent<T> {
    answers: VecDeque<Vec<T>>,
    cap: usize,
}

impl<T: Clone> Recent<T> {
    pub fn new(cap: usize) -> Self {
        Recent {
            answers: VecDeque::with_capacity(cap),
            cap,
        }
    }

    pub fn push(&mut self, answer: &[T]) {
        if answer.is_empty() || self.cap == 0 {
            return;
        }
        if self.answers.len() == self.cap {
            self.answers.pop_back();
        }
        self.answers.push_front(answer.to_vec());
    }

    /// Newest first.
    pub fn slices(&self) -> Vec<&[T]> {
        self.answers.iter().map(Vec::as_slice).collect()
    }
}

/// How a request's drafts fared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DraftStats {
    /// Tokens proposed and checked by the model.
    pub drafted: u32,
    /// Of those, tokens the model agreed with (generated without a decode of their own).
    pub accepted: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: DraftConfig = DraftConfig {
        max: 4,
        ngram_max: 3,
        ngram_min: 1,
    };

    #[test]
    fn continues_the_latest_earlier_match() {
        // ... a b c x y | ... a b c p q | a b c  -> p q (the most recent match)
        let tail = [1, 2, 3, 9, 8, 0, 1, 2, 3, 7, 6, 0, 1, 2, 3];
        assert_eq!(propose(&tail, &[], &CFG, 4), vec![7, 6, 0, 1]);
        // Capped by the request's room.
        assert_eq!(propose(&tail, &[], &CFG, 2), vec![7, 6]);
    }

    #[test]
    fn longer_matches_win_over_recency() {
        // The 3-gram [5 1 2] appears early; the 1-gram [2] appears later too.
        let tail = [5, 1, 2, 40, 41, 2, 50, 9, 5, 1, 2];
        assert_eq!(propose(&tail, &[], &CFG, 2), vec![40, 41]);
    }

    #[test]
    fn recent_answers_are_searched_after_the_tail() {
        let tail = [7, 8, 9];
        let old: &[i32] = &[1, 8, 9, 10, 11];
        assert_eq!(propose(&tail, &[old], &CFG, 4), vec![10, 11]);
        let mut recent = Recent::new(2);
        recent.push(&[1, 2]);
        recent.push(&[3, 4]);
        recent.push(&[5, 6]);
        assert_eq!(recent.slices(), vec![&[5, 6][..], &[3, 4][..]]);
    }

    #[test]
    fn nothing_to_propose() {
        assert!(propose(&[1, 2, 3], &[], &CFG, 4).is_empty());
        assert!(propose::<i32>(&[], &[], &CFG, 4).is_empty());
        assert!(propose(&[1, 1, 1], &[], &DraftConfig::OFF, 4).is_empty());
        // A match at the very end proposes nothing beyond it.
        assert_eq!(propose(&[4, 4], &[], &CFG, 4), vec![4]);
    }
}
