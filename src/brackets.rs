//! Brackets in code text, by a rough scan: quotes toggle strings (a backslash escapes),
//! comments are skipped (the language's line comment to the end of its line, its block
//! comment to its end). No grammar: the scan runs on half-typed code and on the model's
//! output, where a parse says little, and costs one pass over the text.
//!
//! Three questions use it: how many brackets a line of the model's leaves open
//! ([`balance`]), which closers would close what an answer leaves open ([`unclosed`]), and
//! how many brackets the code after the cursor closes that the code before it never
//! opened ([`owed`]: the hole is a line that opens them, and its body is there already).

use crate::lang::Language;

/// Larger texts are not scanned for [`owed`] (the answer is 0: nothing owed).
const MAX_SCANNED: usize = 1 << 20;

fn closer_of(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// One bracket of the code, outside strings and comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bracket {
    Open(char),
    Close(char),
}

/// Calls `f` with each bracket of `text` and its byte offset, skipping strings and
/// comments. Strings end at their line's end (a rough scan: an unclosed quote must not
/// hide the rest of the file), except JavaScript's template strings.
fn scan(text: &str, language: Option<Language>, mut f: impl FnMut(usize, Bracket)) {
    let line_comments: &[&str] = language.map_or(&[], |l| l.line_comments());
    let block = language.and_then(Language::block_comment);
    // In Rust a quote that does not close two or three characters on starts a lifetime.
    let lifetimes = language == Some(Language::Rust);
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == q || (c == b'\n' && q != b'`') {
                quote = None;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii() {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        if line_comments.iter().any(|m| rest.starts_with(m)) {
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if let Some((open, close)) = block
            && rest.starts_with(open)
        {
            i += open.len()
                + rest[open.len()..]
                    .find(close)
                    .map_or(rest.len(), |e| e + close.len());
            continue;
        }
        match c {
            b'\'' if lifetimes && !rest[1..].bytes().take(3).skip(1).any(|c| c == b'\'') => {}
            b'"' | b'\'' | b'`' => quote = Some(c),
            b'(' | b'[' | b'{' => f(i, Bracket::Open(c as char)),
            b')' | b']' | b'}' => f(i, Bracket::Close(c as char)),
            _ => {}
        }
        i += 1;
    }
}

/// Where the line comment that ends `line` starts, if it has one after code (outside
/// strings): `total += x; // add it` gives the offset of `//`.
pub fn trailing_comment(line: &str, language: Option<Language>) -> Option<usize> {
    let leaders = language?.line_comments();
    let code = line.trim_start();
    if code.is_empty() || leaders.iter().any(|m| code.starts_with(m)) {
        return None;
    }
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for (i, &c) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            b'"' | b'`' => quote = Some(c),
            // A lone quote in Rust is a lifetime; elsewhere a character or string.
            b'\'' if language != Some(Language::Rust) => quote = Some(c),
            _ if c.is_ascii() && leaders.iter().any(|m| line[i..].starts_with(m)) => {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

/// Brackets `text` opens minus those it closes.
pub fn balance(text: &str, language: Option<Language>) -> i32 {
    let mut depth = 0;
    scan(text, language, |_, b| match b {
        Bracket::Open(_) => depth += 1,
        Bracket::Close(_) => depth -= 1,
    });
    depth
}

/// The closers, innermost first, of the brackets `text` opens and leaves open (closers of
/// brackets opened before `text` are skipped): what the code after an answer must close.
pub fn unclosed(text: &str, language: Option<Language>) -> String {
    let mut stack = Vec::new();
    scan(text, language, |_, b| match b {
        Bracket::Open(c) => stack.push(closer_of(c)),
        Bracket::Close(_) => {
            stack.pop();
        }
    });
    stack.iter().rev().collect()
}

/// How many brackets the code after byte `offset` of `text` closes beyond those the code
/// before it left open. 0 in a balanced file; 1 when the line at the cursor was taken out
/// and it opened a block whose body and closing bracket follow (`for x := range xs {`).
/// Negative when the code before leaves more open (the user is writing a block).
pub fn owed(text: &str, offset: usize, language: Option<Language>) -> i32 {
    if text.len() > MAX_SCANNED {
        return 0;
    }
    let mut before = 0i32;
    let mut after_depth = 0i32;
    let mut owed = 0i32;
    scan(text, language, |at, b| match (at < offset, b) {
        (true, Bracket::Open(_)) => before += 1,
        (true, Bracket::Close(_)) => before = (before - 1).max(0),
        (false, Bracket::Open(_)) => after_depth += 1,
        (false, Bracket::Close(_)) => {
            if after_depth > 0 {
                after_depth -= 1;
            } else if before > 0 {
                before -= 1;
            } else {
                owed += 1;
            }
        }
    });
    owed - before
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::*;

    #[test]
    fn balance_skips_strings_comments_and_lifetimes() {
        assert_eq!(balance("f(a, [b", Some(Python)), 2);
        assert_eq!(balance("f(\")\", x)", Some(Python)), 0);
        assert_eq!(balance("f(  # )", Some(Python)), 1);
        assert_eq!(balance("f(x, '\\'', y", Some(Python)), 1);
        assert_eq!(balance("fn f<'a>(x: &'a str", Some(Rust)), 1);
        assert_eq!(balance("g('(', x", Some(Rust)), 1);
        assert_eq!(balance("g(x) // (", Some(Rust)), 0);
        assert_eq!(balance("g(x) /* ( */ {", Some(Go)), 1);
        // A quote left open ends with its line.
        assert_eq!(balance("x = \"(\nf(", Some(JavaScript)), 1);
    }

    #[test]
    fn trailing_comments_after_code_are_found() {
        let line = "    total += x * x; // x * x is x squared";
        assert_eq!(trailing_comment(line, Some(TypeScript)), line.find("//"));
        assert_eq!(trailing_comment("x = 1  # one", Some(Python)), Some(7));
        assert_eq!(trailing_comment("// only a comment", Some(Go)), None);
        assert_eq!(trailing_comment("url = \"http://x\"", Some(Go)), None);
        assert_eq!(trailing_comment("f('#')", Some(Python)), None);
        assert_eq!(
            trailing_comment("fn f<'a>(x: &'a str) // y", Some(Rust)),
            Some(21)
        );
        assert_eq!(trailing_comment("x = 1 // two", None), None);
    }

    #[test]
    fn unclosed_lists_the_closers_innermost_first() {
        assert_eq!(
            unclosed("for (let i = 0; i < n; i++) {", Some(TypeScript)),
            "}"
        );
        assert_eq!(
            unclosed("best, f(stops[i - 1], stops[", Some(TypeScript)),
            "])"
        );
        assert_eq!(unclosed("x + 1));", Some(TypeScript)), "");
        assert_eq!(unclosed("if (a) {\n  g(\"{\");\n}", Some(TypeScript)), "");
    }

    #[test]
    fn owed_counts_what_the_code_below_closes() {
        let go = "func f(xs []int) int {\n\tn := 0\n\t\tn += x\n\t}\n\treturn n\n}\n";
        let at = go.find("\t\tn +=").unwrap();
        assert_eq!(owed(go, at, Some(Go)), 1);
        let whole = go.replace("\t\tn += x\n", "\tfor _, x := range xs {\n\t\tn += x\n");
        let at = whole.find("\t\tn +=").unwrap();
        assert_eq!(owed(&whole, at, Some(Go)), 0);
        // Writing a new block: the code before leaves it open.
        let open = "fn f() {\n    for x in xs {\n        \n}\n";
        assert_eq!(
            owed(open, open.find("        ").unwrap() + 8, Some(Rust)),
            -1
        );
    }
}
