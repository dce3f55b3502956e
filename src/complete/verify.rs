//! Ranking candidates by how the model reads the file with each in the hole
//! ([`Ranking::Likelihood`]): the code before the hole, the candidate, then the first
//! lines of the code after it, read left to right in one pass per distinct candidate
//! ([`crate::engine::Score`]). The model's own scores of a candidate (how sure it was
//! while writing it) cannot see whether the code after the hole still makes sense with it;
//! this can. The cost is one prompt-speed pass over each candidate and the tail.

use crate::config::Ranking;
use crate::engine::{Fit, Piece, Request, Score, Special};

use super::{Completion, Prepared, Scored, best, by_rank};

/// Lines of the code after the hole read after each candidate.
pub const TAIL_LINES: usize = 4;

/// The request that reads `ranked`'s distinct texts in `prepared`'s prompt, or `None`
/// when there is nothing to choose between (fewer than two distinct answers) or the
/// prompt has no code after the hole to read them in.
pub fn request(prepared: &Prepared, ranked: &[Scored]) -> Option<(Request, Vec<String>)> {
    let texts = distinct(ranked);
    if texts.len() < 2 {
        return None;
    }
    let prompt = &prepared.prompt;
    let at = prompt
        .iter()
        .position(|p| *p == Piece::Special(Special::FimSuffix))?;
    // The code before the hole, up to its last line: that line is read again with each
    // candidate, so the tokens around the hole's start are the file's own.
    let (before, lead) = match prompt.get(at.checked_sub(1)?) {
        Some(Piece::Text(prefix)) => {
            let cut = prefix.rfind('\n').map_or(0, |i| i + 1);
            let mut before = prompt[..at - 1].to_vec();
            if cut > 0 {
                before.push(Piece::Text(prefix[..cut].to_string()));
            }
            (before, &prefix[cut..])
        }
        _ => (prompt[..at].to_vec(), ""),
    };
    let tail = match prompt.get(at + 1) {
        Some(Piece::Text(suffix)) => head(suffix, TAIL_LINES),
        _ => String::new(),
    };
    let mut req = Request::new(prompt.clone(), 0);
    req.score = Some(Box::new(Score {
        before,
        texts: texts.iter().map(|t| format!("{lead}{t}")).collect(),
        tail,
    }));
    Some((req, texts))
}

/// Records how each of `texts` read ([`request`]'s answer) in `completion`'s ranked
/// candidates, orders them again with it and takes the best.
pub fn apply(completion: &mut Completion, texts: &[String], fits: Vec<Fit>) {
    for s in &mut completion.ranked {
        s.fit = texts
            .iter()
            .position(|t| *t == s.text)
            .and_then(|i| fits.get(i).cloned());
    }
    completion
        .ranked
        .sort_by(|a, b| by_rank(a, b, Ranking::Likelihood));
    let (text, rejected, alternatives) = best(&completion.ranked);
    completion.text = text;
    completion.rejected = rejected;
    completion.alternatives = alternatives;
}

/// The texts worth reading: not empty, once each, in rank order.
fn distinct(ranked: &[Scored]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in ranked {
        if !s.text.trim().is_empty() && !out.contains(&s.text) {
            out.push(s.text.clone());
        }
    }
    out
}

/// The first `lines` lines of `text` that are not blank, with what lies between them.
fn head(text: &str, lines: usize) -> String {
    let mut seen = 0;
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if seen == lines {
            break;
        }
        end += line.len();
        if !line.trim().is_empty() {
            seen += 1;
        }
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_counts_lines_that_are_not_blank() {
        assert_eq!(head("\n    a\n\n    b\n    c\n", 2), "\n    a\n\n    b\n");
        assert_eq!(head("x", 4), "x");
        assert_eq!(head("", 4), "");
    }
}
