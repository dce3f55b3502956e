//! Scores of a completion against the code that was masked.

/// Both texts with each line's trailing whitespace and surrounding blank lines removed.
fn normalize(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_matches('\n')
        .to_string()
}

/// True when the completion is the masked code, up to trailing whitespace.
pub fn exact_match(got: &str, expected: &str) -> bool {
    normalize(got) == normalize(expected)
}

/// 1 − Levenshtein distance / length of the longer text, over characters, after the same
/// normalisation as [`exact_match`]. 1 is identical, 0 shares nothing.
pub fn edit_similarity(got: &str, expected: &str) -> f64 {
    let a: Vec<char> = normalize(got).chars().collect();
    let b: Vec<char> = normalize(expected).chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / longest as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!(exact_match("x = 1  \n", "x = 1"));
        assert!(!exact_match("x = 2", "x = 1"));
        assert_eq!(edit_similarity("abc", "abc"), 1.0);
        assert_eq!(edit_similarity("", ""), 1.0);
        assert_eq!(edit_similarity("", "abcd"), 0.0);
        // kitten → sitting: distance 3 over 7 characters.
        assert!((edit_similarity("kitten", "sitting") - (1.0 - 3.0 / 7.0)).abs() < 1e-9);
    }
}
