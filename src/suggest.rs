//! "Did you mean" suggestions for misspelt field names and references.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
///
/// Comparison ignores ASCII case, so `Nullable` suggests `nullable`. Among equally close
/// candidates the smallest wins, so the answer never depends on the candidates' order (names
/// often come from a hash map).
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word_lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'c str)> = None;
    for candidate in candidates {
        // Cheap length filter first: a large model has many candidates.
        if candidate.len().abs_diff(word.len()) > limit {
            continue;
        }
        let distance = edit_distance(&word_lower, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, c)| (distance, candidate) < (d, c)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// A ` (did you mean `x`?)` suffix for messages, or nothing.
pub fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    match closest(word, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// Edit distance counting an insertion, a deletion, a substitution or a swap of two neighbouring
/// characters as one edit (optimal string alignment): `tpye` is one edit from `type`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table: two back (for swaps), one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 0..a.len() {
        current[0] = i + 1;
        for j in 0..b.len() {
            let substitution = previous[j] + usize::from(a[i] != b[j]);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                best = best.min(before[j - 1] + 1);
            }
            current[j + 1] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_only() {
        assert_eq!(closest("nulable", ["name", "nullable", "type"]), Some("nullable"));
        assert_eq!(closest("Nullable", ["nullable"]), Some("nullable"));
        assert_eq!(closest("primarykey", ["primaryKey", "partitionBy"]), Some("primaryKey"));
        assert_eq!(closest("zzz", ["name", "type"]), None);
        assert_eq!(closest("tpye", ["name", "type"]), Some("type"), "a swap is one edit");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("ca", "abc"), 3, "no substring is edited twice");
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
