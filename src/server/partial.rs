//! Growing ghost text: the words of a line that are ready while the model is still
//! generating it. The server shows them when the time budget (`timeBudgetMs`) has passed,
//! and tells the client when the whole suggestion is ready (`quill/suggestionReady`).

/// What of `remaining` (the text generated after the cursor so far, still growing) is
/// worth showing now: its first line with text up to the last whole word, without
/// trailing spaces (a block that starts on the next line keeps its line break and
/// indentation in front). A word at the very end may still grow with the next token, so
/// it waits.
///
/// `None` when nothing visible is ready, or when the cursor's line has code after the
/// cursor: the final answer may drop what repeats that code, so a preview could show it
/// twice.
pub fn ready_words(after_cursor: &str, remaining: &str) -> Option<String> {
    if !after_cursor.trim().is_empty() {
        return None;
    }
    let body = remaining.trim_start_matches([' ', '\t', '\r', '\n']);
    let lead = &remaining[..remaining.len() - body.len()];
    let (line, complete) = match body.split_once('\n') {
        Some((line, _)) => (line, true),
        None => (body, false),
    };
    let mut end = line.len();
    if !complete {
        end -= line
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum::<usize>();
    }
    let words = line[..end].trim_end();
    (!words.is_empty()).then(|| format!("{lead}{words}"))
}

/// The rest of the line after byte `offset` of `text`.
pub fn rest_of_line(text: &str, offset: usize) -> &str {
    let rest = &text[offset..];
    rest.split('\n').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_the_next_token_may_extend_waits() {
        assert_eq!(
            ready_words("", "e_orders(orders").as_deref(),
            Some("e_orders(")
        );
        assert_eq!(ready_words("", "return max").as_deref(), Some("return"));
        assert_eq!(ready_words("", "return").as_deref(), None);
        assert_eq!(ready_words("", "  ").as_deref(), None);
        assert_eq!(ready_words("", "").as_deref(), None);
    }

    #[test]
    fn a_complete_line_is_shown_whole_and_alone() {
        assert_eq!(
            ready_words("", " today: dt.date) -> list[Order]:\n    return").as_deref(),
            Some(" today: dt.date) -> list[Order]:")
        );
        // A block that starts on the next line: its break and indentation, then words.
        assert_eq!(
            ready_words("", "\n    return [x for x in").as_deref(),
            Some("\n    return [x for x")
        );
        assert_eq!(ready_words("", "\n    return").as_deref(), None);
    }

    #[test]
    fn code_after_the_cursor_waits_for_the_whole_answer() {
        assert_eq!(ready_words(")", "orders, today"), None);
        assert_eq!(ready_words("   ", "x = 1 + y").as_deref(), Some("x = 1 +"));
        assert_eq!(rest_of_line("ab\ncd", 1), "b");
        assert_eq!(rest_of_line("ab", 2), "");
    }

    #[test]
    fn words_in_any_script_count_as_words() {
        assert_eq!(
            ready_words("", "print(\"héllo wörld").as_deref(),
            Some("print(\"héllo")
        );
    }
}
