//! A document's recent edits as small before/after hunks, merged as typing goes on: the
//! evidence a next-edit suggestion is drawn from.
//!
//! Invariants:
//! - Hunks are in the order they were made, the most recent last; their offsets are in the
//!   document's current text (an edit before a hunk moves it, an edit that overlaps an older
//!   hunk drops that hunk: what the user retyped there is the newer hunk's).
//! - `text[start..start + new.len()] == new` for every hunk, `old` is what was there before.
//! - An edit that touches or overlaps the most recent hunk extends it (typing a name letter
//!   by letter is one hunk `count` → `total`, not five).

use std::collections::VecDeque;

/// Most hunks kept per document.
const KEEP: usize = 16;

/// A hunk larger than this (a paste, a reformat, a file reloaded) is not kept, and the
/// history before it goes: no rule reads such edits, and a document of megabytes must not
/// keep copies of itself.
const MAX_HUNK: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    /// Byte offset in the current text where `new` starts.
    pub start: usize,
    /// The text the edit replaced.
    pub old: String,
    /// The text there now.
    pub new: String,
}

impl Hunk {
    /// Byte range of `new` in the current text.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.new.len()
    }
}

#[derive(Clone, Debug, Default)]
pub struct History {
    hunks: VecDeque<Hunk>,
}

impl History {
    /// The hunks, oldest first.
    pub fn hunks(&self) -> impl DoubleEndedIterator<Item = &Hunk> {
        self.hunks.iter()
    }

    pub fn last(&self) -> Option<&Hunk> {
        self.hunks.back()
    }

    /// Records the change of a document from `before` to `after` (one `didChange`, any
    /// number of content changes: the difference is found here).
    pub fn record(&mut self, before: &str, after: &str) {
        let Some((mut start, mut end_before, mut end_after)) = difference(before, after) else {
            return;
        };
        // An insertion or deletion that could as well have been made touching the last hunk
        // is taken there: `)` typed before a `)` is found after it by the difference, and
        // would split `, len(a)` into two hunks.
        if let Some(last) = self.hunks.back() {
            let he = last.start + last.new.len();
            let (mut s, mut eb, mut ea) = (start, end_before, end_after);
            while (eb == s || ea == s) && s > he {
                let changed = if eb == s {
                    &after[s..ea]
                } else {
                    &before[s..eb]
                };
                let (Some(c), Some(l)) =
                    (before[..s].chars().next_back(), changed.chars().next_back())
                else {
                    break;
                };
                if c != l {
                    break;
                }
                (s, eb, ea) = (s - c.len_utf8(), eb - c.len_utf8(), ea - c.len_utf8());
            }
            if s == he {
                (start, end_before, end_after) = (s, eb, ea);
            }
        }
        let delta = after.len() as isize - before.len() as isize;
        // Older hunks: moved by an edit before them, dropped when it overlaps them.
        let n = self.hunks.len();
        let mut merged = None;
        let mut kept = VecDeque::with_capacity(n + 1);
        for (i, h) in self.hunks.drain(..).enumerate() {
            let (hs, he) = (h.start, h.start + h.new.len());
            let touches = start <= he && end_before >= hs;
            if i + 1 == n && touches {
                merged = Some(h);
            } else if start >= he {
                kept.push_back(h);
            } else if end_before <= hs {
                kept.push_back(Hunk {
                    start: (hs as isize + delta) as usize,
                    ..h
                });
            }
        }
        let hunk = match merged {
            Some(h) => {
                // The union of the old hunk and this edit, in `before`'s offsets.
                let (hs, he) = (h.start, h.start + h.new.len());
                let (lo, hi) = (hs.min(start), he.max(end_before));
                let old = format!("{}{}{}", &before[lo..hs], h.old, &before[he..hi]);
                let new = after[lo..(hi as isize + delta) as usize].to_string();
                Hunk {
                    start: lo,
                    old,
                    new,
                }
            }
            None => Hunk {
                start,
                old: before[start..end_before].to_string(),
                new: after[start..end_after].to_string(),
            },
        };
        if hunk.old.len() > MAX_HUNK || hunk.new.len() > MAX_HUNK {
            kept.clear();
        } else if hunk.old != hunk.new {
            kept.push_back(hunk);
        }
        while kept.len() > KEEP {
            kept.pop_front();
        }
        self.hunks = kept;
    }
}

/// Where `before` and `after` differ: `(start, end in before, end in after)`, on character
/// boundaries of both; `None` when they are equal.
pub fn difference(before: &str, after: &str) -> Option<(usize, usize, usize)> {
    if before == after {
        return None;
    }
    let (b, a) = (before.as_bytes(), after.as_bytes());
    let mut start = b.iter().zip(a).take_while(|(x, y)| x == y).count();
    while !before.is_char_boundary(start) || !after.is_char_boundary(start) {
        start -= 1;
    }
    let most = b.len().min(a.len()) - start;
    let mut tail = b
        .iter()
        .rev()
        .zip(a.iter().rev())
        .take(most)
        .take_while(|(x, y)| x == y)
        .count();
    while !before.is_char_boundary(b.len() - tail) || !after.is_char_boundary(a.len() - tail) {
        tail -= 1;
    }
    Some((start, b.len() - tail, a.len() - tail))
}
