//! A simulated programmer for latency replays: retypes a piece of code the way people
//! do with ghost text on screen. Accepts a suggestion whole when it is what comes next,
//! by line or by word when only its start is, and sometimes types the suggested text
//! by hand instead; types a word at a time (at most [`CHUNK`] characters between two
//! requests) otherwise, makes a typo now and then and backspaces it, and starts new lines
//! with the editor's indentation. Deterministic: the same target and suggestions give the
//! same actions, so two engines can be replayed side by side.

/// Characters typed between two completion requests, at most (an editor's debounce fires
/// about this often at a steady typing speed).
pub const CHUNK: usize = 6;
/// Every how many typed words a typo is made (and backspaced).
const TYPO_EVERY: usize = 9;
/// Every how many suggestions that match, one is typed by hand rather than accepted.
const BY_HAND_EVERY: usize = 3;

/// What the programmer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Types these characters at the cursor (a line break comes with the new line's
    /// indentation, as the editor indents).
    Type(String),
    /// Accepts this prefix of the suggestion shown.
    Accept { text: String, how: Accept },
    /// Deletes this many characters before the cursor.
    Backspace(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Whole,
    Line,
    Word,
}

impl Action {
    /// Keys pressed: an accept is one, a line break with its indentation is one.
    pub fn keystrokes(&self) -> usize {
        match self {
            Action::Type(s) if s.starts_with('\n') => 1,
            Action::Type(s) => s.chars().count(),
            Action::Accept { .. } => 1,
            Action::Backspace(n) => *n,
        }
    }
}

/// The programmer's progress through the code to type.
#[derive(Debug, Clone)]
pub struct Typist {
    target: String,
    /// Bytes of `target` typed so far.
    done: usize,
    /// Wrong characters after them (a typo to backspace).
    wrong: usize,
    words: usize,
    matches: usize,
}

impl Typist {
    /// `target` is the code to type, without a final line break.
    pub fn new(target: &str) -> Self {
        Typist {
            target: target.to_string(),
            done: 0,
            wrong: 0,
            words: 0,
            matches: 0,
        }
    }

    pub fn finished(&self) -> bool {
        self.done >= self.target.len() && self.wrong == 0
    }

    /// The text typed so far (the typo included).
    pub fn typed(&self) -> String {
        let mut s = self.target[..self.done].to_string();
        s.push_str(&"x".repeat(self.wrong));
        s
    }

    /// What is left to type.
    pub fn rest(&self) -> &str {
        &self.target[self.done..]
    }

    /// The next action, seeing `suggestion` as ghost text at the cursor.
    pub fn next(&mut self, suggestion: &str) -> Action {
        if self.wrong > 0 {
            let n = self.wrong;
            self.wrong = 0;
            return Action::Backspace(n);
        }
        let rest = self.rest().to_string();
        if !suggestion.is_empty() {
            if rest.starts_with(suggestion) {
                self.matches += 1;
                if !self.matches.is_multiple_of(BY_HAND_EVERY) {
                    return self.accept(suggestion, Accept::Whole);
                }
                // Typed by hand: what was suggested, a word at a time.
                return self.type_word(&rest, false);
            }
            let common = common_prefix(suggestion, &rest);
            if let Some(nl) = suggestion.find('\n')
                && nl > 0
                && common > nl
            {
                return self.accept(&suggestion[..nl], Accept::Line);
            }
            let word = next_word(suggestion);
            if !word.trim().is_empty() && common >= word.len() {
                return self.accept(word, Accept::Word);
            }
        }
        self.type_word(&rest, true)
    }

    fn accept(&mut self, text: &str, how: Accept) -> Action {
        self.done += text.len();
        Action::Accept {
            text: text.to_string(),
            how,
        }
    }

    /// Types the next word of `rest` (or the start of a long one), or a line break with
    /// the next line's indentation; now and then with a typo after it.
    fn type_word(&mut self, rest: &str, typos: bool) -> Action {
        if let Some(after) = rest.strip_prefix('\n') {
            let indent = after.len() - after.trim_start_matches([' ', '\t']).len();
            let text = rest[..1 + indent].to_string();
            self.done += text.len();
            return Action::Type(text);
        }
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            if c == '\n' || i >= CHUNK {
                break;
            }
            end = i + c.len_utf8();
            if !is_word(c) {
                break;
            }
        }
        let text = rest[..end].to_string();
        self.done += text.len();
        self.words += 1;
        if typos && self.words.is_multiple_of(TYPO_EVERY) {
            self.wrong = 2;
            return Action::Type(format!("{text}xx"));
        }
        Action::Type(text)
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Bytes `a` and `b` share at their start, on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, x), _)| i + x.len_utf8())
}

/// The next word of a suggestion, as an editor's "accept word" takes it: leading spaces
/// and a run of word characters, or of other symbols.
fn next_word(text: &str) -> &str {
    let start = text.len() - text.trim_start_matches([' ', '\t']).len();
    let body = &text[start..];
    let Some(first) = body.chars().next() else {
        return text;
    };
    let same = |c: char| is_word(c) == is_word(first) && !c.is_whitespace();
    let len: usize = body
        .chars()
        .take_while(|c| same(*c))
        .map(char::len_utf8)
        .sum();
    &text[..start + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the typist against a "model" that suggests `suggest(typed)`.
    fn replay(target: &str, suggest: impl Fn(&str) -> String) -> Vec<Action> {
        let mut t = Typist::new(target);
        let mut actions = Vec::new();
        let mut shown = String::new();
        while !t.finished() {
            let a = t.next(&shown);
            shown = match &a {
                Action::Accept { text, how } if *how != Accept::Whole => {
                    shown[text.len()..].to_string()
                }
                _ => suggest(&t.typed()),
            };
            actions.push(a);
            assert!(actions.len() < 1000);
        }
        assert_eq!(t.typed(), target);
        actions
    }

    #[test]
    fn types_words_and_fixes_typos_without_suggestions() {
        let target = "def f(x):\n    return x + 1";
        let actions = replay(target, |_| String::new());
        assert_eq!(actions[0], Action::Type("def ".into()));
        assert!(actions.contains(&Action::Type("\n    ".into())));
        assert!(actions.iter().any(|a| matches!(a, Action::Backspace(2))));
        assert!(actions.iter().all(|a| a.keystrokes() <= CHUNK + 2));
    }

    #[test]
    fn accepts_what_is_right_and_types_some_by_hand() {
        let target = "total = 0\nfor x in xs:\n    total += x";
        // A perfect model: suggests the rest of the current line.
        let actions = replay(target, |typed| {
            let rest = &target[typed.len().min(target.len())..];
            if !target.starts_with(typed) {
                return String::new();
            }
            rest.split('\n').next().unwrap_or("").to_string()
        });
        let accepted = actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Accept {
                        how: Accept::Whole,
                        ..
                    }
                )
            })
            .count();
        assert!(accepted >= 2, "{actions:?}");
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Type(t) if t.len() > 1 && !t.starts_with('\n')))
        );
    }

    #[test]
    fn takes_a_line_or_a_word_of_a_partly_right_suggestion() {
        let mut t = Typist::new("y = f(a)\nz = 1");
        assert_eq!(
            t.next("y = f(a)\nz = 2"),
            Action::Accept {
                text: "y = f(a)".into(),
                how: Accept::Line
            }
        );
        let mut t = Typist::new("result = compute(a)");
        assert_eq!(
            t.next("result = other(b)"),
            Action::Accept {
                text: "result".into(),
                how: Accept::Word
            }
        );
        // Nothing right at all: typed.
        let mut t = Typist::new("results = 1");
        assert_eq!(t.next("value = 1"), Action::Type("result".into()));
        assert_eq!(next_word("  foo(bar)"), "  foo");
        assert_eq!(next_word("(bar)"), "(");
        assert_eq!(common_prefix("abc", "abd"), 2);
    }
}
