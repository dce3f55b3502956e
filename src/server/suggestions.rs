//! The suggestion cache: what the model generated at recent cursor positions of a
//! document, reused when the user types on.
//!
//! An entry is the document as it was when a completion was asked for, the cursor, and
//! everything the model generated there (also what post-processing cut off, and text still
//! streaming in from a generation that goes on in the background). A later request whose
//! document is the entry's with some characters typed at its cursor, where those
//! characters are the start of what the model generated, is answered from the rest of
//! that text: greedy decoding would have produced the same tokens after them. The answer
//! is then cut at the new cursor by the same rules as a fresh one (line or block, overlap
//! with the code after the cursor, syntax check), by the caller.
//!
//! Accepting a suggestion whole or by word or line, typing what was suggested, and
//! backspacing to an earlier state all land on an entry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::complete::Shape;
use crate::complete::post::has_whole_line;
use crate::engine::{CancelReason, CancelToken, Waiting};

/// Entries kept per document (most recently used first).
const PER_DOCUMENT: usize = 8;
/// Documents with entries; the least recently used goes first.
const DOCUMENTS: usize = 32;
/// Larger documents are not cached (each entry keeps its own copy of the text).
const MAX_TEXT: usize = 1 << 20;

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The model said it was done: nothing would follow.
    Complete,
    /// Stopped early (a stop rule, a token limit, a deadline): more could have followed.
    Cut,
    /// Cancelled, superseded or failed before it finished: only settled text counts.
    Abandoned,
}

/// What a generation has produced so far.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The model's text, as generated.
    pub raw: String,
    /// `None` while it is still generating.
    pub ended: Option<Ended>,
    /// What the engine reported, once it ended.
    pub timings: Option<crate::engine::Timings>,
    /// Why it failed, when it did (not for a cancellation).
    pub error: Option<String>,
    /// With ranked candidates, once it ended: all of them (`raw` is the first).
    pub candidates: Vec<crate::engine::Candidate>,
}

/// One cached generation.
#[derive(Debug)]
pub struct Entry {
    /// The document when the completion was asked for, and the cursor in it.
    pub text: Arc<String>,
    pub offset: usize,
    /// Text the user would insert before the generated text (a prefetch for the next line
    /// puts the line break and indentation here).
    pub lead: String,
    /// The rules at the entry's cursor (which turn raw output into inserted text).
    pub shape: Arc<Shape>,
    progress: watch::Receiver<Progress>,
    /// The engine request feeding this entry, while it may still run.
    generation: Option<Generation>,
}

/// The engine request behind an entry.
#[derive(Debug, Clone)]
pub struct Generation {
    pub cancel: CancelToken,
    /// Callers waiting on it; with none it runs as background work.
    pub waiting: Waiting,
}

impl Entry {
    /// The text the model's output would insert at the entry's cursor, so far.
    fn stream(&self, p: &Progress) -> String {
        format!("{}{}", self.lead, self.shape.inserted(&p.raw))
    }

    /// How many characters were typed at the entry's cursor to get from its document to
    /// `text` with the cursor at `offset`; `None` when `text` is not such a document.
    ///
    /// An editor that closes brackets as they are typed (`(` gives `()`, the cursor
    /// between) puts the closers of the typed text's open brackets right after the cursor:
    /// that is still typing at the entry's cursor.
    fn typed<'t>(&self, text: &'t str, offset: usize) -> Option<&'t str> {
        let (old, at) = (self.text.as_str(), self.offset);
        if offset < at
            || offset > text.len()
            || text.len() - offset < old.len() - at
            || !text.is_char_boundary(at)
            || !text.is_char_boundary(offset)
            || text[..at] != old[..at]
        {
            return None;
        }
        let closed = text[offset..].strip_suffix(&old[at..])?;
        let typed = &text[at..offset];
        (closed.is_empty() || closed == crate::brackets::unclosed(typed, None)).then_some(typed)
    }

    /// Where the cursor is in `text` if it is this entry's document with text typed at its
    /// cursor (and maybe the closers an editor added after it), and what was typed.
    fn typed_anywhere<'t>(&self, text: &'t str) -> Option<&'t str> {
        // Typed at the entry's cursor, the cursor has moved by what the text grew, less
        // the closers after it.
        let end = (self.offset + text.len()).checked_sub(self.text.len())?;
        let closers = text
            .get(..end)?
            .bytes()
            .rev()
            .take_while(|b| matches!(b, b')' | b']' | b'}'))
            .count();
        (0..=closers).find_map(|k| self.typed(text, end - k))
    }
}

/// Writes a generation's progress into its entry.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: Arc<watch::Sender<Progress>>,
}

impl Recorder {
    /// The text generated so far.
    pub fn update(&self, raw: &str) {
        self.tx.send_modify(|p| {
            if p.ended.is_none() {
                p.raw.clear();
                p.raw.push_str(raw);
            }
        });
    }

    /// The generation is over; `raw` is all it produced.
    pub fn end(&self, raw: &str, ended: Ended, timings: Option<crate::engine::Timings>) {
        self.tx.send_modify(|p| {
            if p.ended.is_none() {
                p.raw.clear();
                p.raw.push_str(raw);
                p.ended = Some(ended);
                p.timings = timings;
            }
        });
    }

    /// The ranked candidates the generation ended with (before [`Recorder::end`]).
    pub fn candidates(&self, candidates: Vec<crate::engine::Candidate>) {
        self.tx.send_modify(|p| {
            if p.ended.is_none() {
                p.candidates = candidates;
            }
        });
    }

    /// The generation stopped without a final text: cancelled, or failed with `error`.
    pub fn abandon(&self, error: Option<String>) {
        self.tx.send_modify(|p| {
            if p.ended.is_none() {
                p.ended = Some(Ended::Abandoned);
                p.error = error;
            }
        });
    }
}

/// A cached generation that fits a document and cursor.
#[derive(Debug)]
pub struct Found {
    /// The model's continuation at the cursor: the rest of the generation after what was
    /// typed (empty while the user is ahead of a running generation).
    pub remaining: String,
    /// True when more generated text cannot change the answer at this cursor: the shape's
    /// rules have settled it, the model ended, or this is the very state the generation
    /// was started for and it is over.
    pub settled: bool,
    /// The generation is still running.
    pub running: bool,
    /// How the generation ended, once it has.
    pub ended: Option<Ended>,
    /// What the engine reported for the generation, once it ended.
    pub entry: Arc<Entry>,
    /// Sees the generation's next progress (already marked as seen up to this answer).
    pub progress: watch::Receiver<Progress>,
    /// With ranked candidates, once the generation ended: those that go on from what was
    /// typed at the entry's cursor, continued from the cursor (the first is `remaining`'s).
    pub candidates: Vec<crate::engine::Candidate>,
}

impl Entry {
    /// Judges this entry for `offset` of `text`, whose cursor has `shape`: `None` when it
    /// does not fit (another document, typed text that is not its output, or output cut
    /// before it settles the answer).
    pub fn judge(self: &Arc<Self>, text: &str, offset: usize, shape: &Shape) -> Option<Found> {
        let typed = self.typed(text, offset)?;
        let mut rx = self.progress.clone();
        let p = rx.borrow_and_update().clone();
        let stream = self.stream(&p);
        let running = p.ended.is_none();
        let candidates = p
            .candidates
            .iter()
            .filter_map(|c| {
                let text = format!("{}{}", self.lead, self.shape.inserted(&c.text));
                let text = text.strip_prefix(typed)?.to_string();
                Some(crate::engine::Candidate { text, ..c.clone() })
            })
            .collect::<Vec<_>>();
        let found = |remaining: &str, settled| Found {
            remaining: remaining.to_string(),
            settled,
            running,
            ended: p.ended,
            entry: self.clone(),
            progress: rx.clone(),
            candidates: candidates.clone(),
        };
        if let Some(remaining) = stream.strip_prefix(typed) {
            let over = match p.ended {
                Some(Ended::Complete) => true,
                // The state it was started for: its answer, whatever stopped it.
                Some(Ended::Cut) => typed.is_empty(),
                Some(Ended::Abandoned) | None => false,
            };
            let settled = over || shape.scan(remaining, false).done;
            // Stopped before the answer here settled (a line's generation that looked
            // ahead into the next line, then Enter typed; one stopped by an edit): what it
            // generated is the start of what the model would write here, and its whole
            // lines are an answer, as a block's first line is.
            let stopped = match p.ended {
                Some(Ended::Cut) => true,
                Some(Ended::Abandoned) => p.error.is_none(),
                _ => false,
            };
            if !settled && stopped && has_whole_line(remaining) {
                let end = remaining.rfind('\n').map_or(0, |i| i + 1);
                return Some(found(&remaining[..end], true));
            }
            return (settled || running).then(|| found(remaining, settled));
        }
        // The user typed ahead of the generation, along the same text: it may catch up.
        (running && typed.starts_with(&stream)).then(|| found("", false))
    }

    /// The generation's progress now.
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Whether the generation feeding this entry still runs.
    pub fn running(&self) -> bool {
        self.progress.borrow().ended.is_none()
    }

    /// Marks a caller as waiting on this entry's generation (so it runs as interactive
    /// work) until the guard is dropped.
    pub fn wait_guard(&self) -> Option<crate::engine::WaitGuard> {
        self.generation.as_ref().map(|g| g.waiting.enter())
    }

    fn stop(&self) {
        if let Some(g) = &self.generation {
            g.cancel.cancel(CancelReason::Superseded);
        }
    }
}

#[derive(Default)]
struct Documents {
    docs: HashMap<String, VecDeque<Arc<Entry>>>,
    /// Document keys, least recently used first.
    order: VecDeque<String>,
}

impl Documents {
    fn touch(&mut self, key: &str) {
        if let Some(i) = self.order.iter().position(|k| k == key) {
            let k = self.order.remove(i).expect("found above");
            self.order.push_back(k);
        } else {
            self.order.push_back(key.to_string());
        }
        while self.order.len() > DOCUMENTS {
            if let Some(old) = self.order.pop_front() {
                for e in self.docs.remove(&old).unwrap_or_default() {
                    e.stop();
                }
            }
        }
    }
}

/// Recent generations per document (a small LRU), shared by every request of a server.
#[derive(Default)]
pub struct SuggestionCache {
    inner: Mutex<Documents>,
}

impl SuggestionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Documents> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a generation at `offset` of `text` in document `key`; returns the entry and
    /// the recorder that feeds it. A document too large to cache gets an entry that is not
    /// kept, and so does one whose model is no longer `current` (asked under this cache's
    /// lock: the server swaps the model, then [`clear`](Self::clear)s, so an answer of a
    /// replaced model is never served from here).
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &self,
        key: &str,
        text: Arc<String>,
        offset: usize,
        lead: String,
        shape: Arc<Shape>,
        generation: Option<Generation>,
        current: impl FnOnce() -> bool,
    ) -> (Arc<Entry>, Recorder) {
        let (tx, rx) = watch::channel(Progress::default());
        let big = text.len() > MAX_TEXT;
        let entry = Arc::new(Entry {
            text,
            offset,
            lead,
            shape,
            progress: rx,
            generation,
        });
        let recorder = Recorder { tx: Arc::new(tx) };
        if big {
            return (entry, recorder);
        }
        let mut d = self.lock();
        if !current() {
            return (entry, recorder);
        }
        d.touch(key);
        let list = d.docs.entry(key.to_string()).or_default();
        // The same state asked again replaces its entry.
        list.retain(|e| {
            !(e.offset == entry.offset && e.lead == entry.lead && e.text == entry.text)
        });
        list.push_front(entry.clone());
        for old in list.drain(PER_DOCUMENT.min(list.len())..) {
            old.stop();
        }
        (entry, recorder)
    }

    /// The best the cache has for `offset` of `text` in document `key`, whose shape at
    /// that cursor is `shape`: a settled answer if any (its entry moves to the front),
    /// else a running generation that fits.
    pub fn lookup(&self, key: &str, text: &str, offset: usize, shape: &Shape) -> Option<Found> {
        let mut d = self.lock();
        let list = d.docs.get_mut(key)?;
        let mut running = None;
        for i in 0..list.len() {
            match list[i].judge(text, offset, shape) {
                Some(f) if f.settled => {
                    let e = list.remove(i).expect("index in range");
                    list.push_front(e);
                    d.touch(key);
                    return Some(f);
                }
                Some(f) if running.is_none() => running = Some(f),
                _ => {}
            }
        }
        running
    }

    /// The document changed to `text`: generations still running that the new text has
    /// left behind are stopped. A generation stays while the text is its document with
    /// some of its output typed at its cursor (or text it may still generate).
    pub fn edited(&self, key: &str, text: &str) {
        let d = self.lock();
        let Some(list) = d.docs.get(key) else {
            return;
        };
        for e in list {
            let Some(g) = &e.generation else { continue };
            let p = e.progress.borrow().clone();
            if p.ended.is_some() || g.cancel.is_cancelled() {
                continue;
            }
            let keep = e.typed_anywhere(text).is_some_and(|typed| {
                let stream = e.stream(&p);
                stream.starts_with(typed) || typed.starts_with(&stream)
            });
            if !keep {
                tracing::debug!(key, "an edit left a running generation behind: stopped");
                e.stop();
            }
        }
    }

    /// Forgets a document (closed).
    pub fn forget(&self, key: &str) {
        let mut d = self.lock();
        for e in d.docs.remove(key).unwrap_or_default() {
            e.stop();
        }
        d.order.retain(|k| k != key);
    }

    /// Forgets every document's generations (stopping those still running): what they
    /// generated no longer answers for the model or settings now in force.
    pub fn clear(&self) {
        let mut d = self.lock();
        for e in d.docs.drain().flat_map(|(_, entries)| entries) {
            e.stop();
        }
        d.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CompletionConfig;
    use crate::lang::Language;

    fn shape_at(text: &str, offset: usize) -> Shape {
        Shape::at(
            text,
            offset,
            Some(Language::Python),
            &CompletionConfig::default(),
        )
    }

    /// A cache with one finished generation at the `$0` of `marked`.
    fn cached(marked: &str, raw: &str, ended: Ended) -> (SuggestionCache, String, usize) {
        let offset = marked.find("$0").unwrap();
        let text = marked.replace("$0", "");
        let cache = SuggestionCache::default();
        let shape = Arc::new(shape_at(&text, offset));
        let (_, rec) = cache.insert(
            "doc",
            Arc::new(text.clone()),
            offset,
            String::new(),
            shape,
            None,
            || true,
        );
        rec.end(raw, ended, None);
        (cache, text, offset)
    }

    /// Types `typed` at `offset` and looks the new state up; returns what the new
    /// cursor's shape makes of the remaining text.
    fn after_typing(
        cache: &SuggestionCache,
        text: &str,
        offset: usize,
        typed: &str,
    ) -> Option<String> {
        let new = format!("{}{typed}{}", &text[..offset], &text[offset..]);
        let at = offset + typed.len();
        let shape = shape_at(&new, at);
        let found = cache.lookup("doc", &new, at, &shape)?;
        assert!(found.settled && !found.running, "nothing is running");
        Some(shape.finish(&found.remaining))
    }

    const DOC: &str = "def longest(stops):\n    $0\n\nprint(longest([]))\n";
    const RAW: &str = "return max(d(a, b) for a, b in zip(stops, stops[1:]))\n\nprint(1)\n";

    #[test]
    fn typing_what_was_suggested_hits() {
        let (cache, text, offset) = cached(DOC, RAW, Ended::Cut);
        assert_eq!(
            after_typing(&cache, &text, offset, "").as_deref(),
            Some("return max(d(a, b) for a, b in zip(stops, stops[1:]))")
        );
        // `ret`, `return ma`, `return max(`: the rest of the same line, no model call.
        assert_eq!(
            after_typing(&cache, &text, offset, "ret").as_deref(),
            Some("urn max(d(a, b) for a, b in zip(stops, stops[1:]))")
        );
        assert_eq!(
            after_typing(&cache, &text, offset, "return max(").as_deref(),
            Some("d(a, b) for a, b in zip(stops, stops[1:]))")
        );
        // Accepting the whole line leaves nothing to add on it.
        assert_eq!(
            after_typing(
                &cache,
                &text,
                offset,
                "return max(d(a, b) for a, b in zip(stops, stops[1:]))"
            )
            .as_deref(),
            Some("")
        );
    }

    /// An editor that closes brackets (`(` gives `()`): typing what was suggested still
    /// hits, and the closer already there is not written twice.
    #[test]
    fn typing_with_auto_closed_brackets_hits() {
        let doc = "function f(stops) {\n  let best = 0;\n  for (const s of stops) {\n    best = Mat$0\n  }\n}\n";
        let raw = "h.max(best, s.km);\n  }\n";
        let offset = doc.find("$0").unwrap();
        let text = doc.replace("$0", "");
        let cache = SuggestionCache::default();
        let ts = |t: &str, o: usize| {
            Shape::at(
                t,
                o,
                Some(Language::TypeScript),
                &CompletionConfig::default(),
            )
        };
        let (_, rec) = cache.insert(
            "doc",
            Arc::new(text.clone()),
            offset,
            String::new(),
            Arc::new(ts(&text, offset)),
            None,
            || true,
        );
        rec.end(raw, Ended::Cut, None);
        // `h.max(` typed, the editor's `)` after the cursor.
        let new = format!("{}h.max(){}", &text[..offset], &text[offset..]);
        let at = offset + "h.max(".len();
        let shape = ts(&new, at);
        let found = cache.lookup("doc", &new, at, &shape).expect("a hit");
        assert_eq!(shape.finish(&found.remaining), "best, s.km");
        // Closers that are not the typed brackets' are another document.
        let other = format!("{}h.max(]{}", &text[..offset], &text[offset..]);
        assert!(cache.lookup("doc", &other, at, &ts(&other, at)).is_none());
    }

    #[test]
    fn typing_something_else_misses() {
        let (cache, text, offset) = cached(DOC, RAW, Ended::Cut);
        assert_eq!(after_typing(&cache, &text, offset, "x = "), None);
        // Text beyond what was generated, with the generation over and cut: unknown.
        let (cache, text, offset) = cached(DOC, "return m", Ended::Cut);
        assert_eq!(after_typing(&cache, &text, offset, "ret"), None);
        // An edit elsewhere in the document: a different document.
        let (cache, text, offset) = cached(DOC, RAW, Ended::Cut);
        let other = text.replace("print", "show");
        let shape = shape_at(&other, offset);
        assert!(cache.lookup("doc", &other, offset, &shape).is_none());
    }

    #[test]
    fn a_complete_generation_answers_even_unsettled_text() {
        // The model ended after `return x` without a line break: that is the answer.
        let (cache, text, offset) = cached(DOC, "return x", Ended::Complete);
        assert_eq!(
            after_typing(&cache, &text, offset, "ret").as_deref(),
            Some("urn x")
        );
        // Cut there instead (a token limit): more might have come, so no answer.
        let (cache, text, offset) = cached(DOC, "return x", Ended::Cut);
        assert_eq!(after_typing(&cache, &text, offset, "ret"), None);
    }

    #[test]
    fn accepting_a_line_then_a_new_line_gets_the_next_one() {
        let raw =
            "total = 0\n    for x in xs:\n        total += x\n    return total\n\nprint(f([1]))\n";
        let doc = "def f(xs):\n    $0\n";
        let (cache, text, offset) = cached(doc, raw, Ended::Cut);
        // Line accepted, Enter, the editor indents: the next statement.
        assert_eq!(
            after_typing(&cache, &text, offset, "total = 0\n    ").as_deref(),
            Some("for x in xs:\n        total += x\n    return total")
        );
    }

    /// A line's generation that looked ahead into the next line (`Shape::looks_ahead`)
    /// and was stopped there answers that line once the user accepts and presses Enter;
    /// a next line not yet whole does not.
    #[test]
    fn a_line_that_looked_ahead_answers_after_enter() {
        let doc = "def f(xs):\n    total = $0\n\nprint(f([1]))\n";
        let raw = "0\n    for x in xs:\n";
        for ended in [Ended::Cut, Ended::Abandoned] {
            let (cache, text, offset) = cached(doc, raw, ended);
            assert_eq!(
                after_typing(&cache, &text, offset, "0\n    ").as_deref(),
                Some("for x in xs:"),
                "{ended:?}"
            );
            // Its own state is its line.
            assert_eq!(
                after_typing(&cache, &text, offset, "").as_deref(),
                Some("0")
            );
        }
        let (cache, text, offset) = cached(doc, "0\n    for x in", Ended::Cut);
        assert_eq!(after_typing(&cache, &text, offset, "0\n    "), None);
    }

    #[test]
    fn running_generations_are_waited_on_and_stopped_when_left_behind() {
        let offset = DOC.find("$0").unwrap();
        let text = DOC.replace("$0", "");
        let cache = SuggestionCache::default();
        let cancel = CancelToken::new();
        let (_, rec) = cache.insert(
            "doc",
            Arc::new(text.clone()),
            offset,
            String::new(),
            Arc::new(shape_at(&text, offset)),
            Some(Generation {
                cancel: cancel.clone(),
                waiting: Waiting::new(),
            }),
            || true,
        );
        rec.update("return ma");
        let typed = format!("{}ret{}", &text[..offset], &text[offset..]);
        let shape = shape_at(&typed, offset + 3);
        let found = cache.lookup("doc", &typed, offset + 3, &shape).unwrap();
        assert!(found.running && !found.settled);
        // Typing ahead of the generation along the same text keeps it.
        let ahead = format!("{}return max(x{}", &text[..offset], &text[offset..]);
        cache.edited("doc", &ahead);
        assert!(!cancel.is_cancelled());
        rec.update("return max(x)\n");
        let shape = shape_at(&typed, offset + 3);
        let found = cache.lookup("doc", &typed, offset + 3, &shape).unwrap();
        assert!(found.settled);
        assert_eq!(shape.finish(&found.remaining), "urn max(x)");
        // Typing something else stops it.
        let other = format!("{}pass{}", &text[..offset], &text[offset..]);
        cache.edited("doc", &other);
        assert!(cancel.is_cancelled());
    }

    #[test]
    fn entries_are_bounded() {
        let cache = SuggestionCache::default();
        let shape = Arc::new(shape_at("x\n", 1));
        for i in 0..PER_DOCUMENT + 3 {
            cache.insert(
                "doc",
                Arc::new(format!("x{i}\n")),
                1,
                String::new(),
                shape.clone(),
                None,
                || true,
            );
        }
        assert_eq!(cache.lock().docs["doc"].len(), PER_DOCUMENT);
        for i in 0..DOCUMENTS + 3 {
            cache.insert(
                &format!("d{i}"),
                Arc::new("x\n".into()),
                1,
                String::new(),
                shape.clone(),
                None,
                || true,
            );
        }
        assert_eq!(cache.lock().docs.len(), DOCUMENTS);
        assert!(!cache.lock().docs.contains_key("doc"));
        let big = Arc::new("x".repeat(MAX_TEXT + 1));
        cache.insert("big", big, 0, String::new(), shape.clone(), None, || true);
        assert!(!cache.lock().docs.contains_key("big"));
        // An answer of a model that is no longer the server's is not kept either.
        cache.insert(
            "old",
            Arc::new("x\n".into()),
            1,
            String::new(),
            shape,
            None,
            || false,
        );
        assert!(!cache.lock().docs.contains_key("old"));
    }
}
