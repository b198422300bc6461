//! Shannon entropy of a candidate value, in bits per character: the check that separates a
//! random credential (`q7Vx…`, about 4 to 6 bits) from a word, a placeholder (`xxxxxxxx`, 0
//! bits) or a variable name (`my_api_key`, about 3 bits).
//!
//! Contract: [`shannon`] is pure, never panics and counts Unicode scalar values, so a value
//! of `n` characters scores at most `log2(n)`. Thresholds in rule files are therefore only
//! meaningful for values long enough to reach them (a 16-character value scores at most 4).

/// Returns the Shannon entropy of `value` in bits per character (0 for an empty value).
///
/// ```
/// use llmtrail_detect::entropy::shannon;
///
/// assert_eq!(shannon(""), 0.0);
/// assert_eq!(shannon("aaaaaaaa"), 0.0);
/// assert!((shannon("abcd") - 2.0).abs() < 1e-9);
/// assert!(shannon("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzK1a9Zb3Q") > 4.0);
/// ```
#[must_use]
pub fn shannon(value: &str) -> f64 {
    if value.is_empty() {
        return 0.0;
    }
    if value.is_ascii() {
        let mut counts = [0u32; 128];
        for &b in value.as_bytes() {
            counts[usize::from(b & 0x7f)] += 1;
        }
        return from_counts(counts.iter().copied(), value.len());
    }
    // Rare (credentials are ASCII): sort the characters and count runs rather than keep a
    // map per call.
    let mut chars: Vec<char> = value.chars().collect();
    chars.sort_unstable();
    let total = chars.len();
    let runs = chars.chunk_by(|a, b| a == b).map(|run| run.len() as u32);
    from_counts(runs, total)
}

fn from_counts(counts: impl Iterator<Item = u32>, total: usize) -> f64 {
    let total = total as f64;
    counts
        .filter(|&c| c > 0)
        .map(|c| {
            let p = f64::from(c) / total;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_alphabets_score_log2_of_their_size() {
        assert!((shannon("0123456789abcdef") - 4.0).abs() < 1e-9);
        assert!((shannon("ab") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn placeholders_score_low_and_keys_high() {
        assert!(shannon("xxxxxxxxxxxxxxxxxxxx") < 0.1);
        assert!(shannon("changeme") < 3.0);
        assert!(shannon("AKIAZ3MNQ7RT2XW5LBKD") > 3.5);
    }

    #[test]
    fn non_ascii_counts_characters_not_bytes() {
        // Two distinct characters, each two bytes in UTF-8: one bit per character.
        assert!((shannon("éüéü") - 1.0).abs() < 1e-9);
        assert!((shannon("ééé") - 0.0).abs() < 1e-9);
    }
}
