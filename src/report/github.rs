//! `--format github`: GitHub Actions workflow commands, one annotation per problem
//! (`::error file=…,line=…,col=…,title=…::message`), then the summary as a plain line.

use super::Report;
use crate::problem::Severity;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for problem in &report.problems {
        let command = match problem.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut properties = Vec::new();
        if let Some(location) = &problem.location {
            properties.push(format!("file={}", property(&location.file)));
            properties.push(format!("line={}", location.pos.line));
            properties.push(format!("col={}", location.pos.col));
        }
        properties.push(format!("title={}", property(&format!("{} ({})", problem.rule.id(), problem.object()))));
        let mut message = problem.message.clone();
        if let Some(help) = &problem.help {
            message.push('\n');
            message.push_str(help);
        }
        out.push_str(&format!("::{command} {}::{}\n", properties.join(","), data(&message)));
    }
    out.push_str(&format!("datasurface {}: {}\n", report.command, report.counts_phrase()));
    out
}

/// Escapes the message part of a workflow command (line breaks as GitHub decodes them, other
/// control characters written out).
fn data(text: &str) -> String {
    let text = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    super::printable(&text).into_owned()
}

/// Escapes a property value of a workflow command.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(data("a\u{1b}[31mb"), "a\\u{1b}[31mb");
    }
}
