//! Chat-ops (SERVICE.md §5): the commands written in pull-request comments, and the replies
//! that do not need the engine (help, explain). A command is a line whose first word is
//! `/datasurface` or `@` and the bot's name, once HTML comments, quoted lines and fenced code
//! are removed; one command per comment.

use std::fmt::Write as _;

/// A command as written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "command", content = "argument", rename_all = "lowercase")]
pub enum Command {
    Check,
    Explain(String),
    Impact(String),
    Approve,
    Unapprove,
    Help,
    /// Anything else: answered with the help.
    Unknown(String),
}

/// The commands a comment holds: the first, and how many more it had (they are not run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub command: Command,
    pub ignored: Vec<String>,
}

/// The lines of `body` that count: without HTML comments (even several lines long), fenced
/// code blocks (```` ``` ```` or `~~~`) and quoted lines (`>`).
fn visible_lines(body: &str) -> Vec<String> {
    let mut text = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    text.push_str(rest);
    let mut lines = Vec::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if trimmed.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        if trimmed.starts_with('>') || line.starts_with("    ") || line.starts_with('\t') {
            continue;
        }
        lines.push(trimmed.trim_end().to_string());
    }
    lines
}

/// The command of a comment, if it has one. `names` are the bot's names that `@name`
/// addresses (the App's slug, the bot user's username), compared without case.
pub fn parse(body: &str, names: &[String]) -> Option<Parsed> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for line in visible_lines(body) {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let addressed = first.eq_ignore_ascii_case("/datasurface")
            || first.strip_prefix('@').is_some_and(|n| {
                n.eq_ignore_ascii_case("datasurface") || names.iter().any(|m| m.eq_ignore_ascii_case(n))
            });
        if addressed {
            found.push((line.clone(), words.map(str::to_string).collect()));
        }
    }
    let mut found = found.into_iter();
    let (_, words) = found.next()?;
    let ignored = found.map(|(line, _)| line).collect();
    let argument = words.get(1).cloned().unwrap_or_default();
    let command = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
        Some("check" | "recheck" | "rerun") => Command::Check,
        Some("explain") if !argument.is_empty() => Command::Explain(argument),
        Some("impact") if !argument.is_empty() => Command::Impact(argument),
        Some("approve") => Command::Approve,
        Some("unapprove") => Command::Unapprove,
        Some("help") | None => Command::Help,
        Some(_) => Command::Unknown(words.join(" ")),
    };
    Some(Parsed { command, ignored })
}

/// The reply to `help` and to an unknown command.
pub fn help(unknown: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(unknown) = unknown {
        let _ =
            writeln!(out, "datasurface does not know the command `{}`.\n", crate::report::markdown::escape(unknown));
    }
    out.push_str(
        "Commands, one per comment, on a line of their own:\n\n\
| command | what it does |\n|---|---|\n\
| `/datasurface check` | runs the check again now |\n\
| `/datasurface explain RULE` | shows that rule's documentation |\n\
| `/datasurface impact DATASTORE[/DATASET]` | lists its consumers (workspaces, dataset groups, owners) in the head |\n\
| `/datasurface approve` | approves the current breaking changes for the workspaces you own; lapses when a dataset's schema changes again |\n\
| `/datasurface unapprove` | withdraws your approvals on this pull request |\n\
| `/datasurface help` | shows this list |\n",
    );
    out
}

/// The reply to `explain RULE`: the rule's page, or what was meant.
pub fn explain(rule: &str) -> String {
    match crate::rules::Rule::from_id(rule.trim()) {
        Some(found) => {
            let mut page = found.docs().to_string();
            if page.len() > 60_000 {
                let mut cut = 60_000;
                while !page.is_char_boundary(cut) {
                    cut -= 1;
                }
                page.truncate(cut);
                page.push_str("\n\n…");
            }
            format!("{page}\n\n[{}]({})\n", found.docs_path(), found.docs_url())
        }
        None => {
            let ids = crate::rules::Rule::ALL.iter().map(|r| r.id());
            format!(
                "There is no rule `{}`{}. `/datasurface help` lists the commands; [the rules]({}) are documented one per page.\n",
                crate::report::markdown::escape(rule),
                crate::suggest::did_you_mean(rule, ids),
                crate::rules::DOCS_BASE_URL,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(body: &str) -> Option<Command> {
        parse(body, &["datasurface-bot".to_string()]).map(|p| p.command)
    }

    #[test]
    fn commands_are_lines_that_address_the_bot() {
        assert_eq!(command("/datasurface check"), Some(Command::Check));
        assert_eq!(command("Thanks!\n\n/datasurface approve\n"), Some(Command::Approve));
        assert_eq!(
            command("@datasurface-bot explain compat.column-removed"),
            Some(Command::Explain("compat.column-removed".into()))
        );
        assert_eq!(
            command("@DataSurface impact customers/customers"),
            Some(Command::Impact("customers/customers".into()))
        );
        assert_eq!(command("/datasurface"), Some(Command::Help));
        assert_eq!(command("/datasurface frobnicate now"), Some(Command::Unknown("frobnicate now".into())));
        assert_eq!(command("/datasurface explain"), Some(Command::Unknown("explain".into())));
        assert_eq!(command("please run /datasurface check"), None, "only the first word of a line");
        assert_eq!(command("@someone check"), None);
        assert_eq!(command(""), None);
    }

    #[test]
    fn quotes_code_and_html_comments_hide_commands() {
        assert_eq!(command("> /datasurface approve\nI disagree"), None);
        assert_eq!(command("```\n/datasurface approve\n```"), None);
        assert_eq!(command("~~~yaml\n/datasurface approve\n~~~\n"), None);
        assert_eq!(command("    /datasurface approve"), None, "indented code");
        assert_eq!(command("<!-- /datasurface approve -->"), None);
        assert_eq!(command("<!--\n/datasurface approve\n-->\nok"), None);
        assert_eq!(command("/datasurface check <!-- trailer from an integration -->"), Some(Command::Check));
        assert_eq!(command("```\ncode\n```\n/datasurface check"), Some(Command::Check));
        // Our own report starts with a marker comment and never with the command.
        assert_eq!(command(&format!("{}\n✅ passed", crate::report::markdown::MARKER)), None);
    }

    #[test]
    fn one_command_per_comment() {
        let parsed = parse("/datasurface check\n/datasurface approve", &[]).unwrap();
        assert_eq!(parsed.command, Command::Check);
        assert_eq!(parsed.ignored, vec!["/datasurface approve".to_string()]);
    }

    #[test]
    fn explain_answers_with_the_rule_page_or_a_suggestion() {
        assert!(explain("compat.column-removed").contains("docs/rules/compat.column-removed.md"));
        let unknown = explain("compat.colum-removed");
        assert!(unknown.contains("compat.column-removed"), "{unknown}");
        assert!(help(Some("frob")).contains("`frob`"));
    }
}
