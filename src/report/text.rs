//! `--format text`: problems like a compiler prints them, each as
//! `file:line:col: severity[rule]: message` with the source line and a caret underline,
//! then a one-line summary. Only this module knows the snippet renderer.

use std::collections::HashMap;
use std::fmt::Write;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use anstyle::{AnsiColor, Style};

use super::{Report, printable};
use crate::problem::{Problem, Revision, Severity};

/// Gives the text of a file of a revision, for snippets; `None` shows no snippet.
pub type Sources<'s> = dyn Fn(Revision, &str) -> Option<String> + 's;

/// How to render text.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// ANSI colours (on a terminal).
    pub color: bool,
    /// Only the problems: no notes, no change summary, no last line.
    pub quiet: bool,
}

pub fn render(report: &Report, sources: &Sources<'_>, options: Options) -> String {
    let Options { color, quiet } = options;
    let mut out = String::new();
    let paint = |style: Style, text: &str| if color { format!("{style}{text}{style:#}") } else { text.to_string() };
    if !quiet {
        for note in &report.notes {
            let _ = writeln!(out, "{}: {}", paint(Style::new().bold(), "note"), printable(note));
        }
        if let Some(check) = &report.check {
            summary(&mut out, check, &paint);
        }
        if (!report.notes.is_empty() || report.check.is_some()) && !report.problems.is_empty() {
            out.push('\n');
        }
    }
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let mut texts: HashMap<(Revision, String), Option<Source>> = HashMap::new();
    for problem in &report.problems {
        render_problem(&mut out, problem, &renderer, &mut texts, sources, &paint);
    }
    if quiet {
        return out;
    }
    let summary = format!(
        "datasurface {}: {} ({} {} read){}",
        report.command,
        report.counts_phrase(),
        report.files,
        if report.files == 1 { "file" } else { "files" },
        if report.outcome() == super::Outcome::Pass { "" } else { "; failed" },
    );
    let style = match report.outcome() {
        super::Outcome::Pass => Style::new().fg_color(Some(AnsiColor::Green.into())).bold(),
        super::Outcome::Fail => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
    };
    let _ = writeln!(out, "{}", paint(style, &summary));
    out
}

/// Most changed objects and consumed datasets listed in the text summary; the Markdown and
/// JSON reports hold all of them.
const MAX_SUMMARY_LINES: usize = 20;

/// What the change does and whom it affects, one line each, above the problems.
fn summary(out: &mut String, check: &super::CheckSummary, paint: &dyn Fn(Style, &str) -> String) {
    let bold = Style::new().bold();
    if !check.changes.is_empty() {
        let _ = writeln!(out, "{}", paint(bold, "changes:"));
        for change in check.changes.iter().take(MAX_SUMMARY_LINES) {
            let mut line = format!("  {} {} ({})", change.object, change.verb, change.scope);
            if !change.details.is_empty() {
                let shown: Vec<&str> = change.details.iter().take(4).map(String::as_str).collect();
                line.push_str(": ");
                line.push_str(&shown.join("; "));
                if change.details.len() > 4 {
                    line.push_str(&format!("; and {} more", change.details.len() - 4));
                }
            }
            let _ = writeln!(out, "{}", printable(&line));
        }
        if check.changes.len() > MAX_SUMMARY_LINES {
            let _ = writeln!(out, "  … and {} more changed objects", check.changes.len() - MAX_SUMMARY_LINES);
        }
    }
    let consumed: Vec<_> = check.impact.iter().filter(|i| !i.consumers.is_empty()).collect();
    if !consumed.is_empty() {
        let _ = writeln!(out, "{}", paint(bold, "impact:"));
        for item in consumed.iter().take(MAX_SUMMARY_LINES) {
            let consumers: Vec<String> = item
                .consumers
                .iter()
                .map(|c| {
                    let approved = c.approved_by.as_ref().map(|a| format!(", approved by {a}")).unwrap_or_default();
                    format!("{}/{} (team {}, owner {}{approved})", c.workspace, c.group, c.team, c.owner)
                })
                .collect();
            let line = format!("  {} ({}) → {}", item.dataset, item.change, consumers.join("; "));
            let _ = writeln!(out, "{}", printable(&line));
        }
        if consumed.len() > MAX_SUMMARY_LINES {
            let _ = writeln!(out, "  … and {} more consumed datasets", consumed.len() - MAX_SUMMARY_LINES);
        }
    }
}

fn render_problem(
    out: &mut String,
    problem: &Problem,
    renderer: &Renderer,
    texts: &mut HashMap<(Revision, String), Option<Source>>,
    sources: &Sources<'_>,
    paint: &dyn Fn(Style, &str) -> String,
) {
    let (level, style) = match problem.severity {
        Severity::Error => (Level::ERROR, Style::new().fg_color(Some(AnsiColor::Red.into())).bold()),
        Severity::Warning => (Level::WARNING, Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold()),
        Severity::Info => (Level::NOTE, Style::new().fg_color(Some(AnsiColor::Cyan.into())).bold()),
    };
    let label = format!("{}[{}]", problem.severity, problem.rule.id());
    match &problem.location {
        Some(location) => {
            let base = if location.revision == Revision::Base { " (base)" } else { "" };
            let at = printable(&location.to_string()).into_owned();
            let _ = writeln!(out, "{at}{base}: {}: {}", paint(style, &label), printable(&problem.message));
            let source = texts
                .entry((location.revision, location.file.to_string()))
                .or_insert_with(|| sources(location.revision, &location.file).map(Source::new));
            if let Some(snippet) =
                source.as_ref().and_then(|s| s.line(location.pos.line)).and_then(|l| snippet(l, location.pos.col))
            {
                let (line_text, range) = snippet;
                let group = Group::with_level(level).element(
                    Snippet::source(line_text.as_str())
                        .line_start(location.pos.line as usize)
                        .annotation(AnnotationKind::Primary.span(range)),
                );
                let rendered = renderer.render(&[group]);
                for line in rendered.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        None => {
            let _ = writeln!(out, "{}: {}", paint(style, &label), printable(&problem.message));
        }
    }
    let dim = Style::new().dimmed();
    if let Some(help) = &problem.help {
        let _ = writeln!(out, "  = help: {}", printable(help));
    }
    if let Some(owner) = &problem.owner {
        let _ = writeln!(out, "  = owner: {}", printable(owner));
    }
    if !problem.affected.is_empty() {
        let _ = writeln!(out, "  = affected: {}", printable(&problem.affected.join(", ")));
    }
    for (label, location) in &problem.related {
        let base = if location.revision == Revision::Base { " (base)" } else { "" };
        let _ = writeln!(out, "  = {}: {}{base}", printable(label), printable(&location.to_string()));
    }
    let _ = writeln!(out, "  = {}", paint(dim, &format!("object: {}", printable(&problem.object()))));
    out.push('\n');
}

/// A file's text with the start of every line, so that each snippet costs one line, not a
/// scan of the file (a file may have hundreds of thousands of problems).
struct Source {
    text: String,
    starts: Vec<usize>,
}

impl Source {
    fn new(text: String) -> Source {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Source { text, starts }
    }

    /// Line `line` (1-based), without its line break.
    fn line(&self, line: u32) -> Option<&str> {
        let start = *self.starts.get(line.checked_sub(1)? as usize)?;
        let end = self.starts.get(line as usize).map_or(self.text.len(), |next| next - 1);
        (start < self.text.len()).then(|| &self.text[start..end])
    }
}

/// The source line and the byte range of the token starting at column `col` of it.
fn snippet(line_text: &str, col: u32) -> Option<(String, std::ops::Range<usize>)> {
    let line_text = line_text.trim_end_matches('\r');
    let start = line_text.char_indices().nth(col.saturating_sub(1) as usize).map_or(line_text.len(), |(i, _)| i);
    let rest = &line_text[start..];
    let len = token_len(rest).max(1);
    let end = (start + len).min(line_text.len());
    // A caret past the end of the line (an empty value) underlines the line end.
    let range = if start >= line_text.len() { line_text.len()..line_text.len() } else { start..end };
    Some((line_text.to_string(), range))
}

/// The length of the YAML token at the start of `rest`: a quoted string, a key, or a value.
fn token_len(rest: &str) -> usize {
    let mut chars = rest.char_indices();
    match chars.next() {
        Some((_, quote @ ('"' | '\''))) => {
            let mut escaped = false;
            for (i, c) in chars {
                if c == quote && !escaped {
                    return i + 1;
                }
                escaped = quote == '"' && c == '\\' && !escaped;
            }
            rest.len()
        }
        Some((_, '-')) if rest.starts_with("- ") => 1,
        Some((_, open @ ('{' | '['))) => {
            // A flow collection on one line: underline it up to its closing bracket.
            let close = if open == '{' { '}' } else { ']' };
            let mut depth = 0usize;
            for (i, c) in rest.char_indices() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
            }
            1
        }
        _ => {
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                // A key ends at `:` followed by a blank or the end of the line.
                let key_end = c == ':' && (i + 1 == rest.len() || rest[i + 1..].starts_with([' ', '\t']));
                if matches!(c, ',' | ']' | '}' | '#') || key_end {
                    end = i;
                    break;
                }
            }
            rest[..end].trim_end().len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(token_len("name: x"), 4);
        assert_eq!(token_len("varchar(20), nullable: false}"), 11);
        assert_eq!(token_len("\"decimal(18,2)\"}"), 15);
        assert_eq!(token_len("customers  # comment"), 9);
        assert_eq!(token_len("- {name: a}"), 1);
        assert_eq!(token_len("{name: a, t: {x: 1}}, more"), 20);
        assert_eq!(token_len("{unclosed"), 1);
        assert_eq!(token_len("columns:"), 7);
        assert_eq!(token_len("aws:us-east-1"), 13);
    }

    #[test]
    fn snippets_handle_wide_characters() {
        let source = Source::new("a: 1\r\nnäme: wert\n".into());
        let (line, range) = snippet(source.line(2).unwrap(), 7).unwrap();
        assert_eq!(&line[range], "wert");
        assert_eq!(source.line(1), Some("a: 1\r"));
        assert_eq!(source.line(3), None, "no line after the last line break");
        assert_eq!(source.line(0), None);
        assert_eq!(Source::new("x".into()).line(1), Some("x"));
    }
}
