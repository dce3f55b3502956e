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

/// Two-sided exact sign test: the chance of a split at least as uneven as `wins` to
/// `losses` if either configuration were as likely to win each task (ties left out).
/// 1 when there is nothing to compare.
pub fn sign_test(wins: usize, losses: usize) -> f64 {
    let n = wins + losses;
    if n == 0 {
        return 1.0;
    }
    let k = wins.min(losses);
    // P(X <= k) for X ~ Binomial(n, 1/2), in logs to stay finite for large n.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_test_known_values() {
        assert_eq!(sign_test(0, 0), 1.0);
        assert_eq!(sign_test(3, 3), 1.0);
        // 2 * (1/2)^5
        assert!((sign_test(5, 0) - 0.0625).abs() < 1e-12);
        assert!((sign_test(0, 5) - 0.0625).abs() < 1e-12);
        // 2 * (1 + 10 + 45) / 1024
        assert!((sign_test(8, 2) - 0.109_375).abs() < 1e-12);
        assert!(sign_test(60, 20) < 0.001);
    }

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
