//! The KV-cache planner: when a new prompt replaces the cached one, which cells it keeps,
//! which it moves to new positions and what it decodes, written as a [`Plan`] of cell
//! operations without llama.cpp. [`super::LlamaRunner`] only executes plans; the tests
//! here execute them on a simulated cell store, for any sequence of prompts.
//!
//! The cache is llama.cpp's: cells of keys and values, each a token at a position in one
//! or more sequences. Sequence 0 holds the interactive prompt (and what was generated
//! after it); [`SCRATCH_SEQ`] is where an edit is decoded in front of moved cells, since
//! llama.cpp only decodes a sequence forward.
//!
//! # Invariants
//! Checked after every plan by `tests::plans_give_the_cells_of_a_fresh_read`:
//! 1. After a plan runs, sequence 0 holds one cell per prompt token, the `i`-th token at
//!    position `i`, and nothing else; the plan's last operation decodes the last token
//!    with its logits; [`Cache::cached`] is the prompt.
//! 2. The scratch sequence is empty after a plan.
//! 3. A cell whose keys were computed with other tokens in front of it than it has now (a
//!    moved cell: an approximation) lies at or after the `from` of [`Cache::stale`] or of
//!    [`Cache::head_stale`], which count the tokens changed in front of their moved cells:
//!    never more than [`MAX_STALE`] each. A plain read from in front of them clears them.
//! 4. The common prefix of the old and new prompts is kept: no token in front of the
//!    first difference is decoded again (but the last one when the prompts are equal:
//!    its logits are needed anew).
//! 5. Of a moved suffix, the first `fresh` tokens after the edit are decoded afresh.

use crate::engine::{common_prefix, common_suffix};

/// Tokens decoded in front of a reused (shifted) suffix before it is decoded afresh.
pub(super) const MAX_STALE: usize = 256;
/// A suffix shorter than this is decoded rather than shifted.
const MIN_SHIFTED: usize = 16;
/// Most tokens decoded in front of a moved suffix (one decode, not cancelled midway).
const MAX_MIDDLE: usize = 2 * super::PROMPT_CHUNK;
/// A run of the previous prompt shorter than this is not moved behind a changed head.
const MIN_MOVED_RUN: usize = 64;
/// Runs moved for one prompt at most (each a change in front of the cursor).
const MAX_MOVES: usize = 4;
/// Most tokens of a changed head decoded in front of a moved run: a context change of
/// more is read afresh with the rest.
const MAX_MOVED_HEAD: usize = 4 * super::PROMPT_CHUNK;
/// Tokens changed in front of moved keys and values before a warm-up decodes them again
/// ([`crate::engine::Work::Prefill`]): a few keystrokes are not worth re-reading
/// a suffix of hundreds of tokens in every pause (a laptop's CPU and battery), a quarter
/// of [`MAX_STALE`] is.
pub(super) const REFRESH_AFTER: usize = MAX_STALE / 4;

/// The sequence an edit is decoded in before it becomes sequence 0 (also ranked
/// candidates' rank 1 and a batch's slot 1: both leave it empty).
pub(super) const SCRATCH_SEQ: i32 = 1;

/// One operation on the cell store, as llama.cpp's memory API has them. Positions are
/// half-open ranges; `None` as an end is "to the end".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op<T> {
    /// Removes sequence `seq`'s cells at positions `from..to`.
    Remove {
        seq: i32,
        from: usize,
        to: Option<usize>,
    },
    /// Moves sequence `seq`'s cells at positions `from..to` by `delta`.
    Shift {
        seq: i32,
        from: usize,
        to: usize,
        delta: isize,
    },
    /// Sequence `dst` also holds `src`'s cells at positions `from..to` (shared cells,
    /// nothing is copied).
    Copy {
        src: i32,
        dst: i32,
        from: usize,
        to: Option<usize>,
    },
    /// Decodes `tokens` into sequence `seq` at positions `at..`, attending to the cells
    /// the sequence holds in front of them; the last with logits when `logits`.
    Decode {
        seq: i32,
        at: usize,
        tokens: Vec<T>,
        logits: bool,
    },
}

/// Tokens decoded in front of keys and values that were moved rather than decoded again,
/// and where the moved part starts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stale {
    pub tokens: usize,
    pub from: Option<usize>,
}

impl Stale {
    fn add(&mut self, changed: usize, at: usize) {
        self.tokens += changed;
        self.from = Some(self.from.map_or(at, |s| s.min(at)));
    }

    /// The prompt is decoded afresh from `keep` on.
    fn reread_from(&mut self, keep: usize) {
        if self.from.is_some_and(|s| keep <= s) {
            *self = Stale::default();
        }
    }

    /// The cache from `start` to `to` (of a prompt of `end` tokens) was decoded afresh:
    /// a stale part starting in there now starts at `to` (still counting what changed in
    /// front of it), or is gone when the rest was decoded too.
    fn refreshed(&mut self, start: usize, to: usize, end: usize) {
        if self.from.is_some_and(|s| start <= s && s < to) {
            if to >= end {
                *self = Stale::default();
            } else {
                self.from = Some(to);
            }
        }
    }

    /// An edit replaced the cells from `keep` up to `old_at` with freshly decoded ones
    /// and moved those from `old_at` on to `new_at`: a stale part starting in the
    /// replaced cells now starts where the moved ones do, one in the moved cells moved
    /// with them, one in front of the edit stays.
    fn edited(&mut self, keep: usize, old_at: usize, new_at: usize) {
        if let Some(s) = self.from.filter(|&s| s >= keep) {
            self.from = Some(if s >= old_at {
                s - old_at + new_at
            } else {
                new_at
            });
        }
    }
}

/// What sequence 0 holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cache<T> {
    /// Tokens whose keys and values are in sequence 0, in order: the last prompt, then
    /// what was generated after it.
    pub cached: Vec<T>,
    /// How many of `cached` the last prompt was.
    pub prompt_len: usize,
    /// Moved cells of the code after the cursor (the suffix), after typing.
    pub stale: Stale,
    /// Moved cells of the file behind a changed head (the context from other files).
    pub head_stale: Stale,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            cached: Vec::new(),
            prompt_len: 0,
            stale: Stale::default(),
            head_stale: Stale::default(),
        }
    }
}

/// How to bring the cache to a new prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan<T> {
    pub ops: Vec<Op<T>>,
    /// What sequence 0 holds once the operations ran.
    pub after: Cache<T>,
    /// Prompt tokens whose cells were kept or moved, not decoded.
    pub reused: usize,
}

/// Where a refresh of the moved cells starts, and the prompt's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refresh {
    pub from: usize,
    pub end: usize,
}

impl<T: Copy + PartialEq> Cache<T> {
    /// The plan that brings sequence 0 to `tokens` (at least one), reusing the common
    /// prefix. With `shift` (`Some(fresh)`), also the code after an edit: see
    /// [`Planner::shifted`]; `can_shift`: the model's memory can move cells.
    pub fn plan(&self, tokens: &[T], shift: Option<usize>, can_shift: bool) -> Plan<T> {
        assert!(!tokens.is_empty(), "a prompt has at least one token");
        let mut p = Planner {
            cache: self.clone(),
            ops: Vec::new(),
        };
        let reused = p.evaluate(tokens, shift.filter(|_| can_shift));
        Plan {
            ops: p.ops,
            after: p.cache,
            reused,
        }
    }

    /// The plan of reading `tokens` with nothing reused (after the cache was cleared).
    /// Tokens [`Cache::plan`] would decode to bring sequence 0 to `tokens`.
    pub fn cost(&self, tokens: &[T], shift: Option<usize>, can_shift: bool) -> usize {
        self.plan(tokens, shift, can_shift)
            .ops
            .iter()
            .map(|op| match op {
                Op::Decode { tokens, .. } => tokens.len(),
                _ => 0,
            })
            .sum()
    }

    pub fn fresh_read(tokens: &[T]) -> Plan<T> {
        Cache::default().plan(tokens, None, false)
    }

    /// Where a warm-up should decode the moved cells again: when more than
    /// [`REFRESH_AFTER`] tokens changed in front of them, from where they start to the
    /// prompt's end. `room`: cells the context has (the old cells stay until the swap).
    pub fn refresh(&self, room: usize) -> Option<Refresh> {
        let end = self.prompt_len.min(self.cached.len());
        let from = [self.stale, self.head_stale]
            .iter()
            .filter(|s| s.tokens > REFRESH_AFTER)
            .filter_map(|s| s.from)
            .min()
            .filter(|&f| f < end)?;
        (self.cached.len() + (end - from) <= room).then_some(Refresh { from, end })
    }
}

impl Refresh {
    /// Before the refresh decodes: what was generated after the prompt goes, and the
    /// scratch sequence holds the cells in front of the moved ones.
    pub fn start<T>(&self) -> Vec<Op<T>> {
        vec![
            Op::Remove {
                seq: 0,
                from: self.end,
                to: None,
            },
            Op::Remove {
                seq: SCRATCH_SEQ,
                from: 0,
                to: None,
            },
            Op::Copy {
                src: 0,
                dst: SCRATCH_SEQ,
                from: 0,
                to: Some(self.from),
            },
        ]
    }

    /// One step: `tokens` (the cached prompt's, from `at`) decoded again into scratch.
    pub fn step<T: Copy>(&self, cached: &[T], at: usize, n: usize) -> Op<T> {
        Op::Decode {
            seq: SCRATCH_SEQ,
            at,
            tokens: cached[at..at + n].to_vec(),
            logits: false,
        }
    }

    /// After the steps, stopped at `to`: the old cells from there on join scratch, which
    /// becomes sequence 0.
    pub fn finish<T>(&self, to: usize) -> Vec<Op<T>> {
        let mut ops = Vec::new();
        if to < self.end {
            ops.push(Op::Copy {
                src: 0,
                dst: SCRATCH_SEQ,
                from: to,
                to: Some(self.end),
            });
        }
        ops.extend(swap_scratch());
        ops
    }

    /// The cache after a refresh that decoded the prompt again up to `to`.
    pub fn after<T: Clone>(&self, cache: &Cache<T>, to: usize) -> Cache<T> {
        let mut c = cache.clone();
        c.cached.truncate(self.end);
        c.prompt_len = c.prompt_len.min(self.end);
        for stale in [&mut c.stale, &mut c.head_stale] {
            stale.refreshed(self.from, to, self.end);
        }
        c
    }
}

/// Sequence 0 becomes the scratch sequence (the cells are shared, nothing is copied).
fn swap_scratch<T>() -> [Op<T>; 3] {
    [
        Op::Remove {
            seq: 0,
            from: 0,
            to: None,
        },
        Op::Copy {
            src: SCRATCH_SEQ,
            dst: 0,
            from: 0,
            to: None,
        },
        Op::Remove {
            seq: SCRATCH_SEQ,
            from: 0,
            to: None,
        },
    ]
}

/// Builds a plan, keeping track of what the cache holds after each operation.
struct Planner<T> {
    cache: Cache<T>,
    ops: Vec<Op<T>>,
}

impl<T: Copy + PartialEq> Planner<T> {
    /// See [`Cache::plan`]; returns how many tokens were reused.
    fn evaluate(&mut self, tokens: &[T], shift: Option<usize>) -> usize {
        let mut keep = common_prefix(&self.cache.cached, tokens);
        if keep == tokens.len() {
            // The last token must be decoded again to get its logits.
            keep -= 1;
        }
        let Some(fresh) = shift else {
            return self.read(tokens, keep);
        };
        if let Some(reused) = self.shifted(tokens, keep, fresh, false) {
            return reused;
        }
        // The prompt also changed far in front of the cursor (the context from other
        // files at its head): move the old prompt from the longest run both share near
        // the head behind the new head, until the edit at the cursor is the usual one.
        let mut decoded = 0;
        for _ in 0..MAX_MOVES {
            let Some(head) = self.move_common_run(tokens, keep) else {
                break;
            };
            decoded += head;
            keep = common_prefix(&self.cache.cached, tokens).min(tokens.len() - 1);
            if let Some(reused) = self.shifted(tokens, keep, fresh, false) {
                return reused.saturating_sub(decoded);
            }
        }
        // The head's tokens were decoded, not reused.
        self.read(tokens, keep).saturating_sub(decoded)
    }

    /// Decodes `tokens` from `keep` on, after what the cache holds up to there; returns
    /// `keep`.
    fn read(&mut self, tokens: &[T], keep: usize) -> usize {
        let c = &mut self.cache;
        if keep < c.cached.len() {
            self.ops.push(Op::Remove {
                seq: 0,
                from: keep,
                to: None,
            });
            c.cached.truncate(keep);
        }
        // Everything reused stale from `keep` on is decoded afresh now.
        c.stale.reread_from(keep);
        c.head_stale.reread_from(keep);
        self.ops.push(Op::Decode {
            seq: 0,
            at: keep,
            tokens: tokens[keep..].to_vec(),
            logits: true,
        });
        c.cached.extend_from_slice(&tokens[keep..]);
        c.prompt_len = tokens.len();
        keep
    }

    /// When the previous prompt and `tokens` differ in two places (the context from other
    /// files at the head changed, and the user typed at the cursor), the single edit of
    /// [`Self::shifted`] spans the whole file between them. This moves the longest run of
    /// tokens both share in front of their common end, starting near the first
    /// difference (the file up to the cursor; [`best_run`]), behind the new head first,
    /// as if the head were the only edit: the cache then holds the new head and the old
    /// prompt from that run on. The tokens it decoded, when it did.
    ///
    /// The moved run was computed attending to the old head: the same approximation as
    /// a moved suffix, counted against the same bound.
    fn move_common_run(&mut self, tokens: &[T], keep: usize) -> Option<usize> {
        let c = &self.cache;
        let old_end = c.prompt_len.min(c.cached.len());
        if keep + 1 >= tokens.len() || keep + 1 >= old_end {
            return None;
        }
        let (old, new) = (
            &c.cached[keep..old_end - 1],
            &tokens[keep..tokens.len() - 1],
        );
        // Not the end both share (the suffix): that is the usual edit's to move, and when
        // it did not, its staleness bound asked for it to be read again.
        let tail = common_suffix(old, new);
        let (a, b) = best_run(
            &old[..old.len() - tail],
            &new[..new.len() - tail],
            MIN_MOVED_RUN,
            MAX_MOVED_HEAD,
        )?;
        // The new head, then the old prompt from the run on.
        let mut between = tokens[..keep + b].to_vec();
        between.extend_from_slice(&c.cached[keep + a..old_end]);
        let n = between.len();
        let moved = self.shifted(&between, keep, 0, true)?;
        Some(n - moved)
    }

    /// Reuses the end of the previous prompt after an edit in its middle: when the user
    /// types at the cursor, a fill-in-the-middle prompt changes at the end of its prefix
    /// while everything after (the suffix) stays the same. The suffix's cells are kept
    /// and moved to their new positions (a RoPE shift); only the edited middle and the
    /// final token are decoded.
    ///
    /// This is an approximation: the moved suffix was computed attending to the old text
    /// before it. It is bounded: the first `fresh` tokens after the edit are always
    /// decoded afresh, and after [`MAX_STALE`] tokens changed in front of a moved suffix
    /// the whole suffix is. `head`: the edit is a changed head ([`Self::move_common_run`]),
    /// counted in [`Cache::head_stale`]. `None` when it does not apply.
    fn shifted(&mut self, tokens: &[T], keep: usize, fresh: usize, head: bool) -> Option<usize> {
        let max_middle = if head { MAX_MOVED_HEAD } else { MAX_MIDDLE };
        let c = &mut self.cache;
        let n = tokens.len();
        let old_end = c.prompt_len.min(c.cached.len());
        if keep + 1 >= n || keep + 1 >= old_end {
            return None;
        }
        // Both prompts without their final token (the same `<|fim_middle|>`, whose logits
        // are needed anew).
        let old = &c.cached[keep..old_end - 1];
        let new = &tokens[keep..n - 1];
        let common = common_suffix(old, new);
        // The code right after the cursor is decoded afresh: it is what the edit changes
        // the meaning of most. Only the farther suffix is moved.
        let k = common.saturating_sub(fresh);
        let middle = new.len() - k;
        // Tokens the moved suffix has not seen: the edit itself.
        let changed = middle - (common - k);
        let budget = if head { &c.head_stale } else { &c.stale };
        if k < MIN_SHIFTED || budget.tokens + changed > MAX_STALE || middle > max_middle {
            return None;
        }
        let chunk_old = old_end - 1 - k;
        let chunk_new = n - 1 - k;
        let delta = chunk_new as isize - chunk_old as isize;
        // The edited middle cannot be decoded into sequence 0 in front of the moved
        // suffix (llama.cpp decodes a sequence forward). It is decoded in the scratch
        // sequence, which shares the prefix's cells; the suffix's cells are added to it;
        // the final token is decoded there; then sequence 0 becomes the scratch sequence.
        // 1. Drop the old final token and what was generated, then the old middle; move
        //    the suffix to its new positions.
        self.ops.push(Op::Remove {
            seq: 0,
            from: old_end - 1,
            to: None,
        });
        self.ops.push(Op::Remove {
            seq: 0,
            from: keep,
            to: Some(chunk_old),
        });
        if delta != 0 {
            self.ops.push(Op::Shift {
                seq: 0,
                from: chunk_old,
                to: old_end - 1,
                delta,
            });
        }
        // 2. The prefix into the scratch sequence, and the middle decoded after it.
        self.ops.push(Op::Remove {
            seq: SCRATCH_SEQ,
            from: 0,
            to: None,
        });
        self.ops.push(Op::Copy {
            src: 0,
            dst: SCRATCH_SEQ,
            from: 0,
            to: Some(keep),
        });
        if chunk_new > keep {
            self.ops.push(Op::Decode {
                seq: SCRATCH_SEQ,
                at: keep,
                tokens: tokens[keep..chunk_new].to_vec(),
                logits: false,
            });
        }
        // 3. The moved suffix joins it; the final token is decoded with logits.
        self.ops.push(Op::Copy {
            src: 0,
            dst: SCRATCH_SEQ,
            from: chunk_new,
            to: Some(n - 1),
        });
        self.ops.push(Op::Decode {
            seq: SCRATCH_SEQ,
            at: n - 1,
            tokens: vec![tokens[n - 1]],
            logits: true,
        });
        // 4. Sequence 0 becomes the scratch sequence.
        self.ops.extend(swap_scratch());
        c.cached.clear();
        c.cached.extend_from_slice(tokens);
        c.prompt_len = n;
        // Both stale parts lost their cells from the edit to the moved ones (decoded
        // afresh) and moved with the rest.
        for stale in [&mut c.stale, &mut c.head_stale] {
            stale.edited(keep, chunk_old, chunk_new);
        }
        if head {
            c.head_stale.add(changed, chunk_new);
        } else {
            c.stale.add(changed, chunk_new);
        }
        tracing::debug!(
            keep,
            shifted = k,
            decoded = middle + 1,
            stale = c.stale.tokens,
            head_stale = c.head_stale.tokens,
            head,
            "reused the suffix, shifted"
        );
        Some(keep + k)
    }
}

/// Where the longest run of at least `min` tokens that `old` and `new` share, among
/// those that start in the first `max_start` tokens of `new`, starts in each. A run that
/// starts farther would leave more than that to decode in front of it; a longer one is
/// more reused (and a short run that matches some other place of `old`, code repeated
/// in the file, is not taken for the file itself).
fn best_run<T: PartialEq>(
    old: &[T],
    new: &[T],
    min: usize,
    max_start: usize,
) -> Option<(usize, usize)> {
    if min == 0 || old.len() < min || new.len() < min {
        return None;
    }
    let mut best: Option<(usize, usize, usize)> = None;
    // Length of the common run ending at old[i - 1], new[j - 1], by j, for the last row.
    let mut prev = vec![0u32; new.len() + 1];
    let mut cur = vec![0u32; new.len() + 1];
    for i in 1..=old.len() {
        for j in 1..=new.len() {
            cur[j] = if old[i - 1] == new[j - 1] {
                prev[j - 1] + 1
            } else {
                0
            };
            let n = cur[j] as usize;
            if n >= min && j - n <= max_start && best.is_none_or(|(_, _, b)| n > b) {
                best = Some((i - n, j - n, n));
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    best.map(|(a, b, _)| (a, b))
}

#[cfg(test)]
mod tests;
