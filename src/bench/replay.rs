//! `quill bench --lsp` (the default replay): a simulated programmer
//! ([`crate::bench::typist`]) retypes code with ghost text on screen, accepting
//! suggestions whole or by line or word, typing some by hand, backspacing typos and
//! starting new lines. The same replay drives `quill serve` over stdio or, with `--peer`,
//! llama.cpp's llama-server the way llama.vim drives it ([`crate::bench::peer`]), so the two can be
//! measured side by side.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::bench::typist::{Accept, Action, Typist};
use crate::bench::{mean, percentile};
use crate::text::{Encoding, LineIndex};

use crate::bench::lsp::{StdioClient, change};

/// A ghost-text source under test.
pub trait Completer {
    /// The document changed from `old` to `new`.
    fn edit(&mut self, old: &str, new: &str) -> Result<()>;
    /// The suggestion at byte `cursor` of `doc`.
    fn suggest(&mut self, doc: &str, cursor: usize) -> Result<Suggestion>;
    /// Tokens generated so far (all requests, background ones included), and draft
    /// tokens checked and kept (speculative decoding).
    fn generated(&mut self) -> Result<(u64, u64, u64)>;
}

pub struct Suggestion {
    pub text: String,
    /// Answered without a model call of its own (a cache).
    pub cached: bool,
    /// When the server first showed part of it (the words ready when its time budget
    /// passed) and told the client later that the rest was ready: milliseconds to that
    /// first part. The replay's typist reads the whole answer.
    pub first_ms: Option<f64>,
}

/// What a replay measured.
#[derive(Debug, Default, serde::Serialize)]
pub struct TypingReport {
    pub engine: String,
    pub requests: usize,
    /// Latency to the whole answer.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mean_ms: f64,
    /// Latency to the first text shown (a partial answer's words, else the whole answer).
    pub first_p50_ms: f64,
    pub first_p95_ms: f64,
    /// Requests first answered in part (`timeBudgetMs`).
    pub partial: usize,
    pub keystrokes: usize,
    /// Requests answered from a cache.
    pub cache_hits: usize,
    pub hit_rate: f64,
    /// Suggestions accepted: whole, by line, by word.
    pub accepted_whole: usize,
    pub accepted_line: usize,
    pub accepted_word: usize,
    /// Requests that showed nothing.
    pub empty: usize,
    /// Of those, the ones where the programmer still had code to type on that line (or,
    /// at a blank line, on the next): a blank where ghost text was wanted. The others are
    /// at the end of a finished line, where nothing is right.
    pub empty_wanted: usize,
    pub generated_tokens: u64,
    pub tokens_per_keystroke: f64,
    /// Draft tokens the model kept, over those it checked.
    pub draft_acceptance: f64,
    /// Wall time of the whole replay.
    pub seconds: f64,
    /// With `--verify`: cache answers compared with the model asked afresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<Verified>,
    /// Every request: latency, whether a cache answered, the line up to the cursor, the
    /// answer.
    pub steps: Vec<Value>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Verified {
    pub checked: usize,
    /// The same text as the model's fresh answer.
    pub identical: usize,
    /// The cache answer is the fresh answer's first lines (a block answered line by line).
    pub prefix: usize,
    /// Answers that were what the programmer went on to type (the first line of it, not
    /// empty): from the cache, and from the fresh server.
    pub cached_right: usize,
    pub fresh_right: usize,
    /// Where they differ: the state's cursor context and both answers.
    pub differences: Vec<Value>,
}

/// One state the replay asked about, with the answer it got.
pub struct Asked {
    pub doc: String,
    pub cursor: usize,
    pub text: String,
    pub cached: bool,
    /// What the programmer still had to type.
    pub rest: String,
}

/// True when `answer` is not empty and its first line is what `rest` goes on with.
fn right(answer: &str, rest: &str) -> bool {
    let first = answer.split('\n').next().unwrap_or("");
    !answer.trim().is_empty()
        && rest.starts_with(first)
        && (answer.contains('\n') || rest.starts_with(answer))
}

/// The code to type: `lines` lines from 0-based `start` of `text`, removed from it.
pub struct Scenario {
    pub head: String,
    pub target: String,
    pub tail: String,
    /// Time between two keystrokes.
    pub keystroke: Duration,
}

impl Scenario {
    pub fn new(text: &str, start: usize, lines: usize) -> Result<Scenario> {
        let all: Vec<&str> = text.split_inclusive('\n').collect();
        if start >= all.len() {
            bail!(
                "the file has {} lines; typing cannot start at {}",
                all.len(),
                start + 1
            );
        }
        let end = (start + lines).min(all.len());
        let target = all[start..end].concat();
        Ok(Scenario {
            head: all[..start].concat(),
            target: target.trim_end_matches('\n').to_string(),
            tail: all[end..].concat(),
            keystroke: Duration::ZERO,
        })
    }

    fn doc(&self, typed: &str) -> (String, usize) {
        let doc = format!("{}{typed}\n{}", self.head, self.tail);
        (doc, self.head.len() + typed.len())
    }
}

/// Runs the replay against `c`; returns the report and every state asked about.
pub fn replay(
    c: &mut dyn Completer,
    engine: &str,
    scenario: &Scenario,
) -> Result<(TypingReport, Vec<Asked>)> {
    let mut typist = Typist::new(&scenario.target);
    let (mut doc, mut cursor) = scenario.doc("");
    // A warm server: the first prompt is evaluated before the clock starts, as it is
    // while a user opens the file and reads it.
    c.suggest(&doc, cursor)?;
    let started = Instant::now();
    let (gen0, drafted0, kept0) = c.generated()?;
    let mut r = TypingReport {
        engine: engine.to_string(),
        ..TypingReport::default()
    };
    let mut latencies = Vec::new();
    let mut firsts = Vec::new();
    let mut asked = Vec::new();
    let mut ask = |c: &mut dyn Completer,
                   doc: &str,
                   cursor: usize,
                   rest: &str,
                   r: &mut TypingReport|
     -> Result<String> {
        let t = Instant::now();
        let s = c.suggest(doc, cursor)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        latencies.push(ms);
        firsts.push(s.first_ms.unwrap_or(ms));
        r.partial += usize::from(s.first_ms.is_some());
        r.cache_hits += usize::from(s.cached);
        r.empty += usize::from(s.text.is_empty());
        let line_start = doc[..cursor].rfind('\n').map_or(0, |i| i + 1);
        let wanted = if doc[line_start..cursor].trim().is_empty() {
            // A blank line: the next code typed, wherever it is.
            !rest.trim().is_empty()
        } else {
            !rest.split('\n').next().unwrap_or("").trim().is_empty()
        };
        r.empty_wanted += usize::from(s.text.is_empty() && wanted);
        r.steps.push(json!({
            "ms": ms.round(),
            "first_ms": s.first_ms.map(f64::round),
            "cached": s.cached,
            "line": &doc[line_start..cursor],
            "answer": s.text,
            "rest": rest.split('\n').next().unwrap_or(""),
        }));
        asked.push(Asked {
            doc: doc.to_string(),
            cursor,
            text: s.text.clone(),
            cached: s.cached,
            rest: rest.to_string(),
        });
        Ok(s.text)
    };
    let mut shown = ask(c, &doc, cursor, typist.rest(), &mut r)?;
    while !typist.finished() {
        let before = typist.typed();
        let action = typist.next(&shown);
        r.keystrokes += action.keystrokes();
        // Key by key, with the time between keys, as the editor sends them.
        for typed in keystrokes(&before, &action) {
            std::thread::sleep(scenario.keystroke);
            let (next, at) = scenario.doc(&typed);
            c.edit(&doc, &next)?;
            (doc, cursor) = (next, at);
        }
        shown = match &action {
            Action::Accept { text, how } if *how != Accept::Whole => {
                r.accepted_line += usize::from(*how == Accept::Line);
                r.accepted_word += usize::from(*how == Accept::Word);
                // The editor keeps showing the rest; no request.
                shown[text.len()..].to_string()
            }
            _ => {
                if matches!(action, Action::Accept { .. }) {
                    r.accepted_whole += 1;
                }
                ask(c, &doc, cursor, typist.rest(), &mut r)?
            }
        };
    }
    let (gen1, drafted1, kept1) = c.generated()?;
    r.requests = latencies.len();
    r.p50_ms = percentile(&latencies, 50.0);
    r.p95_ms = percentile(&latencies, 95.0);
    r.mean_ms = mean(&latencies);
    r.first_p50_ms = percentile(&firsts, 50.0);
    r.first_p95_ms = percentile(&firsts, 95.0);
    r.hit_rate = r.cache_hits as f64 / r.requests.max(1) as f64;
    r.generated_tokens = gen1 - gen0;
    r.tokens_per_keystroke = r.generated_tokens as f64 / r.keystrokes.max(1) as f64;
    let drafted = drafted1 - drafted0;
    r.draft_acceptance = if drafted > 0 {
        (kept1 - kept0) as f64 / drafted as f64
    } else {
        0.0
    };
    r.seconds = started.elapsed().as_secs_f64();
    Ok((r, asked))
}

/// The typed text after each key of `action`, starting from `before`.
fn keystrokes(before: &str, action: &Action) -> Vec<String> {
    match action {
        Action::Type(s) if !s.starts_with('\n') => {
            let mut typed = before.to_string();
            s.chars()
                .map(|c| {
                    typed.push(c);
                    typed.clone()
                })
                .collect()
        }
        Action::Type(s) | Action::Accept { text: s, .. } => vec![format!("{before}{s}")],
        Action::Backspace(n) => {
            let mut typed = before.to_string();
            (0..*n)
                .map(|_| {
                    typed.pop();
                    typed.clone()
                })
                .collect()
        }
    }
}

/// `quill serve` over stdio.
pub struct Quill {
    client: StdioClient,
    uri: String,
    version: i64,
}

impl Quill {
    /// Starts the server with `options`, opens `others` and then `file` holding `doc`.
    pub fn start(
        options: &Value,
        others: &[PathBuf],
        file: &std::path::Path,
        doc: &str,
    ) -> Result<Quill> {
        let mut client = StdioClient::start(options)?;
        client.wait_ready()?;
        for other in others {
            client.open(other, &crate::bench::read_source(other)?)?;
        }
        let u = client.open(file, doc)?;
        Ok(Quill {
            client,
            uri: u,
            version: 1,
        })
    }

    pub fn finish(self) -> Result<()> {
        self.client.finish()
    }

    fn totals(&mut self) -> Result<Value> {
        Ok(self.client.request("quill/status", Value::Null)?["totals"].clone())
    }
}

impl Completer for Quill {
    fn edit(&mut self, old: &str, new: &str) -> Result<()> {
        if old == new {
            return Ok(());
        }
        self.version += 1;
        self.client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [change(old, new)],
            }),
        )
    }

    fn suggest(&mut self, doc: &str, cursor: usize) -> Result<Suggestion> {
        let t = Instant::now();
        let before = self.totals()?;
        let count = |t: &Value, k: &str| t[k].as_u64().unwrap_or(0);
        let idx = LineIndex::new(doc);
        let (line, character) = idx.position(doc, cursor, Encoding::Utf16);
        let params = json!({
            "textDocument": {"uri": self.uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2},
        });
        let ask = |c: &mut StdioClient| -> Result<String> {
            let r = c.request("textDocument/inlineCompletion", params.clone())?;
            Ok(r["items"][0]["insertText"]
                .as_str()
                .unwrap_or_default()
                .to_string())
        };
        let mut text = ask(&mut self.client)?;
        let after = self.totals()?;
        let cached = count(&after, "cacheHits") > count(&before, "cacheHits");
        let mut first_ms = None;
        if count(&after, "partial") > count(&before, "partial") {
            // Part of the answer: ask again when the server says the rest is ready, as
            // the editor clients do.
            first_ms = Some(t.elapsed().as_secs_f64() * 1000.0);
            self.client.wait_note("quill/suggestionReady")?;
            text = ask(&mut self.client)?;
        }
        Ok(Suggestion {
            text,
            cached,
            first_ms,
        })
    }

    fn generated(&mut self) -> Result<(u64, u64, u64)> {
        let t = self.totals()?;
        let f = |k: &str| t[k].as_u64().unwrap_or(0);
        Ok((
            f("generatedTokens"),
            f("draftedTokens"),
            f("acceptedTokens"),
        ))
    }
}

/// Asks a fresh server (no suggestion cache, no early answers) about every state the
/// replay answered from the cache, and compares.
pub fn verify(
    options: &Value,
    others: &[PathBuf],
    file: &std::path::Path,
    asked: &[Asked],
) -> Result<Verified> {
    let mut options = options.clone();
    options["experiments"] = json!({"suggestionCache": false});
    options["firstLine"] = json!(false);
    let cached: Vec<&Asked> = asked.iter().filter(|a| a.cached).collect();
    let mut v = Verified::default();
    let Some(first) = cached.first() else {
        return Ok(v);
    };
    let mut q = Quill::start(&options, others, file, &first.doc)?;
    let mut doc = first.doc.clone();
    for a in cached {
        q.edit(&doc, &a.doc)?;
        doc = a.doc.clone();
        let fresh = q.suggest(&doc, a.cursor)?.text;
        v.checked += 1;
        v.cached_right += usize::from(right(&a.text, &a.rest));
        v.fresh_right += usize::from(right(&fresh, &a.rest));
        if fresh == a.text {
            v.identical += 1;
        } else if !a.text.is_empty() && fresh.starts_with(&format!("{}\n", a.text)) {
            v.prefix += 1;
        } else {
            let line_start = doc[..a.cursor].rfind('\n').map_or(0, |i| i + 1);
            v.differences.push(json!({
                "line": &doc[line_start..a.cursor],
                "cached": a.text,
                "fresh": fresh,
            }));
        }
    }
    q.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::typist::Accept;

    #[test]
    fn keystrokes_send_each_key() {
        let t = |s: &str| Action::Type(s.to_string());
        assert_eq!(keystrokes("a", &t("bc")), ["ab", "abc"]);
        assert_eq!(keystrokes("a", &t("\n    ")), ["a\n    "]);
        assert_eq!(keystrokes("abc", &Action::Backspace(2)), ["ab", "a"]);
        let accept = Action::Accept {
            text: "xyz".into(),
            how: Accept::Word,
        };
        assert_eq!(keystrokes("a", &accept), ["axyz"]);
        assert_eq!(keystrokes("é", &t("ü")), ["éü"]);
    }
}
