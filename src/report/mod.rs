//! The renderings of a run's `Report` (`crate::verdict`). Serialization lives here, at the
//! edge: the JSON report is contract (MODEL.md §6), so `json` builds it by hand from `Report`.

pub mod github;
pub mod gitlab;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod text;

use std::borrow::Cow;

pub use crate::verdict::{ChangeLine, CheckSummary, FileDiff, Outcome, Report, TreeNode};

/// What a `write` function of a format writes, as a string (for tests and callers that
/// want the whole report in memory).
pub fn to_string(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    // Writing to memory fails only if serializing fails, and the formats' records always serialize.
    let _ = write(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Whether a character must not reach a terminal, a CI log or a rendered page as itself:
/// control characters (a line break would start a GitHub workflow command, an ESC colours the
/// terminal) and the bidirectional formatting characters, which can make text read in another
/// order than it is (CVE-2021-42574, "Trojan Source").
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control and bidirectional formatting characters written as escapes (`\n`,
/// `\u{1b}`, `\u{202e}`), for formats read by terminals, CI logs and people: a name in a model
/// may hold any character through YAML's escapes.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}
