//! Reading a chat model's answer: code blocks out of Markdown, prose kept for
//! explanations, and review findings (`LINE n: problem`).

/// A fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    pub lang: String,
    pub code: String,
}

/// The fenced code blocks of `answer`, in order. An unclosed last fence (the model ran
/// out of tokens) still counts.
pub fn code_blocks(answer: &str) -> Vec<CodeBlock> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in answer.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("```") {
            match current.take() {
                None => current = Some((rest.trim().to_string(), Vec::new())),
                Some((lang, lines)) => out.push(CodeBlock {
                    lang,
                    code: lines.join("\n"),
                }),
            }
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some((lang, lines)) = current
        && !lines.is_empty()
    {
        out.push(CodeBlock {
            lang,
            code: lines.join("\n"),
        });
    }
    out
}

/// The prose of `answer`: everything outside code blocks, trimmed.
pub fn prose(answer: &str) -> String {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

/// A problem the model found, on a line of the file (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub message: String,
}

/// Findings written as `LINE 12: message` (also `Line 12 -`, `L12:`, `line 12.`), kept
/// only when the line lies in `first..=last`.
pub fn findings(answer: &str, first: usize, last: usize) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for raw in answer.lines() {
        let l = raw
            .trim()
            .trim_start_matches(['-', '*', '•', ' '])
            .trim_start_matches("**");
        let lower = l.to_ascii_lowercase();
        let rest = if let Some(r) = lower.strip_prefix("line") {
            &l[l.len() - r.len()..]
        } else if let Some(r) = lower.strip_prefix('l') {
            &l[l.len() - r.len()..]
        } else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '#']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(line) = digits.parse::<usize>() else {
            continue;
        };
        let message = rest[digits.len()..]
            .trim_start_matches(['*', ' '])
            .trim_start_matches([':', '-', '.', ')', '–'])
            .trim()
            .trim_start_matches("**")
            .trim();
        if message.is_empty() || !(first..=last).contains(&line) {
            continue;
        }
        // Small models repeat one finding on every line of a loop: keep its first line.
        if out.iter().any(|f| f.message == message) {
            continue;
        }
        out.push(Finding {
            line,
            message: message.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_prose() {
        let a = "Here is the fix:\n```python\ndef f(x):\n    return x\n```\nI changed the return.";
        let b = code_blocks(a);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].lang, "python");
        assert_eq!(b[0].code, "def f(x):\n    return x");
        assert_eq!(prose(a), "Here is the fix:\nI changed the return.");
    }

    #[test]
    fn unclosed_fence_still_counts() {
        let b = code_blocks("```rust\nfn main() {}\n");
        assert_eq!(b[0].code, "fn main() {}");
        assert!(code_blocks("no code here").is_empty());
    }

    #[test]
    fn findings_in_several_spellings() {
        let a = "LINE 12: off by one in the range\n- Line 14 - `x` may be None\n**Line 13:** wrong operator\nL99: outside\nline twelve: not a number\nLINE 15: off by one in the range\nNO BUGS";
        let f = findings(a, 10, 20);
        assert_eq!(
            f,
            vec![
                Finding {
                    line: 12,
                    message: "off by one in the range".into()
                },
                Finding {
                    line: 14,
                    message: "`x` may be None".into()
                },
                Finding {
                    line: 13,
                    message: "wrong operator".into()
                },
            ]
        );
    }
}
