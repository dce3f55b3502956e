//! The benchmarks' logic: the typing replays (a simulated programmer, [`typist`] and
//! [`replay`], against `quill serve` over stdio, [`lsp`], or llama-server driven as
//! llama.vim drives it, [`peer`]), their projects ([`scenarios`]) and the statistics.
//! `quill bench` (the CLI) parses its flags, calls these and prints.

pub mod lsp;
pub mod peer;
pub mod replay;
pub mod scenarios;
pub mod typist;

/// The text of a file a benchmark reads, through the checks every user file goes through.
pub fn read_source(path: &std::path::Path) -> anyhow::Result<String> {
    crate::regular_file::read_source(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// One simulated keystroke pause: the document as it is then and the cursor in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    pub offset: usize,
}

/// Replays typing `n_lines` lines starting at 0-based `start_line` of `text`: the lines
/// are removed, then typed back word by word, with a completion request at every word
/// boundary (where an editor's debounce would fire) and at each line's end.
pub fn typing_steps(text: &str, start_line: usize, n_lines: usize) -> Vec<Step> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start_line = start_line.min(lines.len());
    let end_line = (start_line + n_lines).min(lines.len());
    let head: String = lines[..start_line].concat();
    let tail: String = lines[end_line..].concat();
    let mut steps = Vec::new();
    let mut typed = String::new();
    for line in &lines[start_line..end_line] {
        let body = line.trim_end_matches('\n');
        let indent_len = body.len() - body.trim_start().len();
        // Word boundaries after the indentation: the cursor stops after each word.
        let mut cuts: Vec<usize> = body
            .char_indices()
            .filter(|(i, c)| *i > indent_len && (c.is_whitespace() || "(.,:[=".contains(*c)))
            .map(|(i, _)| i)
            .collect();
        cuts.push(body.len());
        cuts.dedup();
        for cut in cuts {
            let mut doc = String::with_capacity(text.len());
            doc.push_str(&head);
            doc.push_str(&typed);
            doc.push_str(&body[..cut]);
            let offset = doc.len();
            doc.push('\n');
            doc.push_str(&tail);
            steps.push(Step { text: doc, offset });
        }
        typed.push_str(line);
    }
    steps
}

/// The `p`-th percentile (0–100) of `values`, nearest-rank; 0 for none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_replays_words_and_keeps_the_rest_of_the_file() {
        let text = "a = 1\ndef f(x):\n    return x + 1\nprint(f(2))\n";
        let steps = typing_steps(text, 1, 2);
        let cursors: Vec<&str> = steps.iter().map(|s| &s.text[..s.offset]).collect();
        assert_eq!(cursors[0], "a = 1\ndef");
        assert!(cursors.contains(&"a = 1\ndef f(x):\n    return"));
        assert_eq!(
            *cursors.last().unwrap(),
            "a = 1\ndef f(x):\n    return x + 1"
        );
        for s in &steps {
            assert!(s.text.starts_with("a = 1\n"));
            assert!(s.text.ends_with("\nprint(f(2))\n"));
        }
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(mean(&[1.0, 3.0]), 2.0);
    }
}
