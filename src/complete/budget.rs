//! Cutting the code around the cursor to a token budget, keeping whole lines.
//!
//! The partial line at the cursor is always kept (it is what the user is typing); whole
//! lines are then added outwards until the budget is spent. Suffix budget left unused goes
//! to the prefix, so a cursor near the end of a file gets more prefix. The suffix's share
//! never depends on the prefix: while the user types, the code after the cursor and so the
//! suffix's tokens stay the same (the server moves their KV cells instead of decoding
//! them again).
//!
//! The first line of a cut prefix snaps to a multiple of [`ANCHOR_LINES`]: otherwise every
//! keystroke that adds a token would push the window's start down a line, change the start
//! of the prompt, and throw away the whole KV cache. Snapped, the start moves once per
//! `ANCHOR_LINES` lines typed.

use crate::tokenizer::CountTokens;

/// The start of a cut prefix is a line whose number is a multiple of this.
pub const ANCHOR_LINES: usize = 16;

/// The code kept around the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window<'a> {
    pub prefix: &'a str,
    pub suffix: &'a str,
    pub prefix_tokens: usize,
    pub suffix_tokens: usize,
    /// True when lines were dropped before the prefix or after the suffix.
    pub prefix_cut: bool,
    pub suffix_cut: bool,
}

/// Splits `text` at `offset` and keeps at most `prefix_budget` + `suffix_budget` tokens.
pub fn window<'a>(
    text: &'a str,
    offset: usize,
    prefix_budget: usize,
    suffix_budget: usize,
    counter: &dyn CountTokens,
) -> Window<'a> {
    let (before, after) = text.split_at(offset);
    let total = prefix_budget + suffix_budget;
    let (suffix, suffix_tokens, suffix_cut) = take_suffix(after, suffix_budget, counter);
    let (prefix, prefix_tokens, prefix_cut) =
        take_prefix(before, total.saturating_sub(suffix_tokens), counter);
    Window {
        prefix,
        suffix,
        prefix_tokens,
        suffix_tokens,
        prefix_cut,
        suffix_cut,
    }
}

/// The longest tail of `before` made of whole lines (plus the partial line at the cursor)
/// that fits in `budget` tokens.
fn take_prefix<'a>(
    before: &'a str,
    budget: usize,
    counter: &dyn CountTokens,
) -> (&'a str, usize, bool) {
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut start = line_start;
    let mut used = counter.count(&before[line_start..]);
    if used > budget {
        // One enormous line (minified code): keep its end, cut at a character boundary.
        let mut cut = before.len().saturating_sub(budget * 3);
        while !before.is_char_boundary(cut) {
            cut += 1;
        }
        let kept = &before[cut..];
        return (kept, counter.count(kept), cut > 0);
    }
    let mut costs = Vec::new();
    while start > 0 {
        // The line ending at `start - 1` (its newline included).
        let prev_start = before[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        let cost = counter.count(&before[prev_start..start]);
        if used + cost > budget {
            break;
        }
        used += cost;
        costs.push((start, cost));
        start = prev_start;
    }
    if start > 0 {
        // Cut: snap the first line to an anchor, dropping a few more lines.
        let first_line = before[..start].matches('\n').count();
        let drop = (ANCHOR_LINES - first_line % ANCHOR_LINES) % ANCHOR_LINES;
        for _ in 0..drop {
            let Some((next, cost)) = costs.pop() else {
                break;
            };
            start = next;
            used -= cost;
        }
    }
    (&before[start..], used, start > 0)
}

/// The longest head of `after` made of the rest of the cursor's line plus whole lines that
/// fits in `budget` tokens.
fn take_suffix<'a>(
    after: &'a str,
    budget: usize,
    counter: &dyn CountTokens,
) -> (&'a str, usize, bool) {
    let first_end = after.find('\n').map_or(after.len(), |i| i + 1);
    let mut end = first_end;
    let mut used = counter.count(&after[..first_end]);
    if used > budget {
        let mut cut = (budget * 3).min(after.len());
        while !after.is_char_boundary(cut) {
            cut -= 1;
        }
        let kept = &after[..cut];
        return (kept, counter.count(kept), cut < after.len());
    }
    while end < after.len() {
        let next_end = after[end..].find('\n').map_or(after.len(), |i| end + i + 1);
        let cost = counter.count(&after[end..next_end]);
        if used + cost > budget {
            break;
        }
        used += cost;
        end = next_end;
    }
    (&after[..end], used, end < after.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per byte: makes budgets easy to reason about.
    struct Bytes;
    impl CountTokens for Bytes {
        fn count(&self, text: &str) -> usize {
            text.len()
        }
    }

    fn split(marked: &str, pre: usize, suf: usize) -> (String, String) {
        let off = marked.find("$0").unwrap();
        let text = marked.replace("$0", "");
        let w = window(&text, off, pre, suf, &Bytes);
        (w.prefix.to_string(), w.suffix.to_string())
    }

    #[test]
    fn keeps_everything_within_budget() {
        let (p, s) = split("a\nb$0c\nd\n", 100, 100);
        assert_eq!((p.as_str(), s.as_str()), ("a\nb", "c\nd\n"));
    }

    #[test]
    fn keeps_whole_lines_only() {
        // Prefix budget 6: "b" (1) + "lineA\n" (6) would be 7; only the cursor line fits.
        let (p, _) = split("lineA\nb$0\n", 6, 0);
        assert_eq!(p, "b");
        let (p, _) = split("lineA\nb$0\n", 7, 0);
        assert_eq!(p, "lineA\nb");
    }

    #[test]
    fn cut_prefix_starts_on_an_anchor_line() {
        let lines: String = (0..100).map(|i| format!("{i:03}\n")).collect();
        let text = format!("{lines}x$0");
        // 40 lines of 4 bytes fit; the start snaps from line 60 to line 64.
        let (p, _) = split(&text, 161, 0);
        assert!(p.starts_with("064\n"), "{p}");
        // Typing more does not move the start.
        let text2 = format!("{lines}xyz$0");
        let (p2, _) = split(&text2, 161, 0);
        assert!(p2.starts_with("064\n"), "{p2}");
    }

    #[test]
    fn unused_suffix_budget_goes_to_prefix() {
        let (p, s) = split("111\n222\n333\n4$0", 6, 10);
        assert_eq!(s, "");
        assert_eq!(p, "111\n222\n333\n4");
    }

    #[test]
    fn suffix_share_does_not_depend_on_the_prefix() {
        let (_, s1) = split("x$0a\nbb\ncc\ndd\n", 10, 5);
        let (_, s2) = split("xyz xyz$0a\nbb\ncc\ndd\n", 10, 5);
        assert_eq!(s1, "a\nbb\n");
        assert_eq!(s1, s2);
    }

    #[test]
    fn one_huge_line_is_cut_not_dropped() {
        let line = "x".repeat(1000);
        let text = format!("{line}$0");
        let (p, _) = split(&text, 30, 0);
        assert!(!p.is_empty() && p.len() <= 90, "{}", p.len());
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let line = "é".repeat(500);
        let text = format!("{line}$0{line}");
        let (p, s) = split(&text, 31, 31);
        assert!(p.chars().all(|c| c == 'é'));
        assert!(s.chars().all(|c| c == 'é'));
    }
}
