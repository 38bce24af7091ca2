//! "Did you mean" suggestions for misspelt field names and references.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
///
/// Comparison ignores ASCII case, so `Nullable` suggests `nullable`.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let word_lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'c str)> = None;
    for candidate in candidates {
        // Cheap length filter first: a large model has many candidates.
        if candidate.len().abs_diff(word.len()) > limit {
            continue;
        }
        let distance = levenshtein(&word_lower, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
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

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
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
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
