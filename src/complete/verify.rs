//! Ranking candidates by how the model reads the file with each in the hole
//! ([`Ranking::Likelihood`]): the code before the hole, the candidate, then the first
//! lines of the code after it, read left to right in one pass per distinct candidate
//! ([`crate::engine::Score`]). The model's own scores of a candidate (how sure it was
//! while writing it) cannot see whether the code after the hole still makes sense with it;
//! this can. The cost is one prompt-speed pass over each candidate and the tail.

use crate::config::Ranking;
use crate::engine::{Candidate, Fit, Output, Piece, Request, Score, Special, Work};

use super::{Input, Prepared, Scored, order};

/// Lines of the code after the hole read after each candidate.
pub const TAIL_LINES: usize = 4;

/// What of each candidate is read: the distinct texts, in rank order, and whether they
/// are the candidates' first lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub texts: Vec<String>,
    /// The code after the hole starts on the next line, so the file reads on after the
    /// candidate's first line: that line is what is read, and every candidate is read
    /// over the same lines (a candidate that goes on into a block the file already has
    /// below is not read against the code after that block).
    pub first_lines: bool,
}

impl Reading {
    /// The text of `candidate` this reading reads.
    fn key<'a>(&self, candidate: &'a str) -> &'a str {
        if self.first_lines {
            candidate.split('\n').next().unwrap_or_default()
        } else {
            candidate
        }
    }
}

/// The request that reads `ranked`'s distinct texts in `prepared`'s prompt, or `None`
/// when there is nothing to choose between (fewer than two distinct answers) or the
/// prompt has no code after the hole to read them in.
pub fn request(prepared: &Prepared, ranked: &[Scored]) -> Option<(Request, Reading)> {
    let prompt = &prepared.prompt;
    let at = prompt
        .iter()
        .position(|p| *p == Piece::Special(Special::FimSuffix))?;
    let suffix = match prompt.get(at + 1) {
        Some(Piece::Text(suffix)) => suffix.as_str(),
        _ => "",
    };
    let mut reading = Reading {
        texts: Vec::new(),
        first_lines: suffix.trim_start_matches([' ', '\t']).starts_with('\n'),
    };
    reading.texts = distinct(ranked, &reading);
    if reading.texts.len() < 2 {
        return None;
    }
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
    let score = Score {
        before,
        texts: reading.texts.iter().map(|t| format!("{lead}{t}")).collect(),
        tail: head(suffix, TAIL_LINES),
    };
    let req = Request::new(prompt.clone(), Work::Score(score));
    Some((req, reading))
}

/// A reading of the engine's candidates on its way ([`for_candidates`]): what
/// [`CandidateReading::apply`] needs when its answer comes.
#[derive(Debug, Clone)]
pub struct CandidateReading {
    reading: Reading,
    ranked: Vec<Scored>,
}

/// The request that reads the engine's `candidates` where `input` and `prepared` put
/// them (each settled as [`super::order`] would), and what to do with its answer.
pub fn for_candidates(
    input: &Input<'_>,
    prepared: &Prepared,
    candidates: &[Candidate],
    syntax_check: bool,
) -> Option<(Request, CandidateReading)> {
    let ranked = order(
        input,
        &prepared.shape,
        candidates,
        syntax_check,
        Ranking::Confidence,
    );
    let (req, reading) = request(prepared, &ranked)?;
    Some((req, CandidateReading { reading, ranked }))
}

impl CandidateReading {
    /// Gives each of `out`'s candidates how it read (`Candidate::fit`, for
    /// [`super::order`] to rank by). Reading is prompt evaluation: its cost counts
    /// there, not against generation speed.
    pub fn apply(self, out: &mut Output, read: Output) {
        let t = &mut out.timings;
        t.evaluated_tokens += read.timings.evaluated_tokens;
        t.prompt_ms += read.timings.prompt_ms + read.timings.generate_ms;
        let fits = fits_of(&self.ranked, &self.reading, read.fits);
        for (c, fit) in out.candidates.iter_mut().zip(fits) {
            c.fit = fit;
        }
    }
}

/// How each candidate read, by its index among the engine's candidates.
fn fits_of(ranked: &[Scored], reading: &Reading, fits: Vec<Fit>) -> Vec<Option<Fit>> {
    let mut out = vec![None; ranked.iter().map(|s| s.index + 1).max().unwrap_or(0)];
    for s in ranked {
        let key = reading.key(&s.text);
        out[s.index] = reading
            .texts
            .iter()
            .position(|t| t == key)
            .and_then(|i| fits.get(i).cloned());
    }
    out
}

/// The texts worth reading: not empty, once each, in rank order.
fn distinct(ranked: &[Scored], reading: &Reading) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in ranked {
        let key = reading.key(&s.text);
        if !key.trim().is_empty() && !out.iter().any(|t| t == key) {
            out.push(key.to_string());
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
